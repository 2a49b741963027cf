"""A fourth KB kind, added with this one module plus a params entry, runs through every consumer unchanged.

`GlossaryKind` below is all the code the kind needs: schema, passage, encoder
family, what its queries carry, how its hits are shown, its retriever name.
`PARAMS` is the configuration a profile would hold. Building, parsing, the
router loop, a `rag-glossary` baseline and retrieval recall then run on it
with no edit to the registry or to any of them.
"""

import json
import re
from typing import Any

import pytest

from r1router.benchmarks.loaders import load_benchmark
from r1router.errors import ConfigError
from r1router.kb.build import build_kb
from r1router.kb.evaluate import retrieval_recall
from r1router.kb.hit import Hit
from r1router.kb.index import IndexConfig
from r1router.kb.kinds import KINDS, KBKind, import_kinds, kind_for_retriever, register_kind
from r1router.kb.kinds.text import TextKind
from r1router.kb.retriever import Retrievers
from r1router.router.loop import LoopConfig, RouterLoop
from r1router.router.methods import make_method
from r1router.router.parsing import parse_decision
from r1router.router.prompts import format_decision


class GlossaryKind(KBKind):
    """Glossary entries. Its queries carry the question's image (unlike text's) so the test sees the kind decide."""

    name = "glossary"
    retriever = "Glossary Retriever"
    tag = "glr"
    encoder = "text"
    fields = {"id": str, "term": str, "definition": str}  # noqa: RUF012
    query_uses_image = True

    def passage(self, record: dict[str, Any]) -> str:
        return f"{record['term']}: {record['definition']}"

    def show_hit(self, position: int, hit: Hit) -> str:
        return f"{self.tag}-{position} [{hit.id}]: {hit.text}\n"


PARAMS = {
    "kinds": {"glossary": f"{__name__}:GlossaryKind"},
    "kb": {"glossary": {"encoder": {"family": "text"}, "index": {"type": "flat"}}},
}
ENTRIES = [
    ("g1", "Velmoran kettle", "a copper pot for brewing moss tea in the hill villages of Velmora"),
    ("g2", "Dorvik lantern", "a paper lamp floated on the Dorvik river at the midwinter festival"),
    ("g3", "Amsel loom", "a narrow loom that weaves ribbons for Amsel wedding gowns"),
]
QUESTIONS = [
    ("q1", "What is the object in the photo used for?", "What is a Velmoran kettle used for?", "g1"),
    ("q2", "When is the thing in this picture floated?", "When is a Dorvik lantern floated?", "g2"),
]


@pytest.fixture(scope="module")
def glossary(tmp_path_factory, text_encoder_dir):
    """Register the kind from params, build its KB with the real MiniLM and faiss, write a benchmark that uses it."""
    (kind,) = import_kinds(PARAMS["kinds"])
    root = tmp_path_factory.mktemp("glossary")
    entries = root / "glossary.jsonl"
    entries.write_text("".join(f'{{"id": "{i}", "term": "{t}", "definition": "{d}"}}\n' for i, t, d in ENTRIES))
    settings = PARAMS["kb"]["glossary"]
    spec, index = {**settings["encoder"], "path": str(text_encoder_dir)}, IndexConfig(**settings["index"])
    build_kb("glossary", entries, root / "kb" / "glossary", spec, index, shard_dir=root / "shards", device="cpu")
    images = root / "images"
    images.mkdir()
    lines = []
    for qid, question, sub_question, evidence in QUESTIONS:
        (images / f"{qid}.jpg").write_bytes(b"jpeg")  # the paper's images are .jpg
        step = {"sub_question": sub_question, "kb": "glossary", "answer": "a", "evidence": [evidence]}
        record = {"question_id": qid, "question": question, "answer": ["a"], "image_id": qid, "gold_plan": [step]}
        lines.append(json.dumps({**record, "entity_split": "seen"}) + "\n")
    (root / "test.jsonl").write_text("".join(lines))
    questions = load_benchmark(root / "test.jsonl", "demo_webqa", images)  # gold steps on the new kind validate
    yield kind, Retrievers(root / "kb", ["glossary"], device="cpu"), questions, images
    KINDS.pop("glossary")


class RecordingSearch:
    """Passes through to the real retrievers, keeping what each search was given."""

    def __init__(self, retrievers: Retrievers):
        self.retrievers, self.calls = retrievers, []

    def __call__(self, kb, queries, images, k):
        self.calls.append((kb, list(queries), images))
        return self.retrievers.search(kb, queries, images, k)


