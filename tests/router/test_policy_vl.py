"""The vision-language policy on a tiny randomly initialised Qwen2.5-VL built offline in the test.

The weights are random, so the texts are noise; what is tested is the
plumbing: images inside messages reach the processor, each image becomes as
many image tokens as its patch grid needs, left-padded batches generate the
same as single conversations, the backend `auto` picks this backend, and
the held-out routing check passes each row's image.
"""

import pytest
from PIL import Image

from r1router.router.backends import PolicySpec, load_policy
from r1router.router.generation_config import GenerationConfig
from r1router.router.policy_vl import VisionLanguagePolicy
from r1router.router.prompts import DECOMPOSE_SYSTEM_ZERO_SHOT, IMAGE_PLACEHOLDER, sub_answer_messages
from r1router.training.heldout import check_routing
from r1router.training.steps import StepRow


@pytest.fixture(scope="module")
def model_dir(tiny_vl_dir):
    """The tiny random Qwen2.5-VL every vision-language test shares (tests/conftest.py)."""
    return tiny_vl_dir


@pytest.fixture(scope="module")
def policy(model_dir):
    loaded = load_policy(PolicySpec(model=str(model_dir), device="cpu"))
    assert isinstance(loaded, VisionLanguagePolicy) and loaded.multimodal
    return loaded


def chat(question: str, image) -> list[dict]:
    return sub_answer_messages(question, [], image=image)


def image_tokens(policy, conversations) -> list[int]:
    inputs = policy.encode(conversations)
    return (inputs["input_ids"] == policy.model.config.image_token_id).sum(dim=1).tolist()


def test_images_expand_to_their_patch_grids(policy, tmp_path):
    small, large = Image.new("RGB", (56, 56), "red"), Image.new("RGB", (112, 140), "blue")
    assert "<|vision_start|><|image_pad|><|vision_end|><|im_end|>" in policy.render([chat("Which?", small)])[0]
    # 56x56 -> 4x4 patches -> 2x2 merged tokens; 112x140 -> 8x10 patches -> 4x5 tokens.
    assert image_tokens(policy, [chat("Which?", small), chat("Which?", large)]) == [4, 20]
    lengths = [policy.encode([chat("Which?", image)])["input_ids"].shape[1] for image in (small, large)]
    assert lengths[1] - lengths[0] == 16
    path = tmp_path / "large.png"
    large.save(path)
    assert image_tokens(policy, [chat("Which?", str(path))]) == [20]  # an image given by path
    assert image_tokens(policy, [chat("Which?", None)]) == [0]  # no image part, no image tokens


def test_batched_generation_with_different_images(policy):
    conversations = [
        chat("Which company makes this car?", Image.new("RGB", (56, 84), (200, 30, 30))),
        chat("What colour is it?", Image.new("RGB", (140, 112), (20, 40, 220))),
        chat("No image here?", None),
    ]
    inputs = policy.encode(conversations)
    assert inputs["attention_mask"][:, -1].all()  # left padding: every row ends on a real token
    assert not inputs["attention_mask"][:, 0].all()
    config = GenerationConfig(max_new_tokens=8, batch_size=3)
    batched = policy.generate(conversations, config)
    assert len(batched) == 3 and all(isinstance(text, str) for text in batched)
    assert batched == [policy.generate([c], config)[0] for c in conversations]
    assert policy.generate([], config) == []
    sampling = GenerationConfig(max_new_tokens=8, batch_size=2, do_sample=True, seed=5)
    assert policy.generate(conversations, sampling) == policy.generate(conversations, sampling)


def test_the_heldout_check_runs_a_vision_language_policy_on_the_rows_image(policy, tmp_path, monkeypatch):
    """The trainer's view (tokenizer, processing class, a model mid-training) and the routing check, images included."""
    assert policy.processing_class is policy.processor and policy.tokenizer is policy.processor.tokenizer
    mid_training = policy.with_model(policy.model)
    assert isinstance(mid_training, VisionLanguagePolicy) and mid_training.processing_class is policy.processor
    Image.new("RGB", (56, 56), "red").save(tmp_path / "q.png")
    problem = "Origin question: Which bridge is this?\n" + IMAGE_PLACEHOLDER
    answer = {"query": "Which bridge is this?", "retriever": ["Text Image Retriever"]}
    row = StepRow("ret", problem, DECOMPOSE_SYSTEM_ZERO_SHOT, answer, ("q.png",))
    encoded = []
    encode = mid_training.encode

    def counting(conversations):
        inputs = encode(conversations)
        encoded.append((inputs["input_ids"] == policy.model.config.image_token_id).sum().item())
        return inputs

    monkeypatch.setattr(mid_training, "encode", counting)
    policy.model.train()
    metrics = check_routing(mid_training, [row], GenerationConfig(max_new_tokens=4, batch_size=1), image_root=tmp_path)
    assert metrics["rows"] == 1 and 0.0 <= metrics["format_rate"] <= 1.0
    assert encoded and all(tokens == 4 for tokens in encoded)  # the 56x56 image: 4 image tokens
    assert policy.model.training  # back to training mode after the check
    policy.model.eval()
