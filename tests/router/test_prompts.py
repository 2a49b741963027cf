"""Prompts reproduce the released Step-GRPO rows byte for byte, and the few-shot turns are well-formed."""

import re

import pytest
from PIL import Image

from r1router.benchmarks.registry import DATASETS
from r1router.errors import ConfigError
from r1router.kb.hit import Hit
from r1router.kb.kinds import KINDS
from r1router.router import prompts
from r1router.router.parsing import parse_decision
from r1router.router.prompts import (
    DECOMPOSE_SYSTEM,
    DECOMPOSE_SYSTEM_ZERO_SHOT,
    FEW_SHOT_EXAMPLES,
    FEW_SHOT_FAMILY,
    FINAL_ANSWER_REQUEST,
    FINAL_ANSWER_SYSTEM,
    IMAGE_PLACEHOLDER,
    SUB_ANSWER_PREAMBLE,
    SUB_ANSWER_REQUEST,
    SUB_ANSWER_SYSTEM,
    decompose_messages,
    decompose_problem,
    final_answer_messages,
    final_answer_problem,
    sub_answer_messages,
    sub_answer_problem,
)

# A text change must come with a new PROMPT_VERSION: add its fingerprint here, never edit an old one.
FINGERPRINTS = {
    "r1router-prompts-v1": "186365c4e550614d74fe2cee147b83ea34d721e087187d5e4ca5d3e07f926d97",
    "r1router-prompts-v2": "6d2e6a7c5f8bd330c95bddd9c6312ac7381690d202415ab710d3266462fdebe1",
}
KIND_OF_TAG = {kind.tag: kind.name for kind in KINDS.values()}


def test_prompt_version_pins_the_texts():
    assert FINGERPRINTS.get(prompts.PROMPT_VERSION) == prompts.prompt_fingerprint(), (
        "prompt texts changed: bump PROMPT_VERSION and add its fingerprint"
    )


def test_system_prompts_are_the_released_ones(trajectories):
    steps = [step for row in trajectories for step in row["steps"]]
    decompose = {step["system"] for step in steps if step["step_type"] == "ret"}
    answer = {step["system"] for step in steps if step["step_type"] == "ans"}
    # The released rows hold the zero-shot prompt exactly as the paper derives it, and a variant with one more
    # trailing newline (138 of 173 rows); nothing else differs.
    assert DECOMPOSE_SYSTEM_ZERO_SHOT in decompose
    assert decompose == {DECOMPOSE_SYSTEM_ZERO_SHOT, DECOMPOSE_SYSTEM_ZERO_SHOT + "\n"}
    assert answer == {SUB_ANSWER_SYSTEM, FINAL_ANSWER_SYSTEM}
    assert SUB_ANSWER_SYSTEM.startswith('"You are') and FINAL_ANSWER_SYSTEM.startswith('"You are')
    assert DECOMPOSE_SYSTEM.endswith("### Examples:\n")
    assert DECOMPOSE_SYSTEM.replace("### Examples:", "") == DECOMPOSE_SYSTEM_ZERO_SHOT


def released_hits(problem: str) -> tuple[list[Hit], str]:
    """Split a released sub-answer turn back into its passages and sub-question."""
    assert problem.startswith(SUB_ANSWER_PREAMBLE)
    cut = problem.rindex(SUB_ANSWER_REQUEST)
    body, sub_question = problem[len(SUB_ANSWER_PREAMBLE) : cut], problem[cut + len(SUB_ANSWER_REQUEST) :]
    starts, expected = [], None  # (tag, index) markers in sequence: the next index of a tag, or 0 of a new tag
    for match in re.finditer(r"(?:^|(?<=\n))(ter|tir|tar)-(\d+): ", body):
        tag, index = match.group(1), int(match.group(2))
        if (
            (expected is None and index == 0)
            or (expected and tag == expected[0] and index == expected[1])
            or (expected and tag != expected[0] and index == 0)
        ):
            starts.append((match.start(), match.end(), tag))
            expected = (tag, index + 1)
    hits = []
    for n, (_, end, tag) in enumerate(starts):
        stop = starts[n + 1][0] if n + 1 < len(starts) else len(body)
        assert body[stop - 1] == "\n"
        hits.append(Hit(KIND_OF_TAG[tag], f"{tag}{n}", 0.0, body[end : stop - 1]))
    return hits, sub_question


