"""The CPU-torch workaround: applied only when torchvision's extension cannot load, and only when torchvision is needed.

Each check runs in a fresh interpreter: the patch and the import hook are
process-wide, and this test process has long since imported torchvision.
"""

import subprocess
import sys

import pytest

from r1router import torchvision_compat


def run(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip()


@pytest.mark.parametrize(
    "statement",
    [
        "import torchvision, open_clip; from transformers import PreTrainedModel",
        "from sentence_transformers import SentenceTransformer",  # torchvision only through transformers
        "from r1router.encoders.clip import ClipEncoder",
    ],
)
def test_libraries_that_need_torchvision_import_after_r1router_under_cpu_torch(statement):
    assert run(f"import r1router\n{statement}\nprint('ok')") == "ok"


def test_import_r1router_loads_no_torch_until_torchvision_is_needed():
    code = (
        "import sys, r1router\nfrom r1router import torchvision_compat as c\n"
        "print('torch' in sys.modules, c._library is None)\n"
        "import transformers.modeling_utils\nprint('torch' in sys.modules, c._HOOK in sys.meta_path)\n"
    )
    assert run(code).split() == ["False", "True", "True", "False"]  # hook fired once, then removed itself


def test_patch_only_when_extension_fails():
    code = "import r1router, torchvision\nfrom r1router import torchvision_compat as c\n"
    loads, patched = run(code + "print(c.extension_loads(), c._library is not None)").split()
    # Exactly one of: the real extension works, or we registered the schemas.
    assert (loads == "True") != (patched == "True")


@pytest.mark.parametrize(("extension_loads", "patches"), [(True, "False"), (False, "True")])
def test_each_branch_of_the_patch(extension_loads, patches):
    """Both branches on any machine: a working extension leaves torch alone; a broken one gets the two schemas."""
    code = (
        "import torch\nfrom r1router import torchvision_compat as c\n"
        f"c.extension_loads = lambda: {extension_loads}\n"
        "print(c.ensure_torchvision_importable(), hasattr(torch.ops.torchvision, 'nms'))\n"
    )
    assert run(code).split() == [patches, patches]  # returned True exactly when torchvision::nms now exists


def test_second_call_is_a_no_op():
    torchvision_compat.ensure_torchvision_importable()
    assert torchvision_compat.ensure_torchvision_importable() is False
