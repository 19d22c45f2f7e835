"""Word (.docx): paragraphs, headings by style, list items and table rows, by python-docx.

python-docx (MIT, maintained) reads the document body in order. A paragraph styled "Title" is
a heading, "Heading N" one below it (level N + 1); one with list numbering (or a "List" style)
is a list item; a table gives one row block per row, its cells separated by tabs. The title is
the core properties' title, else the first "Title" paragraph, else the first heading.
"""

from __future__ import annotations

import io
import re
import zipfile

from qa.readers.blocks import Block, Parsed, UnreadableError
from qa.readers.clean import squeeze

_HEADING = re.compile(r"heading (\d)", re.IGNORECASE)


def _paragraph(paragraph) -> Block:  # noqa: ANN001 (a docx Paragraph)
    style = (paragraph.style.name if paragraph.style is not None else "") or ""
    text = squeeze(paragraph.text)
    if style.lower() == "title":
        return Block("heading", text, level=1)
    if match := _HEADING.match(style):
        # one below "Title": a document's title is the top of its heading path
        return Block("heading", text, level=min(max(int(match.group(1)), 1) + 1, 6))
    p_pr = paragraph._p.pPr
    if style.lower().startswith("list") or (p_pr is not None and p_pr.numPr is not None):
        return Block("item", text)
    return Block("paragraph", text)


def _rows(table) -> list[Block]:  # noqa: ANN001 (a docx Table)
    out = []
    for row in table.rows:
        cells, seen = [], set()
        for cell in row.cells:
            if id(cell._tc) in seen:  # a merged cell is listed once per grid column it spans
                continue
            seen.add(id(cell._tc))
            cells.append(squeeze(" ".join(p.text for p in cell.paragraphs)))
        out.append(Block("row", "\t".join(c for c in cells if c)))
    return out


def read(data: bytes) -> Parsed:
    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
        blocks: list[Block] = []
        titled: str | None = None
        for part in document.iter_inner_content():
            if isinstance(part, Table):
                blocks.extend(_rows(part))
                continue
            block = _paragraph(part)
            if titled is None and part.style is not None and part.style.name == "Title":
                titled = block.text
            blocks.append(block)
        title = squeeze(document.core_properties.title or "")
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, AttributeError) as e:
        raise UnreadableError(f"not a readable Word file ({type(e).__name__}: {e})") from e
    blocks = [b for b in blocks if b.text.strip()]
    heading = next((b.text for b in blocks if b.kind == "heading"), None)
    return Parsed(blocks=blocks, title=title or titled or heading)
