"""The text-only Hugging Face backend: a causal chat LM (our CPU demo policy, SmolLM2).

Generation is batched with left padding and the KV cache; with
`GenerationConfig.prefix_cache` the shared leading messages are prefilled
once (`r1router.router.prefix_cache`). The factory
(`r1router.router.backends`) picks this backend or the vision-language one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from r1router.device import resolve_device, resolve_dtype
from r1router.errors import ConfigError
from r1router.models.loading import load_causal_lm
from r1router.router.generation_config import Conversation, GenerationConfig, flatten_text
from r1router.router.hf_generate import generate_batches
from r1router.router.prefix_cache import (
    PrefixCache,
    length_batches,
    plan_batches,
    prefix_inputs,
    shared_prefix_length,
    supports_prefix_cache,
)


class CausalLMPolicy:
    """A text-only chat model (AutoModelForCausalLM) generating with left padding and the KV cache.

    With `GenerationConfig.prefix_cache`, the messages before the last one are
    prefilled once per distinct prefix and kept in an LRU of
    `prefix_cache_size` entries (`self.prefix_cache`, None when the model
    cannot share a prefix exactly). A static KV cache
    (`GenerationConfig.cache_implementation`) takes the plain path instead:
    the prefix travels as a prefilled dynamic cache, which `generate` does not
    take together with a `cache_implementation`.
    """

    multimodal = False

    def __init__(self, model: Any, tokenizer: Any, prefix_cache_size: int = 8):
        if tokenizer.padding_side != "left":
            raise ConfigError("CausalLMPolicy needs a left-padding tokenizer (use r1router.models.load_causal_lm)")
        self.model = model
        self.tokenizer = tokenizer
        self.prefix_cache_size = prefix_cache_size
        self.prefix_cache = PrefixCache(prefix_cache_size) if supports_prefix_cache(model) else None

    @classmethod
    def load(cls, model_dir: str | Path, device: str = "auto", precision: str = "auto") -> CausalLMPolicy:
        device = resolve_device(device)
        return cls(*load_causal_lm(model_dir, device, resolve_dtype(precision, device)))

    @property
    def processing_class(self) -> Any:
        """What a trainer and `save_pretrained` take: for a text-only model, its tokenizer."""
        return self.tokenizer

    def with_model(self, model: Any) -> CausalLMPolicy:
        """The same backend over `model` (e.g. mid-training), with its own prefix cache: cached KV is per model."""
        return CausalLMPolicy(model, self.tokenizer, self.prefix_cache_size)

    def render(self, conversations: list[Conversation], add_generation_prompt: bool = True) -> list[str]:
        """The prompt strings the model continues (chat template applied, generation prompt added)."""
        return [
            self.tokenizer.apply_chat_template(
                flatten_text(c), tokenize=False, add_generation_prompt=add_generation_prompt
            )
            for c in conversations
        ]

    def tokenize(self, texts: list[str]) -> list[list[int]]:
        # The template already wrote the special tokens; the tokenizer must not add a second BOS.
        return self.tokenizer(texts, add_special_tokens=False)["input_ids"]

    def prefix_lengths(self, conversations: list[Conversation], ids: list[list[int]]) -> list[int]:
        """Per conversation, how many leading tokens are its earlier messages (system prompt, few-shot turns).

        Counted on tokens, against the rendering of all messages but the last,
        so a template that renders a context differently in a longer chat only
        shortens the prefix.
        """
        with_context = [i for i, c in enumerate(conversations) if len(c) > 1]
        contexts = self.tokenize(self.render([conversations[i][:-1] for i in with_context], False))
        lengths = [0] * len(conversations)
        for i, context in zip(with_context, contexts, strict=True):
            lengths[i] = shared_prefix_length(ids[i], context)
        return lengths

    def generate(self, conversations: list[Conversation], config: GenerationConfig) -> list[str]:
        if not conversations:
            return []
        prompts = self.render(conversations)
        ids = self.tokenize(prompts)
        if config.shares_prefix and self.prefix_cache is not None:
            batches, prefix_lengths = plan_batches(ids, self.prefix_lengths(conversations, ids), config.batch_size)
        else:
            batches, prefix_lengths = length_batches([len(i) for i in ids], config.batch_size), [0] * len(ids)

        def encode(indices: list[int]) -> Any:
            length = prefix_lengths[indices[0]]  # shared by the whole batch
            if length == 0:
                batch = [prompts[i] for i in indices]
                return self.tokenizer(batch, padding=True, add_special_tokens=False, return_tensors="pt")
            prefix = tuple(ids[indices[0]][:length])
            kv = self.prefix_cache.get(self.model, prefix)
            suffixes = [ids[i][length:] for i in indices]
            return prefix_inputs(self.model, prefix, kv, suffixes, self.tokenizer.pad_token_id)

        return generate_batches(self.model, batches, encode, self.tokenizer, config)
