"""demo_infoseek, demo_dyn_vqa and demo_webqa: questions that start from a picture.

InfoSeek and Dyn-VQA questions say "this country/company/landmark" and come
with a query photo: the first gold step identifies the entity through the
image KB, later steps ask the text or table KB about it by name. WebQA
questions name the entity and ask about its picture, so their steps go to the
image KB with text-only sub-questions.
"""

from __future__ import annotations

from r1router.world.entities import Entity
from r1router.world.image_kb import CAPTIONS, visual_entities
from r1router.world.plan import Candidate, Context
from r1router.world.q_table import superlative
from r1router.world.q_text import pairs
from r1router.world.visuals import COUNT_WORDS, PATTERNS

INFOSEEK: dict[tuple[str, str], tuple[str, ...]] = {
    ("country", "capital"): ("What is the capital of this country?", "Which city is the capital of this country?"),
    ("country", "currency"): ("What currency is used in this country?", "What is the currency of this country?"),
    ("country", "language"): ("What is the official language of this country?",),
    ("country", "founded"): ("In what year was this country founded?", "When was this country established?"),
    ("country", "population"): ("What is the population of this country?", "How many people live in this country?"),
    ("country", "area"): ("What is the area in square kilometres occupied by this country?",),
    ("company", "founder"): ("Who founded this company?", "Who is the founder of this company?"),
    ("company", "founded"): ("In what year was this company founded?",),
    ("company", "headquarters"): ("In which city is this company headquartered?",),
    ("company", "employees"): ("How many employees does this company have?",),
    ("company", "industry"): ("What industry does this company work in?",),
    ("landmark", "city"): ("In which city is this landmark located?", "Where is this building?"),
    ("landmark", "completed"): ("When was this building completed?", "In what year was this landmark finished?"),
    ("landmark", "architect"): ("Who designed this building?", "Who was the architect of this landmark?"),
    ("landmark", "height"): ("How tall is this landmark in metres?", "What is the height of this structure?"),
}
QUANTITIES = {"population", "area", "employees", "height"}  # InfoSeek grades these against a range


def _answer_eval(ctx: Context, attr: str, answer: str) -> list:
    """Like InfoSeek's: quantities sometimes as {"wikidata": value, "range": [lo, hi]} (±10%), otherwise strings."""
    if attr in QUANTITIES and ctx.rng.random() < 0.5:
        value = float(answer)
        return [{"wikidata": value, "range": [round(value * 0.9, 1), round(value * 1.1, 1)]}]
    return [answer]


def infoseek(ctx: Context) -> list[Candidate]:
    out = []
    for (kind, attr), phrasings in sorted(INFOSEEK.items()):
        for entity in ctx.world.of_type(kind):
            plan = ctx.plan()
            plan.identify(entity.id)
            answer = plan.text(entity.id, attr)
            out.append(
                plan.candidate(
                    f"{attr}:{entity.id}",
                    ctx.pick(phrasings),
                    [answer],
                    image_entity=entity.id,
                    extra={"answer_eval": _answer_eval(ctx, attr, answer)},
                )
            )
    return out


# Dyn-VQA chains from the identified entity: (key, kind, phrasings, text attributes to follow).
DYN_CHAINS: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...]], ...] = (
    (
        "capital_population",
        "country",
        (
            "What is the population of the capital of this country?",
            "How many people live in the capital city of this country?",
        ),
        ("capital", "population"),
    ),
    ("capital_founded", "country", ("When was the capital of this country founded?",), ("capital", "founded")),
    (
        "founder_born",
        "company",
        ("When was the founder of this company born?", "In what year was the person who founded this company born?"),
        ("founder", "born"),
    ),
    ("founder_birthplace", "company", ("Where was the founder of this company born?",), ("founder", "birthplace")),
    (
        "headquarters_country",
        "company",
        ("In which country is this company headquartered?",),
        ("headquarters", "country"),
    ),
    (
        "headquarters_population",
        "company",
        ("How many people live in the city where this company is based?",),
        ("headquarters", "population"),
    ),
    ("architect_born", "landmark", ("In what year was the architect of this building born?",), ("architect", "born")),
    (
        "architect_birthplace",
        "landmark",
        ("Where was the designer of this landmark born?",),
        ("architect", "birthplace"),
    ),
    (
        "city_country",
        "landmark",
        ("In which country is this landmark?", "Which country is this building in?"),
        ("city", "country"),
    ),
    ("city_founded", "landmark", ("When was the city where this landmark stands founded?",), ("city", "founded")),
    (
        "city_population",
        "landmark",
        ("How many people live in the city where this landmark stands?",),
        ("city", "population"),
    ),
    (
        "founder_country",
        "company",
        ("In which country was the founder of this company born?",),
        ("founder", "birthplace", "country"),
    ),
)


