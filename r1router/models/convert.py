"""GGUF → safetensors, done once at pull time.

Loading a GGUF file de-quantises every tensor on the CPU (about 20–30 s for
SmolLM2-135M, plus a slow tokenizer rebuild); a saved safetensors directory
reloads in a few seconds. Every later stage therefore reads the converted
directory with a plain `from_pretrained(dir)` and never sees the GGUF file.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

log = logging.getLogger(__name__)


def convert_gguf(gguf_path: Path, out_dir: Path) -> dict[str, str]:
    """Load `gguf_path` with transformers, save model and tokenizer to `out_dir`.

    Returns what the manifest records about the conversion (no timings, so that
    converting the same GGUF twice gives the same manifest; timings go to the log).

    The de-quantised weights are float32 (exactly what the GGUF blocks decode to),
    so nothing is lost by saving them as they are.
    """
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    start = time.monotonic()
    log.info("converting %s (GGUF) to safetensors; this de-quantises every tensor", gguf_path.name)
    model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    loaded = time.monotonic()
    # save_pretrained refuses a model that still carries the GGUF quantizer ("not serializable").
    # The weights are already plain float tensors, so dropping the quantizer and its config
    # (verified with transformers 5.23: deletes hf_quantizer and config.quantization_config) is exact.
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer.remove_quantization_config(model)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    saved = time.monotonic()
    log.info("converted %s: load %.1f s, save %.1f s", gguf_path.name, loaded - start, saved - loaded)
    return {
        "from": gguf_path.name,
        "transformers": transformers.__version__,
        "dtype": str(model.dtype).removeprefix("torch."),
    }
