"""The text-only policy: config handling without a model, then batching and seeding on the real SmolLM2."""

from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch
from PIL import Image

from r1router.errors import ConfigError
from r1router.router.backends import PolicySpec, load_policy
from r1router.router.generation_config import GenerationConfig, cut_at_stop, flatten_text
from r1router.router.hf_generate import hf_generation_config, stop_criteria
from r1router.router.policy import CausalLMPolicy
from r1router.router.policy_vl import VisionLanguagePolicy
from r1router.router.prompts import decompose_messages, final_answer_messages, sub_answer_messages


def test_generation_config_is_validated():
    with pytest.raises(ConfigError, match="batch_size"):
        GenerationConfig(batch_size=0)
    with pytest.raises(ConfigError, match="sampling"):
        GenerationConfig(do_sample=True, temperature=0.0)
    GenerationConfig(do_sample=False, temperature=0.0)  # ignored when greedy
    for unknown in ("dynamic", "Static", "offloaded_static", ""):
        with pytest.raises(ConfigError, match=r"cache_implementation must be one of \[None, 'static'\]"):
            GenerationConfig(cache_implementation=unknown)


def test_a_static_cache_reaches_transformers_and_turns_the_shared_prefix_off():
    model_config = SimpleNamespace(bos_token_id=1, eos_token_id=2, pad_token_id=0)
    static = GenerationConfig(cache_implementation="static")
    assert hf_generation_config(static, model_config).cache_implementation == "static"
    assert hf_generation_config(GenerationConfig(), model_config).cache_implementation is None
    assert GenerationConfig().shares_prefix and not static.shares_prefix
    assert not GenerationConfig(prefix_cache=False).shares_prefix


def test_model_sampling_defaults_are_not_inherited():
    qwen_like = SimpleNamespace(bos_token_id=1, eos_token_id=[2, 3], pad_token_id=0, top_k=1, repetition_penalty=1.05)
    greedy = hf_generation_config(GenerationConfig(max_new_tokens=7), qwen_like)
    assert (greedy.max_new_tokens, greedy.do_sample, greedy.eos_token_id, greedy.pad_token_id) == (7, False, [2, 3], 0)
    assert greedy.repetition_penalty in (None, 1.0)
    sampled = hf_generation_config(GenerationConfig(do_sample=True, temperature=0.7, top_p=0.9), qwen_like)
    assert (sampled.do_sample, sampled.temperature, sampled.top_p, sampled.top_k) == (True, 0.7, 0.9, 0)


def test_stop_strings_are_validated_and_their_criteria_built_once_per_tokenizer(tiny_vl_dir):
    from transformers import AutoTokenizer, StopStringCriteria

    config = GenerationConfig(stop_strings=["</ret>"])  # as YAML gives it
    assert config.stop_strings == ("</ret>",) and hash(config)
    with pytest.raises(ConfigError, match="non-empty"):
        GenerationConfig(stop_strings=("</ret>", ""))
    tokenizer, other = AutoTokenizer.from_pretrained(tiny_vl_dir), AutoTokenizer.from_pretrained(tiny_vl_dir)
    [criteria] = stop_criteria(tokenizer, config.stop_strings)
    assert isinstance(criteria, StopStringCriteria) and criteria.stop_strings == ("</ret>",)
    assert stop_criteria(tokenizer, ("</ret>",)) is stop_criteria(tokenizer, config.stop_strings)  # built once
    assert stop_criteria(other, ("</ret>",)) is not stop_criteria(tokenizer, ("</ret>",))
    assert stop_criteria(tokenizer, ("</answer>",))[0].stop_strings == ("</answer>",)
    assert len(stop_criteria(tokenizer, ())) == 0
    model_config = SimpleNamespace(bos_token_id=1, eos_token_id=2, pad_token_id=0)
    assert hf_generation_config(config, model_config).stop_strings is None  # not rebuilt by every generate call


@pytest.mark.parametrize(
    ("text", "stops", "expected"),
    [
        ("<ret>Text Retriever</ret>\nmore", ("</ret>",), "<ret>Text Retriever</ret>"),
        ("a</answer>b</ret>c", ("</ret>", "</answer>"), "a</answer>"),  # the first stop to end wins
        ("no stop here", ("</ret>",), "no stop here"),
        ("</ret></ret>", ("</ret>",), "</ret>"),
        ("anything", (), "anything"),
    ],
)
def test_cut_at_stop(text, stops, expected):
    assert cut_at_stop(text, stops) == expected


def test_flatten_text_drops_images():
    messages = decompose_messages("Who built this?", [], image=Image.new("RGB", (4, 4)))
    flat = flatten_text(messages)
    assert flat[1] == {"role": "user", "content": "Origin question: Who built this?\n"}
    assert flatten_text([{"role": "user", "content": "plain"}]) == [{"role": "user", "content": "plain"}]


@pytest.fixture(scope="module")
def smollm(smollm_dir):
    return load_policy(PolicySpec(model=str(smollm_dir), device="cpu"))


QUESTIONS = [
    "What is the capital of France?",
    "When was the director of the film The Copper Lantern born?",
    "Which film came out first, Harbor of Glass or The Quiet Orchard?",
    "Who wrote Winter Orchard?",
]


def conversations():
    """Prompts of different lengths (0–2 history steps), so batches need real left padding."""
    history = [("Who is it about?", "It is about Mara Ellison."), ("When was she born?", "In 1961.")]
    return [final_answer_messages(q, history[: i % 3]) for i, q in enumerate(QUESTIONS)]