def _dyn_chains(ctx: Context) -> list[Candidate]:
    out = []
    for key, kind, phrasings, chain in DYN_CHAINS:
        for entity in ctx.world.of_type(kind):
            plan = ctx.plan()
            plan.identify(entity.id)
            answer = plan.follow(entity.id, chain)
            out.append(plan.candidate(f"{key}:{entity.id}", ctx.pick(phrasings), [answer], image_entity=entity.id))
    return out


def _dyn_tables(ctx: Context) -> list[Candidate]:
    """Image → table: the country's largest city, its medals at a games edition, its capital's elevation."""
    out = []
    for country in ctx.world.of_type("country"):
        cities = ctx.table(f"table_cities_{country.id}")
        plan = ctx.plan()
        plan.identify(country.id)
        question, answer = superlative(cities, cities.columns[0], highest=True)
        plan.table_question(cities, question, answer)
        out.append(
            plan.candidate(
                f"largest_city:{country.id}",
                "Which is the most populous city of this country?",
                [answer],
                image_entity=country.id,
            )
        )
        plan = ctx.plan()
        plan.identify(country.id)
        plan.text(country.id, "capital")
        elevation = next(c for c in cities.columns if c.header == "Elevation (m)")
        answer = plan.table(cities, cities.row_entities.index(country.attrs["capital"]), elevation)
        out.append(
            plan.candidate(
                f"capital_elevation:{country.id}",
                "How high above sea level is the capital of this country?",
                [answer],
                image_entity=country.id,
            )
        )
    for games in ctx.world.of_type("event"):
        medals = ctx.table(f"table_medals_{games.id}")
        gold = next(c for c in medals.columns if c.header == "Gold")
        for row, country_id in enumerate(medals.row_entities):
            plan = ctx.plan()
            plan.identify(country_id)
            answer = plan.table(medals, row, gold)
            out.append(
                plan.candidate(
                    f"gold:{games.id}:{country_id}",
                    f"How many gold medals did this country win at the {games.name}?",
                    [answer],
                    image_entity=country_id,
                )
            )
    return out


def dyn_vqa(ctx: Context) -> list[Candidate]:
    return _dyn_chains(ctx) + _dyn_tables(ctx)


def _cap(text: str) -> str:
    """Upper-case the first letter only (str.capitalize would lower-case the entity's name)."""
    return text[:1].upper() + text[1:]


def _subject(entity: Entity) -> tuple[str, str]:
    """How a question names the entity's picture, and the preposition for things drawn on it."""
    return {
        "country": (f"the flag of {entity.name}", "on"),
        "company": (f"the logo of {entity.name}", "in"),
        "landmark": (f"the drawing of the {entity.name}", "in"),
    }[entity.type]


def _emblems(spec: dict) -> tuple[str, str]:
    """("the gold stars", "are") or ("the gold star", "is"): the emblems as a question names them."""
    plural = spec["emblem_count"] > 1
    return f"the {spec['emblem']}{'s' if plural else ''}", "are" if plural else "is"


