"""`r1router ask`: the active profile's router settings, any backend spec as `--model`, flags that override.

The policy is a scripted double put where the factory would build it, so what
is checked is what `ask` asks for: the spec, the generation settings, the loop.
"""

import json
from pathlib import Path

import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from r1router.cli import app
from r1router.kb.retriever import Retrievers
from r1router.router import backends
from r1router.router.prompts import decompose_messages, format_decision

REPO_PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"
SERVED = '{backend: openai, endpoint: {base_url: "http://127.0.0.1:8000/v1", model: served-7b}}'


class ScriptedRouter:
    """Always retrieves from the text KB, answers "Paris"; records each call's conversations and settings."""

    multimodal = False

    def __init__(self):
        self.calls = []

    def generate(self, conversations, config):
        self.calls.append((conversations, config))
        if config.stop_strings == ("</ret>",):
            return [format_decision("Look it up.", "Where is it?", "text")] * len(conversations)
        return ["<think>From the passages.</think>\n<answer>Paris</answer>"] * len(conversations)


@pytest.fixture
def asked(tmp_path, monkeypatch):
    """Run `ask` on the demo profile with the scripted policy; return (exit result, loaded specs, policy, searches)."""
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({**yaml.safe_load(REPO_PARAMS.read_text()), "profile": "demo"}))
    policy, specs, searches = ScriptedRouter(), [], []
    monkeypatch.setattr(backends, "load_policy", lambda spec: specs.append(spec) or policy)
    monkeypatch.setattr(Retrievers, "search", lambda self, kb, queries, images, k: searches.append(k) or [[]])

    def run(*args):
        result = CliRunner().invoke(app, ["ask", "Where is it?", "--kbs", "", "--json", "--params", str(params), *args])
        assert result.exit_code == 0, result.output
        return json.loads(result.output), specs, policy, searches

    return run


def test_defaults_are_the_profiles_router_and_a_served_model_is_a_spec(asked):
    trajectory, [spec], policy, searches = asked("--model", SERVED)
    assert (spec.backend, spec.endpoint.model) == ("openai", "served-7b")
    demo = yaml.safe_load(REPO_PARAMS.read_text())["profiles"]["demo"]["router"]["loop"]
    decisions = [config for _, config in policy.calls if config.stop_strings == ("</ret>",)]
    answers = [config for _, config in policy.calls if config.stop_strings == ("</answer>",)]
    assert {(c.max_new_tokens, c.batch_size) for c in decisions} == {tuple(demo["decision"].values())}
    assert {(c.max_new_tokens, c.batch_size) for c in answers} == {tuple(demo["answer"].values())}
    assert len(trajectory["steps"]) == demo["max_steps"] and set(searches) == {demo["k"]}
    assert trajectory["llm_answer"] == "Paris"


def test_flags_override_the_loop_and_a_directory_runs_on_the_profiles_precision(asked, tmp_path):
    router = tmp_path / "router"
    trajectory, [spec], _, searches = asked("--model", str(router), "--max-steps", "1", "-k", "2")
    assert (spec.backend, spec.model, spec.precision) == ("auto", str(router), "bfloat16")
    assert len(trajectory["steps"]) == 1 and searches == [2]


@pytest.mark.parametrize(("flags", "family"), [((), "text"), (("--family", "table"), "table")])
def test_a_base_model_gets_the_few_shot_examples_prompt_router_gets(asked, tmp_path, flags, family):
    """Without a benchmark, `ask` picks the examples' family itself (`--family`), as evaluation does per benchmark."""
    _, _, policy, _ = asked("--model", str(tmp_path / "base"), "--max-steps", "1", *flags)
    [first_decision] = [chats[0] for chats, config in policy.calls if config.stop_strings == ("</ret>",)]
    assert first_decision == decompose_messages("Where is it?", [], few_shot=family)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["   "], "the question is empty"),
        (["Which car is this?", "--image", "{missing}"], "image not found"),
        (["Which car is this?", "--image", "{corrupt}"], "not a readable image"),
        (["Which car is this?", "--image", "{webp}"], "use a .png, .jpg, .jpeg image"),
        (["Which car is this?", "--image", "{shadowed}"], "would open {corrupt} instead"),
        (["Which car is this?", "--model", "{no_template}"], "the model has no chat template"),
    ],
)
def test_bad_input_is_refused_before_any_model_loads(tmp_path, monkeypatch, args, message):
    corrupt = tmp_path / "photo.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)  # a PNG signature, then nothing decodable
    Image.new("RGB", (8, 8), "red").save(tmp_path / "photo.jpg")  # fine itself, but photo.png is found first
    (tmp_path / "photo.webp").write_bytes(b"RIFF")
    no_template = tmp_path / "base-lm"
    no_template.mkdir()
    (no_template / "config.json").write_text("{}")
    (no_template / "tokenizer_config.json").write_text("{}")
    loads = []
    monkeypatch.setattr(backends, "load_policy", lambda spec: loads.append(spec))
    names = {
        "missing": tmp_path / "nope.png",
        "corrupt": corrupt,
        "webp": tmp_path / "photo.webp",
        "shadowed": tmp_path / "photo.jpg",
        "no_template": no_template,
    }
    args = [a.format(**names) for a in args]
    message = message.format(**names)
    result = CliRunner().invoke(app, ["ask", *args, "--params", str(REPO_PARAMS)], env={"COLUMNS": "400"})
    assert result.exit_code == 2
    assert message in result.output
    assert loads == []  # nothing was loaded: the check came first