class GlossaryPolicy:
    """Routes every question's first step to the glossary, then stops; answers with the first passage line shown."""

    multimodal = False

    def __init__(self):
        self.prompts: list[str] = []

    def generate(self, conversations, config):
        replies = []
        for conversation in conversations:
            system, user = conversation[0]["content"][0]["text"], conversation[-1]["content"][0]["text"]
            self.prompts.append(user)
            if "<ret>" not in system:
                shown = re.search(r"glr-0 .*", user)  # passages follow the preamble's colon directly
                replies.append(f"<think>read</think><answer>{shown.group() if shown else 'nothing'}</answer>")
            elif "Sub-question1" in user:
                replies.append("<think>done</think><sub-question>None</sub-question><ret>None</ret>")
            else:
                question = user.splitlines()[0].removeprefix("Origin question: ")
                sub_question = next(sub for _, q, sub, _ in QUESTIONS if q == question)
                replies.append(format_decision("look it up", sub_question, "glossary"))
        return replies


def test_the_retriever_name_parses_and_formats(glossary):
    kind = glossary[0]
    assert kind_for_retriever("glossary retriever") is kind
    decision = parse_decision(format_decision("t", "What is a Dorvik lantern?", "glossary"))
    assert (decision.kb, decision.sub_question) == ("glossary", "What is a Dorvik lantern?")


def test_router_loop_routes_searches_and_shows_hits_as_the_kind_says(glossary):
    _, retrievers, questions, images = glossary
    search, policy = RecordingSearch(retrievers), GlossaryPolicy()
    trajectories = RouterLoop(policy, search, LoopConfig(k=2)).run(questions, images)
    assert [t.route for t in trajectories] == [["glossary", "none"], ["glossary", "none"]]
    assert [t.steps[0].hits[0].id for t in trajectories] == ["g1", "g2"]
    [(kb, _, sent_images)] = search.calls
    assert kb == "glossary" and sent_images == [images / "q1.jpg", images / "q2.jpg"]  # the kind wants images
    assert trajectories[0].steps[0].sub_answer == "glr-0 [g1]: Velmoran kettle: " + ENTRIES[0][2]


def test_rag_baseline_on_the_new_kind(glossary):
    _, retrievers, questions, images = glossary
    search = RecordingSearch(retrievers)
    method = make_method("rag-glossary", GlossaryPolicy(), search, LoopConfig(k=1), ("glossary",))
    trajectories = method.run(questions, images)
    assert [[hit.kb for hit in t.steps[0].hits] for t in trajectories] == [["glossary"], ["glossary"]]
    assert [t.final_answer.split(" [")[0] for t in trajectories] == ["glr-0", "glr-0"]  # shown as the kind shows it
    [(kb, queries, sent_images)] = search.calls  # one search, with the origin questions and their images
    assert (kb, queries) == ("glossary", [q.question for q in questions])
    assert sent_images == [images / "q1.jpg", images / "q2.jpg"]


def test_retrieval_recall_on_the_new_kind(glossary):
    _, retrievers, questions, images = glossary
    assert retrieval_recall(retrievers, questions, images, k=1) == {
        "recall@1": {"glossary": 1.0},
        "queries": {"glossary": 2},
    }


def test_registering_again_is_harmless_and_clashes_are_refused(glossary):
    kind = glossary[0]
    assert register_kind(GlossaryKind()) is kind
    assert import_kinds(PARAMS["kinds"]) == [kind]

    class Notes(TextKind):
        name = "notes"

    class Terms(GlossaryKind):
        name, retriever = "terms", "Terms Retriever"

    with pytest.raises(ConfigError, match="KB kind 'notes' has the same retriever and tag as 'text'"):
        register_kind(Notes())
    with pytest.raises(ConfigError, match="KB kind 'terms' has the same tag as 'glossary'"):
        register_kind(Terms())
    assert "notes" not in KINDS and "terms" not in KINDS


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_such_module:Kind", "cannot import 'no_such_module:Kind'"),
        (f"{__name__}:Nothing", "cannot import"),
        ("pathlib:Path", "is not a KBKind subclass or instance"),
        (f"{__name__}:GlossaryKind", "is named 'glossary'"),
    ],
)
def test_bad_kind_specs_are_config_errors(spec, message):
    with pytest.raises(ConfigError, match=message):
        import_kinds({"other": spec})
    assert "other" not in KINDS


def test_a_spec_naming_another_encoder_family_is_refused(tmp_path):
    entries = tmp_path / "t.jsonl"
    entries.write_text('{"id": "a", "title": "A", "text": "alpha"}\n')
    with pytest.raises(ConfigError, match=r"a text KB is embedded by a 'text' encoder, but .* names 'image'"):
        build_kb("text", entries, tmp_path / "kb", {"family": "image", "path": "x"}, IndexConfig(), shard_dir=tmp_path)
    assert not (tmp_path / "kb").exists()
