"""The image-text KB: one picture per visual entity (flag, logo, landmark drawing) with a caption.

The caption names the entity and describes every visual attribute, so a
question about the picture ("What colour are the stars on the flag of
Velmora?") can be answered from the record, and a query photo of the entity
can be matched to the record by image and by name.
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from r1router.io import write_bytes
from r1router.progress import track
from r1router.world.entities import Entity, World
from r1router.world.rng import sub_rng
from r1router.world.visuals import describe_visual, perturb_image, render_visual

# Entity type → how the caption and the image-identification sub-question name its picture.
CAPTIONS = {"country": "Flag of {n}", "company": "Logo of {n}", "landmark": "Drawing of the {n} in {city}"}
IMAGE_SIZE = 128


def image_id(entity_id: str) -> str:
    """The image KB record (and file stem) of an entity's picture."""
    return f"image_{entity_id}"


def visual_entities(world: World) -> list[Entity]:
    return [e for kind in sorted(CAPTIONS) for e in world.of_type(kind)]


def build_image_kb(world: World) -> list[dict]:
    """Records (`id`, `image` relative to the KB file, `caption`) in id order."""
    records = []
    for entity in visual_entities(world):
        city = world.value(entity.id, "city") if entity.type == "landmark" else ""
        title = CAPTIONS[entity.type].format(n=entity.name, city=city)
        records.append(
            {
                "id": image_id(entity.id),
                "image": f"images/{image_id(entity.id)}.png",
                "caption": f"{title}: {describe_visual(entity.attrs['visual'])}",
            }
        )
    return sorted(records, key=lambda r: r["id"])


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def write_kb_images(world: World, kb_dir: Path) -> int:
    """Render every KB picture (clean, unperturbed) to `kb_dir/images/<id>.png`."""
    entities = visual_entities(world)
    for entity in track(entities, total=len(entities), desc="KB images", unit="img"):
        write_bytes(
            kb_dir / "images" / f"{image_id(entity.id)}.png", _png(render_visual(entity.attrs["visual"], IMAGE_SIZE))
        )
    return len(entities)


def write_query_images(world: World, requests: list[tuple[str, str]], out_dir: Path, seed: int) -> int:
    """Write `out_dir/images/<query image id>.png` for each (query image id, entity id): a fresh "photo" each.

    The perturbation's randomness is derived from the query image id, so one
    query image never depends on which other questions were selected.
    """
    clean: dict[str, Image.Image] = {}
    for query_id, entity_id in track(requests, total=len(requests), desc="query images", unit="img"):
        if entity_id not in clean:
            clean[entity_id] = render_visual(world[entity_id].attrs["visual"], IMAGE_SIZE)
        photo = perturb_image(clean[entity_id], sub_rng(seed, "query-image", query_id))
        write_bytes(out_dir / "images" / f"{query_id}.png", _png(photo))
    return len(requests)
