"""demo_openwikitqa and demo_tabfact: questions answered from the table KB.

OpenWikiTQA asks for a cell, a superlative or a count, sometimes after a text
hop that finds the row ("the capital of Velmora"). TabFact asks yes/no about
a cell (a threshold, a value, or two rows compared); half the candidates are
built true and half false, so the answers are balanced.
"""

from __future__ import annotations

from r1router.world.plan import CELL_ASK, Candidate, Context
from r1router.world.table_kb import Column, Table

CELL = (*CELL_ASK, "In the {s}, what {c} is listed for {r}?")
# Column phrase → (word for the largest value, word for the smallest); years read better as latest/earliest.
EXTREMES = {
    "release year": ("most recent", "earliest"),
    "founding year": ("latest", "earliest"),
    "year of completion": ("latest", "earliest"),
}
PLURALS = {"city": "cities", "company": "companies"}


def superlative(table: Table, column: Column, highest: bool) -> tuple[str, str] | None:
    """(question, answer) for "which row has the highest/lowest column", or None on a tie or one row."""
    values = [int(table.cell(r, column)) for r in range(len(table.rows))]
    best = max(values) if highest else min(values)
    if len(values) < 2 or values.count(best) > 1:
        return None
    row = values.index(best)
    word = EXTREMES.get(column.phrase, ("highest", "lowest"))[0 if highest else 1]
    question = f"Which {table.key.phrase} has the {word} {column.phrase} in the {table.source}?"
    return question, table.rows[row][0]


def count_question(table: Table) -> str:
    plural = PLURALS.get(table.key.phrase, table.key.phrase + "s")
    return f"How many {plural} are listed in the {table.source}?"


def _cells(ctx: Context) -> list[Candidate]:
    out = []
    for table in ctx.tables:
        for row, label in enumerate(table.row_labels):
            for column in table.columns:
                plan = ctx.plan()
                answer = plan.table(table, row, column)
                question = ctx.pick(CELL, c=column.phrase, r=label, s=table.source)
                out.append(plan.candidate(f"cell:{table.id}:{row}:{column.header}", question, answer))
    return out


def _aggregates(ctx: Context) -> list[Candidate]:
    out = []
    for table in ctx.tables:
        for column in (c for c in table.columns if c.numeric and c.header != "Rank"):
            for highest in (True, False):
                found = superlative(table, column, highest)
                if found is not None:
                    question, answer = found
                    plan = ctx.plan()
                    plan.table_question(table, question, answer)
                    out.append(plan.candidate(f"super:{table.id}:{column.header}:{highest}", question, answer))
        if len(table.rows) > 1:
            plan = ctx.plan()
            answer = plan.table_question(table, count_question(table), str(len(table.rows)))
            out.append(plan.candidate(f"count:{table.id}", count_question(table), answer))
    return out


def _text_then_table(ctx: Context) -> list[Candidate]:
    """A text hop finds the row or the table: the capital's row, the director's filmography."""
    out = []
    for country in ctx.world.of_type("country"):
        table = ctx.table(f"table_cities_{country.id}")
        column = ctx.rng.choice(table.columns)
        plan = ctx.plan()
        plan.text(country.id, "capital")
        answer = plan.table(table, table.row_entities.index(country.attrs["capital"]), column)
        question = f"According to the {table.source}, what is the {column.phrase} of the capital of {country.name}?"
        out.append(plan.candidate(f"capital-cell:{country.id}", question, answer))
    for film in ctx.world.of_type("film"):
        table = ctx.table(f"table_films_{film.attrs['director']}")
        plan = ctx.plan()
        plan.text(film.id, "director")
        answer = plan.table_question(table, count_question(table), str(len(table.rows)))
        question = ctx.pick(
            (
                "How many films are listed in the filmography of the director of {f}?",
                "How many films appear in the filmography of the person who directed {f}?",
            ),
            f=film.name,
        )
        out.append(plan.candidate(f"director-count:{film.id}", question, answer))
    return out


def openwikitqa(ctx: Context) -> list[Candidate]:
    return _cells(ctx) + _aggregates(ctx) + _text_then_table(ctx)


