"""The fictional world's entities, their attributes and the relations between them.

Relations chain the way multi-hop questions need them to: film → director →
birthplace → country, company → headquarters → country, landmark → city →
country, country → capital. Every number is drawn so that the world stays
self-consistent (a film is released after its director turned twenty, a
company is founded after its founder's birth).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from r1router.world.names import TITLE_NOUNS, NameBank
from r1router.world.rng import sub_rng
from r1router.world.sizes import WorldSize
from r1router.world.visuals import random_visual

TYPES = ("country", "city", "person", "film", "company", "landmark", "event")
# Attributes that hold another entity's id; `World.value` turns them into that entity's name.
REFERENCES = {
    "capital",
    "country",
    "birthplace",
    "director",
    "studio",
    "founder",
    "headquarters",
    "city",
    "architect",
    "host",
}
GENRES = ("drama", "comedy", "thriller", "western", "musical", "documentary", "science fiction", "romance", "war")
INDUSTRIES = {
    "film production": ("{w} Studios", "{w} Pictures"),
    "shipping": ("{w} Shipping Lines", "{w} Maritime"),
    "textiles": ("{w} Textiles", "{w} Weaving Company"),
    "mining": ("{w} Mining Company", "{w} Minerals"),
    "software": ("{w} Systems", "{w} Software"),
    "brewing": ("{w} Brewery", "{w} Breweries"),
    "aviation": ("{w} Aeroworks", "{w} Airways"),
    "publishing": ("{w} Press", "{w} Publishing House"),
    "railways": ("{w} Railways", "{w} Rail Company"),
    "pharmaceuticals": ("{w} Laboratories", "{w} Pharma"),
}
FILM_TITLES = ("{adj} {noun} of {w}", "The {w} {noun}", "{adj} {noun} over {w}", "The {noun} of {w}")
FILM_ADJECTIVES = (
    "Silver",
    "Hollow",
    "Crimson",
    "Quiet",
    "Winter",
    "Broken",
    "Golden",
    "Distant",
    "Last",
    "Burning",
    "Pale",
    "Northern",
    "Secret",
    "Wild",
    "Iron",
    "Velvet",
    "Lonely",
    "Painted",
)
# Landmark names follow the drawn shape, so a picture of a tower is called "... Tower".
LANDMARK_NAMES = {
    "tower": "{w} Tower",
    "arch": "{w} Arch",
    "dome": "{w} Dome",
    "pyramid": "{w} Pyramid",
    "bridge": "{w} Bridge",
    "spire": "{w} Spire",
}
LANGUAGE_ENDINGS = ("ic", "ese", "ish", "an")
SIMILAR_SHARE = 0.25  # share of each type named as a near-twin of an earlier entity of that type


@dataclass
class Entity:
    id: str
    type: str
    name: str
    attrs: dict[str, Any] = field(default_factory=dict)


class World:
    """All entities by id, with typed listings in id order (never set or dict-insertion order of unordered data)."""

    def __init__(self, entities: list[Entity]):
        self.entities = {entity.id: entity for entity in entities}
        self._by_type = {kind: sorted((e for e in entities if e.type == kind), key=lambda e: e.id) for kind in TYPES}

    def __getitem__(self, entity_id: str) -> Entity:
        return self.entities[entity_id]

    def of_type(self, kind: str) -> list[Entity]:
        return self._by_type[kind]

    def ref(self, entity_id: str, attr: str) -> Entity:
        """The entity that `attr` of `entity_id` points to (a film's director, a city's country)."""
        return self.entities[self.entities[entity_id].attrs[attr]]

    def value(self, entity_id: str, attr: str) -> str:
        """An attribute as the string that text, tables and gold answers all use."""
        if attr in REFERENCES:
            return self.ref(entity_id, attr).name
        return str(self.entities[entity_id].attrs[attr])

    def country_of(self, entity_id: str) -> Entity:
        """The country a city, company, landmark or event belongs to."""
        entity = self.entities[entity_id]
        for attr in ("country", "city", "headquarters", "host"):
            if attr in entity.attrs:
                target = self.ref(entity_id, attr)
                return target if target.type == "country" else self.country_of(target.id)
        raise KeyError(f"{entity_id} has no country")


class _Builder:
    """Draws the entities type by type; each type's names come from one NameBank so all names are unique."""

    def __init__(self, seed: int, size: WorldSize):
        self.rng = sub_rng(seed, "entities")
        self.names = NameBank(sub_rng(seed, "names"))
        self.visual_rng = sub_rng(seed, "visuals")
        self.taken_visuals: set[str] = set()
        self.size = size
        self.entities: list[Entity] = []

    def add(self, kind: str, name: str, **attrs: Any) -> Entity:
        entity = Entity(f"{kind}_{sum(e.type == kind for e in self.entities):04d}", kind, name, attrs)
        self.entities.append(entity)
        return entity

    def name(self, kind: str, fresh: str, **parts: str) -> tuple[str, str | None]:
        """A fresh name, or (with probability SIMILAR_SHARE) a near-twin of an earlier name of the same type."""
        earlier = [e for e in self.entities if e.type == kind]
        if earlier and self.rng.random() < SIMILAR_SHARE:
            model = self.rng.choice(earlier)
            twin = self.names.variant(model.name, pattern=fresh if kind == "landmark" else None)
            if twin is not None:
                return twin, model.id
        return self.names.fresh(fresh, **parts), None

    def add_named(self, kind: str, pattern: str, **attrs: Any) -> Entity:
        name, similar = self.name(kind, pattern, **attrs.pop("parts", {}))
        if similar is not None:
            attrs["similar_to"] = similar
        return self.add(kind, name, **attrs)

    def visual(self, kind: str) -> dict:
        return random_visual(kind, self.visual_rng, self.taken_visuals)

    def build(self) -> World:
        rng, size = self.rng, self.size
        countries = [self._country() for _ in range(size.countries)]
        cities = [self._city(country) for country in countries for _ in range(size.cities_per_country)]
        for country in countries:
            own = [c for c in cities if c.attrs["country"] == country.id]
            capital = rng.choice(own)
            country.attrs["capital"] = capital.id
        studios = max(1, size.companies // 4)
        # Studio founders are born early so that studios exist before the films they produce.
        founders = [
            self._person("entrepreneur", cities, rng.randint(1830, 1900 if i < studios else 1975))
            for i in range(size.companies)
        ]
        companies = [
            self._company(founders[i], cities, "film production" if i < studios else None)
            for i in range(size.companies)
        ]
        directors = [self._person("film director", cities, rng.randint(1895, 1975)) for _ in range(size.directors)]
        for i in range(size.films):
            self._film(directors[i % len(directors)], companies[:studios])
        architects = [self._person("architect", cities, rng.randint(1760, 1960)) for _ in range(size.architects)]
        for i in range(size.landmarks):
            self._landmark(architects[i % len(architects)], cities)
        for _ in range(size.people - len(founders) - len(directors) - len(architects)):
            self._person(rng.choice(("writer", "painter", "composer", "physicist")), cities, rng.randint(1800, 1990))
        years = rng.sample(range(1950, 2023), size.games)
        for year in sorted(years):
            self._games(year, cities, countries)
        return World(self.entities)

    def _country(self) -> Entity:
        rng = self.rng
        currency = self.names.word((2, 2)).lower()
        language = self.names.word((2, 2)) + rng.choice(LANGUAGE_ENDINGS)
        return self.add_named(
            "country",
            "{w}",
            founded=rng.randint(1050, 1950),
            population=rng.randint(4_000, 600_000) * 100,
            area=rng.randint(2_000, 900_000),
            currency=currency,
            language=language,
            visual=self.visual("flag"),
        )

    def _city(self, country: Entity) -> Entity:
        rng = self.rng
        return self.add_named(
            "city",
            "{w}",
            country=country.id,
            population=rng.randint(8_000, 2_500_000),
            founded=rng.randint(700, 1950),
            area=rng.randint(12, 1_500),
            elevation=rng.randint(2, 2_400),
        )

    def _person(self, occupation: str, cities: list[Entity], born: int) -> Entity:
        first = self.names.word((1, 2), min_len=3)
        return self.add_named(
            "person",
            "{first} {w}",
            occupation=occupation,
            born=born,
            birthplace=self.rng.choice(cities).id,
            parts={"first": first},
        )

    def _company(self, founder: Entity, cities: list[Entity], industry: str | None) -> Entity:
        rng = self.rng
        industry = industry or rng.choice([name for name in INDUSTRIES if name != "film production"])
        return self.add_named(
            "company",
            rng.choice(INDUSTRIES[industry]),
            industry=industry,
            founder=founder.id,
            founded=min(founder.attrs["born"] + rng.randint(22, 55), 2022),
            headquarters=rng.choice(cities).id,
            employees=rng.randint(40, 95_000),
            visual=self.visual("logo"),
        )

    def _film(self, director: Entity, studios: list[Entity]) -> Entity:
        rng = self.rng
        year = min(director.attrs["born"] + rng.randint(24, 70), 2023)
        open_studios = [s for s in studios if s.attrs["founded"] < year] or studios
        parts = {"adj": rng.choice(FILM_ADJECTIVES), "noun": rng.choice(TITLE_NOUNS)}
        return self.add_named(
            "film",
            rng.choice(FILM_TITLES),
            director=director.id,
            studio=rng.choice(open_studios).id,
            year=year,
            runtime=rng.randint(78, 185),
            genre=rng.choice(GENRES),
            parts=parts,
        )

    def _landmark(self, architect: Entity, cities: list[Entity]) -> Entity:
        rng = self.rng
        drawing = self.visual("landmark")
        return self.add_named(
            "landmark",
            LANDMARK_NAMES[drawing["pattern"]],
            structure=drawing["pattern"],
            city=rng.choice(cities).id,
            completed=min(architect.attrs["born"] + rng.randint(28, 70), 2022),
            height=rng.randint(12, 420),
            architect=architect.id,
            visual=drawing,
        )

    def _games(self, year: int, cities: list[Entity], countries: list[Entity]) -> Entity:
        """A multi-sport games edition with a medal table; gold counts are distinct so "topped" is well defined."""
        rng = self.rng
        nations = rng.sample(countries, min(len(countries), 10))
        golds = rng.sample(range(0, 40), len(nations))
        medals = {n.id: [g, rng.randint(0, 35), rng.randint(0, 35)] for n, g in zip(nations, golds, strict=True)}
        host = rng.choice([c for c in cities if c.attrs["country"] in medals])
        return self.add(
            "event",
            self.names.fresh("{year} {w} Games", year=str(year)),
            year=year,
            host=host.id,
            medals=dict(sorted(medals.items())),
        )


def generate_world(seed: int, size: WorldSize) -> World:
    """The entities of one world; a pure function of `seed` and `size`."""
    return _Builder(seed, size).build()
