"""The vision-language policy on a tiny randomly initialised Qwen2.5-VL built offline in the test.

The weights are random, so the texts are noise; what is tested is the
plumbing: images inside messages reach the processor, each image becomes as
many image tokens as its patch grid needs, left-padded batches generate the
same as single conversations, and `load_policy` picks this backend.
"""

import pytest
import torch
from PIL import Image
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    PreTrainedTokenizerFast,
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2_5_VLProcessor,
    Qwen2VLImageProcessor,
    Qwen2VLVideoProcessor,
)

from r1router.router.policy import GenerationConfig, load_policy
from r1router.router.policy_vl import VisionLanguagePolicy
from r1router.router.prompts import sub_answer_messages

SPECIAL = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
# Qwen2-VL's chat template, reduced to what our messages use: text parts and image parts.
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}{% if part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
PIXELS = {"min_pixels": 28 * 28 * 4, "max_pixels": 28 * 28 * 64}  # 4 to 64 image tokens per image


def tiny_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level BPE with Qwen's special tokens, trained in milliseconds on a few words."""
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=SPECIAL, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    bpe.train_from_iterator(["According to the related information searched, the answer"] * 20, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tiny-qwen2.5-vl")
    tokenizer = tiny_tokenizer()
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL}
    config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "max_position_embeddings": 4096,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 1, 1]},
            "bos_token_id": None,
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config={
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "out_hidden_size": 32,
            "window_size": 56,
            "fullatt_block_indexes": [1],
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    torch.manual_seed(0)
    Qwen2_5_VLForConditionalGeneration(config).save_pretrained(directory)
    Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(**PIXELS),
        video_processor=Qwen2VLVideoProcessor(**PIXELS),
        tokenizer=tokenizer,
        chat_template=CHAT_TEMPLATE,
    ).save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def policy(model_dir):
    loaded = load_policy(model_dir, device="cpu")
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
