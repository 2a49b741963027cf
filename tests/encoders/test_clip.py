"""The from-scratch CLIP: it learns the world's pictures, resumes without redoing epochs, and loads back exactly."""

from __future__ import annotations

import r1router  # noqa: F401  (before open_clip: makes torchvision importable under the CPU torch)

# isort: split
import json
import random
from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch

import r1router.encoders.clip_train as clip_train
from r1router.encoders.clip import ClipEncoder
from r1router.encoders.clip_augment import TextNoise, augment_images
from r1router.encoders.clip_train import ClipTrainConfig, build_model, tokenizer_for, train_clip
from r1router.errors import ConfigError
from r1router.world.visuals import KINDS, describe_visual, perturb_image, random_visual, render_visual

TINY = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 48, "layers": 2, "width": 64, "head_width": 32, "patch_size": 8},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}
SYLLABLES = ("vel", "mor", "ta", "ris", "dor", "vik", "an", "sel", "bra", "kon", "li", "tur")


def _tiny(**overrides) -> ClipTrainConfig:
    settings = {"model": TINY, "batch_size": 20, "lr": 2e-3, "checkpoint_every": 10, "device": "cpu", **overrides}
    return ClipTrainConfig(**settings)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """40 visual entities, their KB renderings on disk and captions like "Flag of Velmora: a red field ..."."""
    root = tmp_path_factory.mktemp("clip-world")
    rng, taken, names = random.Random(0), set(), set()
    kinds, images, pairs = [], [], []
    for i in range(40):
        kind = KINDS[i % 3]
        spec = random_visual(kind, rng, taken)
        name = "".join(rng.choice(SYLLABLES) for _ in range(3)).capitalize()
        while name in names:
            name += rng.choice(SYLLABLES)
        names.add(name)
        image = render_visual(spec)
        image.save(root / f"{i}.png")
        kinds.append(kind)
        images.append(image)
        pairs.append((root / f"{i}.png", f"{kind.capitalize()} of {name}: {describe_visual(spec)}"))
    return {"root": root, "kinds": kinds, "images": images, "pairs": pairs}


@pytest.fixture(scope="module")
def trained(world):
    """Train 25 epochs, then ask for 60 in the same directory: the second call must resume at epoch 26."""
    out = world["root"] / "model"
    first = train_clip(world["pairs"], out, _tiny(epochs=25))
    log_after_first = (out / "train_log.jsonl").read_text().splitlines()
    second = train_clip(world["pairs"], out, _tiny(epochs=60))
    return {"out": out, "first": first, "second": second, "log_after_first": log_after_first}