@pytest.mark.parametrize("k", ["0", "-1"])
def test_kb_search_refuses_a_hit_count_below_one(k):
    result = CliRunner().invoke(app, ["kb", "search", "--kb", "text", "--query", "x", "-k", k])
    assert result.exit_code == 2
    assert "-k" in result.output and "Traceback" not in result.output


def test_without_model_ask_takes_the_best_trained_router_there_is(tmp_path, monkeypatch):
    from r1router.cli import default_router
    from r1router.training.common import TRAIN_MARKER

    params = yaml.safe_load(REPO_PARAMS.read_text())
    params["paths"].update(grpo_router=str(tmp_path / "grpo"), sft_router=str(tmp_path / "sft"), models=str(tmp_path))
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump(params))
    assert default_router(params_file) == str(tmp_path / "policy")  # nothing trained yet: the base model
    for router in ("sft", "grpo"):
        (tmp_path / router).mkdir()
        (tmp_path / router / TRAIN_MARKER).write_text("{}")
        assert default_router(params_file) == str(tmp_path / router)

    specs = []
    monkeypatch.setattr(backends, "load_policy", lambda spec: specs.append(spec) or ScriptedRouter())
    monkeypatch.setattr(Retrievers, "search", lambda self, kb, queries, images, k: [[]])
    result = CliRunner().invoke(app, ["ask", "Where is it?", "--kbs", "", "--json", "--params", str(params_file)])
    assert result.exit_code == 0, result.output
    assert [spec.model for spec in specs] == [str(tmp_path / "grpo")]


def test_a_text_only_policy_given_an_image_says_so(asked, tmp_path):
    Image.new("RGB", (8, 8), "red").save(tmp_path / "car.png")
    router = tmp_path / "router"
    router.mkdir()
    (router / "chat_template.jinja").write_text("{{ messages }}")
    runner_result = CliRunner().invoke(
        app,
        ["ask", "Which car is this?", "--image", str(tmp_path / "car.png"), "--model", str(router), "--kbs", ""],
        env={"COLUMNS": "400"},
    )
    assert runner_result.exit_code == 0, runner_result.output
    assert "is a text-only policy: it reads the question, not the image" in runner_result.stderr


def test_a_question_over_the_token_limit_is_refused_before_the_model_loads(tiny_vl_dir, monkeypatch):
    """A 14k-token question used to warn and generate for minutes; it is counted with the model's tokenizer."""
    loads = []
    monkeypatch.setattr(backends, "load_policy", lambda spec: loads.append(spec))
    long_question = "Which river " * 300
    args = ["ask", long_question, "--kbs", "", "--params", str(REPO_PARAMS)]
    result = CliRunner().invoke(app, [*args, "--model", str(tiny_vl_dir)], env={"COLUMNS": "400"})
    assert result.exit_code == 2
    assert "tokens (by the model's tokenizer), over --max-question-tokens 512" in result.output
    served = CliRunner().invoke(app, [*args, "--model", SERVED, "--max-question-tokens", "100"], env={"COLUMNS": "400"})
    assert served.exit_code == 2
    assert "the question is 900 tokens (estimated at 4 characters per token), over --max-question-tokens 100" in (
        served.output
    )
    assert loads == []
