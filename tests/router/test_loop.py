"""The batched step-wise loop and the baselines, driven by a scripted policy.

The policy double answers from a script keyed on the last user turn, so these
tests pin down the loop's logic (batching, grouping by KB, stop, recovery,
history) without a model; the real SmolLM2 path is covered by the policy tests
and the slow evaluation test.
"""

from dataclasses import replace

import pytest

from r1router.benchmarks.schema import PlanStep, Question
from r1router.errors import ConfigError
from r1router.kb.hit import Hit
from r1router.router.baselines import Baseline
from r1router.router.generation import RecoveryConfig
from r1router.router.generation_config import GenerationConfig
from r1router.router.loop import LoopConfig, RouterLoop, loop_config


def last_user_text(conversation):
    parts = conversation[-1]["content"]
    return " ".join(p["text"] for p in parts if p["type"] == "text")


class ScriptedPolicy:
    """Returns, for each conversation, the first scripted reply whose key occurs in the last user turn."""

    multimodal = False

    def __init__(self, script):
        self.script = script
        self.calls = []  # batch sizes, to check batching

    def generate(self, conversations, config):
        self.calls.append(len(conversations))
        replies = []
        for conversation in conversations:
            text = last_user_text(conversation)
            reply = next((r for key, r in self.script if key in text), None)
            if reply is None:
                raise AssertionError(f"no scripted reply for: {text!r}")
            replies.append(reply(config) if callable(reply) else reply)
        return replies


def decide(sub_question, retriever):
    return f"<think>next</think><sub-question>{sub_question}</sub-question><ret>{retriever}</ret>"


def answer(text):
    return f"<think>read it</think><answer>{text}</answer>"


class RecordingSearch:
    def __init__(self):
        self.calls = []
        self.ks = []  # passages asked for, per call

    def __call__(self, kb, queries, images, k):
        self.calls.append((kb, list(queries), images))
        self.ks.append(k)
        return [
            [Hit(kb, f"{kb}-{i}", 1.0 - 0.1 * j, f"passage for {q}") for j in range(k)] for i, q in enumerate(queries)
        ]


def q(qid, text, dataset="demo_2wikimultihopqa", image_id=None):
    plan = [PlanStep("s", "text", "a", ["e"])]
    return Question(qid, text, ["gold"], dataset, image_id=image_id, gold_plan=plan)


SCRIPT = [
    # final-answer turns first: they also contain the history lines
    ("final answer of the origin question: Who directed Lantern?", answer("Oren Valcik")),
    ("final answer of the origin question: Where is Dorvik?", answer("Velmora")),
    ("Question: Who directed the film Lantern?", answer("Oren Valcik")),
    ("Question: Which country is Dorvik in?", answer("Velmora")),
    ("Sub-question1: Who directed the film Lantern?", decide("None", "None")),
    ("Sub-question1: Which country is Dorvik in?", decide("None", "None")),
    ("Origin question: Who directed Lantern?", decide("Who directed the film Lantern?", "Text Retriever")),
    ("Origin question: Where is Dorvik?", decide("Which country is Dorvik in?", "Table Retriever")),
]


def test_loop_batches_generation_and_groups_retrieval_by_kb():
    policy, search = ScriptedPolicy(SCRIPT), RecordingSearch()
    questions = [q("1", "Who directed Lantern?"), q("2", "Where is Dorvik?"), q("3", "Who directed Lantern?")]
    trajectories = RouterLoop(policy, search, LoopConfig(k=3)).run(questions)
    assert [t.final_answer for t in trajectories] == ["Oren Valcik", "Velmora", "Oren Valcik"]
    assert [t.route for t in trajectories] == [["text", "none"], ["table", "none"], ["text", "none"]]
    # one search per KB per step, each with every question routed there
    assert sorted((kb, len(queries)) for kb, queries, _ in search.calls) == [("table", 1), ("text", 2)]
    # decision, sub-answer, decision, final: each one batched call over all active questions
    assert policy.calls == [3, 3, 3, 3]
    first = trajectories[0].steps[0]
    assert first.sub_question == "Who directed the film Lantern?"
    assert [h.id for h in first.hits] == ["text-0", "text-0", "text-0"]
    assert first.sub_answer == "Oren Valcik"
    assert trajectories[0].retrievals == 1 and trajectories[0].format_errors == 0


def test_max_steps_ends_the_loop_and_images_go_only_to_the_image_kb(tmp_path):
    script = [
        ("final answer of the origin question", answer("X")),
        ("Question: Which landmark is shown in the image?", answer("Tarsen Arch")),
        ("Origin question", decide("Which landmark is shown in the image?", "Text Image Retriever")),
    ]
    search = RecordingSearch()
    (tmp_path / "infoseek_dev_00001.png").write_bytes(b"png")
    question = q("1", "When was this built?", dataset="demo_infoseek", image_id="infoseek_dev_00001")
    [trajectory] = RouterLoop(ScriptedPolicy(script), search, LoopConfig(max_steps=2)).run([question], tmp_path)
    assert trajectory.route == ["image", "image"]
    assert [kb for kb, _, _ in search.calls] == ["image", "image"]
    assert search.calls[0][2] == [tmp_path / "infoseek_dev_00001.png"]


