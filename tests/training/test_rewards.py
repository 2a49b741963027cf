"""Step-GRPO rewards: every case of the ret and ans rules, the stop cases, the cost term, format gating, stats.

The reward functions are called as the plain functions trl calls. Most cases
use a bag-of-words encoder so each expected reward is a number computed here;
the encoder itself is not under test. One test runs the real all-MiniLM-L6-v2.
"""

import hashlib
import json
import re

import numpy as np
import pytest
import torch
from trl.trainer.utils import get_callable_name

from r1router.encoders.text import TextEncoder
from r1router.router.prompts import format_decision
from r1router.training.rewards import RetGold, ans, answer_reward, route_rewards, step_rewards

STOP_GOLD = {"query": "none", "retriever": ["none"]}


def bag_of_words(texts):
    out = np.zeros((len(texts), 512), dtype=np.float32)
    for row, text in enumerate(texts):
        for token in re.findall(r"\w+", text.lower()):
            out[row, int(hashlib.md5(token.encode()).hexdigest(), 16) % 512] += 1.0
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


def cosine(a, b):
    va, vb = bag_of_words([a.lower(), b.lower()])
    return float(va @ vb)


def ret_gold(query, retriever):
    return {"query": query, "retriever": [retriever]}


def score_ret(texts, golds, cost_weight=0.0):
    ret, _ = step_rewards(bag_of_words, cost_weight=cost_weight)
    return ret(texts, step_type=["ret"] * len(texts), gold=[json.dumps(g) for g in golds])


GOLD_Q = "who directed the film silver orchard?"


def test_gold_decision_scores_one():
    text = format_decision("Find the director first.", "Who directed the film Silver Orchard?", "text")
    assert score_ret([text], [ret_gold(GOLD_Q, "text retriever")]) == pytest.approx([1.0])


def test_right_kb_other_wording_scores_half_plus_half_the_similarity():
    question = "Which person was the director of Silver Orchard?"
    text = format_decision("x", question, "text")
    [reward] = score_ret([text], [ret_gold(GOLD_Q, "text retriever")])
    assert 0.0 < cosine(question, GOLD_Q) < 1.0
    assert reward == pytest.approx(0.5 * cosine(question, GOLD_Q) + 0.5)


def test_wrong_kb_keeps_only_the_similarity_half():
    text = format_decision("x", "Who directed the film Silver Orchard?", "table")
    assert score_ret([text], [ret_gold(GOLD_Q, "text retriever")]) == pytest.approx([0.5])


@pytest.mark.parametrize(
    "text",
    [
        "<sub-question>Who?</sub-question><ret>Text Retriever</ret>",  # no think
        "<think>x</think><sub-question>Who?</sub-question><ret>Text Retriever",  # unclosed
        "Sure! <think>x</think><sub-question>Who?</sub-question><ret>Text Retriever</ret>",  # text outside
        "<think>x</think><sub-question>Who?</sub-question><ret>Text Retriever, Table Retriever</ret>",  # two
        "<think>x</think><sub-question>Who?</sub-question><ret>Web Search</ret>",  # unknown retriever
        "<think>x</think><sub-question>None</sub-question><ret>Text Retriever</ret>",  # stop disagreement
        "<think>x</think><sub-question> </sub-question><ret>Text Retriever</ret>",  # empty
        "",
    ],
)
def test_malformed_decision_scores_zero(text):
    # The official code would still pay the similarity half for several of these (see the module docstring).
    assert score_ret([text], [ret_gold(GOLD_Q, "text retriever")]) == [0.0]


def test_case_and_whitespace_are_forgiven():
    text = f"<THINK>x</THINK>\n<Sub-Question>\n {GOLD_Q.upper()} \n</Sub-Question>\n<RET> TEXT RETRIEVER </RET>\n"
    assert score_ret([text], [ret_gold(GOLD_Q, "text retriever")]) == pytest.approx([1.0])


def test_stop_cases():
    stop = format_decision("Enough is known.", None, None)
    retrieve = format_decision("x", GOLD_Q, "text")
    golds = [STOP_GOLD, STOP_GOLD, ret_gold(GOLD_Q, "text retriever")]
    assert score_ret([stop, retrieve, stop], golds) == pytest.approx([1.0, 0.0, 0.0])


