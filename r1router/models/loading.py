"""Load a pulled (or trained) causal LM the same way in every stage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from r1router.device import resolve_device, resolve_dtype
from r1router.models.pull import verify_model_dir


def load_causal_lm(model_dir: str | Path, device: str = "auto", dtype: torch.dtype | None = None) -> tuple[Any, Any]:
    """Return `(model, tokenizer)` in eval mode, ready for batched generation.

    The tokenizer pads on the left: a decoder-only model continues from the last
    position, so right padding would put pad tokens between a prompt and its answer.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir = Path(model_dir)
    verify_model_dir(model_dir)
    device = resolve_device(device)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype or resolve_dtype("auto", device))
    model.to(device).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer
