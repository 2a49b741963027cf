"""Make `import torchvision` work under the CPU-only torch wheel, patched exactly when torchvision is first imported.

PyPI's torchvision wheels are CUDA builds. Under the CPU torch their `_C`
extension fails to load (it links libtorch_cuda.so), and torchvision then dies
at import in `_meta_registrations.py`, which registers fake kernels for
`torchvision::nms` / `qnms` without checking that the operators exist
("operator torchvision::nms does not exist"). open_clip imports
torchvision.transforms at import time, and transformers' PreTrainedModel
imports torchvision when it is installed, so the whole stack (trl, peft,
sentence-transformers) breaks.

The fix is to define the two missing operator *schemas* (no kernels) before
torchvision is imported, and only when the extension really failed to load:
with a working extension (a GPU machine, a matching CPU build) nothing is
touched. Calling `torchvision.ops.nms` on a patched install still fails
loudly, because no kernel is registered; r1router never uses it.

When it runs: `import r1router` calls `install()`, which only puts a one-shot
finder on `sys.meta_path` and imports nothing. The first time anything looks
for torchvision (an `import torchvision`, transformers' or open_clip's own
import of it, or transformers' `find_spec("torchvision")` availability check),
the finder removes itself, runs `ensure_torchvision_importable()` (which
imports torch), and lets the real import go on. So every module that imports
transformers, sentence-transformers, open_clip, trl or peft, at module level
or inside a function, gets the patch first without a line of its own (an
import line would be sorted below the third-party imports it must precede),
while `import r1router` and the text-only stages never load torch. Only code
that imports torchvision before anything from r1router is not covered;
`tests/test_torchvision_compat.py` checks both branches and the hook.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType
from typing import Any

_MISSING_OPS = ("nms", "qnms")
_SCHEMA = "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor"
_library: Any = None  # the torch.library.Library holding the schemas, once registered


def _extension_path() -> Path | None:
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        return None
    candidates = sorted(Path(spec.origin).parent.glob("_C*.so")) + sorted(Path(spec.origin).parent.glob("_C*.pyd"))
    return candidates[0] if candidates else None


def extension_loads() -> bool:
    """True when torchvision's compiled ops load into this torch."""
    import torch

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
    its extension loads. Removes the hook first: the decision is made now, and
    its own `find_spec("torchvision")` must reach the real finders.
    """
    global _library
    _uninstall()
    if _library is not None or "torchvision" in sys.modules or _extension_path() is None:
        return False
    if extension_loads():
        return False
    import torch

    _library = torch.library.Library("torchvision", "DEF")
    for name in _MISSING_OPS:
        _library.define(name + _SCHEMA)
    return True


class _PatchBeforeTorchvision:
    """A meta-path finder that finds nothing: it applies the patch the first time torchvision is looked up."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname == "torchvision":
            ensure_torchvision_importable()
        return None


_HOOK = _PatchBeforeTorchvision()


def install() -> None:
    """Arrange for the patch to run right before torchvision's first import; imports nothing itself."""
    if "torchvision" not in sys.modules and _HOOK not in sys.meta_path:
        sys.meta_path.insert(0, _HOOK)


def _uninstall() -> None:
    if _HOOK in sys.meta_path:
        sys.meta_path.remove(_HOOK)