def test_training_resumes_and_loss_falls(trained):
    first, second, out = trained["first"], trained["second"], trained["out"]
    assert first["epochs_run"] == list(range(1, 26)) and first["resumed_from_epoch"] == 0
    assert second["resumed_from_epoch"] == 25 and second["epochs_run"] == list(range(26, 61))
    log = (out / "train_log.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in log] == list(range(1, 61))
    assert log[:25] == trained["log_after_first"]  # finished epochs were not redone
    losses = second["loss"]
    assert len(losses) == 60 and np.mean(losses[-5:]) < 0.75 * np.mean(losses[:3])
    config = json.loads((out / "config.json").read_text())
    assert config["model"] == TINY and config["train"]["epochs"] == 60


def test_perturbed_photo_finds_its_kb_record(trained, world):
    encoder = ClipEncoder.load(trained["out"], device="cpu")
    keys = encoder.encode_fused(world["images"], [caption for _, caption in world["pairs"]])
    rng = random.Random(11)
    photos = [perturb_image(image, rng) for image in world["images"]]
    queries = encoder.encode_fused(photos, [f"Which {kind} is shown in the image?" for kind in world["kinds"]])
    top5 = np.argsort(-(queries @ keys.T), axis=1)[:, :5]
    recall = np.mean([i in row for i, row in enumerate(top5)])
    assert recall >= 0.6, recall  # chance is 5/40


def test_saved_model_loads_back_identically(trained, world):
    out = trained["out"]
    images, texts = world["images"][:6], [caption for _, caption in world["pairs"][:6]]
    first, second = ClipEncoder.load(out, device="cpu"), ClipEncoder.load(out, device="cpu")
    assert np.array_equal(first.encode_fused(images, texts), second.encode_fused(images, texts))
    # model.pt holds exactly the weights training ended with (the last checkpoint's).
    model = build_model(TINY)
    model.load_state_dict(torch.load(out / "checkpoint.pt", weights_only=True)["model"])
    in_training = ClipEncoder(model, tokenizer_for(TINY), first.preprocess, device="cpu")
    assert np.array_equal(in_training.encode_images(images), first.encode_images(images))
    assert np.array_equal(in_training.encode_text(texts), first.encode_text(texts))


def test_interrupted_run_resumes_to_the_same_weights(world, tmp_path, monkeypatch):
    pairs = world["pairs"][:12]
    cfg = _tiny(epochs=4, checkpoint_every=2)
    train_clip(pairs, tmp_path / "straight", cfg)

    real_save = clip_train._save_checkpoint

    def save_then_crash(out_dir, model, optimizer, history, key):
        real_save(out_dir, model, optimizer, history, key)
        if len(history) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(clip_train, "_save_checkpoint", save_then_crash)
    with pytest.raises(KeyboardInterrupt):
        train_clip(pairs, tmp_path / "resumed", cfg)
    monkeypatch.undo()
    assert not (tmp_path / "resumed" / "model.pt").exists()
    metrics = train_clip(pairs, tmp_path / "resumed", cfg)
    assert metrics["epochs_run"] == [3, 4]
    straight = torch.load(tmp_path / "straight" / "model.pt", weights_only=True)
    resumed = torch.load(tmp_path / "resumed" / "model.pt", weights_only=True)
    assert all(torch.equal(straight[name], resumed[name]) for name in straight)
    # The weights and the log are part of the image KB's DVC out: the same seeds must give the same bytes.
    for name in (clip_train.MODEL_FILE, clip_train.LOG_FILE):
        assert (tmp_path / "straight" / name).read_bytes() == (tmp_path / "resumed" / name).read_bytes(), name


def test_changed_config_or_data_trains_from_scratch(world, tmp_path):
    pairs = world["pairs"][:8]
    train_clip(pairs, tmp_path, _tiny(epochs=2))
    assert train_clip(pairs, tmp_path, _tiny(epochs=3, lr=1e-3))["resumed_from_epoch"] == 0
    assert train_clip(pairs[:6], tmp_path, _tiny(epochs=4, lr=1e-3))["resumed_from_epoch"] == 0
    assert train_clip(pairs[:6], tmp_path, _tiny(epochs=5, lr=1e-3))["resumed_from_epoch"] == 4


def test_fused_embedding_is_the_normalised_sum(world):
    encoder = ClipEncoder(build_model(TINY), tokenizer_for(TINY), open_clip.image_transform(48, is_train=False), "cpu")
    images = [world["images"][0], Path(world["pairs"][1][0]), None]
    texts = ["Which flag is shown in the image?", None, "the flag of Velmora"]
    fused = encoder.encode_fused(images, texts)
    assert fused.dtype == np.float32 and fused.shape == (3, encoder.dim) == (3, 64)
    assert np.allclose(np.linalg.norm(fused, axis=1), 1.0, atol=1e-5)
    image = encoder.encode_images(images[:2])
    text = encoder.encode_text([texts[0], texts[2]])
    expected = image[0] + text[0]
    assert np.allclose(fused[0], expected / np.linalg.norm(expected), atol=1e-5)
    assert np.allclose(fused[1], image[1], atol=1e-5) and np.allclose(fused[2], text[1], atol=1e-5)
    with pytest.raises(ValueError, match="neither"):
        encoder.encode_fused([None], [None])
    assert encoder.encode_text([]).shape == (0, 64)


def test_from_pretrained_asks_open_clip_for_the_named_weights(monkeypatch):
    calls = {}

    def fake_create(name, pretrained=None, cache_dir=None, **kwargs):
        calls["create"] = (name, pretrained, cache_dir)
        return build_model(TINY), None, open_clip.image_transform(48, is_train=False)

    def fake_tokenizer(name):
        calls["tokenizer"] = name
        return tokenizer_for(TINY)

    monkeypatch.setattr(open_clip, "create_model_and_transforms", fake_create)
    monkeypatch.setattr(open_clip, "get_tokenizer", fake_tokenizer)
    encoder = ClipEncoder.from_pretrained("ViT-B-32", "openai", device="cpu", cache_dir=Path("models/clip"))
    assert calls == {"create": ("ViT-B-32", "openai", "models/clip"), "tokenizer": "ViT-B-32"}
    assert encoder.encode_text(["a red flag"]).shape == (1, 64)


def test_load_rejects_a_directory_without_a_trained_model(tmp_path):
    with pytest.raises(ConfigError, match="not a trained CLIP directory"):
        ClipEncoder.load(tmp_path)


def test_augmentations_are_seeded_and_noise_never_contradicts_a_caption():
    images = torch.randint(0, 256, (4, 3, 64, 64), dtype=torch.uint8)
    torch.manual_seed(3)
    first = augment_images(images, 32, 1.0)
    torch.manual_seed(3)
    assert torch.equal(first, augment_images(images, 32, 1.0))
    assert first.shape == (4, 3, 32, 32) and float(first.min()) >= 0 and float(first.max()) <= 1
    captions = ["Flag of Velmora: a red field with three white stars"]
    noise = TextNoise(list(tokenizer_for(TINY).encoder), captions, 0.3, 0.25, 2.0)
    assert {"red", "flag", "stars", "of", "a"}.isdisjoint(noise.words) and "the" in noise.words
    gen = torch.Generator().manual_seed(0)
    noisy = [noise.caption(captions[0], gen) for _ in range(20)]
    assert noisy == [noise.caption(captions[0], g) for g in [torch.Generator().manual_seed(0)] for _ in range(20)]
    assert all(set(text.split()) <= set(captions[0].split()) | set(noise.words) for text in noisy)
    assert all(3 <= len(text.split()) <= 10 for text in noise.null_texts(5, gen))
