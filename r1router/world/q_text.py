"""demo_2wikimultihopqa: multi-hop questions over the text KB.

Compositional questions follow a chain of relations ("Where was the director
of film X born?" → director → birthplace); comparison questions ask the same
attribute of two entities ("Which film came out first, A or B?"), and bridge
comparisons do both. Comparison pairs include every near-twin pair, the
hardest case for a retriever. Comparisons are drawn down to a quarter of the
benchmark (`COMPARISON_SHARE`): their answer is in the question.
"""

from __future__ import annotations

from collections.abc import Callable

from r1router.world.plan import Candidate, Context, PlanBuilder

# (key, phrasings, chain): the chain asks attributes along relations, starting from an entity of `kind`.
CHAINS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "director_birthplace": (
        "film",
        (
            "Where was the director of film {n} born?",
            "In which city was the director of {n} born?",
            "What is the birthplace of the director of the film {n}?",
        ),
        ("director", "birthplace"),
    ),
    "director_born": (
        "film",
        (
            "When was the director of film {n} born?",
            "In what year was the director of {n} born?",
            "What is the birth year of the person who directed {n}?",
        ),
        ("director", "born"),
    ),
    "director_country": (
        "film",
        ("In which country was the director of film {n} born?", "What country is the director of {n} from?"),
        ("director", "birthplace", "country"),
    ),
    "studio_founder": (
        "film",
        ("Who founded the studio that produced {n}?", "Who is the founder of the company that made the film {n}?"),
        ("studio", "founder"),
    ),
    "founder_birthplace": (
        "company",
        ("Where was the founder of {n} born?", "In which city was the founder of {n} born?"),
        ("founder", "birthplace"),
    ),
    "headquarters_country": (
        "company",
        ("In which country is {n} headquartered?", "Which country are the headquarters of {n} in?"),
        ("headquarters", "country"),
    ),
    "architect_born": (
        "landmark",
        ("When was the architect of the {n} born?", "In what year was the designer of the {n} born?"),
        ("architect", "born"),
    ),
    "landmark_city_population": (
        "landmark",
        (
            "What is the population of the city where the {n} stands?",
            "How many people live in the city that is home to the {n}?",
        ),
        ("city", "population"),
    ),
    "capital_founded": (
        "country",
        ("When was the capital of {n} founded?", "In what year was the capital city of {n} established?"),
        ("capital", "founded"),
    ),
    "person_country": (
        "person",
        ("In which country was {n} born?", "What is the country of birth of {n}?"),
        ("birthplace", "country"),
    ),
}
# (kind, attribute, phrasings with the extreme they ask for): "first" picks the smaller value.
COMPARISONS: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    (
        "film",
        "year",
        (
            ("Which film came out first, {a} or {b}?", "min"),
            ("Which film was released earlier, {a} or {b}?", "min"),
            ("Which film came out later, {a} or {b}?", "max"),
        ),
    ),
    ("person", "born", (("Who was born first, {a} or {b}?", "min"), ("Who is younger, {a} or {b}?", "max"))),
    (
        "city",
        "population",
        (
            ("Which city has more inhabitants, {a} or {b}?", "max"),
            ("Which city is smaller by population, {a} or {b}?", "min"),
        ),
    ),
    (
        "landmark",
        "height",
        (("Which is taller, the {a} or the {b}?", "max"), ("Which is shorter, the {a} or the {b}?", "min")),
    ),
    (
        "company",
        "founded",
        (("Which company was founded first, {a} or {b}?", "min"), ("Which company is younger, {a} or {b}?", "max")),
    ),
)
BRIDGE = (
    ("Which film has the director born earlier, {a} or {b}?", "min"),
    ("Which film's director was born first, {a} or {b}?", "min"),
    ("Which film was directed by the younger person, {a} or {b}?", "max"),
)


def _chains(ctx: Context) -> list[Candidate]:
    out = []
    for name, (kind, phrasings, chain) in sorted(CHAINS.items()):
        for entity in ctx.world.of_type(kind):
            plan = ctx.plan()
            answer = plan.follow(entity.id, chain)
            out.append(plan.candidate(f"{name}:{entity.id}", ctx.pick(phrasings, n=entity.name), answer))
    return out


def pairs(ctx: Context, kind: str) -> list[tuple[str, str]]:
    """Every near-twin pair of `kind` plus about twice as many random pairs, each as sorted ids."""
    ids = [e.id for e in ctx.world.of_type(kind)]
    chosen = {tuple(sorted((e.id, e.attrs["similar_to"]))) for e in ctx.world.of_type(kind) if "similar_to" in e.attrs}
    for _ in range(2 * len(ids)):
        chosen.add(tuple(sorted(ctx.rng.sample(ids, 2))))
    return sorted(chosen)


def _compare(
    ctx: Context,
    key: str,
    a: str,
    b: str,
    phrasings: tuple[tuple[str, str], ...],
    ask: Callable[[PlanBuilder, str], str],
) -> Candidate | None:
    """Ask `ask` of both entities; None when their values tie (the question would have no answer)."""
    if ctx.rng.random() < 0.5:
        a, b = b, a
    plan = ctx.plan()
    values = {a: int(ask(plan, a)), b: int(ask(plan, b))}
    if values[a] == values[b]:
        return None
    template, extreme = ctx.rng.choice(phrasings)
    winner = (min if extreme == "min" else max)(values, key=values.__getitem__)
    names = ctx.world[a].name, ctx.world[b].name
    return plan.candidate(key, template.format(a=names[0], b=names[1]), ctx.world[winner].name)


def _comparisons(ctx: Context) -> list[Candidate]:
    out = []
    for kind, attr, phrasings in COMPARISONS:
        for a, b in pairs(ctx, kind):
            out.append(
                _compare(ctx, f"compare-{attr}:{a}:{b}", a, b, phrasings, lambda plan, e, attr=attr: plan.text(e, attr))
            )
    for a, b in pairs(ctx, "film"):
        if ctx.world[a].attrs["director"] != ctx.world[b].attrs["director"]:
            out.append(_compare(ctx, f"bridge:{a}:{b}", a, b, BRIDGE, _director_born))
    return [c for c in out if c is not None]


def _director_born(plan: PlanBuilder, film_id: str) -> str:
    plan.text(film_id, "director")
    return plan.text(plan.world[film_id].attrs["director"], "born")


# Comparisons are at most this share of the benchmark: their answer is one of the two names they offer, so a
# coin scores half of them, and a benchmark made mostly of them (half of the demo's test split was) cannot show
# what retrieval adds.
COMPARISON_SHARE = 0.25


def twowiki(ctx: Context) -> list[Candidate]:
    chains = _chains(ctx)
    comparisons = _comparisons(ctx)
    keep = min(len(comparisons), int(len(chains) * COMPARISON_SHARE / (1 - COMPARISON_SHARE)))
    return chains + ctx.rng.sample(comparisons, keep)