def test_cost_term_penalises_only_retrieving_where_the_gold_stops():
    stop = format_decision("x", None, None)
    retrieve = format_decision("x", GOLD_Q, "text")
    malformed = "<think>x</think>"
    golds = [STOP_GOLD, STOP_GOLD, ret_gold(GOLD_Q, "text retriever"), STOP_GOLD]
    rewards = score_ret([retrieve, stop, retrieve, malformed], golds, cost_weight=0.25)
    assert rewards == pytest.approx([-0.25, 1.0, 1.0, 0.0])
    with pytest.raises(ValueError, match="cost_weight"):
        step_rewards(bag_of_words, cost_weight=-1.0)


def test_route_rewards_reports_routing_and_format():
    golds = [RetGold.from_answer(ret_gold(GOLD_Q, "table retriever")), RetGold.from_answer(STOP_GOLD)]
    texts = [format_decision("x", GOLD_Q, "table"), "garbage"]
    right, malformed = route_rewards(texts, golds, bag_of_words)
    assert (right.well_formed, right.routed_right) == (True, True)
    assert (malformed.reward, malformed.well_formed, malformed.routed_right) == (0.0, False, False)


def test_bad_ret_gold_is_an_error():
    for bad in ({"query": "x"}, ret_gold("x", "web search"), {"query": "x", "retriever": ["text retriever"] * 2}):
        with pytest.raises(ValueError):
            RetGold.from_answer(bad)


def answer(text):
    return f"<think>Read the passages.</think>\n<answer>{text}</answer>"


@pytest.mark.parametrize(
    ("prediction", "golds", "expected"),
    [
        ("Mara Ellison", ["Mara Ellison"], 1.0),  # single short gold, full recall
        ("She is Mara Ellison, the director.", ["Mara Ellison"], 1.0),  # recall, not precision
        ("Ellison", ["Mara Ellison"], 0.0),  # single short gold, partial recall scores nothing
        ("two", ["2"], 1.0),  # the official normalisation (number words)
        ("one two three four five", ["one two three four five"], 1.0),  # exactly 5 words is still short
        ("one two three", ["one two three four five"], 0.0),
        # a single gold longer than 5 words scores its recall (3 of 6 gold tokens)
        ("red stone bridge", ["a red stone bridge over river"], 0.5),
        ("Lake Dunmere", ["Lake Carrow", "Lake Dunmere"], 1.0),  # several golds: 1 at recall 1 with any
        ("Lake", ["Lake Carrow", "Lake Dunmere"], 0.0),  # several golds, partial: 0
        ("anything", [""], 0.0),  # the released file's one empty sub-answer
    ],
)
def test_answer_rule(prediction, golds, expected):
    reward, well_formed = answer_reward(answer(prediction), golds)
    assert well_formed and reward == pytest.approx(expected)


@pytest.mark.parametrize(
    "text",
    ["<answer>Mara Ellison</answer>", "Mara Ellison", "<think>x</think><answer>Mara Ellison", "<think>x</think>"],
)
def test_malformed_answer_scores_zero(text):
    assert answer_reward(text, ["Mara Ellison"]) == (0.0, False)


def mixed_batch():
    """Three routing decisions (right, wrong KB, malformed) and two answers (right, wrong), as trl passes them."""
    completions = [
        [{"role": "assistant", "content": format_decision("x", GOLD_Q, "text")}],
        [{"role": "assistant", "content": format_decision("x", GOLD_Q, "image")}],
        [{"role": "assistant", "content": "no tags"}],
        [{"role": "assistant", "content": answer("Mara Ellison")}],
        [{"role": "assistant", "content": answer("nobody")}],
    ]
    golds = [ret_gold(GOLD_Q, "text retriever")] * 3 + ["Mara Ellison", ["Mara Ellison"]]
    return completions, ["ret", "ret", "ret", "ans", "ans"], [json.dumps(g) for g in golds]