def _picture_facts(entity: Entity) -> list[tuple[str, str, str, list[str]]]:
    """(key, question, sentence answer, short answers) about the entity's picture, read off its visual spec."""
    spec = entity.attrs["visual"]
    subject, on = _subject(entity)
    emblems, verb = _emblems(spec)
    count = spec["emblem_count"]
    pattern, kind = spec["pattern"], spec["kind"]
    facts = [
        (
            "emblem_color",
            f"What colour {verb} {emblems} {on} {subject}?",
            f"{_cap(emblems)} {on} {subject} {verb} {spec['emblem_color']}.",
            [spec["emblem_color"]],
        ),
        (
            "emblem_count",
            f"How many {spec['emblem']}s are there {on} {subject}?",
            f"There {verb} {COUNT_WORDS[count]} {spec['emblem']}{'s' if count > 1 else ''} {on} {subject}.",
            [COUNT_WORDS[count], str(count)],
        ),
        (
            "emblem",
            f"What shape is repeated {on} {subject}?" if count > 1 else f"What shape appears {on} {subject}?",
            f"{_cap(subject)} shows {COUNT_WORDS[count]} {spec['emblem']}{'s' if count > 1 else ''}.",
            [spec["emblem"]],
        ),
    ]
    if kind == "flag":
        band_verb = "are" if PATTERNS["flag"][pattern] else "is"
        facts += [
            (
                "primary_color",
                f"What colour is the field of {subject}?",
                f"The field of {subject} is {spec['primary_color']}.",
                [spec["primary_color"]],
            ),
            (
                "secondary_color",
                f"What colour {band_verb} the {pattern} on {subject}?",
                f"The {pattern} on {subject} {band_verb} {spec['secondary_color']}.",
                [spec["secondary_color"]],
            ),
            (
                "pattern",
                f"What pattern does {subject} have?",
                f"{_cap(subject)} has {pattern}." if PATTERNS["flag"][pattern] else f"{_cap(subject)} has a {pattern}.",
                [pattern],
            ),
        ]
    else:
        background = "background" if kind == "logo" else "sky"
        facts += [
            (
                "primary_color",
                f"What colour is the {pattern} in {subject}?",
                f"The {pattern} in {subject} is {spec['primary_color']}.",
                [spec["primary_color"]],
            ),
            (
                "secondary_color",
                f"What colour is the {background} in {subject}?",
                f"The {background} in {subject} is {spec['secondary_color']}.",
                [spec["secondary_color"]],
            ),
        ]
    if kind == "logo":
        facts.append(("pattern", f"What shape is {subject}?", f"{_cap(subject)} is a {pattern}.", [pattern]))
    return facts


def _webqa_single(ctx: Context) -> list[Candidate]:
    out = []
    for entity in visual_entities(ctx.world):
        for key, question, sentence, short in _picture_facts(entity):
            plan = ctx.plan()
            plan.image(entity.id, question, short[0])
            out.append(plan.candidate(f"{key}:{entity.id}", question, [sentence, *short], image_entity=entity.id))
    return out


def _webqa_pair(ctx: Context, a: Entity, b: Entity) -> Candidate | None:
    """Two pictures compared: same main colour (yes/no) or more emblems (which one); one image step each."""
    facts = {e.id: {key: (q, short[0]) for key, q, _, short in _picture_facts(e)} for e in (a, b)}
    (sa, _), (sb, _) = _subject(a), _subject(b)
    plan = ctx.plan()
    if ctx.rng.random() < 0.5:
        colours = [plan.image(e.id, *facts[e.id]["primary_color"]) for e in (a, b)]
        same = colours[0] == colours[1]
        sentence = (
            f"Yes, {sa} and {sb} are both mainly {colours[0]}."
            if same
            else f"No, {sa} is mainly {colours[0]} and {sb} is mainly {colours[1]}."
        )
        return plan.candidate(
            f"same_color:{a.id}:{b.id}",
            f"Are {sa} and {sb} mainly the same colour?",
            [sentence, "yes" if same else "no"],
            image_entity=a.id,
        )
    counts = [a.attrs["visual"]["emblem_count"], b.attrs["visual"]["emblem_count"]]
    if counts[0] == counts[1]:
        return None
    for e in (a, b):
        plan.image(e.id, *facts[e.id]["emblem_count"])
    winner = sa if counts[0] > counts[1] else sb
    return plan.candidate(
        f"more_emblems:{a.id}:{b.id}",
        f"Which shows more shapes, {sa} or {sb}?",
        [f"{_cap(winner)} shows more shapes.", winner],
        image_entity=a.id,
    )


def webqa(ctx: Context) -> list[Candidate]:
    """Single-picture questions, plus one pair question per visual entity (WebQA mixes in comparisons)."""
    out = _webqa_single(ctx)
    for kind in CAPTIONS:
        chosen = pairs(ctx, kind)
        for a, b in ctx.rng.sample(chosen, min(len(chosen), len(ctx.world.of_type(kind)))):
            made = _webqa_pair(ctx, ctx.world[a], ctx.world[b])
            if made is not None:
                out.append(made)
    return out
