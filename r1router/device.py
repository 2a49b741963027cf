"""One place that decides CPU or GPU, and at what precision, so every stage records the same choice."""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path

import torch

from r1router.errors import ConfigError

log = logging.getLogger(__name__)

PRECISIONS = {"float32": torch.float32, "bfloat16": torch.bfloat16}
CPU_BF16_FLAGS = {"avx512_bf16", "amx_bf16"}


def resolve_device(preference: str = "auto") -> str:
    """`auto` picks CUDA when present; an explicit `cuda` without a GPU is an error, not a fallback."""
    if preference == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if preference.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device '{preference}' requested but no CUDA GPU is available")
    if preference not in {"cpu"} and not preference.startswith("cuda"):
        raise ConfigError(f"unknown device '{preference}' (use auto, cpu or cuda[:N])")
    return preference


def gpu_free_bytes(device: str) -> int:
    """Free memory on the CUDA device `device` names (cuda, cuda:N); 0 for the CPU."""
    if not device.startswith("cuda"):
        return 0
    free, _total = torch.cuda.mem_get_info(torch.device(device))
    return int(free)


@cache
def cpu_has_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU multiplies bf16 natively (AVX512-BF16 or AMX); without it torch emulates bf16, slowly."""
    if not cpuinfo.is_file():
        return False
    flags = {word for line in cpuinfo.read_text().splitlines() if line.startswith("flags") for word in line.split()}
    return bool(flags & CPU_BF16_FLAGS)


def resolve_dtype(precision: str, device: str, where: str = "precision") -> torch.dtype:
    """The weights' (and, in training, autocast's) dtype for `precision` on `device`.

    `auto` is bf16 on CUDA and fp32 on CPU, because most CPUs emulate bf16. A CPU
    with AVX512-BF16 or AMX is the exception worth opting into: on the 2-core EPYC
    the demo is measured on, a SmolLM2-135M train step (4 x 600 tokens) took 10 s
    in bf16 against 20 s in fp32, and a prefill 1.8x less. `where` names the
    params key in errors.
    """
    if precision == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    if precision not in PRECISIONS:
        raise ConfigError(f"{where}: unknown precision '{precision}' (use auto, {', '.join(PRECISIONS)})")
    dtype = PRECISIONS[precision]
    if dtype is torch.bfloat16 and device == "cpu" and not cpu_has_bf16():
        log.warning("%s: bfloat16 on a CPU without AVX512-BF16/AMX is emulated and slower than float32", where)
    return dtype