def test_user_turns_rebuild_every_released_row(trajectories):
    checked = {"ret": 0, "ans": 0, "final": 0}
    for row in trajectories:
        with_image = bool(row["images"])
        final = row["steps"][-1]
        assert final["system"] == FINAL_ANSWER_SYSTEM
        tail = final["problem"][final["problem"].rindex(FINAL_ANSWER_REQUEST) + len(FINAL_ANSWER_REQUEST) :]
        question = tail.removesuffix(IMAGE_PLACEHOLDER) if with_image else tail
        history: list[tuple[str, str]] = []
        query = None
        for step in row["steps"][:-1]:
            if step["step_type"] == "ret":
                assert step["problem"] == decompose_problem(question, history, with_image)
                query = step["answer"]["query"]
                checked["ret"] += 1
            else:
                hits, sub_question = released_hits(step["problem"])
                if with_image:
                    sub_question = sub_question.removesuffix(IMAGE_PLACEHOLDER)
                assert sub_question == query
                assert step["problem"] == sub_answer_problem(sub_question, hits, with_image)
                history.append((sub_question, step["answer"]))
                checked["ans"] += 1
        assert final["problem"] == final_answer_problem(question, history, with_image)
        checked["final"] += 1
    assert checked == {"ret": 173, "ans": 143, "final": 60}


def test_passages_are_grouped_by_kb_in_paper_order():
    hits = [
        Hit("table", "t1", 0.9, "[Title] Medals"),
        Hit("text", "x1", 0.8, "first text"),
        Hit("image", "i1", 0.7, "a red logo"),
        Hit("text", "x2", 0.6, "second text"),
    ]
    assert sub_answer_problem("Who?", hits) == (
        SUB_ANSWER_PREAMBLE
        + "ter-0: first text\nter-1: second text\ntir-0: a red logo\ntar-0: [Title] Medals\n"
        + "\n\n Give me the answer(with the format <answer></answer>) to the Question: Who?"
    )


def test_zero_shot_messages_put_the_image_after_the_text():
    image = Image.new("RGB", (8, 8))
    messages = decompose_messages("Who built this?", [("What is it?", "A bridge.")], image=image)
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[0]["content"] == [{"type": "text", "text": DECOMPOSE_SYSTEM_ZERO_SHOT}]
    assert messages[1]["content"] == [
        {"type": "text", "text": "Origin question: Who built this?\nSub-question1: What is it?\nAnswer1: A bridge.\n"},
        {"type": "image", "image": image},
    ]
    assert len(decompose_messages("Q?", [])[1]["content"]) == 1


def test_answer_messages():
    hit = Hit("text", "a", 1.0, "Paris is the capital of France.")
    sub = sub_answer_messages("What is the capital of France?", [hit], image="photo.png")
    assert sub[0]["content"][0]["text"] == SUB_ANSWER_SYSTEM
    assert sub[1]["content"][0]["text"] == sub_answer_problem("What is the capital of France?", [hit])
    assert sub[1]["content"][1] == {"type": "image", "image": "photo.png"}
    final = final_answer_messages("Q?", [("S?", "A.")])
    assert final[0]["content"][0]["text"] == FINAL_ANSWER_SYSTEM
    assert final[1]["content"] == [
        {"type": "text", "text": f"Origin question: Q?\nSub-question1: S?\nAnswer1: A.\n{FINAL_ANSWER_REQUEST}Q?"}
    ]


@pytest.mark.parametrize("family", sorted(FEW_SHOT_EXAMPLES))
def test_few_shot_turns_are_well_formed(family):
    messages = decompose_messages("Which city is this?", [], few_shot=family)
    examples = FEW_SHOT_EXAMPLES[family]
    assert messages[0]["content"][0]["text"] == DECOMPOSE_SYSTEM
    assert [m["role"] for m in messages[1:]] == ["user", "assistant"] * len(examples) + ["user"]
    kinds_used = set()
    for n, example in enumerate(examples, start=1):
        user, assistant = messages[2 * n - 1], messages[2 * n]
        assert user["content"][0]["text"] == f"Example {n}: " + decompose_problem(example.question, example.history)
        decision = parse_decision(assistant["content"][0]["text"])
        assert (decision.sub_question, decision.kb) == (example.sub_question, example.kb)
        assert (example.image is not None) == (family == "visual") == (len(user["content"]) == 2)
        kinds_used.add(example.kb)
    assert None in kinds_used  # every family shows when to stop
    assert messages[-1]["content"] == [{"type": "text", "text": "Origin question: Which city is this?\n"}]


def test_few_shot_family_covers_every_dataset():
    assert set(FEW_SHOT_FAMILY) == set(DATASETS)
    assert set(FEW_SHOT_FAMILY.values()) == set(FEW_SHOT_EXAMPLES)
    assert FEW_SHOT_FAMILY["demo_tabfact"] == "table" and FEW_SHOT_FAMILY["webqa"] == "visual"
    with pytest.raises(ConfigError, match="few-shot family"):
        decompose_messages("Q?", [], few_shot="hotpotqa")
