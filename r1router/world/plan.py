"""Gold plans: the atomic sub-questions, their KB, intermediate answers and evidence.

`PlanBuilder` is the one place that turns "ask attribute A of entity E" into a
gold step, so every benchmark phrases a hop the same few ways and every step's
evidence comes from the KB indexes rather than being written by hand.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from r1router.world.entities import REFERENCES, World
from r1router.world.image_kb import image_id
from r1router.world.table_kb import Column, Table
from r1router.world.text_kb import FactIndex

# (entity type, attribute) → phrasings of the atomic text sub-question; {n} is the entity's name.
ASK: dict[tuple[str, str], tuple[str, ...]] = {
    ("country", "capital"): ("What is the capital of {n}?", "Which city is the capital of {n}?"),
    ("country", "population"): ("What is the population of {n}?", "How many people live in the country of {n}?"),
    ("country", "founded"): ("In what year was {n} founded?", "When was the country of {n} established?"),
    ("country", "currency"): ("What is the currency of {n}?", "Which currency is used in {n}?"),
    ("country", "language"): ("What is the official language of {n}?", "Which language is official in {n}?"),
    ("country", "area"): ("What is the area of {n} in square kilometres?", "How large is the country of {n}?"),
    ("city", "country"): ("In which country is the city of {n}?", "Which country is {n} located in?"),
    ("city", "population"): ("What is the population of the city of {n}?", "How many people live in {n}?"),
    ("city", "founded"): ("When was the city of {n} founded?", "In what year was {n} founded?"),
    ("city", "area"): ("What is the area of the city of {n}?", "How many square kilometres does {n} cover?"),
    ("city", "elevation"): ("What is the elevation of {n} above sea level?", "At what elevation does {n} lie?"),
    ("person", "born"): ("When was {n} born?", "In what year was {n} born?"),
    ("person", "birthplace"): ("Where was {n} born?", "In which city was {n} born?"),
    ("person", "occupation"): ("What is the occupation of {n}?", "What does {n} do for a living?"),
    ("film", "director"): ("Who directed the film {n}?", "Who is the director of the film {n}?"),
    ("film", "year"): ("When was the film {n} released?", "In what year was {n} released?"),
    ("film", "studio"): ("Which studio produced the film {n}?", "Which company produced {n}?"),
    ("film", "runtime"): ("What is the running time of the film {n}?", "How many minutes does the film {n} run?"),
    ("film", "genre"): ("What genre is the film {n}?", "What kind of film is {n}?"),
    ("company", "founder"): ("Who founded {n}?", "Who is the founder of {n}?"),
    ("company", "founded"): ("When was {n} founded?", "In what year was the company {n} established?"),
    ("company", "headquarters"): ("Where is {n} headquartered?", "In which city are the headquarters of {n}?"),
    ("company", "employees"): ("How many employees does {n} have?", "How many people does {n} employ?"),
    ("company", "industry"): ("What industry is {n} in?", "What kind of company is {n}?"),
    ("landmark", "city"): ("In which city is the {n} located?", "Where does the {n} stand?"),
    ("landmark", "completed"): ("When was the {n} completed?", "In what year was the {n} finished?"),
    ("landmark", "architect"): ("Who designed the {n}?", "Who was the architect of the {n}?"),
    ("landmark", "height"): ("How tall is the {n}?", "What is the height of the {n} in metres?"),
    ("landmark", "structure"): ("What kind of structure is the {n}?", "What type of building is the {n}?"),
    ("event", "host"): ("Which city hosted the {n}?", "Where were the {n} held?"),
}
# A table cell: {c} names the column, {r} the row's entity, {s} the table ("list of cities in Velmora").
CELL_ASK = ("What is the {c} of {r} according to the {s}?", "According to the {s}, what is the {c} of {r}?")
# The image-identification sub-question: the query image is its subject, so it alone may say "the image".
IDENTIFY = {
    "country": ("Which country's flag is shown in the image?", "What country does the flag in the image belong to?"),
    "company": ("Which company's logo is shown in the image?", "What company does the logo in the image belong to?"),
    "landmark": ("Which landmark is shown in the image?", "What is the name of the landmark in the image?"),
}


@dataclass
class Candidate:
    """One question before split assignment; `extra` holds benchmark-specific fields (e.g. `answer_eval`)."""

    key: str  # identifies the underlying fact(s): two candidates with one key would leak across splits
    question: str
    answer: str | list[str]
    plan: list[dict]
    image_entity: str | None = None  # the entity a query image must show
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Context:
    """What every question generator reads: the world, the KB indexes and its own random stream."""

    world: World
    facts: FactIndex
    tables: list[Table]
    rng: random.Random

    def plan(self) -> PlanBuilder:
        return PlanBuilder(self.world, self.facts, self.rng)

    def pick(self, phrasings: tuple[str, ...], **values: str) -> str:
        return self.rng.choice(phrasings).format(**values)

    def table(self, table_id: str) -> Table:
        for table in self.tables:
            if table.id == table_id:
                return table
        raise KeyError(f"no table '{table_id}': the table KB generator has a bug")


class PlanBuilder:
    """Accumulates the gold steps of one question."""

    def __init__(self, world: World, facts: FactIndex, rng: random.Random):
        self.world, self.facts, self.rng = world, facts, rng
        self.steps: list[dict] = []

    def _step(self, sub_question: str, kb: str, answer: str, evidence: list[str]) -> str:
        self.steps.append({"sub_question": sub_question, "kb": kb, "answer": answer, "evidence": evidence})
        return answer

    def text(self, entity_id: str, attr: str) -> str:
        """Ask `attr` of an entity through the text KB; return the answer (a name for relations)."""
        entity = self.world[entity_id]
        question = self.rng.choice(ASK[(entity.type, attr)]).format(n=entity.name)
        return self._step(question, "text", self.world.value(entity_id, attr), self.facts.evidence(entity_id, attr))

    def follow(self, entity_id: str, chain: tuple[str, ...]) -> str:
        """Ask each attribute of `chain` in turn, hopping along relations; return the last answer."""
        answer = ""
        for attr in chain:
            answer = self.text(entity_id, attr)
            if attr in REFERENCES:
                entity_id = self.world[entity_id].attrs[attr]
        return answer

    def table(self, table: Table, row: int, column: Column) -> str:
        """Ask one cell, naming the row entity, the column and the table."""
        question = self.rng.choice(CELL_ASK).format(c=column.phrase, r=table.row_labels[row], s=table.source)
        return self._step(question, "table", table.cell(row, column), [table.id])

    def table_question(self, table: Table, sub_question: str, answer: str) -> str:
        """A table step whose sub-question is written by the caller (superlatives, counts)."""
        return self._step(sub_question, "table", answer, [table.id])

    def identify(self, entity_id: str) -> str:
        """The image step that names the entity a query image shows."""
        entity = self.world[entity_id]
        return self._step(self.rng.choice(IDENTIFY[entity.type]), "image", entity.name, [image_id(entity_id)])

    def image(self, entity_id: str, sub_question: str, answer: str) -> str:
        """An image-KB step about the entity's picture, asked in words that name the entity."""
        return self._step(sub_question, "image", answer, [image_id(entity_id)])

    def candidate(self, key: str, question: str, answer: str | list[str], **fields: Any) -> Candidate:
        return Candidate(key, question, answer, list(self.steps), **fields)