def test_format_errors_are_retried_with_sampling_then_corrected_then_stop():
    def flaky(config):
        return decide("Who directed the film Lantern?", "Text Retriever") if config.do_sample else "no tags at all"

    script = [
        ("final answer of the origin question", answer("Oren Valcik")),
        ("Question: Who directed", answer("Oren Valcik")),
        ("Sub-question1", decide("None", "None")),
        ("Origin question", flaky),
    ]
    [trajectory] = RouterLoop(ScriptedPolicy(script), RecordingSearch(), LoopConfig()).run([q("1", "Who directed?")])
    assert trajectory.route == ["text", "none"]
    assert trajectory.steps[0].format_errors == 1  # greedy failed once, the sampled retry parsed

    never = [
        ("final answer", answer("?")),
        ("Strict Output Format", "<sub-question>x</sub-question>"),
        ("Origin question", "<sub-question>x</sub-question>"),
    ]
    config = LoopConfig(recovery=RecoveryConfig(retries=2, corrective_turn=True))
    [trajectory] = RouterLoop(ScriptedPolicy(never), RecordingSearch(), config).run([q("1", "Who directed?")])
    assert trajectory.route == ["none"]  # fell back to stop
    assert trajectory.steps[0].format_errors == 4  # greedy + 2 retries + corrective turn
    assert trajectory.outputs == 5  # 4 failed decision outputs + the final answer


def test_unparsable_answers_fall_back_to_their_text():
    script = [("final answer", "just Velmora, no tags"), ("Origin question", decide("None", "None"))]
    config = LoopConfig(recovery=RecoveryConfig(retries=0, corrective_turn=False))
    [trajectory] = RouterLoop(ScriptedPolicy(script), RecordingSearch(), config).run([q("1", "Where?")])
    assert trajectory.final_answer == "just Velmora, no tags"
    assert trajectory.format_errors == 1


@pytest.mark.parametrize(
    ("kbs", "rounds", "searches"),
    [((), 1, 0), (("text",), 1, 1), (("text", "table", "image"), 1, 3), (("text", "table", "image"), 3, 9)],
)
def test_baselines_retrieve_from_their_kbs_for_their_rounds(kbs, rounds, searches):
    script = [("final answer", answer("direct")), ("Question:", answer("from passages"))]
    search = RecordingSearch()
    config = replace(LoopConfig(), answer=GenerationConfig(max_new_tokens=8))
    baseline = Baseline("m", ScriptedPolicy(script), search, config, kbs=kbs, rounds=rounds)
    trajectories = baseline.run([q("1", "Who?"), q("2", "Where?")])
    assert len(search.calls) == searches
    assert all(len(queries) == 2 for _, queries, _ in search.calls)  # batched over both questions
    expected = "direct" if not kbs else "from passages"
    assert [t.final_answer for t in trajectories] == [expected, expected]
    assert all(t.retrievals == (len(kbs) * rounds) for t in trajectories)
    if rounds > 1:  # later rounds extend the query with the previous answer
        assert search.calls[-1][1][0] == "Who? from passages"


@pytest.mark.parametrize(
    ("kbs", "all_kbs_k", "k_each"),
    [(("text",), 2, 5), (("text", "table", "image"), 2, 2), (("text", "table"), None, 5)],
)
def test_all_kb_baselines_take_all_kbs_k_passages_per_kb(kbs, all_kbs_k, k_each):
    script = [("Question:", answer("from passages"))]
    search = RecordingSearch()
    config = replace(LoopConfig(k=5, all_kbs_k=all_kbs_k), answer=GenerationConfig(max_new_tokens=8))
    [trajectory] = Baseline("m", ScriptedPolicy(script), search, config, kbs=kbs).run([q("1", "Who?")])
    assert search.ks == [k_each] * len(kbs)
    assert len(trajectory.steps[0].hits) == k_each * len(kbs)


def test_loop_config_reads_a_params_section_with_stop_defaults():
    config = loop_config({"max_steps": 2, "k": 4, "all_kbs_k": 1, "decision": {"max_new_tokens": 32}})
    assert (config.max_steps, config.k, config.all_kbs_k) == (2, 4, 1)
    assert config.decision.max_new_tokens == 32
    assert config.decision.stop_strings == ("</ret>",)
    assert config.answer.stop_strings == ("</answer>",)
    assert loop_config({"answer": {"stop_strings": []}}).answer.stop_strings == ()


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"max_step": 3}, r"params.yaml evaluate.loop: unknown keys \['max_step'\]"),
        ({"decision": {"max_tokens": 8}}, r"params.yaml evaluate.loop.decision: .*max_tokens"),
        ({"answer": {"batch_size": 0}}, r"params.yaml evaluate.loop.answer: .*batch_size must be >= 1"),
        ({"recovery": {"retry": 1}}, r"params.yaml evaluate.loop.recovery: .*retry"),
        ({"all_kbs_k": 0}, r"params.yaml evaluate.loop: .*all_kbs_k must be >= 1"),
    ],
)
def test_loop_config_errors_name_the_params_key(section, message):
    with pytest.raises(ConfigError, match=message):
        loop_config(section, "evaluate.loop")
