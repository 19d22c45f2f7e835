"""Pages: a cited passage shown on its page, the page rendered and the passage's lines marked.

Where the lines are comes from the reader (`Block.lines`: each printed line's box and its span
of the block's text). They are not kept in the index: the original file is read again through
qa/documents.py (the reader is deterministic), and the paragraph's stored character range
(`Paragraph.start/end` in the document's text) picks its lines. So repeated text and two
columns cannot mislead it, and a paragraph that goes on over a page break is marked on both.
Two checks make sure a mark is never put in the wrong place: the file's bytes must hash to
what the index holds for the document, and the text read again must hold the paragraph's
text at its stored range; otherwise the page is shown with nothing marked and the reason.

The documents read again (their line boxes) and the rendered pages (PNG, by file hash, page
and resolution) are kept in small LRU caches, so a second look at a document costs only the
drawing.
"""

from __future__ import annotations

import io
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

import pypdfium2 as pdfium

from qa.documents import MAX_FILE_BYTES, content_hash, join, read_document
from qa.errors import DocumentNotFoundError
from qa.files import RefusedError, read_confined, real_folder
from qa.paragraphs import Paragraph
from qa.readers.blocks import UnreadableError
from qa.readers.pdf import _PDFIUM

if TYPE_CHECKING:
    from qa.engine import Engine

DPI = 150  # what a page is rendered at: text reads well on a screen, ~200 KB per page
# A page is drawn with at most this many pixels (a poster-sized page is drawn smaller), so
# one page never costs more than ~50 MB of bitmap.
MAX_PIXELS = 12_000_000
DOCUMENTS_KEPT = 8  # documents whose line boxes are kept after being read again
IMAGE_BYTES_KEPT = 64 * 1024 * 1024  # rendered pages kept, in bytes of PNG
CHANGED = "The file has changed since it was indexed: nothing is marked until it is indexed again."
MOVED = "The file is now read differently than when it was indexed: nothing is marked."
UNKNOWN = "Where this passage is printed on the page is not known."
Box = tuple[float, float, float, float]  # x0, top, x1, bottom in points from the top-left

K = TypeVar("K")
V = TypeVar("V")


class LRU(Generic[K, V]):
    """A thread-safe least-recently-used cache holding at most `capacity` in `size` units."""

    def __init__(self, capacity: int, size=lambda value: 1) -> None:  # noqa: ANN001
        self.capacity, self.size = capacity, size
        self.items: OrderedDict[K, V] = OrderedDict()
        self.used = 0
        self.lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
            return None

    def put(self, key: K, value: V) -> None:
        with self.lock:
            if key in self.items:
                self.used -= self.size(self.items.pop(key))
            self.items[key] = value
            self.used += self.size(value)
            while self.used > self.capacity and len(self.items) > 1:
                self.used -= self.size(self.items.popitem(last=False)[1])


@dataclass(frozen=True)
class Layout:
    """A document as read again: its text, its pages' sizes (points) and every printed line as
    (start, end, page, box), start and end in the document's text."""

    text: str
    sizes: tuple[tuple[float, float], ...]
    lines: tuple[tuple[int, int, int, Box], ...]

    def marks(self, start: int, end: int) -> list[tuple[int, Box]]:
        """(page, box) of each printed line holding some of text[start:end]."""
        return [(page, box) for s, e, page, box in self.lines if s < end and e > start]


@dataclass(frozen=True)
class PageView:
    """One page of a document, with the lines of a paragraph marked on it."""

    document: str
    title: str
    page: int
    pages: int
    width: float  # points
    height: float
    paragraph: Paragraph | None
    marks: tuple[Box, ...]  # the paragraph's lines on this page
    paragraph_pages: tuple[int, ...]  # every page the paragraph is printed on
    note: str = ""  # why nothing (or not all) is marked, if so


