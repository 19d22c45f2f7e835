"""PowerPoint decks (.pptx): each slide's text frames, tables and speaker notes, by python-pptx.

python-pptx (MIT, maintained) reads the slides in order. A slide's title is its section (the
heading of that slide only, `unit` "slide"); each other text frame is one paragraph (its lines
and bullets joined by line breaks), in reading order (top to bottom, left to right), shapes
inside groups included; a table gives one row block per row, its cells separated by tabs; each
paragraph of the speaker notes is a paragraph (`unit` "notes"). Footer, date and slide-number
placeholders are dropped, and so is a text frame repeated on most slides (a footer typed in a
text box): furniture, not content. The title is the core properties' title, else the first
slide's title.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections import Counter
from collections.abc import Iterator
from typing import Any

from qa.readers.blocks import Block, Parsed, UnreadableError
from qa.readers.clean import squeeze

# A one-line text frame (at most FURNITURE_CHARS) whose text, digits aside, is on at least
# this share of the slides, and on at least REPEATED_MIN of them, is furniture: a footer, a
# logo line, "Confidential · 4".
REPEATED_SHARE = 0.5
REPEATED_MIN = 3
FURNITURE_CHARS = 100
_DIGITS = re.compile(r"\d+")


def _frame_text(frame: Any) -> str:
    """A text frame's paragraphs (bullets, lines), each squeezed, one per line."""
    return "\n".join(t for p in frame.paragraphs if (t := squeeze(p.text.replace("\v", "\n"))))


def _shapes(shapes: Any) -> Iterator[Any]:
    """Every shape, groups opened, in reading order: top to bottom, then left to right."""

    def place(shape: Any) -> tuple[int, int]:
        return (shape.top or 0, shape.left or 0)

    for shape in sorted(shapes, key=place):
        if hasattr(shape, "shapes"):  # a group
            yield from _shapes(shape.shapes)
        else:
            yield shape


def _furniture(shape: Any) -> bool:
    from pptx.enum.shapes import PP_PLACEHOLDER

    if not shape.is_placeholder:
        return False
    kind = shape.placeholder_format.type
    return kind in (PP_PLACEHOLDER.FOOTER, PP_PLACEHOLDER.DATE, PP_PLACEHOLDER.SLIDE_NUMBER)


def _slide(slide: Any, number: int) -> list[Block]:
    """The blocks of one slide: its title (a heading), text frames, table rows, notes."""
    blocks: list[Block] = []
    title_shape = slide.shapes.title
    title = " ".join(_frame_text(title_shape.text_frame).split()) if title_shape else ""
    if title:
        blocks.append(Block("heading", title, level=1, page=number, unit="slide"))
    for shape in _shapes(slide.shapes):
        if (title_shape is not None and shape.shape_id == title_shape.shape_id) or _furniture(
            shape
        ):
            continue
        if getattr(shape, "has_table", False):
            for row in shape.table.rows:
                cells = [squeeze(c.text_frame.text) for c in row.cells if not c.is_spanned]
                text = "\t".join(" ".join(c.split()) for c in cells if c)
                blocks.append(Block("row", text, page=number, unit="slide"))
        elif getattr(shape, "has_text_frame", False):
            blocks.append(
                Block("paragraph", _frame_text(shape.text_frame), page=number, unit="slide")
            )
    if slide.has_notes_slide and (notes := slide.notes_slide.notes_text_frame) is not None:
        for paragraph in notes.paragraphs:
            blocks.append(Block("paragraph", squeeze(paragraph.text), page=number, unit="notes"))
    return [b for b in blocks if b.text.strip()]


def _key(block: Block) -> str | None:
    """What a text frame that could be furniture is compared by (None: it cannot be)."""
    if block.kind == "heading" or block.unit != "slide" or len(block.text) > FURNITURE_CHARS:
        return None
    return _DIGITS.sub("#", block.text) if "\n" not in block.text else None


def read(data: bytes) -> Parsed:
    import pptx
    from pptx.exc import PackageNotFoundError

    try:
        deck = pptx.Presentation(io.BytesIO(data))
        slides = [_slide(slide, n) for n, slide in enumerate(deck.slides, 1)]
        title = " ".join((deck.core_properties.title or "").split())
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError, TypeError) as e:
        raise UnreadableError(f"not a readable PowerPoint file ({type(e).__name__}: {e})") from e
    # Furniture: a slide text frame on most slides (counted once per slide).
    seen = Counter(key for blocks in slides for key in {_key(b) for b in blocks} - {None})
    repeated = {
        key
        for key, count in seen.items()
        if count >= REPEATED_MIN and count >= REPEATED_SHARE * len(slides)
    }
    blocks = [b for slide in slides for b in slide if _key(b) not in repeated]
    first_title = next((b.text for b in blocks if b.kind == "heading"), None)
    return Parsed(blocks=blocks, title=title or first_title)
