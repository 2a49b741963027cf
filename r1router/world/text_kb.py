"""The text KB: Wikipedia-style passages, each fact phrased two or three ways.

Every entity gets one to three passages titled with its name. Facts are
spread over them, some restated in another passage with another phrasing, and
every sentence names its subject, so a sub-question that names the entity and
the attribute ("Who directed the film X?") finds a passage saying both
("X was directed by Y"). Facts that link two entities are also stated from
the other side (a director's passage lists their films), and `FactIndex`
records every passage that states a fact: those are a gold step's evidence.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass

from r1router.world.entities import Entity, World

Key = tuple[str, str]  # (entity id, attribute)


@dataclass(frozen=True)
class Fact:
    keys: tuple[Key, ...]  # the (entity, attribute) pairs this sentence states
    phrasings: tuple[str, ...]


def _a(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _country_facts(world: World, e: Entity) -> list[Fact]:
    n, a = e.name, e.attrs
    capital = world.ref(e.id, "capital")
    cities = [c for c in world.of_type("city") if c.attrs["country"] == e.id]
    return [
        Fact(
            ((e.id, "capital"), (capital.id, "country")),
            (
                f"{n} is a country whose capital is {capital.name}.",
                f"The capital of {n} is {capital.name}.",
                f"{capital.name} serves as the capital city of {n}.",
            ),
        ),
        Fact(
            ((e.id, "population"),),
            (
                f"{n} has a population of {a['population']}.",
                f"The country of {n} is home to {a['population']} people.",
                f"At the last census, {n} counted {a['population']} inhabitants.",
            ),
        ),
        Fact(
            ((e.id, "founded"),),
            (
                f"{n} was founded in {a['founded']}.",
                f"The state of {n} was established in {a['founded']}.",
                f"{n} became an independent country in {a['founded']}.",
            ),
        ),
        Fact(
            ((e.id, "currency"),),
            (f"The currency of {n} is the {a['currency']}.", f"{n} uses the {a['currency']} as its official currency."),
        ),
        Fact(
            ((e.id, "language"),),
            (
                f"The official language of {n} is {a['language']}.",
                f"Most people in {n} speak {a['language']}, the country's official language.",
            ),
        ),
        Fact(
            ((e.id, "area"),),
            (
                f"{n} covers an area of {a['area']} square kilometres.",
                f"The total area of {n} is {a['area']} square kilometres.",
            ),
        ),
        Fact(
            tuple((c.id, "country") for c in cities),
            (
                f"The cities of {n} include {_and([c.name for c in cities])}.",
                f"Major cities in {n} are {_and([c.name for c in cities])}.",
            ),
        ),
    ]


def _city_facts(world: World, e: Entity) -> list[Fact]:
    n, a = e.name, e.attrs
    country = world.ref(e.id, "country").name
    facts = [
        Fact(
            ((e.id, "country"),),
            (
                f"{n} is a city in {country}.",
                f"The city of {n} lies in the country of {country}.",
                f"{n} is located in {country}.",
            ),
        ),
        Fact(
            ((e.id, "population"),),
            (
                f"{n} has a population of {a['population']}.",
                f"The city of {n} is home to {a['population']} residents.",
                f"{a['population']} people live in the city of {n}.",
            ),
        ),
        Fact(
            ((e.id, "founded"),),
            (f"{n} was founded in {a['founded']}.", f"The city of {n} was established in {a['founded']}."),
        ),
        Fact(
            ((e.id, "area"),),
            (
                f"The city of {n} covers {a['area']} square kilometres.",
                f"{n} has an area of {a['area']} square kilometres.",
            ),
        ),
        Fact(
            ((e.id, "elevation"),),
            (
                f"{n} lies at an elevation of {a['elevation']} metres above sea level.",
                f"The city of {n} sits {a['elevation']} metres above sea level.",
            ),
        ),
    ]
    links = (
        ("landmark", "city", "Landmarks in {n} include {x}.", "Visitors to {n} can see {x}.", "the "),
        ("company", "headquarters", "{n} is home to the headquarters of {x}.", "{x} are based in {n}.", ""),
        ("person", "birthplace", "Notable people born in {n} include {x}.", "{x} were born in {n}.", ""),
    )
    for kind, attr, first, second, article in links:
        linked = [x for x in world.of_type(kind) if x.attrs[attr] == e.id]
        if linked:
            names = _and([article + x.name for x in linked])
            if len(linked) == 1:
                second = second.replace(" are ", " is ").replace(" were ", " was ")
            facts.append(
                Fact(tuple((x.id, attr) for x in linked), (first.format(n=n, x=names), second.format(n=n, x=names)))
            )
    return facts


def _person_facts(world: World, e: Entity) -> list[Fact]:
    n, a = e.name, e.attrs
    birthplace = world.ref(e.id, "birthplace")
    country = world.ref(birthplace.id, "country").name
    facts = [
        Fact(
            ((e.id, "occupation"),), (f"{n} is {_a(a['occupation'])} from {country}.", f"{n} is {_a(a['occupation'])}.")
        ),
        Fact(
            ((e.id, "born"),),
            (f"{n} was born in {a['born']}.", f"{n} (born {a['born']}) is known as {_a(a['occupation'])}."),
        ),
        Fact(
            ((e.id, "birthplace"),),
            (
                f"{n} was born in the city of {birthplace.name}.",
                f"{n} is a native of {birthplace.name}, {country}.",
                f"The birthplace of {n} is {birthplace.name}.",
            ),
        ),
    ]
    films = [f for f in world.of_type("film") if f.attrs["director"] == e.id]
    if films:
        dated = _and([f"{f.name} ({f.attrs['year']})" for f in films])
        facts.append(
            Fact(
                tuple((f.id, "director") for f in films),
                (f"{n} directed the films {_and([f.name for f in films])}.", f"As a film director, {n} made {dated}."),
            )
        )
    works = [x for x in world.of_type("landmark") if x.attrs["architect"] == e.id]
    if works:
        names = _and(["the " + x.name for x in works])
        facts.append(
            Fact(
                tuple((x.id, "architect") for x in works),
                (f"{n} designed {names}.", f"As an architect, {n} is known for {names}."),
            )
        )
    for company in (c for c in world.of_type("company") if c.attrs["founder"] == e.id):
        facts.append(
            Fact(
                ((company.id, "founder"), (company.id, "founded")),
                (
                    f"{n} founded {company.name} in {company.attrs['founded']}.",
                    f"In {company.attrs['founded']}, {n} started the company {company.name}.",
                ),
            )
        )
    return facts


def _film_facts(world: World, e: Entity) -> list[Fact]:
    n, a = e.name, e.attrs
    director, studio = world.value(e.id, "director"), world.value(e.id, "studio")
    return [
        Fact(
            ((e.id, "year"), (e.id, "genre"), (e.id, "director")),
            (
                f"{n} is a {a['year']} {a['genre']} film directed by {director}.",
                f"{n} is {_a(a['genre'])} film by the director {director}, released in {a['year']}.",
            ),
        ),
        Fact(
            ((e.id, "director"),),
            (f"{n} was directed by {director}.", f"The film {n} is the work of the director {director}."),
        ),
        Fact(((e.id, "year"),), (f"{n} was released in {a['year']}.", f"The film {n} premiered in {a['year']}.")),
        Fact(((e.id, "studio"),), (f"{n} was produced by {studio}.", f"The studio {studio} produced the film {n}.")),
        Fact(
            ((e.id, "runtime"),),
            (f"{n} runs for {a['runtime']} minutes.", f"The running time of the film {n} is {a['runtime']} minutes."),
        ),
    ]


def _company_facts(world: World, e: Entity) -> list[Fact]:
    n, a = e.name, e.attrs
    hq = world.ref(e.id, "headquarters")
    country, founder = world.ref(hq.id, "country").name, world.value(e.id, "founder")
    facts = [
        Fact(
            ((e.id, "industry"), (e.id, "headquarters")),
            (
                f"{n} is {_a(a['industry'])} company headquartered in {hq.name}, {country}.",
                f"{n} is {_a(a['industry'])} company based in the city of {hq.name}.",
            ),
        ),
        Fact(((e.id, "founded"),), (f"{n} was founded in {a['founded']}.", f"{n} was established in {a['founded']}.")),
        Fact(((e.id, "founder"),), (f"{n} was founded by {founder}.", f"{founder} is the founder of {n}.")),
        Fact(
            ((e.id, "headquarters"),),
            (f"{n} is headquartered in {hq.name}.", f"The headquarters of {n} are in the city of {hq.name}."),
        ),
        Fact(
            ((e.id, "employees"),),
            (f"{n} employs {a['employees']} people.", f"{n} has a workforce of {a['employees']} employees."),
        ),
    ]
    films = [f for f in world.of_type("film") if f.attrs["studio"] == e.id]
    if films:
        facts.append(
            Fact(
                tuple((f.id, "studio") for f in films),
                (
                    f"{n} produced the films {_and([f.name for f in films])}.",
                    f"Films made by the studio {n} include {_and([f.name for f in films])}.",
                ),
            )
        )
    return facts


def _landmark_facts(world: World, e: Entity) -> list[Fact]:
    n, a = e.name, e.attrs
    city = world.ref(e.id, "city")
    country, architect = world.ref(city.id, "country").name, world.value(e.id, "architect")
    return [
        Fact(
            ((e.id, "structure"), (e.id, "city")),
            (
                f"The {n} is {_a(a['structure'])} in {city.name}, {country}.",
                f"The {n} is {_a(a['structure'])} in the city of {city.name}.",
            ),
        ),
        Fact(((e.id, "city"),), (f"The {n} stands in the city of {city.name}.", f"The {n} is located in {city.name}.")),
        Fact(
            ((e.id, "completed"),),
            (
                f"The {n} was completed in {a['completed']}.",
                f"Construction of the {n} was finished in {a['completed']}.",
            ),
        ),
        Fact(
            ((e.id, "architect"),),
            (f"The {n} was designed by the architect {architect}.", f"{architect} was the architect of the {n}."),
        ),
        Fact(
            ((e.id, "height"),),
            (f"The {n} is {a['height']} metres tall.", f"The {n} rises to a height of {a['height']} metres."),
        ),
    ]


def _event_facts(world: World, e: Entity) -> list[Fact]:
    n, a = e.name, e.attrs
    host = world.ref(e.id, "host")
    country = world.ref(host.id, "country").name
    return [
        Fact(((e.id, "host"),), (f"The {n} were held in {host.name}, {country}.", f"{host.name} hosted the {n}.")),
        Fact(((e.id, "year"),), (f"The {n} took place in {a['year']}.", f"The {n} were staged in {a['year']}.")),
    ]


FACTS = {
    "country": _country_facts,
    "city": _city_facts,
    "person": _person_facts,
    "film": _film_facts,
    "company": _company_facts,
    "landmark": _landmark_facts,
    "event": _event_facts,
}


class FactIndex:
    """(entity id, attribute) → ids of the passages stating it, in id order."""

    def __init__(self) -> None:
        self._passages: dict[Key, set[str]] = defaultdict(set)

    def add(self, key: Key, passage_id: str) -> None:
        self._passages[key].add(passage_id)

    def evidence(self, entity_id: str, attr: str) -> list[str]:
        found = self._passages.get((entity_id, attr))
        if not found:
            raise KeyError(f"no passage states {attr} of {entity_id}: the text KB generator has a bug")
        return sorted(found)


def _passages(entity: Entity, facts: list[Fact], rng: random.Random) -> list[list[tuple[Fact, str]]]:
    """Spread the facts over one to three passages; about 40% are restated elsewhere in other words.

    The first fact (an introduction) always opens the first passage.
    """
    count = min(rng.choice((2, 3)), max(1, len(facts) // 2))
    passages: list[list[tuple[Fact, str]]] = [[] for _ in range(count)]
    passages[0].append((facts[0], rng.choice(facts[0].phrasings)))
    rest = facts[1:]
    rng.shuffle(rest)
    for i, fact in enumerate(rest):
        first, second = rng.sample(fact.phrasings, 2) if len(fact.phrasings) > 1 else (fact.phrasings[0], None)
        home = (i + 1) % count
        passages[home].append((fact, first))
        if count > 1 and second is not None and rng.random() < 0.4:
            passages[(home + rng.randint(1, count - 1)) % count].append((fact, second))
    return [p for p in passages if p]


def build_text_kb(world: World, rng: random.Random) -> tuple[list[dict], FactIndex]:
    """All passages (`id`, `title`, `text`) in id order, and the index of which passage states which fact."""
    records: list[dict] = []
    index = FactIndex()
    for kind in sorted(FACTS):
        for entity in world.of_type(kind):
            for k, sentences in enumerate(_passages(entity, FACTS[kind](world, entity), rng)):
                passage_id = f"text_{entity.id}_{k}"
                records.append({"id": passage_id, "title": entity.name, "text": " ".join(s for _, s in sentences)})
                for fact, _ in sentences:
                    for key in fact.keys:
                        index.add(key, passage_id)
    return sorted(records, key=lambda r: r["id"]), index
