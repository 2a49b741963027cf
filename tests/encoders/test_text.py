"""TextEncoder errors; encoding with the real MiniLM is covered in tests/models/test_demo_models.py."""

import huggingface_hub
import pytest

from r1router.encoders.text import TextEncoder
from r1router.errors import DataError


def test_unpulled_path_is_a_data_error(tmp_path, monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(DataError, match="not a model directory"):
        TextEncoder(tmp_path / "models" / "text_encoder", device="cpu")


def test_directory_without_weights(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(DataError, match="no weights"):
        TextEncoder(tmp_path, device="cpu")
