"""The table KB: Open-WikiTable-shaped lists built from the world's entities.

Each table knows, besides its record fields, which entity each row is about
and how to name each column in a question ("the population of Dorvik
according to the list of cities in Velmora"), so table questions are read off
the very cells the KB holds and can never disagree with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from r1router.world.entities import Entity, World


@dataclass(frozen=True)
class Column:
    header: str
    phrase: str  # how a question names the column: "population", "year of completion"
    numeric: bool


@dataclass
class Table:
    id: str
    page_title: str
    section_title: str
    caption: str
    source: str  # how a question names the table: "list of cities in Velmora"
    key: Column  # the column naming each row's entity
    columns: list[Column]
    row_entities: list[str]
    row_labels: list[str]  # the row entity as a question names it ("the Tarsen Tower")
    rows: list[list[str]]

    @property
    def header(self) -> list[str]:
        return [self.key.header, *(c.header for c in self.columns)]

    def cell(self, row: int, column: Column) -> str:
        return self.rows[row][self.header.index(column.header)]

    def record(self) -> dict:
        return {
            "id": self.id,
            "page_title": self.page_title,
            "section_title": self.section_title,
            "caption": self.caption,
            "header": self.header,
            "rows": self.rows,
        }


def _table(
    world: World,
    table_id: str,
    titles: tuple[str, str, str, str],
    key: Column,
    columns: list[tuple[Column, str]],
    entities: list[Entity],
    article: str = "",
) -> Table:
    """Rows are the entities in the given order; a column's cell is `World.value` of its attribute.

    `titles` is (page title, section title, caption, how a question names the table).
    """
    page_title, section_title, caption, source = titles
    rows = [[e.name, *(world.value(e.id, attr) for _, attr in columns)] for e in entities]
    return Table(
        table_id,
        page_title,
        section_title,
        caption,
        source,
        key,
        [c for c, _ in columns],
        [e.id for e in entities],
        [article + e.name for e in entities],
        rows,
    )


@dataclass(frozen=True)
class CountryList:
    """A per-country list of one entity type ("List of cities in Velmora"); `{n}` in titles is the country."""

    kind: str
    slug: str
    titles: tuple[str, str, str, str]
    key: Column
    columns: tuple[tuple[Column, str], ...]  # (column, the entity attribute it shows)
    order: Callable[[Entity], tuple]
    article: str = ""


COUNTRY_LISTS = (
    CountryList(
        "city",
        "cities",
        (
            "List of cities in {n}",
            "Cities by population",
            "Cities of {n} by population, founding year, area and elevation",
            "list of cities in {n}",
        ),
        Column("City", "city", False),
        (
            (Column("Population", "population", True), "population"),
            (Column("Founded", "founding year", True), "founded"),
            (Column("Area (km2)", "area in square kilometres", True), "area"),
            (Column("Elevation (m)", "elevation in metres", True), "elevation"),
        ),
        order=lambda e: (-e.attrs["population"], e.id),
    ),
    CountryList(
        "company",
        "companies",
        ("List of companies of {n}", "Major companies", "Companies headquartered in {n}", "list of companies of {n}"),
        Column("Company", "company", False),
        (
            (Column("Industry", "industry", False), "industry"),
            (Column("Founded", "founding year", True), "founded"),
            (Column("Employees", "number of employees", True), "employees"),
            (Column("Headquarters", "headquarters", False), "headquarters"),
        ),
        order=lambda e: (e.name, e.id),
    ),
    CountryList(
        "landmark",
        "landmarks",
        (
            "List of landmarks in {n}",
            "Landmarks",
            "Notable buildings and structures of {n}",
            "list of landmarks in {n}",
        ),
        Column("Landmark", "landmark", False),
        (
            (Column("City", "city", False), "city"),
            (Column("Completed", "year of completion", True), "completed"),
            (Column("Height (m)", "height in metres", True), "height"),
            (Column("Architect", "architect", False), "architect"),
        ),
        order=lambda e: (e.name, e.id),
        article="the ",
    ),
)


def _country_list(world: World, country: Entity, spec: CountryList) -> Table:
    members = sorted((e for e in world.of_type(spec.kind) if world.country_of(e.id).id == country.id), key=spec.order)
    titles = tuple(t.format(n=country.name) for t in spec.titles)
    return _table(world, f"table_{spec.slug}_{country.id}", titles, spec.key, list(spec.columns), members, spec.article)


def _filmography(world: World, director: Entity) -> Table:
    films = sorted(
        (f for f in world.of_type("film") if f.attrs["director"] == director.id), key=lambda f: (f.attrs["year"], f.id)
    )
    n = director.name
    titles = (n, "Filmography", f"Films directed by {n}", f"filmography of {n}")
    columns = [
        (Column("Year", "release year", True), "year"),
        (Column("Studio", "studio", False), "studio"),
        (Column("Runtime (min)", "runtime in minutes", True), "runtime"),
        (Column("Genre", "genre", False), "genre"),
    ]
    return _table(world, f"table_films_{director.id}", titles, Column("Film", "film", False), columns, films)


def _medals(world: World, games: Entity) -> Table:
    """Ranked by gold, then silver, then bronze, then name; the values live in the event's `medals` attribute."""
    medals = games.attrs["medals"]
    order = sorted(medals, key=lambda c: (-medals[c][0], -medals[c][1], -medals[c][2], world[c].name))
    columns = [
        Column("Rank", "rank", True),
        Column("Gold", "number of gold medals", True),
        Column("Silver", "number of silver medals", True),
        Column("Bronze", "number of bronze medals", True),
        Column("Total", "total number of medals", True),
    ]
    rows = [
        [world[c].name, str(rank), *(str(v) for v in medals[c]), str(sum(medals[c]))]
        for rank, c in enumerate(order, start=1)
    ]
    n = games.name
    return Table(
        f"table_medals_{games.id}",
        n,
        "Medal table",
        f"Medal table of the {n}",
        f"medal table of the {n}",
        Column("Nation", "nation", False),
        columns,
        order,
        [world[c].name for c in order],
        rows,
    )


def build_tables(world: World) -> list[Table]:
    """Every table of the world in id order; lists with no rows are left out."""
    tables = [_country_list(world, c, spec) for spec in COUNTRY_LISTS for c in world.of_type("country")]
    directors = [p for p in world.of_type("person") if p.attrs["occupation"] == "film director"]
    tables += [_filmography(world, d) for d in directors]
    tables += [_medals(world, g) for g in world.of_type("event")]
    return sorted((t for t in tables if t.rows), key=lambda t: t.id)