def test_each_function_scores_its_own_step_type_and_none_elsewhere():
    completions, step_type, gold = mixed_batch()
    ret, answer_fn = step_rewards(bag_of_words)
    assert answer_fn is ans and [get_callable_name(f) for f in (ret, ans)] == ["ret", "ans"]  # trl's metric names
    logged = {}
    log = {"log_metric": logged.__setitem__, "trainer_state": None, "prompts": [None] * 5}  # trl's extra keywords
    assert ret(completions, step_type=step_type, gold=gold, **log) == pytest.approx([1.0, 0.5, 0.0, None, None])
    assert logged == pytest.approx(
        {"format_rate/ret": 2 / 3, "routing_accuracy": 1 / 3, "rewards/ret/text": (1.0 + 0.5 + 0.0) / 3}
    )
    logged.clear()
    assert ans(completions, step_type=step_type, gold=gold, **log) == [None, None, None, 1.0, 0.0]
    assert logged == {"format_rate/ans": 1.0}
    # A batch without rows of a function's type: all None, nothing logged (trl then logs no mean for it).
    logged.clear()
    assert ans(completions[:3], step_type=step_type[:3], gold=gold[:3], **log) == [None] * 3
    assert logged == {}


def test_trl_sums_the_two_functions_into_each_rows_own_reward():
    """trl's combination (None as NaN, weights 1.0, nansum) gives exactly each row's own score, bit for bit."""
    completions, step_type, gold = mixed_batch()
    outputs = [f(completions, step_type=step_type, gold=gold) for f in step_rewards(bag_of_words)]
    per_func = torch.tensor([[torch.nan if r is None else r for r in rewards] for rewards in outputs]).T
    combined = (per_func * torch.ones(2).unsqueeze(0)).nansum(dim=1)
    own = [r if r is not None else a for r, a in zip(*outputs, strict=True)]
    assert torch.equal(combined, torch.tensor(own, dtype=torch.float32))
    assert not torch.isnan(per_func).all(dim=1).any()  # every row is scored by one function


def test_unknown_step_type_is_an_error():
    for reward in step_rewards(bag_of_words):
        with pytest.raises(ValueError, match="step_type"):
            reward(["x"], step_type=["plan"], gold=['"x"'])


def test_real_text_encoder_similarity(text_encoder_dir):
    """With the text KB's own encoder: a paraphrase keeps most of the similarity half, another question does not."""
    ret, _ = step_rewards(TextEncoder(text_encoder_dir, device="cpu").encode)
    gold = json.dumps(ret_gold(GOLD_Q, "text retriever"))
    texts = [
        format_decision("x", "Who directed the film Silver Orchard?", "text"),
        format_decision("x", "Who was the director of the movie Silver Orchard?", "text"),
        format_decision("x", "How deep is Lake Dunmere?", "text"),
    ]
    same, paraphrase, unrelated = ret(texts, step_type=["ret"] * 3, gold=[gold] * 3)
    assert same == pytest.approx(1.0, abs=1e-5)
    assert 0.9 < paraphrase < same
    assert 0.5 <= unrelated < 0.65


def test_routing_rewards_are_also_logged_per_gold_kb_and_for_stop():
    completions = [
        format_decision("x", GOLD_Q, "table"),
        format_decision("x", GOLD_Q, "text"),
        format_decision("x", None, None),
        format_decision("x", GOLD_Q, "text"),
    ]
    golds = [ret_gold(GOLD_Q, "table retriever")] * 2 + [ret_gold("None", "none")] * 2
    logged = {}
    ret, _ = step_rewards(bag_of_words)
    rewards = ret(
        completions, step_type=["ret"] * 4, gold=[json.dumps(g) for g in golds], log_metric=logged.__setitem__
    )
    assert logged["rewards/ret/table"] == pytest.approx((rewards[0] + rewards[1]) / 2)
    assert logged["rewards/ret/stop"] == pytest.approx((rewards[2] + rewards[3]) / 2)
    assert rewards[0] > rewards[1] and rewards[2] > rewards[3]  # the right KB / the stop beat the wrong choice
    assert "rewards/ret/text" not in logged  # no row had the text KB as its gold
