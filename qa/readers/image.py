"""Image reader: a photo or scan of pages (.png, .jpg, .jpeg, .tif, .tiff) read by OCR.

Pillow decodes it (each frame of a multi-page TIFF is a page, turned upright by its EXIF
orientation); qa/readers/ocr.py reads its lines and qa/readers/layout.py makes the paragraphs,
as for a scanned PDF. A page's coordinates are its pixels (the image size is the page size, as
at 72 dpi). A one-page image is cited without a page number.
"""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

from qa.readers.blocks import Parsed, UnreadableError
from qa.readers.layout import blocks

MAX_PIXELS = 50_000_000  # a larger page (a decompression bomb?) is refused
MAX_SIDE = 4000  # pixels: a larger page is read scaled down (its boxes scaled back)


def read(data: bytes) -> Parsed:
    """The blocks of the text an image shows; UnreadableError if it shows none."""
    from qa.readers import ocr

    try:
        image = Image.open(io.BytesIO(data))
        count = getattr(image, "n_frames", 1)
        pages, note = ocr.read_pages(_frames(image), count)
    except UnidentifiedImageError as e:
        raise UnreadableError("not a readable image (damaged, or not PNG, JPEG or TIFF)") from e
    except (OSError, Image.DecompressionBombError, EOFError) as e:
        raise UnreadableError(f"not a readable image ({e})") from e
    found = blocks([pages[p] for p in sorted(pages)])
    if not found:
        raise UnreadableError("no text: OCR found none in the image")
    if count == 1:  # "p. 1" of a single picture says nothing
        found = [replace(b, page=None) for b in found]
    return Parsed(found, None, note)


def _frames(image: Image.Image):  # noqa: ANN202 (a generator of read_pages' pages)
    for number, frame in enumerate(ImageSequence.Iterator(image), 1):
        if frame.width * frame.height > MAX_PIXELS:
            raise UnreadableError(f"image too large ({frame.width}x{frame.height} pixels)")
        page = ImageOps.exif_transpose(frame)
        if page.mode in ("RGBA", "LA", "PA") or "transparency" in page.info:
            # On white: what shows through is the page (a screenshot's transparent pixels are
            # black underneath).
            rgba = page.convert("RGBA")
            page = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
        page = page.convert("L")
        scale = min(1.0, MAX_SIDE / max(page.size))
        if scale < 1:
            page = page.resize((round(page.width * scale), round(page.height * scale)))
        yield number, np.asarray(page), 1 / scale
