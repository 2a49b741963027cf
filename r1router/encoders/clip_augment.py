"""Augmentations for training the image-text encoder: "photos" of images, noisy captions, null questions.

The encoder is trained on KB captions but queried with photos and
sub-questions, so training imitates both. Images get the world's query
perturbations. Captions lose words (a question names only part of an entity)
and gain common English words that no caption uses (questions wrap the entity
in "What colour are ... of ...?"). Null texts -- only such words -- are taught to
be unrelated to every image: fused queries add a generic sub-question ("Which
landmark is shown in the image?") to every photo, and a text that leaned
towards some entities would drag every query towards them.
"""

from __future__ import annotations

import re

import torch
import torch.nn.functional as F

_WORD = re.compile(r"[a-z]+")


def _blend(x: torch.Tensor, towards: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """PIL ImageEnhance semantics: factor 1 keeps `x`, 0 gives `towards`, > 1 extrapolates; clipped to [0, 1]."""
    return (towards + factor.view(-1, 1, 1, 1) * (x - towards)).clamp(0, 1)


def augment_images(images: torch.Tensor, size: int, strength: float) -> torch.Tensor:
    """Random "photos" of a uint8 [B, 3, S, S] batch as float [B, 3, size, size] in [0, 1] (torch's global RNG).

    Mirrors `r1router.world.visuals.perturb_image` at `strength` 1 -- a crop
    keeping >= 70% of the area, rotation up to 15 degrees with the mean colour
    in the corners, brightness/contrast/saturation jitter, Gaussian noise -- as
    one affine resampling of the whole batch, so it costs little next to the model.
    """
    x = images.float() / 255.0
    batch = x.shape[0]
    u = torch.rand(batch, 9)
    area = 1.0 - 0.3 * strength * u[:, 0]
    aspect = torch.exp(0.15 * strength * (2 * u[:, 1] - 1))
    scale_x, scale_y = (area * aspect).sqrt().clamp(max=1), (area / aspect).sqrt().clamp(max=1)
    shift_x, shift_y = (2 * u[:, 2] - 1) * (1 - scale_x), (2 * u[:, 3] - 1) * (1 - scale_y)
    angle = torch.deg2rad(15.0 * strength * (2 * u[:, 4] - 1))
    cos, sin = angle.cos(), angle.sin()
    zero = torch.zeros(batch)
    # Output point -> un-rotate (rotation happens after the crop is resized) -> into the crop window.
    rotation = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
    crop = torch.stack([torch.stack([scale_x, zero, shift_x], 1), torch.stack([zero, scale_y, shift_y], 1)], 1)
    theta = crop[:, :, :2] @ rotation
    theta[:, :, 2] += crop[:, :, 2]
    mean = x.mean(dim=(2, 3), keepdim=True)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    corners = F.affine_grid(rotation, [batch, 1, size, size], align_corners=False).abs().amax(dim=-1) > 1
    x = torch.where(corners.unsqueeze(1), mean, x)  # what rotation uncovered shows the mean colour, as in a query
    jitter = 1 + strength * (2 * u[:, 5:8] - 1) * torch.tensor([0.25, 0.25, 0.3])
    x = (x * jitter[:, 0].view(-1, 1, 1, 1)).clamp(0, 1)
    gray = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(dim=1, keepdim=True)
    x = _blend(x, gray.mean(dim=(2, 3), keepdim=True), jitter[:, 1])
    gray = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(dim=1, keepdim=True)
    x = _blend(x, gray, jitter[:, 2])
    sigma = strength * (3.0 + 7.0 * u[:, 8]) / 255.0
    return (x + sigma.view(-1, 1, 1, 1) * torch.randn_like(x)).clamp(0, 1)


class TextNoise:
    """Word dropout, noise-word insertion and null texts, all drawn from a caller's torch.Generator.

    Noise words are the `vocab_size` most frequent whole words of the CLIP BPE
    vocabulary (its merges are in frequency order) minus every word that occurs
    in a caption, so noise never contradicts a caption ("red" is never noise).
    """

    def __init__(
        self,
        tokenizer_vocab: list[str],
        captions: list[str],
        word_dropout: float,
        fragment_prob: float,
        noise_words: float,
        vocab_size: int = 8000,
    ):
        used = {word for caption in captions for word in _WORD.findall(caption.lower())}
        words = [token[:-4] for token in tokenizer_vocab if token.endswith("</w>")]
        self.words = [w for w in words if _WORD.fullmatch(w) and len(w) > 1 and w not in used][:vocab_size]
        # Zipf-like weights: "the", "what", "which" are drawn far more often than "porsche".
        self.weights = 1.0 / (torch.arange(len(self.words), dtype=torch.float64) + 20.0)
        self.word_dropout = word_dropout
        self.fragment_prob = fragment_prob
        self.noise_words = noise_words

    def _sample(self, count: int, gen: torch.Generator) -> list[str]:
        if count <= 0 or not self.words:
            return []
        picks = torch.multinomial(self.weights, count, replacement=True, generator=gen)
        return [self.words[i] for i in picks.tolist()]

    def caption(self, caption: str, gen: torch.Generator) -> str:
        """Keep a 1-4 word fragment (with `fragment_prob`) or drop each word with `word_dropout`; add noise words.

        Fragments make every part of a caption -- the entity's name above all,
        which the description alone would make redundant -- point to its image.
        """
        words = caption.split()
        if len(words) > 1 and float(torch.rand((), generator=gen)) < self.fragment_prob:
            length = int(torch.randint(1, min(4, len(words)) + 1, (), generator=gen))
            start = int(torch.randint(len(words) - length + 1, (), generator=gen))
            words = words[start : start + length]
        elif self.word_dropout > 0 and len(words) > 1:
            keep = torch.rand(len(words), generator=gen) >= self.word_dropout
            if not bool(keep.any()):
                keep[int(torch.randint(len(words), (), generator=gen))] = True
            words = [word for word, kept in zip(words, keep.tolist(), strict=True) if kept]
        count = int(torch.randint(int(2 * self.noise_words) + 1, (), generator=gen)) if self.noise_words > 0 else 0
        for word in self._sample(count, gen):
            words.insert(int(torch.randint(len(words) + 1, (), generator=gen)), word)
        return " ".join(words)

    def null_texts(self, count: int, gen: torch.Generator) -> list[str]:
        """`count` sentences of 3-10 noise words: stand-ins for sub-questions that name no entity."""
        return [" ".join(self._sample(int(torch.randint(3, 11, (), generator=gen)), gen)) for _ in range(count)]


def null_text_loss(null_features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean squared cosine between null texts and the batch's images and captions: 0 when orthogonal to all.

    Orthogonal rather than merely equidistant: equal similarity can also be
    reached by squeezing all entities together, which would ruin retrieval.
    """
    return (null_features @ targets.T).pow(2).mean()