class Pages:
    """Page views of the indexed PDFs of `engine`'s index."""

    def __init__(self, engine: Engine, dpi: int = DPI) -> None:
        self.engine, self.dpi = engine, dpi
        self.layouts: LRU[str, Layout] = LRU(DOCUMENTS_KEPT)
        self.images: LRU[tuple[str, int, int], bytes] = LRU(IMAGE_BYTES_KEPT, len)

    def _file(self, doc_id: str) -> tuple[Path, str, bytes, str]:
        """The original file's path, folder, bytes, and the hash the index holds for it."""
        index = self.engine.index
        path = self.engine.original(doc_id)  # a PDF of the index, inside its folder, or 404
        root = real_folder(Path(index.manifest["docs"]))
        try:
            data = read_confined(path, root, MAX_FILE_BYTES)
        except RefusedError as e:
            raise DocumentNotFoundError(f"the file of {doc_id!r} cannot be read ({e})") from e
        known = next((d["sha256"] for d in index.manifest["documents"] if d["id"] == doc_id), "")
        return path, root, data, known

    def layout(self, doc_id: str, path: Path, root: str, data: bytes) -> Layout:
        """The document's printed lines, read again (or from the cache, by content hash)."""
        sha = content_hash(data)
        found = self.layouts.get(sha)
        if found is None:
            found = read_layout(path, doc_id, root, data)
            self.layouts.put(sha, found)
        return found

    def view(self, doc_id: str, page: int, paragraph: int | None = None) -> PageView:
        """Page `page` of `doc_id`, paragraph number `paragraph` marked on it (if given)."""
        paragraphs = self.engine.document(doc_id)
        chosen = None
        if paragraph is not None:
            chosen = next((p for p in paragraphs if p.number == paragraph), None)
            if chosen is None:
                raise DocumentNotFoundError(f"{doc_id!r} has no paragraph {paragraph}")
        path, root, data, known = self._file(doc_id)
        layout = self.layout(doc_id, path, root, data)
        if not 1 <= page <= len(layout.sizes):
            raise DocumentNotFoundError(f"{doc_id!r} has no page {page}")
        marks: list[tuple[int, Box]] = []
        note = ""
        if chosen is not None:
            if content_hash(data) != known:
                note = CHANGED
            elif layout.text[chosen.start : chosen.end] != chosen.text:
                note = MOVED
            else:
                marks = layout.marks(chosen.start, chosen.end)
                note = "" if marks else UNKNOWN
        width, height = layout.sizes[page - 1]
        return PageView(
            document=doc_id,
            title=self.engine.title(doc_id),
            page=page,
            pages=len(layout.sizes),
            width=width,
            height=height,
            paragraph=chosen,
            marks=tuple(box for p, box in marks if p == page),
            paragraph_pages=tuple(sorted({p for p, _ in marks})),
            note=note,
        )

    def image(self, doc_id: str, page: int) -> tuple[bytes, str]:
        """Page `page` of `doc_id` as PNG, and a tag naming that image (file hash, page, dpi)."""
        _, _, data, _ = self._file(doc_id)
        key = (content_hash(data), page, self.dpi)
        png = self.images.get(key)
        if png is None:
            png = render(data, page, self.dpi)
            self.images.put(key, png)
        return png, f"{key[0][:32]}-{page}-{self.dpi}"


def read_layout(path: Path, doc_id: str, root: str, data: bytes) -> Layout:
    """Read the file again through the documents' read path, and measure its pages."""
    try:
        document = read_document(path, doc_id, root)
    except UnreadableError as e:
        raise DocumentNotFoundError(f"{doc_id!r} cannot be read any more ({e})") from e
    text, spans = join(document.blocks)
    lines = tuple(
        (start + ln.start, start + ln.end, ln.page, ln.box)
        for block, (start, _) in zip(document.blocks, spans)
        for ln in block.lines
    )
    return Layout(text, page_sizes(data), lines)


def page_sizes(data: bytes) -> tuple[tuple[float, float], ...]:
    """Width and height (points) of every page of a PDF."""
    with _PDFIUM:
        pdf = pdfium.PdfDocument(data)
        try:
            return tuple(tuple(pdf.get_page_size(i)) for i in range(len(pdf)))  # type: ignore[misc]
        finally:
            pdf.close()


def render(data: bytes, page: int, dpi: int = DPI) -> bytes:
    """Page `page` (1-based) of a PDF as PNG at `dpi` (less for a page too large to draw)."""
    with _PDFIUM:
        pdf = pdfium.PdfDocument(data)
        try:
            if not 1 <= page <= len(pdf):
                raise DocumentNotFoundError(f"the document has no page {page}")
            width, height = pdf.get_page_size(page - 1)
            scale = min(dpi / 72, math.sqrt(MAX_PIXELS / max(1.0, width * height)))
            handle = pdf[page - 1]
            try:
                image = handle.render(scale=scale).to_pil()
            finally:
                handle.close()
        finally:
            pdf.close()
    out = io.BytesIO()
    # Level 3: about the size of level 6 for printed pages, in ~half the time.
    image.save(out, "PNG", compress_level=3)
    return out.getvalue()
