"""Strict parsing of routing decisions and answers, on hand-written outputs and the released gold steps."""

import pytest

from r1router.kb.kinds import kind_for_retriever
from r1router.router.parsing import AnswerOutput, Decision, FormatError, parse_answer, parse_decision
from r1router.router.prompts import format_decision


def decision(think: str, sub_question: str, ret: str) -> str:
    return f"<think>{think}</think>\n<sub-question>{sub_question}</sub-question>\n<ret>{ret}</ret>"


GOOD_DECISIONS = [
    (
        decision("Find the director.", "Who directed Heat?", "Text Retriever"),
        Decision("Find the director.", "Who directed Heat?", "text"),
    ),
    (decision("x", "Who?", " Table Retriever \n"), Decision("x", "Who?", "table")),
    (decision("x", "What is shown?", "text image retriever"), Decision("x", "What is shown?", "image")),
    (decision("x", "None", "None"), Decision("x", None, None)),
    (decision("done", " none\n", "NONE"), Decision("done", None, None)),
    (decision("", "Who?", "TEXT RETRIEVER"), Decision("", "Who?", "text")),
    (
        "\n<THINK>\nline one\nline two\n</Think>\n\n<Sub-Question>\n When was it built? \n</SUB-QUESTION>\n"
        "<ret> \nTable Retriever\n</ret>\n",
        Decision("line one\nline two", "When was it built?", "table"),
    ),
]

BAD_DECISIONS = [
    ("<sub-question>Who?</sub-question><ret>Text Retriever</ret>", "missing <think>"),
    ("<think>x</think><ret>Text Retriever</ret>", "missing <sub-question>"),
    ("<think>x</think><sub-question>Who?</sub-question>", "missing <ret>"),
    ("<think>x</think><sub-question>Who?</sub-question><ret>Text Retriever", "unclosed <ret>"),
    ("<think>x<sub-question>Who?</sub-question><ret>Text Retriever</ret>", "unclosed <think>"),
    (
        "<think>a</think><think>b</think><sub-question>Who?</sub-question><ret>Text Retriever</ret>",
        "more than one <think>",
    ),
    ("<think>a</think></think>\n<sub-question>Who?</sub-question><ret>Text Retriever</ret>", "more than one </think>"),
    (decision("x", "Who?", "Text Retriever") + "<sub-question>And?</sub-question>", "more than one <sub-question>"),
    (decision("x", "Who?", "Text Retriever") + "<ret>Table Retriever</ret>", "more than one <ret>"),
    (decision("x", "Who?", "Text Retriever, Table Retriever"), "more than one retriever"),
    (decision("x", "Who?", "Text Retriever,"), "more than one retriever"),
    (decision("x", "Who?", "Web Search"), "unknown retriever 'Web Search'"),
    (decision("x", "Who?", "Text"), "unknown retriever"),
    (decision("x", "  ", "Text Retriever"), "empty sub-question"),
    (decision("x", "Who?", " "), "empty retriever"),
    (decision("x", "Who?", "None"), "disagree on stopping"),
    (decision("x", "None", "Text Retriever"), "disagree on stopping"),
    ("<think>x</think><ret>Text Retriever</ret><sub-question>Who?</sub-question>", "out of order"),
    ("</think>x<think><sub-question>Who?</sub-question><ret>Text Retriever</ret>", "</think> before <think>"),
    ("Sure! " + decision("x", "Who?", "Text Retriever"), "text outside the tags"),
    (decision("x", "Who?", "Text Retriever") + " Hope this helps.", "text outside the tags"),
    ("", "missing <think>"),
]


@pytest.mark.parametrize(("text", "expected"), GOOD_DECISIONS)
def test_good_decisions(text, expected):
    assert parse_decision(text) == expected


@pytest.mark.parametrize(("text", "reason"), BAD_DECISIONS)
def test_bad_decisions(text, reason):
    with pytest.raises(FormatError) as caught:
        parse_decision(text)
    assert reason in caught.value.reason
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("kb", ["text", "table", "image", None])
def test_format_decision_round_trips(kb):
    sub_question = None if kb is None else "What is it?"
    assert parse_decision(format_decision("because", sub_question, kb)) == Decision("because", sub_question, kb)


def test_good_answers():
    assert parse_answer("<think>It says so.</think>\n<answer> Paris </answer>") == AnswerOutput("It says so.", "Paris")
    assert parse_answer("<THINK> \n</THINK><Answer>\n1899\n</ANSWER>\n") == AnswerOutput("", "1899")
    assert parse_answer("<answer>Paris</answer>", require_think=False) == AnswerOutput("", "Paris")
    assert parse_answer("<think>a</think><answer>b</answer>", require_think=False) == AnswerOutput("a", "b")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("<think>x</think>", "missing <answer>"),
        ("Paris", "missing <think>"),
        ("<answer>Paris</answer>", "missing <think>"),
        ("<think>x</think><answer>Paris", "unclosed <answer>"),
        ("<think>x</think><answer> </answer>", "empty answer"),
        ("<think>x</think><answer>a</answer><answer>b</answer>", "more than one <answer>"),
        ("<answer>Paris</answer><think>x</think>", "out of order"),
        ("<think>x</think>The answer is <answer>Paris</answer>", "text outside the tags"),
    ],
)
def test_bad_answers(text, reason):
    with pytest.raises(FormatError) as caught:
        parse_answer(text)
    assert reason in caught.value.reason


def test_bad_answer_without_think_requirement():
    with pytest.raises(FormatError, match="missing <answer>"):
        parse_answer("Paris", require_think=False)
    with pytest.raises(FormatError, match="text outside"):
        parse_answer("So: <answer>Paris</answer>", require_think=False)


def test_released_gold_steps_parse(trajectories):
    """Each released step's gold output, written out the way the system prompts ask for it, parses back."""
    counts = {"decisions": 0, "answers": 0, "empty": 0}
    for row in trajectories:
        for step in row["steps"]:
            gold = step["answer"]
            if step["step_type"] == "ret":
                text = (
                    f"<think>\nWhat is needed next.\n</think>\n<sub-question>\n{gold['query']}\n</sub-question>\n"
                    f"<ret> \n{', '.join(gold['retriever'])}\n</ret>"
                )
                parsed = parse_decision(text)
                stop = gold["retriever"] == ["none"]
                assert parsed.sub_question == (None if stop else gold["query"].strip())
                assert parsed.kb == (None if stop else kind_for_retriever(gold["retriever"][0]).name)
                counts["decisions"] += 1
                continue
            answer = gold if isinstance(gold, str) else gold[0]  # final steps hold the gold answer list
            text = f"<think> \nReasoning.\n</think> \n<answer>{answer}</answer>"
            if not answer.strip():  # one released sub-answer is empty; the paper keeps it, we call it malformed
                with pytest.raises(FormatError, match="empty answer"):
                    parse_answer(text)
                counts["empty"] += 1
                continue
            assert parse_answer(text) == AnswerOutput("Reasoning.", answer.strip())
            counts["answers"] += 1
    assert counts == {"decisions": 173, "answers": 202, "empty": 1}
