"""The CPU-torch workaround: applied only when torchvision's extension cannot load."""

import subprocess
import sys

from r1router import torchvision_compat


def test_open_clip_and_transformers_import_under_cpu_torch():
    code = "import r1router, torchvision, open_clip; from transformers import PreTrainedModel; print('ok')"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "ok"


def test_patch_only_when_extension_fails():
    code = (
        "from r1router import torchvision_compat as c\nimport sys\nprint(c.extension_loads(), c._library is not None)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    loads, patched = proc.stdout.split()
    # Exactly one of: the real extension works, or we registered the schemas.
    assert (loads == "True") != (patched == "True")


def test_second_call_is_a_no_op():
    assert torchvision_compat.ensure_torchvision_importable() is False
