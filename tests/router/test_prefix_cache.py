"""The shared-prefix KV cache: planning without a model, the mechanics on tiny random models, equivalence on SmolLM2.

Equivalence is the point: with the cache, `generate` must see the same tokens at
the same positions as on the plain left-padded path, so greedy texts are equal.
The tiny-model tests compare logits step by step through `model.generate`, which
is where transformers derives positions and masks; the SmolLM2 tests compare
texts on the router's real prompts.
"""

from dataclasses import replace

import pytest
import torch

from r1router.router.backends import PolicySpec, load_policy
from r1router.router.generation_config import GenerationConfig
from r1router.router.hf_generate import hf_generation_config
from r1router.router.policy import CausalLMPolicy
from r1router.router.prefix_cache import (
    PrefixCache,
    plan_batches,
    prefix_inputs,
    shared_prefix_length,
    supports_prefix_cache,
)
from r1router.router.prompts import FEW_SHOT_FAMILY, decompose_messages, final_answer_messages


def test_shared_prefix_length_leaves_a_token_to_prefill():
    assert shared_prefix_length([1, 2, 3, 4], [1, 2, 9]) == 2
    assert shared_prefix_length([1, 2, 3], [1, 2, 3]) == 2  # the whole prompt is context: keep one token
    assert shared_prefix_length([5, 6], [1]) == 0


def test_plan_groups_items_that_share_a_prefix():
    a, b = [1, 1, 1], [2, 2]
    ids = [[*a, 7], [*a, 8, 8, 8], [*b, 9], [*a, 6, 6], [*b, 5, 5], [3, 3, 3], [4, 4]]
    lengths = [3, 3, 2, 3, 2, 2, 0]  # item 5 has a prefix nobody shares; item 6 has none
    batches, used = plan_batches(ids, lengths, batch_size=2)
    assert used == [3, 3, 2, 3, 2, 0, 0]
    assert sorted(i for batch in batches for i in batch) == list(range(7))
    for batch in batches:  # one prefix per batch, within the batch size
        assert len(batch) <= 2 and len({(used[i], tuple(ids[i][: used[i]])) for i in batch}) == 1
    assert [max(len(ids[i]) for i in batch) for batch in batches] == [6, 4, 4, 3]  # longest first
    assert [1, 3] in batches and [4, 2] in batches and [5, 6] in batches


def test_plan_keeps_the_prefix_of_a_single_item_call():
    """One question at a time: its prefix goes to the LRU for the next call."""
    assert plan_batches([[1, 1, 2]], [2], batch_size=4) == ([[0]], [2])
    assert plan_batches([[1, 1, 2]], [0], batch_size=4) == ([[0]], [0])


@pytest.fixture(scope="module")
def tiny_llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
    )
    return LlamaForCausalLM(config).eval()


def step_logits(model, inputs, steps=4):
    """The logits of each generated step, through `generate` (where positions and masks are derived)."""
    config = hf_generation_config(GenerationConfig(max_new_tokens=steps), model.config)
    config.update(output_logits=True, return_dict_in_generate=True, eos_token_id=None)
    with torch.inference_mode():
        return torch.stack(model.generate(**inputs, generation_config=config).logits, dim=1)


def test_prefix_layout_gives_the_logits_of_left_padding(tiny_llama):
    assert supports_prefix_cache(tiny_llama)
    prefix = (1, 17, 23, 5, 42, 8, 31)
    suffixes = [[9, 10], [11, 12, 13, 14, 15], [3]]  # different lengths: pads between prefix and suffix
    width = len(prefix) + max(map(len, suffixes))
    rows = [list(prefix) + s for s in suffixes]
    plain = {
        "input_ids": torch.tensor([[0] * (width - len(r)) + r for r in rows]),
        "attention_mask": torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows]),
    }
    with torch.inference_mode():
        kv = PrefixCache().get(tiny_llama, prefix)
    cached = prefix_inputs(tiny_llama, prefix, kv, suffixes, pad_token_id=0)
    assert cached["input_ids"][0].tolist() == [*prefix, 0, 0, 0, 9, 10]
    torch.testing.assert_close(step_logits(tiny_llama, cached), step_logits(tiny_llama, plain), atol=1e-5, rtol=1e-5)
    alone = step_logits(
        tiny_llama, {"input_ids": torch.tensor([rows[2]]), "attention_mask": torch.ones(1, len(rows[2]))}
    )
    torch.testing.assert_close(step_logits(tiny_llama, cached)[2], alone[0], atol=1e-5, rtol=1e-5)


def test_lru_reuses_evicts_and_forgets_after_a_weight_update(tiny_llama):
    cache = PrefixCache(capacity=2)
    with torch.inference_mode():
        first = cache.get(tiny_llama, (1, 2, 3))
        assert cache.get(tiny_llama, (1, 2, 3)) is first and (cache.hits, cache.misses) == (1, 1)
        cache.get(tiny_llama, (4, 5))
        cache.get(tiny_llama, (6, 7))
        assert len(cache) == 2
        cache.get(tiny_llama, (1, 2, 3))  # evicted: least recently used
        assert cache.misses == 4
    weight = tiny_llama.model.layers[0].self_attn.k_proj.weight
    with torch.no_grad():
        weight.mul_(2.0)  # what an optimizer step does: in place
    try:
        with torch.inference_mode():
            refreshed = cache.get(tiny_llama, (1, 2, 3))
        assert cache.misses == 5 and len(cache) == 1
        assert not torch.allclose(refreshed[0][0], first[0][0])
    finally:
        with torch.no_grad():
            weight.mul_(0.5)


