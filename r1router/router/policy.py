"""The policy behind one small interface: chats in, generated texts out.

The router loop, the evaluator and the trainer's rollouts only call
`Policy.generate`, so a vLLM backend can replace these Hugging Face ones
without touching them. Two HF backends: `CausalLMPolicy` for text-only
models (our CPU demo policy, SmolLM2) and `VisionLanguagePolicy`
(`policy_vl`) for Qwen2.5-VL-style models, which is what the paper trains.
`load_policy` picks one from the saved model's config.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch

from r1router.device import resolve_device, resolve_dtype
from r1router.errors import ConfigError
from r1router.models.loading import load_causal_lm
from r1router.models.pull import verify_model_dir
from r1router.progress import Progress
from r1router.router.prefix_cache import (
    PrefixCache,
    length_batches,
    plan_batches,
    prefix_inputs,
    shared_prefix_length,
    supports_prefix_cache,
)

Conversation = list[dict[str, Any]]  # chat messages as built by r1router.router.prompts


@dataclass(frozen=True)
class GenerationConfig:
    """Everything that decides what is generated; nothing is taken from the model's own generation_config.

    A checkpoint's generation_config.json can carry its own sampling defaults
    (Qwen2.5-VL-Instruct ships top_k=1 and a repetition penalty); inheriting
    them would make results depend on which checkpoint was loaded rather than
    on params.yaml. Only its special token ids are used.

    Sampling is seeded per `generate` call, so the same call returns the same
    texts; a caller that wants fresh samples (RL rollouts) passes a new seed.

    `prefix_cache`: prefill the messages the conversations share (system
    prompt, few-shot turns) once and reuse them across calls
    (`r1router.router.prefix_cache`); same outputs, less prefill. Backends or
    models that cannot (the vision-language policy, sliding-window attention)
    ignore it.

    `stop_strings`: a row's generation ends once it has written one of these,
    and its text is cut right after the first one. The loop stops a decision
    at `</ret>` and an answer at `</answer>` (params.yaml): a base model that
    rambles on past the closing tag costs decode steps for the whole batch
    and fails the strict parser on the ramble.
    """

    max_new_tokens: int = 256
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0  # 0: no top-k cut
    batch_size: int = 8
    seed: int = 0
    prefix_cache: bool = True
    stop_strings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "stop_strings", tuple(self.stop_strings))  # a YAML list becomes hashable
        if any(not stop for stop in self.stop_strings):
            raise ConfigError(f"stop strings must be non-empty (got {list(self.stop_strings)})")
        if self.max_new_tokens < 1 or self.batch_size < 1:
            raise ConfigError(
                f"max_new_tokens and batch_size must be >= 1 (got {self.max_new_tokens}, {self.batch_size})"
            )
        if self.do_sample and (self.temperature <= 0 or not 0 < self.top_p <= 1 or self.top_k < 0):
            raise ConfigError(
                f"invalid sampling settings: temperature {self.temperature}, top_p {self.top_p}, top_k {self.top_k}"
            )


class Policy(Protocol):
    multimodal: bool  # whether image parts reach the model (a text-only policy drops them)

    def generate(self, conversations: list[Conversation], config: GenerationConfig) -> list[str]: ...


def hf_generation_config(config: GenerationConfig, model_config: Any) -> Any:
    """Our config as a transformers GenerationConfig, with only the token ids taken from the model's."""
    from transformers import GenerationConfig as HFGenerationConfig

    settings: dict[str, Any] = {
        "max_new_tokens": config.max_new_tokens,
        "do_sample": config.do_sample,
        "use_cache": True,
        "bos_token_id": model_config.bos_token_id,
        "eos_token_id": model_config.eos_token_id,
        "pad_token_id": model_config.pad_token_id,
    }
    if config.do_sample:
        settings.update(temperature=config.temperature, top_p=config.top_p, top_k=config.top_k)
    if config.stop_strings:
        settings["stop_strings"] = list(config.stop_strings)
    return HFGenerationConfig(**settings)


def cut_at_stop(text: str, stop_strings: tuple[str, ...]) -> str:
    """`text` up to and including its first stop string.

    The last generated token can run past the stop string (a token "</ret>\n"
    or one that merges it with what follows); the row's text must end where
    the stop string does.
    """
    ends = [text.find(stop) + len(stop) for stop in stop_strings if stop in text]
    return text[: min(ends)] if ends else text


@contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch for one call without disturbing the caller's random state."""
    devices = [torch.cuda.current_device() if device.index is None else device.index] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def generate_in_batches(
    model: Any,
    lengths: list[int],
    encode: Callable[[list[int]], Any],
    tokenizer: Any,
    config: GenerationConfig,
) -> list[str]:
    """Generate for items `0..n-1` in batches of similar length; return the new text of each, in input order.

    `encode(indices)` returns the left-padded model inputs of those items.
    """
    return generate_batches(model, length_batches(lengths, config.batch_size), encode, tokenizer, config)


def generate_batches(
    model: Any,
    batches: list[list[int]],
    encode: Callable[[list[int]], Any],
    tokenizer: Any,
    config: GenerationConfig,
) -> list[str]:
    """Generate batch by batch (items `0..n-1` spread over `batches`); return the new text of each, in item order.

    `encode(indices)` returns the `generate` inputs of a batch (a mapping;
    its tensors are moved to the model's device, anything else is passed as is).
    `tokenizer` decodes the new tokens and finds the stop strings.
    """
    outputs = [""] * sum(len(batch) for batch in batches)
    generation_config = hf_generation_config(config, model.generation_config)
    with (
        torch.inference_mode(),
        seeded(config.seed, model.device),
        Progress(len(outputs), "generate", unit="seq") as progress,
    ):
        for indices in batches:
            inputs = {
                key: value.to(model.device) if isinstance(value, torch.Tensor) else value
                for key, value in encode(indices).items()
            }
            generated = model.generate(**inputs, generation_config=generation_config, tokenizer=tokenizer)
            new_tokens = generated[:, inputs["input_ids"].shape[1] :]
            for i, text in zip(indices, tokenizer.batch_decode(new_tokens, skip_special_tokens=True), strict=True):
                outputs[i] = cut_at_stop(text, config.stop_strings)
            progress.update(len(indices))
    return outputs


def flatten_text(conversation: Conversation) -> list[dict[str, str]]:
    """Messages with string contents for a text-only chat template: text parts joined, image parts dropped.

    The questions' text already says what is asked about the image; a
    text-only policy routes on that alone.
    """
    flat = []
    for message in conversation:
        content = message["content"]
        if not isinstance(content, str):
            content = "".join(part["text"] for part in content if part["type"] == "text")
        flat.append({"role": message["role"], "content": content})
    return flat


class CausalLMPolicy:
    """A text-only chat model (AutoModelForCausalLM) generating with left padding and the KV cache.

    With `GenerationConfig.prefix_cache`, the messages before the last one are
    prefilled once per distinct prefix and kept in an LRU of
    `prefix_cache_size` entries (`self.prefix_cache`, None when the model
    cannot share a prefix exactly).
    """

    multimodal = False

    def __init__(self, model: Any, tokenizer: Any, prefix_cache_size: int = 8):
        if tokenizer.padding_side != "left":
            raise ConfigError("CausalLMPolicy needs a left-padding tokenizer (use r1router.models.load_causal_lm)")
        self.model = model
        self.tokenizer = tokenizer
        self.prefix_cache = PrefixCache(prefix_cache_size) if supports_prefix_cache(model) else None

    @classmethod
    def load(cls, model_dir: str | Path, device: str = "auto", precision: str = "auto") -> CausalLMPolicy:
        device = resolve_device(device)
        return cls(*load_causal_lm(model_dir, device, resolve_dtype(precision, device)))

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
        if config.prefix_cache and self.prefix_cache is not None:
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


def is_vision_language(model_dir: str | Path) -> bool:
    """A config with a vision tower (Qwen2.5-VL and kin) needs the image-text-to-text backend."""
    from transformers import AutoConfig

    return getattr(AutoConfig.from_pretrained(model_dir), "vision_config", None) is not None


def load_policy(model_dir: str | Path, device: str = "auto", precision: str = "auto") -> Policy:
    """The backend that fits the saved model: vision-language when it has a vision tower, else causal LM.

    `precision` is a `resolve_dtype` choice: `auto`, `float32` or `bfloat16`.
    """
    verify_model_dir(Path(model_dir))
    if is_vision_language(model_dir):
        from r1router.router.policy_vl import VisionLanguagePolicy

        return VisionLanguagePolicy.load(model_dir, device, precision)
    return CausalLMPolicy.load(model_dir, device, precision)
