"""`batch_size="auto"`: the text encoder's batch size found by halving on out-of-memory.

There is no GPU here, so `_forward` is wrapped to raise CUDA's out-of-memory error
for batches above a budget; everything else (tokenising, the real MiniLM forward,
the row order) runs as on a GPU.
"""

import logging

import numpy as np
import pytest
import torch

from r1router.encoders.batch_size import DEFAULT_BATCH_SIZE, check_batch_size
from r1router.encoders.text import TextEncoder
from r1router.errors import ConfigError
from r1router.kb.encoders import load_encoder
from r1router.kb.kinds import get_kind

TEXTS = [f"passage {i}: " + "the router picks a knowledge base " * (1 + i % 7) for i in range(40)]


def fail_above(encoder: TextEncoder, largest: int, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make `encoder` run out of memory on batches of more than `largest` texts; return the sizes it tried."""
    tried: list[int] = []
    forward = encoder._forward

    def limited(features):
        size = len(features["input_ids"])
        tried.append(size)
        if size > largest:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return forward(features)

    monkeypatch.setattr(encoder, "_forward", limited)
    return tried


@pytest.fixture(scope="module")
def constant_8(text_encoder_dir) -> np.ndarray:
    """TEXTS embedded in constant batches of 8: the batches the memory search settles on below."""
    return TextEncoder(text_encoder_dir, device="cpu", batch_size=8).encode(TEXTS)


@pytest.mark.parametrize("value", ["auto", 1, 64])
def test_valid_batch_sizes(value):
    assert check_batch_size(value) == value


@pytest.mark.parametrize("value", [0, -4, "big", "64", 2.5, True, None])
def test_invalid_batch_size_names_the_field(value):
    with pytest.raises(ConfigError, match=r"kb\.batch_size must be an integer >= 1 or 'auto'"):
        check_batch_size(value)


def test_bad_batch_size_is_refused_before_a_model_loads(tmp_path):
    # An empty directory would be a DataError ("no weights") had the load begun.
    with pytest.raises(ConfigError, match="batch_size"):
        TextEncoder(tmp_path, device="cpu", batch_size=0)
    with pytest.raises(ConfigError, match=r"kb\.batch_size"):
        load_encoder({"path": str(tmp_path / "missing")}, get_kind("text"), "cpu", batch_size="max")


def test_auto_on_cpu_is_the_default(text_encoder_dir):
    assert TextEncoder(text_encoder_dir, device="cpu", batch_size="auto").batch_size == DEFAULT_BATCH_SIZE


def test_auto_halves_until_a_batch_fits_and_keeps_that_size(text_encoder_dir, constant_8, monkeypatch, caplog):
    encoder = TextEncoder(text_encoder_dir, device="cpu", batch_size="auto")
    tried = fail_above(encoder, 8, monkeypatch)
    with caplog.at_level(logging.INFO, logger="r1router.encoders.text"):
        vectors = encoder.encode(TEXTS)
    assert tried[:4] == [40, 32, 16, 8]  # 64 texts a batch is all 40 of them
    assert encoder.batch_size == 8
    assert np.array_equal(vectors, constant_8)  # the same batches as a constant 8: the same bytes
    assert [r.getMessage() for r in caplog.records] == [f"{text_encoder_dir}: 8 texts a batch fit in cpu memory"]

    tried.clear()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="r1router.encoders.text"):
        again = encoder.encode(TEXTS)
    assert set(tried) == {8}  # remembered: no batch above the size found is tried again
    assert np.array_equal(again, constant_8)
    assert caplog.records == []  # the size is logged once


def test_a_batch_that_runs_out_mid_call_is_retried_smaller(text_encoder_dir, monkeypatch):
    """Rows done before the failing batch are kept; that batch and the rest go at half the size."""
    texts = TEXTS * 3  # 120 texts: batches of 64 and 56
    expected = TextEncoder(text_encoder_dir, device="cpu", batch_size=64).encode(texts)
    encoder = TextEncoder(text_encoder_dir, device="cpu", batch_size="auto")
    tried: list[int] = []
    forward = encoder._forward

    def second_batch_runs_out(features):
        tried.append(len(features["input_ids"]))
        if len(tried) == 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return forward(features)

    monkeypatch.setattr(encoder, "_forward", second_batch_runs_out)
    vectors = encoder.encode(texts)
    assert tried == [64, 56, 32, 24]
    assert encoder.batch_size == 32
    assert np.allclose(vectors, expected, atol=1e-6)  # same rows, same padding; only the batch split differs


@pytest.mark.parametrize("how", ["int", "per-call", "one-text"])
def test_out_of_memory_is_raised_when_the_size_may_not_shrink(text_encoder_dir, monkeypatch, how):
    """An int batch size behaves as before (no search), and so does one given to `encode`; a batch of one
    text that does not fit has nowhere to go."""
    encoder = TextEncoder(text_encoder_dir, device="cpu", batch_size=16 if how == "int" else "auto")
    fail_above(encoder, 0 if how == "one-text" else 8, monkeypatch)
    with pytest.raises(torch.cuda.OutOfMemoryError):
        encoder.encode(TEXTS, batch_size=16 if how == "per-call" else None)


def test_auto_is_the_default_for_the_image_encoder(monkeypatch):
    """One `kb.batch_size` serves every KB kind; CLIP has no memory search, so "auto" is its default size."""
    from r1router.encoders.clip import ClipEncoder

    sizes = []
    monkeypatch.setattr(ClipEncoder, "from_pretrained", lambda *args, batch_size, **kw: sizes.append(batch_size))
    load_encoder({"name": "ViT-B-32", "pretrained": "openai"}, get_kind("image"), "cpu", batch_size="auto")
    assert sizes == [DEFAULT_BATCH_SIZE]