GREATER = (
    "According to the {s}, is the {c} of {r} greater than {t}?",
    "is the {c} of {r} more than {t} in the {s}?",
    "does the {s} give {r} a {c} above {t}?",
)
LESS = ("According to the {s}, is the {c} of {r} less than {t}?", "is the {c} of {r} below {t} in the {s}?")
EQUALS = ("According to the {s}, is the {c} of {r} {v}?", "is {v} the {c} of {r} in the {s}?")
HIGHER = (
    "According to the {s}, does {a} have a higher {c} than {b}?",
    "is the {c} of {a} greater than that of {b} in the {s}?",
)
LATER = (
    "According to the {s}, is the {c} of {a} later than that of {b}?",
    "is the {c} of {a} after that of {b} in the {s}?",
)


def _threshold(ctx: Context, value: int, column: Column, want: bool) -> tuple[bool, int]:
    """(is the claim "greater than", threshold) such that the claim about `value` comes out as `want`.

    Years move by up to 30; other numbers by 5-40%, rounded to two significant
    digits when that keeps the claim's truth. Thresholds never go below zero.
    """
    greater = ctx.rng.random() < 0.6
    below = greater == want  # the threshold lies below the value exactly when "greater" is true
    if below and value == 0:
        greater, below = not greater, False
    is_year = "year" in column.phrase
    gap = ctx.rng.randint(1, 30) if is_year else max(1, round(value * ctx.rng.uniform(0.05, 0.4)))
    threshold = value - min(gap, value) if below else value + gap
    if not is_year and threshold >= 1000:
        rounded = round(threshold, 2 - len(str(threshold)))
        if rounded != value and (rounded < value) == below:
            threshold = rounded
    return greater, threshold


def _fact_check(ctx: Context, table: Table, row: int, column: Column, want: bool) -> Candidate | None:
    plan = ctx.plan()
    value = plan.table(table, row, column)
    slots = {"s": table.source, "c": column.phrase, "r": table.row_labels[row]}
    if column.numeric:
        greater, threshold = _threshold(ctx, int(value), column, want)
        question = ctx.pick(GREATER if greater else LESS, t=str(threshold), **slots)
    else:
        others = sorted({table.cell(r, column) for r in range(len(table.rows))} - {value})
        if not want and not others:
            return None
        question = ctx.pick(EQUALS, v=value if want else ctx.rng.choice(others), **slots)
    return plan.candidate(f"check:{table.id}:{row}:{column.header}", question, "yes" if want else "no")


def _row_compare(ctx: Context, table: Table, column: Column, want: bool) -> Candidate | None:
    rows = ctx.rng.sample(range(len(table.rows)), 2)
    values = [int(table.cell(r, column)) for r in rows]
    if values[0] == values[1]:
        return None
    if (values[0] > values[1]) != want:
        rows.reverse()
    plan = ctx.plan()
    for row in rows:
        plan.table(table, row, column)
    labels = [table.row_labels[r] for r in rows]
    question = ctx.pick(
        LATER if "year" in column.phrase else HIGHER, a=labels[0], b=labels[1], c=column.phrase, s=table.source
    )
    return plan.candidate(f"rows:{table.id}:{column.header}:{sorted(rows)}", question, "yes" if want else "no")


def tabfact(ctx: Context) -> list[Candidate]:
    """Claims alternate true/false over a shuffled slot list, so any random subset is about half "yes"."""
    slots: list[tuple[Table, int | None, Column]] = []
    for table in ctx.tables:
        for column in (c for c in table.columns if c.header != "Rank"):
            slots += [(table, row, column) for row in range(len(table.rows))]
            if column.numeric and len(table.rows) > 1:
                slots.append((table, None, column))
    ctx.rng.shuffle(slots)
    out = []
    for i, (table, row, column) in enumerate(slots):
        want = i % 2 == 0
        made = _fact_check(ctx, table, row, column, want) if row is not None else _row_compare(ctx, table, column, want)
        if made is not None:
            out.append(made)
    return out
