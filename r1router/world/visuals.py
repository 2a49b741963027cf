"""Procedural pictures for the demo world's visual entities (flags, logos, landmarks).

Every visual entity owns a small JSON spec (colours, a pattern, an emblem and a
count). The spec is the single source of truth: `describe_visual` turns it into
the caption the KB stores, `render_visual` into the KB image, and
`perturb_image` into a "photo" a user might ask about. Because the questions
("How many stars are on the flag of Velmora?") are generated from the same spec,
every answer is checkable against the picture.

Specs are drawn so that entities of one kind differ in several attributes at
once: the image-text encoder is a tiny CLIP trained from scratch on these
images, and near-duplicate pictures would make image retrieval a coin toss.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance

# Hues far apart in RGB so that colour jitter on a "photo" never turns one into another.
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (214, 32, 39),
    "orange": (245, 130, 32),
    "gold": (240, 196, 25),
    "green": (34, 139, 34),
    "teal": (0, 128, 128),
    "sky blue": (110, 180, 240),
    "navy": (20, 32, 110),
    "purple": (118, 46, 158),
    "pink": (240, 128, 180),
    "brown": (115, 70, 30),
    "black": (20, 20, 20),
    "white": (245, 245, 245),
}

# Pattern name -> True when the English phrase is plural ("gold horizontal stripes" vs "a gold cross").
PATTERNS: dict[str, dict[str, bool]] = {
    "flag": {
        "horizontal stripes": True,
        "vertical stripes": True,
        "diagonal band": False,
        "cross": False,
        "border": False,
        "canton": False,
    },
    "logo": {
        "circle badge": False,
        "shield": False,
        "square tile": False,
        "hexagon": False,
        "triangle badge": False,
        "ring": False,
    },
    "landmark": {
        "tower": False,
        "arch": False,
        "dome": False,
        "pyramid": False,
        "bridge": False,
        "spire": False,
    },
}
KINDS = tuple(PATTERNS)
EMBLEMS = ("star", "circle", "triangle", "crescent", "diamond", "wave", "sun", "heart")
COUNT_WORDS = {1: "one", 2: "two", 3: "three", 4: "four"}
# The attributes that make two pictures look different; the uniqueness key is built from them.
_MAIN = ("primary_color", "secondary_color", "pattern", "emblem", "emblem_color", "emblem_count")
_MIN_DISTANCE = 3  # differ in at least this many main attributes from every earlier spec when possible
_CANDIDATES = 48  # draws per spec when searching for a well-separated one
_SUPERSAMPLE = 2  # draw at 2x and downsample: smooth edges without Pillow's lack of anti-aliasing


def visual_key(spec: dict) -> str:
    """Canonical string of a spec; two specs with the same key render identically."""
    return "|".join([spec["kind"], *(str(spec[name]) for name in _MAIN)])


def _parse_key(key: str) -> tuple[str, tuple[str, ...]]:
    kind, *values = key.split("|")
    return kind, tuple(values)


def _candidate(kind: str, rng: random.Random) -> dict:
    names = list(COLORS)
    primary, secondary, emblem_color = rng.sample(names, 3)  # three distinct colours: every layer stays visible
    return {
        "kind": kind,
        "primary_color": primary,
        "secondary_color": secondary,
        "pattern": rng.choice(list(PATTERNS[kind])),
        "emblem": rng.choice(EMBLEMS),
        "emblem_color": emblem_color,
        "emblem_count": rng.randint(1, 4),
    }


def random_visual(kind: str, rng: random.Random, taken: set[str]) -> dict:
    """Draw a spec of `kind` not in `taken`, as far (in attributes) from the taken ones as a few draws allow.

    `taken` holds canonical keys (see `visual_key`) and is updated in place, so
    one set shared across a world keeps every picture unique.
    """
    if kind not in PATTERNS:
        raise ValueError(f"unknown visual kind '{kind}' (expected one of {', '.join(KINDS)})")
    earlier = [values for other_kind, values in map(_parse_key, taken) if other_kind == kind]
    best: dict | None = None
    best_distance = -1
    for _ in range(_CANDIDATES * 20):
        spec = _candidate(kind, rng)
        key = visual_key(spec)
        if key in taken:
            continue
        values = _parse_key(key)[1]
        distance = min((sum(a != b for a, b in zip(values, old, strict=True)) for old in earlier), default=len(_MAIN))
        if distance > best_distance:
            best, best_distance = spec, distance
        if best_distance >= _MIN_DISTANCE:
            break
    if best is None:
        raise RuntimeError(f"could not find an unused {kind} spec; the attribute space is exhausted")
    taken.add(visual_key(best))
    return best


def _a(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def describe_visual(spec: dict) -> str:
    """English fragment naming every attribute, so that a caption alone can answer a question about the picture."""
    count = spec["emblem_count"]
    emblems = f"{COUNT_WORDS[count]} {spec['emblem_color']} {spec['emblem']}{'s' if count > 1 else ''}"
    primary, secondary, pattern = spec["primary_color"], spec["secondary_color"], spec["pattern"]
    kind = spec["kind"]
    if kind == "flag":
        band = f"{secondary} {pattern}" if PATTERNS["flag"][pattern] else _a(f"{secondary} {pattern}")
        return f"{_a(primary)} field with {band} and {emblems}"
    if kind == "logo":
        return f"{_a(primary)} {pattern} on {_a(secondary)} background bearing {emblems}"
    if kind == "landmark":
        return f"{_a(primary)} {pattern} against {_a(secondary)} sky with {emblems} above it"
    raise ValueError(f"unknown visual kind '{kind}'")


# ---------------------------------------------------------------- drawing helpers

Box = tuple[float, float, float, float]
RGB = tuple[int, int, int]


def _star(cx: float, cy: float, r: float, points: int = 5) -> list[tuple[float, float]]:
    out = []
    for i in range(points * 2):
        radius = r if i % 2 == 0 else r * 0.42
        angle = -math.pi / 2 + i * math.pi / points
        out.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
    return out


def _regular(cx: float, cy: float, r: float, sides: int, phase: float = -math.pi / 2) -> list[tuple[float, float]]:
    return [
        (cx + r * math.cos(phase + 2 * math.pi * i / sides), cy + r * math.sin(phase + 2 * math.pi * i / sides))
        for i in range(sides)
    ]


def _emblem_mask(emblem: str, size: int, cx: float, cy: float, r: float) -> Image.Image:
    """Greyscale mask of one emblem; masks let shapes with holes (crescent) sit on any background."""
    mask = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(mask)
    box = (cx - r, cy - r, cx + r, cy + r)
    if emblem == "star":
        draw.polygon(_star(cx, cy, r), fill=255)
    elif emblem == "circle":
        draw.ellipse(box, fill=255)
    elif emblem == "triangle":
        draw.polygon(_regular(cx, cy + r * 0.15, r, 3), fill=255)
    elif emblem == "crescent":
        draw.ellipse(box, fill=255)
        draw.ellipse((cx - r * 0.45, cy - r * 0.95, cx + r * 1.35, cy + r * 0.85), fill=0)
    elif emblem == "diamond":
        draw.polygon([(cx, cy - r), (cx + r * 0.65, cy), (cx, cy + r), (cx - r * 0.65, cy)], fill=255)
    elif emblem == "wave":
        points = [(cx - r + 2 * r * t / 24, cy + r * 0.45 * math.sin(2 * math.pi * t / 12)) for t in range(25)]
        draw.line(points, fill=255, width=max(2, int(r * 0.35)), joint="curve")
    elif emblem == "sun":
        draw.ellipse((cx - r * 0.55, cy - r * 0.55, cx + r * 0.55, cy + r * 0.55), fill=255)
        for i in range(8):
            angle = 2 * math.pi * i / 8
            inner, outer = r * 0.7, r
            ray = [(cx + d * math.cos(angle), cy + d * math.sin(angle)) for d in (inner, outer)]
            draw.line(ray, fill=255, width=max(2, int(r / 5)))
    elif emblem == "heart":
        lobe = r * 0.52
        draw.ellipse((cx - 2 * lobe, cy - r * 0.75, cx, cy - r * 0.75 + 2 * lobe), fill=255)
        draw.ellipse((cx, cy - r * 0.75, cx + 2 * lobe, cy - r * 0.75 + 2 * lobe), fill=255)
        draw.polygon([(cx - r * 0.98, cy - r * 0.1), (cx + r * 0.98, cy - r * 0.1), (cx, cy + r)], fill=255)
    else:
        raise ValueError(f"unknown emblem '{emblem}'")
    return mask


def _emblem_centres(count: int, area: Box) -> tuple[list[tuple[float, float]], float]:
    """Centres and radius for `count` emblems laid out in `area` (one, a row of two or three, or a 2x2 grid)."""
    x0, y0, x1, y1 = area
    w, h = x1 - x0, y1 - y0
    if count == 4:
        centres = [(x0 + w * fx, y0 + h * fy) for fy in (0.27, 0.73) for fx in (0.27, 0.73)]
        return centres, min(w, h) * 0.2
    centres = [(x0 + w * (i + 0.5) / count, y0 + h / 2) for i in range(count)]
    return centres, min(w / count * 0.42, h * 0.4)


def _draw_flag(draw: ImageDraw.ImageDraw, s: int, spec: dict, secondary: RGB, background: RGB) -> Box:
    pattern = spec["pattern"]
    if pattern == "horizontal stripes":
        for i in (1, 3):
            draw.rectangle((0, s * i / 5, s, s * (i + 1) / 5), fill=secondary)
    elif pattern == "vertical stripes":
        for i in (1, 3):
            draw.rectangle((s * i / 5, 0, s * (i + 1) / 5, s), fill=secondary)
    elif pattern == "diagonal band":
        band = s * 0.16
        draw.polygon([(0, s - band), (s - band, 0), (s, 0), (s, band), (band, s), (0, s)], fill=secondary)
    elif pattern == "cross":
        draw.rectangle((s * 0.4, 0, s * 0.6, s), fill=secondary)
        draw.rectangle((0, s * 0.4, s, s * 0.6), fill=secondary)
    elif pattern == "border":
        draw.rectangle((0, 0, s - 1, s - 1), outline=secondary, width=int(s * 0.12))
    elif pattern == "canton":
        draw.rectangle((0, 0, s * 0.45, s * 0.45), fill=secondary)
        return (s * 0.45, s * 0.45, s * 0.98, s * 0.98)
    else:
        raise ValueError(f"unknown flag pattern '{pattern}'")
    return (s * 0.15, s * 0.2, s * 0.85, s * 0.8)


def _draw_logo(draw: ImageDraw.ImageDraw, s: int, spec: dict, primary: RGB, background: RGB) -> Box:
    pattern, m = spec["pattern"], s * 0.1
    if pattern == "circle badge":
        draw.ellipse((m, m, s - m, s - m), fill=primary)
    elif pattern == "shield":
        draw.polygon([(m, m), (s - m, m), (s - m, s * 0.55), (s / 2, s - m * 0.5), (m, s * 0.55)], fill=primary)
    elif pattern == "square tile":
        draw.rounded_rectangle((m, m, s - m, s - m), radius=s * 0.08, fill=primary)
    elif pattern == "hexagon":
        draw.polygon(_regular(s / 2, s / 2, s / 2 - m * 0.5, 6, phase=0), fill=primary)
    elif pattern == "triangle badge":
        draw.polygon([(s / 2, m * 0.5), (s - m * 0.5, s - m), (m * 0.5, s - m)], fill=primary)
        return (s * 0.3, s * 0.5, s * 0.7, s * 0.85)
    elif pattern == "ring":
        draw.ellipse((m, m, s - m, s - m), outline=primary, width=int(s * 0.12))
    else:
        raise ValueError(f"unknown logo pattern '{pattern}'")
    return (s * 0.2, s * 0.22, s * 0.8, s * 0.78)


def _draw_landmark(draw: ImageDraw.ImageDraw, s: int, spec: dict, primary: RGB, background: RGB) -> Box:
    pattern, ground = spec["pattern"], s * 0.92
    if pattern == "tower":
        draw.rectangle((s * 0.4, s * 0.46, s * 0.6, ground), fill=primary)
        draw.polygon([(s * 0.34, s * 0.46), (s * 0.66, s * 0.46), (s * 0.5, s * 0.37)], fill=primary)
    elif pattern == "arch":
        draw.rectangle((s * 0.15, s * 0.53, s * 0.85, ground), fill=primary)
        draw.ellipse((s * 0.15, s * 0.38, s * 0.85, s * 0.68), fill=primary)
        draw.ellipse((s * 0.33, s * 0.6, s * 0.67, s * 0.82), fill=background)  # the opening shows the sky
        draw.rectangle((s * 0.33, s * 0.71, s * 0.67, ground), fill=background)
    elif pattern == "dome":
        draw.rectangle((s * 0.2, s * 0.65, s * 0.8, ground), fill=primary)
        draw.pieslice((s * 0.2, s * 0.38, s * 0.8, s * 0.92), 180, 360, fill=primary)
    elif pattern == "pyramid":
        draw.polygon([(s * 0.1, ground), (s * 0.9, ground), (s * 0.5, s * 0.4)], fill=primary)
    elif pattern == "bridge":
        draw.rectangle((0, s * 0.6, s, s * 0.68), fill=primary)
        for x in (0.2, 0.8):
            draw.rectangle((s * (x - 0.04), s * 0.4, s * (x + 0.04), ground), fill=primary)
        draw.arc((s * 0.2, s * 0.45, s * 0.8, s * 0.9), 180, 360, fill=primary, width=int(s * 0.03))
    elif pattern == "spire":
        draw.polygon([(s * 0.42, ground), (s * 0.58, ground), (s * 0.5, s * 0.37)], fill=primary)
        draw.rectangle((s * 0.3, s * 0.8, s * 0.7, ground), fill=primary)
    else:
        raise ValueError(f"unknown landmark pattern '{pattern}'")
    return (s * 0.04, s * 0.02, s * 0.96, s * 0.35)


_BACKGROUND: dict[str, Callable[[dict], tuple[str, str]]] = {
    # kind -> (background colour name, colour name passed to the kind's drawer)
    "flag": lambda spec: (spec["primary_color"], spec["secondary_color"]),
    "logo": lambda spec: (spec["secondary_color"], spec["primary_color"]),
    "landmark": lambda spec: (spec["secondary_color"], spec["primary_color"]),
}
_DRAWERS = {"flag": _draw_flag, "logo": _draw_logo, "landmark": _draw_landmark}


def render_visual(spec: dict, size: int = 128) -> Image.Image:
    """Draw the spec as an RGB square; pure function of the spec (no randomness), so KB images are reproducible."""
    kind = spec["kind"]
    if kind not in _DRAWERS:
        raise ValueError(f"unknown visual kind '{kind}'")
    s = size * _SUPERSAMPLE
    background, fill = _BACKGROUND[kind](spec)
    image = Image.new("RGB", (s, s), COLORS[background])
    area = _DRAWERS[kind](ImageDraw.Draw(image), s, spec, COLORS[fill], COLORS[background])
    centres, radius = _emblem_centres(spec["emblem_count"], area)
    colour = Image.new("RGB", (s, s), COLORS[spec["emblem_color"]])
    for cx, cy in centres:
        image.paste(colour, (0, 0), _emblem_mask(spec["emblem"], s, cx, cy, radius))
    return image.resize((size, size), Image.Resampling.LANCZOS)


def perturb_image(image: Image.Image, rng: random.Random) -> Image.Image:
    """A "photo" of a rendering: crop (keeps >= 70% of the area), rotation, colour jitter and sensor noise.

    Query images are perturbed so that image retrieval must recognise the
    entity rather than match pixels; all randomness comes from `rng`.
    """
    gen = np.random.default_rng(rng.getrandbits(63))
    image = image.convert("RGB")
    width, height = image.size
    area = gen.uniform(0.7, 1.0)
    aspect = math.exp(gen.uniform(-0.15, 0.15))
    crop_w = min(width, round(width * math.sqrt(area * aspect)))
    crop_h = min(height, round(height * math.sqrt(area / aspect)))
    left = int(gen.integers(0, width - crop_w + 1))
    top = int(gen.integers(0, height - crop_h + 1))
    image = image.crop((left, top, left + crop_w, top + crop_h)).resize((width, height), Image.Resampling.BICUBIC)
    fill = tuple(int(v) for v in np.asarray(image).reshape(-1, 3).mean(axis=0))
    image = image.rotate(float(gen.uniform(-15, 15)), resample=Image.Resampling.BICUBIC, fillcolor=fill)
    image = ImageEnhance.Brightness(image).enhance(float(gen.uniform(0.75, 1.25)))
    image = ImageEnhance.Contrast(image).enhance(float(gen.uniform(0.75, 1.25)))
    image = ImageEnhance.Color(image).enhance(float(gen.uniform(0.7, 1.3)))
    pixels = np.asarray(image, dtype=np.float32)
    pixels = pixels + gen.normal(0.0, gen.uniform(3.0, 10.0), size=pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).round().astype(np.uint8), mode="RGB")
