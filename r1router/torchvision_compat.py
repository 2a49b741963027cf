"""Make `import torchvision` work under the CPU-only torch wheel.

PyPI's torchvision wheels are CUDA builds. Under the CPU torch their `_C`
extension fails to load (it links libtorch_cuda.so), and torchvision then dies
at import in `_meta_registrations.py`, which registers fake kernels for
`torchvision::nms` / `qnms` without checking that the operators exist
("operator torchvision::nms does not exist"). open_clip imports
torchvision.transforms at import time, and transformers' PreTrainedModel
imports torchvision when it is installed, so the whole stack breaks.

The fix is to define the two missing operator *schemas* (no kernels) before
torchvision is imported, and only when the extension really failed to load:
with a working extension (a GPU machine, a matching CPU build) nothing is
touched. Calling `torchvision.ops.nms` on a patched install still fails
loudly, because no kernel is registered; r1router never uses it.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import torch

_MISSING_OPS = ("nms", "qnms")
_SCHEMA = "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor"
_library: torch.library.Library | None = None


def _extension_path() -> Path | None:
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        return None
    candidates = sorted(Path(spec.origin).parent.glob("_C*.so")) + sorted(Path(spec.origin).parent.glob("_C*.pyd"))
    return candidates[0] if candidates else None


def extension_loads() -> bool:
    """True when torchvision's compiled ops load into this torch."""
    path = _extension_path()
    if path is None:
        return False
    try:
        torch.ops.load_library(str(path))
    except (OSError, RuntimeError):
        return False
    return True


def ensure_torchvision_importable() -> bool:
    """Register the missing schemas if needed; return True when it patched.

    Idempotent, and a no-op when torchvision is absent, already imported, or
    its extension loads.
    """
    global _library
    if _library is not None or "torchvision" in sys.modules or _extension_path() is None:
        return False
    if extension_loads():
        return False
    _library = torch.library.Library("torchvision", "DEF")
    for name in _MISSING_OPS:
        _library.define(name + _SCHEMA)
    return True
