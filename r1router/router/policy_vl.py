"""The vision-language backend: Qwen2.5-VL-style models that see the query image, as the paper's router does.

Images travel inside the messages (`{"type": "image", "image": PIL or path}`);
the processor's chat template puts vision placeholders where they are and
expands each into as many image tokens as the image's patch grid needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image

from r1router.device import resolve_device, resolve_dtype
from r1router.models.pull import verify_model_dir
from r1router.router.generation_config import Conversation, GenerationConfig
from r1router.router.hf_generate import generate_in_batches


def conversation_images(conversation: Conversation) -> list[Image.Image]:
    """The images of a chat in the order they appear, which is the order the processor pairs them with placeholders."""
    images = []
    for message in conversation:
        if isinstance(message["content"], str):
            continue
        for part in message["content"]:
            if part["type"] == "image":
                image = part["image"]
                if isinstance(image, str | Path):
                    with Image.open(image) as opened:
                        image = opened.convert("RGB")
                elif image.mode != "RGB":
                    image = image.convert("RGB")
                images.append(image)
    return images


class VisionLanguagePolicy:
    """AutoModelForImageTextToText + AutoProcessor, batched with left padding.

    A static KV cache (`GenerationConfig.cache_implementation`) needs nothing here:
    `generate` allocates it, multimodal rotary positions included (a tiny Qwen2.5-VL
    gives the same greedy texts with it, tests/router/test_policy.py).
    """

    multimodal = True

    def __init__(self, model: Any, processor: Any):
        processor.tokenizer.padding_side = "left"  # continue from the last position of every row
        if processor.tokenizer.pad_token is None:
            processor.tokenizer.pad_token = processor.tokenizer.eos_token
        if model.generation_config.pad_token_id is None:
            model.generation_config.pad_token_id = processor.tokenizer.pad_token_id
        self.model = model
        self.processor = processor
        self.tokenizer = processor.tokenizer

    @classmethod
    def load(cls, model_dir: str | Path, device: str = "auto", precision: str = "auto") -> VisionLanguagePolicy:
        from transformers import AutoModelForImageTextToText, AutoProcessor

        verify_model_dir(Path(model_dir))
        device = resolve_device(device)
        model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=resolve_dtype(precision, device))
        model.to(device).eval()
        return cls(model, AutoProcessor.from_pretrained(model_dir))

    @property
    def processing_class(self) -> Any:
        """What a trainer and `save_pretrained` take: the processor (tokenizer plus image processor)."""
        return self.processor

    def with_model(self, model: Any) -> VisionLanguagePolicy:
        """The same backend over `model` (e.g. mid-training), with this policy's processor."""
        return VisionLanguagePolicy(model, self.processor)

    def render(self, conversations: list[Conversation]) -> list[str]:
        """Prompt strings with one unexpanded vision placeholder per image."""
        return [
            self.processor.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in conversations
        ]

    def encode(self, conversations: list[Conversation]) -> Any:
        """Model inputs for a batch: token ids with image tokens expanded, pixel values, grids, left padding."""
        images = [image for c in conversations for image in conversation_images(c)]
        return self.processor(text=self.render(conversations), images=images or None, padding=True, return_tensors="pt")

    def generate(self, conversations: list[Conversation], config: GenerationConfig) -> list[str]:
        if not conversations:
            return []
        # Lengths after image expansion, so batches group by what the model really reads.
        lengths = [self.encode([c])["input_ids"].shape[1] for c in conversations]
        return generate_in_batches(
            self.model,
            lengths,
            lambda indices: self.encode([conversations[i] for i in indices]),
            self.tokenizer,
            config,
        )
