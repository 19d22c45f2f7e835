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
from collections.abc import Callable
from functools import cache

from qa.readers.blocks import Block, Parsed, UnreadableError
from qa.readers.clean import squeeze

_HEADING = re.compile(r"heading (\d)", re.IGNORECASE)
# The parts of a .docx are unpacked whole and their XML parsed into trees of ~300 bytes per
# element: an 8 MB zip bomb peaked at 2.3 GB; 53 MB of `<w:p/>` took 200 s and 2.9 GB. Both are
# checked before python-docx parses anything: the unpacked size from the zip's directory
# (zipfile never unpacks more than it says), then the XML tags, counted while streaming. A
# 500-page report with images unpacks to ~50 MB and has ~1 million tags.
MAX_UNPACKED_BYTES = 256 * 2**20
MAX_XML_TAGS = 2_000_000  # ~0.6 GB of tree at most


def _check_size(data: bytes) -> None:
    """UnreadableError if the .docx unpacks to more than MAX_UNPACKED_BYTES or holds more than
    MAX_XML_TAGS tags in its XML parts (in linear time and ~1 MB of memory)."""
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        entries = package.infolist()
        unpacked = sum(entry.file_size for entry in entries)
        if unpacked > MAX_UNPACKED_BYTES:
            raise UnreadableError(
                f"the .docx unpacks to {unpacked / 2**20:,.0f} MB; the limit is "
                f"{MAX_UNPACKED_BYTES // 2**20:,} MB"
            )
        tags = 0
        for entry in entries:
            if entry.filename.endswith((".xml", ".rels")):
                with package.open(entry) as part:
                    while chunk := part.read(2**20):
                        tags += chunk.count(b"<")
    if tags > MAX_XML_TAGS:
        raise UnreadableError(f"the .docx has {tags:,} XML tags; the limit is {MAX_XML_TAGS:,}")


def _style_names(document) -> Callable[[str | None], str]:  # noqa: ANN001 (a docx Document)
    """A paragraph style's name by its id, looked up once per id: python-docx finds a style by
    scanning every style of the document (~3 ms a paragraph with the default template's)."""
    from docx.enum.style import WD_STYLE_TYPE

    @cache
    def name(style_id: str | None) -> str:
        style = document.part.get_style(style_id, WD_STYLE_TYPE.PARAGRAPH)
        return (style.name if style is not None else "") or ""

    return name


def _title(document) -> str:  # noqa: ANN001 (a docx Document)
    """The title in the core properties; '' if none, or if there is no core-properties part
    (python-docx would make one up, titled "Word Document")."""
    from docx.opc.constants import RELATIONSHIP_TYPE

    try:
        document.part.package.part_related_by(RELATIONSHIP_TYPE.CORE_PROPERTIES)
    except KeyError:
        return ""
    return squeeze(document.core_properties.title or "")


def _paragraph(paragraph, style: str) -> Block:  # noqa: ANN001 (a docx Paragraph)
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
        _check_size(data)
        document = docx.Document(io.BytesIO(data))
        style_name = _style_names(document)
        blocks: list[Block] = []
        titled: str | None = None
        for part in document.iter_inner_content():
            if isinstance(part, Table):
                blocks.extend(_rows(part))
                continue
            style = style_name(part._p.style)
            block = _paragraph(part, style)
            if titled is None and style == "Title":
                titled = block.text
            blocks.append(block)
        title = _title(document)
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, AttributeError) as e:
        raise UnreadableError(f"not a readable Word file ({type(e).__name__}: {e})") from e
    blocks = [b for b in blocks if b.text.strip()]
    heading = next((b.text for b in blocks if b.kind == "heading"), None)
    return Parsed(blocks=blocks, title=title or titled or heading)
