"""A policy on an in-process vLLM engine (backend `vllm`): continuous batching and paged attention in this process.

HF `generate` decodes a batch in lock step and pads it; on a GPU a 3B policy
at batch 64 took 137 ms per decode step (issue 15). vLLM schedules every
conversation of a call together, so the router loop's decision and answer
batches run at serving-engine speed without a separate server. Without a
GPU (or without the package) use backend `openai` against `vllm serve`, or
an HF backend.

`vllm` is imported only when this backend is built, and only here: CI and
CPU machines cannot install it. The engine gets our sampling settings,
never its own defaults, as every backend does (`GenerationConfig`); stop
strings are kept in the output, because the parser needs them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from r1router.errors import ConfigError
from r1router.router.generation_config import Conversation, GenerationConfig, cut_at_stop
from r1router.router.policy_openai import to_openai_messages

VLLM_DTYPES = {"auto": "auto", "bfloat16": "bfloat16", "float16": "float16", "float32": "float32"}


def _vllm() -> Any:
    try:
        import vllm
    except ImportError:
        raise ConfigError(
            "backend vllm needs the `vllm` package (a CUDA machine: pip install vllm); elsewhere serve the model "
            "with `vllm serve` and use backend openai, or use an hf backend"
        ) from None
    return vllm


def sampling_params(vllm: Any, config: GenerationConfig) -> Any:
    """Our settings as vLLM's SamplingParams: greedy is temperature 0; top-k 0 (ours) is vLLM's "off"."""
    settings: dict[str, Any] = {
        "max_tokens": config.max_new_tokens,
        "temperature": config.temperature if config.do_sample else 0.0,
        "seed": config.seed,
        "stop": list(config.stop_strings),
        "include_stop_str_in_output": True,
    }
    if config.do_sample:
        settings |= {"top_p": config.top_p, "top_k": config.top_k if config.top_k > 0 else -1}
    return vllm.SamplingParams(**settings)


class VLLMPolicy:
    """`Policy` over `vllm.LLM.chat`: every conversation of a call in one engine step loop."""

    def __init__(self, llm: Any, vllm: Any, multimodal: bool):
        self.llm = llm
        self.vllm = vllm
        self.multimodal = multimodal

    @classmethod
    def load(cls, model_dir: str | Path, precision: str = "auto", multimodal: bool = False) -> VLLMPolicy:
        if precision not in VLLM_DTYPES:
            raise ConfigError(f"backend vllm: precision must be one of {sorted(VLLM_DTYPES)}, got {precision!r}")
        vllm = _vllm()
        llm = vllm.LLM(model=str(model_dir), dtype=VLLM_DTYPES[precision], seed=0)
        return cls(llm, vllm, multimodal)

    def generate(self, conversations: list[Conversation], config: GenerationConfig) -> list[str]:
        if not conversations:
            return []
        messages = [to_openai_messages(conversation, self.multimodal) for conversation in conversations]
        outputs = self.llm.chat(messages, sampling_params(self.vllm, config), use_tqdm=False)
        return [cut_at_stop(output.outputs[0].text, config.stop_strings) for output in outputs]
