"""`Retrievers`, the router's view of retrieval: a route to a KB that was not built is a wrong route, not a crash."""

import logging

import pytest

from r1router.benchmarks.schema import Question
from r1router.kb.build import build_kb
from r1router.kb.index import IndexConfig
from r1router.kb.retriever import Retrievers
from r1router.router.loop import LoopConfig, RouterLoop
from r1router.router.prompts import DECOMPOSE_SYSTEM_ZERO_SHOT


@pytest.fixture(scope="module")
def text_only(tmp_path_factory, text_encoder_dir):
    """Only the text KB built (real MiniLM, real faiss), as a profile with `kbs: [text]` has it."""
    root = tmp_path_factory.mktemp("kbs")
    passages = root / "passages.jsonl"
    passages.write_text(
        '{"id": "p0", "title": "Glacier", "text": "The Morrow glacier lies north of Velmora."}\n'
        '{"id": "p1", "title": "Castle", "text": "Dorvik castle was built in 1312."}\n'
    )
    spec = {"family": "text", "path": str(text_encoder_dir)}
    build_kb("text", passages, root / "text", spec, IndexConfig(), shard_dir=root / "shards", device="cpu")
    return Retrievers(root, ["text"], device="cpu")


def test_kb_not_built_gets_no_hits_and_one_warning_per_name(text_only, caplog):
    with caplog.at_level(logging.WARNING, logger="r1router.kb.retriever"):
        assert text_only.search("image", ["Which landmark is this?", "Who built it?"], [None, None], 5) == [[], []]
        assert text_only.search("image", ["When was it opened?"], None, 5) == [[]]
        assert text_only.search("table", ["How many medals?"], None, 5) == [[]]
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 2
    assert "'image'" in warnings[0] and "'table'" in warnings[1] and "['text']" in warnings[0]
    assert text_only.search("text", ["When was Dorvik castle built?"], None, 1)[0][0].id == "p1"  # built KBs still work


ROUTE_TO_IMAGE = "<think>look</think><sub-question>Which bridge is this?</sub-question><ret>Text Image Retriever</ret>"


class RoutesToImageThenStops:
    """Policy double: routes the first step to the image KB, stops at the second, answers every answer prompt."""

    multimodal = False

    def generate(self, conversations, config):
        replies = []
        for conversation in conversations:
            user = conversation[-1]["content"][0]["text"]
            if conversation[0]["content"][0]["text"] != DECOMPOSE_SYSTEM_ZERO_SHOT:
                replies.append("<think>no passages</think><answer>unknown</answer>")
            elif "Sub-question1" in user:
                replies.append("<think>done</think><sub-question>None</sub-question><ret>None</ret>")
            else:
                replies.append(ROUTE_TO_IMAGE)
        return replies


def test_loop_finishes_when_routed_to_a_kb_not_built(text_only):
    questions = [
        Question(f"q{i}", "In which year was this bridge opened?", ["1890"], "demo_infoseek") for i in range(2)
    ]
    trajectories = RouterLoop(RoutesToImageThenStops(), text_only.search, LoopConfig(max_steps=3)).run(questions)
    for trajectory in trajectories:
        routed, stop = trajectory.steps
        assert (routed.kb, routed.hits, routed.sub_answer) == ("image", [], "unknown")
        assert stop.kb is None and trajectory.final_answer == "unknown"
