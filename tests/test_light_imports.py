"""Text-only code loads neither torch nor faiss: the filter stage and the prompt/parsing core stay light.

Importing torch costs about a second and a half and hundreds of MB before any
work starts; the filter stage reads and writes JSON and has no use for it.
Each case runs in a fresh interpreter, since this test process has torch loaded.
"""

import subprocess
import sys

import pytest

HEAVY = ("torch", "torchvision", "transformers", "faiss")

TEXT_ONLY = (
    "r1router.router.prompts",
    "r1router.router.parsing",
    "r1router.router.trajectory",
    "r1router.kb.kinds",
    "r1router.kb.hit",
    "r1router.evaluation.f1_recall",
    "r1router.training.steps",
    "r1router.training.filtering",
)


@pytest.mark.parametrize(
    "modules",
    [("r1router",), TEXT_ONLY, ("tasks.filter", "flows.filter")],
    ids=["package", "text-only-core", "filter-stage"],
)
def test_imports_load_no_torch_or_faiss(modules):
    code = f"import sys\nimport {', '.join(modules)}\nprint(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"
