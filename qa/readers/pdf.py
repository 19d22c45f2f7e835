"""PDF (interim): each page's text layer by pypdf, one block per blank-line chunk, pages kept.

Stands in until the layout reader (line gaps, columns, running headers) replaces this module
with the same interface: `read(data) -> Parsed`, every block's `page` set.
"""

from __future__ import annotations

import io
import logging

from qa.readers.blocks import Block, Parsed, UnreadableError
from qa.readers.clean import squeeze
from qa.readers.txt import BLANK_LINE


def read(data: bytes) -> Parsed:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
        title = (reader.metadata or {}).get("/Title")
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError) as e:
        raise UnreadableError(f"not a readable PDF ({type(e).__name__}: {e})") from e
    blocks = [
        Block("paragraph", " ".join(squeeze(chunk).split("\n")), page=number)
        for number, text in enumerate(pages, 1)
        for chunk in BLANK_LINE.split(text)
        if chunk.strip()
    ]
    if not blocks:
        raise UnreadableError("PDF has no text layer (scanned images?)")
    title = squeeze(str(title)) if title else ""
    return Parsed(blocks=blocks, title=title or None)
