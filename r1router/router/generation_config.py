"""What every policy backend shares: the chats it is given, the settings of a call, the `Policy` protocol.

Torch-free on purpose: the loop, the format-recovery logic, the endpoint
client and the config parsers import this module, and none of them needs an
ML framework to build a request or to validate params.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from r1router.errors import ConfigError

Conversation = list[dict[str, Any]]  # chat messages as built by r1router.router.prompts
CACHE_IMPLEMENTATIONS = (None, "static")  # `GenerationConfig.cache_implementation`; None: transformers' dynamic cache


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

    `cache_implementation`: None keeps transformers' dynamic KV cache, which
    grows by one slot per decoded token; "static" preallocates the whole cache
    (prompt plus `max_new_tokens`) once per `generate` call, so decode steps
    neither reallocate nor change shape (what `torch.compile` of the decode step
    needs). Same outputs. It replaces `prefix_cache`: the shared prefix is handed
    to `generate` as a prefilled dynamic cache, and transformers takes either a
    cache object or a `cache_implementation`, never both. The Hugging Face
    backends use it; vLLM and an endpoint manage their own KV cache and ignore it.

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
    cache_implementation: str | None = None

    @property
    def shares_prefix(self) -> bool:
        """Whether a backend that can prefill a shared prefix should: not with a static cache (see above)."""
        return self.prefix_cache and self.cache_implementation is None

    def __post_init__(self) -> None:
        object.__setattr__(self, "stop_strings", tuple(self.stop_strings))  # a YAML list becomes hashable
        if self.cache_implementation not in CACHE_IMPLEMENTATIONS:
            raise ConfigError(
                f"cache_implementation must be one of {list(CACHE_IMPLEMENTATIONS)} (None: the dynamic cache), "
                f"got {self.cache_implementation!r}"
            )
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
    """Chats in, generated texts out: all the router loop, the evaluator and the trainer's checks call.

    Backends (`r1router.router.backends`) differ in where the model runs, never
    in what this call means, so any of them can serve any caller.
    """

    multimodal: bool  # whether image parts reach the model (a text-only policy drops them)

    def generate(self, conversations: list[Conversation], config: GenerationConfig) -> list[str]: ...


def cut_at_stop(text: str, stop_strings: tuple[str, ...]) -> str:
    """`text` up to and including its first stop string.

    The last generated token can run past the stop string (a token "</ret>\n"
    or one that merges it with what follows); the row's text must end where
    the stop string does.
    """
    ends = [text.find(stop) + len(stop) for stop in stop_strings if stop in text]
    return text[: min(ends)] if ends else text


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
