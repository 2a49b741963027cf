"""What the two Hugging Face backends share: seeded, batched `model.generate` and the `HFPolicy` surface.

`CausalLMPolicy` (`policy`) and `VisionLanguagePolicy` (`policy_vl`) both
import this module and neither imports the other; the factory
(`r1router.router.backends`) is the only place that knows both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import torch

from r1router.progress import Progress
from r1router.router.generation_config import GenerationConfig, Policy, cut_at_stop
from r1router.router.prefix_cache import length_batches


class HFPolicy(Policy, Protocol):
    """A policy over an in-process transformers model: what training and the held-out check need of it.

    `tokenizer` counts tokens and decodes; `processing_class` is what a trl
    trainer and `save_pretrained` take (the tokenizer of a text-only model,
    the processor of a vision-language one). `with_model` wraps another
    model of the same family (a model mid-training, a merged LoRA) in the
    same backend, with the same tokenizer or processor.
    """

    model: Any
    tokenizer: Any

    @property
    def processing_class(self) -> Any: ...

    def with_model(self, model: Any) -> HFPolicy: ...


def hf_generation_config(config: GenerationConfig, model_config: Any) -> Any:
    """Our config as a transformers GenerationConfig, with only the token ids taken from the model's."""
    from transformers import GenerationConfig as HFGenerationConfig

    settings: dict[str, Any] = {
        "max_new_tokens": config.max_new_tokens,
        "do_sample": config.do_sample,
        "use_cache": True,
        "cache_implementation": config.cache_implementation,
        "bos_token_id": model_config.bos_token_id,
        "eos_token_id": model_config.eos_token_id,
        "pad_token_id": model_config.pad_token_id,
    }
    if config.do_sample:
        settings.update(temperature=config.temperature, top_p=config.top_p, top_k=config.top_k)
    return HFGenerationConfig(**settings)  # stop strings go in as `stop_criteria`, built once


_STOP_CRITERIA: dict[tuple[int, tuple[str, ...]], tuple[Any, Any]] = {}


def stop_criteria(tokenizer: Any, stop_strings: tuple[str, ...]) -> Any:
    """`generate`'s stopping criteria for `stop_strings`, built once per tokenizer and stop strings.

    Given `stop_strings` in its config, transformers builds a `StopStringCriteria`
    on every `generate` call (0.23 s with SmolLM2's 49k vocabulary, for every
    batch of every step), and its own cache misses because `get_vocab()` comes
    back in another order each time. The tokenizer is kept with its entry, so
    an id reused by another tokenizer never matches.
    """
    from transformers import StoppingCriteriaList, StopStringCriteria

    if not stop_strings:
        return StoppingCriteriaList()
    key = (id(tokenizer), stop_strings)
    cached = _STOP_CRITERIA.get(key)
    if cached is None or cached[0] is not tokenizer:
        cached = (tokenizer, StoppingCriteriaList([StopStringCriteria(tokenizer, list(stop_strings))]))
        _STOP_CRITERIA[key] = cached
    return cached[1]


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
    stopping = stop_criteria(tokenizer, config.stop_strings)
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
            generated = model.generate(**inputs, generation_config=generation_config, stopping_criteria=stopping)
            new_tokens = generated[:, inputs["input_ids"].shape[1] :]
            for i, text in zip(indices, tokenizer.batch_decode(new_tokens, skip_special_tokens=True), strict=True):
                outputs[i] = cut_at_stop(text, config.stop_strings)
            progress.update(len(indices))
    return outputs