def test_capacity_is_validated():
    with pytest.raises(ValueError, match="capacity"):
        PrefixCache(capacity=0)


@pytest.fixture(scope="module")
def smollm(smollm_dir):
    return load_policy(PolicySpec(model=str(smollm_dir), device="cpu"))


def test_sliding_window_model_takes_the_plain_path(smollm):
    """A sliding-window layer does not keep one key per past token: no prefix cache, same outputs."""
    from transformers import MistralConfig, MistralForCausalLM

    torch.manual_seed(0)
    config = MistralConfig(
        vocab_size=len(smollm.tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        sliding_window=8,
        pad_token_id=smollm.tokenizer.pad_token_id,
    )
    policy = CausalLMPolicy(MistralForCausalLM(config).eval(), smollm.tokenizer)
    assert policy.prefix_cache is None
    chats = [decompose_messages(q, []) for _, q in QUESTIONS[:2]]
    config = GenerationConfig(max_new_tokens=3, batch_size=2)
    assert policy.generate(chats, config) == policy.generate(chats, replace(config, prefix_cache=False))


QUESTIONS = [
    ("demo_2wikimultihopqa", "When was the director of the film The Copper Lantern born?"),
    ("demo_openwikitqa", "How many gold medals did Vesteria win at the 1998 Norland Games?"),
    ("demo_2wikimultihopqa", "Who wrote Winter Orchard?"),
]
HISTORY = [("Who directed the film?", "Mara Ellison."), ("When was Mara Ellison born?", "In 1961.")]
GREEDY = GenerationConfig(max_new_tokens=12, batch_size=3)


def router_prompts():
    """Real prompts of every kind the loop sends, with 0–2 steps of history: few-shot (two questions of the text
    family share its examples), zero-shot, final answer; and a one-message chat, which has no prefix to share."""
    text_family = [(d, q) for d, q in QUESTIONS if FEW_SHOT_FAMILY[d] == "text"]
    few_shot = [decompose_messages(q, HISTORY[:i], few_shot="text") for i, (_, q) in enumerate(text_family)]
    zero_shot = [decompose_messages(q, HISTORY[:i]) for i, (_, q) in enumerate(QUESTIONS)]
    final = [final_answer_messages(q, HISTORY[: 1 + i]) for i, (_, q) in enumerate(QUESTIONS[:2])]
    return [*few_shot, *zero_shot, *final, [{"role": "user", "content": QUESTIONS[1][1]}]]


@pytest.fixture(scope="module")
def plain_outputs(smollm):
    misses = smollm.prefix_cache.misses
    outputs = smollm.generate(router_prompts(), replace(GREEDY, prefix_cache=False))
    assert smollm.prefix_cache.misses == misses  # the switch really is off
    return outputs


@pytest.mark.slow
@pytest.mark.parametrize("batch_size", [3, 1])
def test_greedy_outputs_equal_the_plain_path(smollm, plain_outputs, batch_size):
    assert smollm.prefix_cache is not None
    smollm.prefix_cache.clear()
    misses = smollm.prefix_cache.misses
    assert smollm.generate(router_prompts(), replace(GREEDY, batch_size=batch_size)) == plain_outputs
    # prefilled: the text family's examples, the zero-shot and the final system prompts; the one-message chat went plain
    assert smollm.prefix_cache.misses - misses == 3 and len(smollm.prefix_cache) == 3


@pytest.mark.slow
def test_one_question_at_a_time_reuses_the_prefix_across_calls(smollm):
    smollm.prefix_cache.clear()
    config = GenerationConfig(max_new_tokens=8, batch_size=1)
    chats = [decompose_messages(q, HISTORY[:i]) for i, (_, q) in enumerate(QUESTIONS[:2])]
    hits, misses = smollm.prefix_cache.hits, smollm.prefix_cache.misses
    cached = [smollm.generate([chat], config)[0] for chat in chats]
    assert (smollm.prefix_cache.hits - hits, smollm.prefix_cache.misses - misses) == (1, 1)
    assert cached == [smollm.generate([chat], replace(config, prefix_cache=False))[0] for chat in chats]


@pytest.mark.slow
def test_seeded_sampling_is_reproducible_with_the_prefix_cache(smollm):
    smollm.prefix_cache.clear()
    config = GenerationConfig(max_new_tokens=8, do_sample=True, temperature=1.0, top_k=50, batch_size=2, seed=5)
    chats = [decompose_messages(q, []) for _, q in QUESTIONS[:2]]  # zero-shot: one shared prefix
    rng_before = torch.get_rng_state()
    first = smollm.generate(chats, config)  # prefix prefilled
    assert torch.equal(torch.get_rng_state(), rng_before)
    hits = smollm.prefix_cache.hits
    assert smollm.generate(chats, config) == first  # prefix from the LRU: same samples
    assert smollm.prefix_cache.hits == hits + 1
    assert smollm.generate(chats, replace(config, seed=6)) != first