@pytest.mark.slow
def test_batched_greedy_equals_one_at_a_time(smollm):
    assert isinstance(smollm, CausalLMPolicy) and not smollm.multimodal
    config = GenerationConfig(max_new_tokens=20, batch_size=3)  # a full batch and a partial one
    batched = smollm.generate(conversations(), config)
    alone = [smollm.generate([c], config)[0] for c in conversations()]
    assert batched == alone
    assert all(isinstance(text, str) and text.strip() for text in batched)
    assert not any("<|im_end|>" in text for text in batched)  # special tokens are stripped


@pytest.mark.slow
def test_seeded_sampling_is_reproducible(smollm):
    config = GenerationConfig(max_new_tokens=16, do_sample=True, temperature=1.0, top_k=50, batch_size=2, seed=11)
    rng_before = torch.get_rng_state()
    first = smollm.generate(conversations(), config)
    assert torch.equal(torch.get_rng_state(), rng_before)  # the caller's random state is untouched
    assert smollm.generate(conversations(), config) == first
    other_seed = smollm.generate(conversations(), replace(config, seed=12))
    assert other_seed != first


@pytest.mark.slow
def test_stop_string_ends_generation_where_it_is_written(smollm, monkeypatch):
    """Greedy text with a stop string is the unstopped text cut after it, and decoding really stops there."""
    free = GenerationConfig(max_new_tokens=40, batch_size=4)
    unstopped = smollm.generate(conversations(), free)
    first = unstopped[0]
    stop = first.split()[2]  # a word the first row writes early on
    generated_lengths = []
    original = smollm.model.generate

    def counting(*args, **kwargs):
        output = original(*args, **kwargs)
        generated_lengths.append(output.shape[1] - kwargs["input_ids"].shape[1])
        return output

    monkeypatch.setattr(smollm.model, "generate", counting)
    alone = smollm.generate(conversations()[:1], replace(free, stop_strings=(stop,), prefix_cache=False))
    assert alone == [first[: first.index(stop) + len(stop)]]
    assert generated_lengths[-1] < 40
    batched = smollm.generate(conversations(), replace(free, stop_strings=(stop,)))
    assert batched == [cut_at_stop(text, (stop,)) for text in unstopped]


@pytest.mark.slow
def test_bfloat16_policy_runs_in_bf16_and_answers(smollm_dir, smollm):
    """`precision: bfloat16` (the demo's CPU setting) loads bf16 weights; greedy answers stay close to fp32's."""
    bf16 = load_policy(PolicySpec(backend="hf-causal", model=str(smollm_dir), device="cpu", precision="bfloat16"))
    assert {p.dtype for p in bf16.model.parameters()} == {torch.bfloat16}
    config = GenerationConfig(max_new_tokens=12, batch_size=4)
    answers = bf16.generate(conversations(), config)
    assert all(text.strip() for text in answers)
    fp32 = smollm.generate(conversations(), config)
    # Rounding may flip a late token, not the start of the answer.
    assert sum(a.split()[:2] == b.split()[:2] for a, b in zip(answers, fp32, strict=True)) >= 3


def record_caches(policy, monkeypatch) -> list[str]:
    """Wrap `policy.model.generate` to record the KV cache each call used: "static", "prefix" or "dynamic"."""
    used = []
    generate, prepare_static = policy.model.generate, policy.model._prepare_static_cache
    static_calls = []

    def recording(*args, **kwargs):
        before = len(static_calls)
        output = generate(*args, **kwargs)
        prefix = kwargs.get("past_key_values") is not None
        used.append("static" if len(static_calls) > before else "prefix" if prefix else "dynamic")
        return output

    def counting(*args, **kwargs):
        static_calls.append(1)
        return prepare_static(*args, **kwargs)

    monkeypatch.setattr(policy.model, "generate", recording)
    monkeypatch.setattr(policy.model, "_prepare_static_cache", counting)
    return used


@pytest.mark.slow
def test_static_cache_generates_what_the_dynamic_cache_does(smollm, monkeypatch):
    """Greedy texts with a static cache equal the default path's (shared prefix, dynamic cache), with left padding."""
    used = record_caches(smollm, monkeypatch)
    config = GenerationConfig(max_new_tokens=20, batch_size=4)
    dynamic = smollm.generate(conversations(), config)
    assert used == ["prefix"]  # all four share the system prompt: one batch on the shared-prefix path
    used.clear()
    static = smollm.generate(conversations(), replace(config, cache_implementation="static"))
    assert used == ["static"]  # one left-padded batch of 4, no shared prefix handed to generate
    assert static == dynamic
    assert all(text.strip() for text in static)


def test_static_cache_on_the_vision_language_policy(tiny_vl_dir, monkeypatch):
    """Qwen2.5-VL (multimodal rotary positions, image tokens) takes a static cache too: the same greedy texts."""
    policy = load_policy(PolicySpec(model=str(tiny_vl_dir), device="cpu"))
    assert isinstance(policy, VisionLanguagePolicy)
    chats = [
        sub_answer_messages("Which company makes this car?", [], image=Image.new("RGB", (56, 84), (200, 30, 30))),
        sub_answer_messages("What colour is it?", [], image=Image.new("RGB", (140, 112), (20, 40, 220))),
        sub_answer_messages("No image here?", []),
    ]
    used = record_caches(policy, monkeypatch)
    config = GenerationConfig(max_new_tokens=8, batch_size=3)
    dynamic = policy.generate(chats, config)
    static = policy.generate(chats, replace(config, cache_implementation="static"))
    assert used == ["dynamic", "static"]
    assert static == dynamic
