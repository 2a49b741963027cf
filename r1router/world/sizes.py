"""Named world sizes: how many entities of each type and questions per benchmark."""

from __future__ import annotations

import math
from dataclasses import dataclass

from r1router.errors import ConfigError


@dataclass(frozen=True)
class WorldSize:
    """Entity counts and the per-benchmark question target (over train + dev + test).

    People play roles (film director, architect, company founder); the role
    counts follow from the films, landmarks and companies, so a preset must
    have at least that many people.
    """

    name: str
    countries: int
    cities_per_country: int
    people: int
    films: int
    companies: int
    landmarks: int
    games: int
    questions: int
    films_per_director: int = 3
    landmarks_per_architect: int = 2

    @property
    def directors(self) -> int:
        return math.ceil(self.films / self.films_per_director)

    @property
    def architects(self) -> int:
        return math.ceil(self.landmarks / self.landmarks_per_architect)

    def __post_init__(self) -> None:
        needed = self.directors + self.architects + self.companies
        if self.people < needed:
            raise ConfigError(f"world size '{self.name}': {self.people} people cannot fill {needed} roles")
        if self.countries < 2 or self.cities_per_country < 2 or self.companies < 2:
            raise ConfigError(f"world size '{self.name}': comparison questions need at least 2 of each entity type")


SIZES: dict[str, WorldSize] = {
    size.name: size
    for size in (
        WorldSize(
            "tiny",
            countries=3,
            cities_per_country=3,
            people=12,
            films=8,
            companies=6,
            landmarks=6,
            games=2,
            questions=40,
        ),
        WorldSize(
            "small",
            countries=8,
            cities_per_country=3,
            people=40,
            films=30,
            companies=16,
            landmarks=16,
            games=4,
            questions=200,
        ),
        WorldSize(
            "medium",
            countries=80,
            cities_per_country=3,
            people=400,
            films=300,
            companies=160,
            landmarks=160,
            games=40,
            questions=2000,
        ),
    )
}


def get_size(name: str) -> WorldSize:
    """The preset called `name`; an unknown name is a ConfigError listing the known ones."""
    if name not in SIZES:
        raise ConfigError(f"unknown world size '{name}' (expected one of {', '.join(SIZES)})")
    return SIZES[name]
