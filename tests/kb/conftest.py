"""A deterministic bag-of-words encoder: lets KB plumbing be tested without a model.

The real-model path (MiniLM, trained CLIP) is covered by the slow end-to-end tests.
"""

import hashlib
import re

import numpy as np
import pytest


class HashingEncoder:
    dim = 256

    def __init__(self):
        self.calls = 0

    def encode(self, texts, batch_size=64, show_progress=False):
        self.calls += 1
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in re.findall(r"\w+", text.lower()):
                out[row, int(hashlib.md5(token.encode()).hexdigest(), 16) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-9)

    def encode_fused(self, images, texts):
        return self.encode([t or "" for t in texts])


@pytest.fixture
def hashing_encoder():
    return HashingEncoder()


@pytest.fixture
def encoder_dir(tmp_path):
    """A stand-in encoder directory: a built KB names its encoder by path and hash even when the test injects one."""
    directory = tmp_path / "encoder"
    directory.mkdir()
    (directory / "weights.bin").write_bytes(b"hashing encoder, dim 256")
    return directory


@pytest.fixture
def text_kb_file(tmp_path):
    import json

    path = tmp_path / "passages.jsonl"
    topics = ["volcano", "river", "castle", "harbour", "glacier", "desert", "forest", "canyon", "island", "lagoon"]
    with open(path, "w") as handle:
        for i, topic in enumerate(topics):
            handle.write(
                json.dumps({"id": f"p{i}", "title": f"The {topic}", "text": f"A passage about the {topic}."}) + "\n"
            )
    return path
