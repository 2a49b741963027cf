"""Check that an image file (or its bytes) is one: it decodes whole and stays within Pillow's pixel limit.

One check for every image the pipeline takes in (KB records, corpus pools, benchmark images), run
before any model loads. PIL is imported when a check runs, so the text-only code never loads it.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

from r1router.errors import DataError

_DRAFT_SIZE = 64  # JPEGs decode at reduced scale: the whole stream is still read, at a fraction of the cost


def verify_image(image: Path | bytes, where: str | Path, *, line: int | None = None, field: str | None = None) -> str:
    """Check that `image` decodes whole; return its format ("JPEG", "PNG", …); a DataError naming `where` if not.

    `Image.verify()` checks a file's structure but not a JPEG's compressed data,
    so the image is also decoded. Pillow only warns between its pixel limit and
    twice it; here the warning is an error too, so an input cannot make a build
    decode a bomb of up to twice the limit.
    """
    from PIL import Image

    def opened() -> Image.Image:
        return Image.open(io.BytesIO(image) if isinstance(image, bytes) else image)

    name = "image" if isinstance(image, bytes) else str(image)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with opened() as handle:
                handle.verify()
            with opened() as handle:
                handle.draft("RGB", (_DRAFT_SIZE, _DRAFT_SIZE))
                handle.load()
                return str(handle.format)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            message = f"{name}: refused as a decompression bomb ({exc}); raise PIL.Image.MAX_IMAGE_PIXELS if trusted"
            raise DataError(where, message, line=line, field=field) from None
        except (OSError, SyntaxError, ValueError) as exc:
            raise DataError(where, f"{name}: not a decodable image ({exc})", line=line, field=field) from None
