"""Pages: a cited passage shown on its page, the page drawn and the passage's lines marked.

Where the lines are comes from the reader (`Block.lines`: each printed line's box and its span
of the block's text), and the paragraph's stored character range (`Paragraph.start/end` in the
document's text) picks its lines: repeated text and two columns cannot mislead it, and a
paragraph that goes on over a page break is marked on both pages.

The index build keeps each PDF's text and lines beside the index versions, in
`layouts/<hash of the file>.json.gz` (written for the files it reads, removed with them); a
view whose file has none there (an index built before) reads the file again through
qa/documents.py, as a build does (the reader is deterministic). Two checks make sure a mark is
never put in the wrong place: the file's bytes must hash to what the index holds for the
document, and the text kept (or read again) must hold the paragraph's text at its stored range;
otherwise the page is shown with nothing marked and the reason. Documents' lines and drawn
pages (PNG, by file hash, page and resolution) are kept in small LRU caches.
"""

from __future__ import annotations

import gzip
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

from qa.documents import MAX_FILE_BYTES, Document, content_hash, join, read_document
from qa.drawing import DPI, DRAWER, page_sizes, render
from qa.errors import DocumentNotFoundError
from qa.files import RefusedError, read_confined, real_folder
from qa.paragraphs import Paragraph
from qa.places import PlaceView, place_view, placed
from qa.readers.blocks import UnreadableError

if TYPE_CHECKING:
    from qa.engine import Engine

DOCUMENTS_KEPT = 8  # documents whose line boxes are kept after being read again
IMAGE_BYTES_KEPT = 64 * 1024 * 1024  # rendered pages kept, in bytes of PNG
CHANGED = "The file has changed since it was indexed: nothing is marked until it is indexed again."
MOVED = "The file is now read differently than when it was indexed: nothing is marked."
UNKNOWN = "Where this passage is printed on the page is not known."
TURNED = "This page is printed turned: its lines are not marked."
Box = tuple[float, float, float, float]  # x0, top, x1, bottom in points from the top-left
LAYOUTS = "layouts"  # folder of the index holding each PDF's lines, by the hash of its file
Lines = tuple[tuple[int, int, int, Box], ...]  # (start, end, page, box) in the document's text

K = TypeVar("K")
V = TypeVar("V")


class LRU(Generic[K, V]):
    """A thread-safe least-recently-used cache holding at most `capacity` in `size` units."""

    def __init__(self, capacity: int, size: Callable[[V], int] = lambda value: 1) -> None:
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
    sizes: tuple[tuple[float, float, int], ...]  # width, height, degrees turned
    lines: Lines

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
        self.drawer = DRAWER
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
        """The document's printed lines: from the caches (by the file's hash), else read again
        (and kept in the index folder for next time)."""
        sha = content_hash(data)
        found = self.layouts.get(sha)
        if found is None:
            folder = self.engine.store.root / LAYOUTS
            kept = load_lines(folder, sha)
            if kept is None:
                kept = lines_of(read_again(path, doc_id, root))
                save_lines(folder, sha, kept)
            found = Layout(kept[0], self.drawer.run(page_sizes, data), kept[1])
            self.layouts.put(sha, found)
        return found

    def view(self, doc_id: str, page: int, paragraph: int | None = None) -> PageView | PlaceView:
        """Page `page` of `doc_id`, paragraph number `paragraph` marked on it (if given); for a
        deck or a sheet, slide `page` or the rows around row `page` (qa/places.py)."""
        paragraphs = self.engine.document(doc_id)
        chosen = None
        if paragraph is not None:
            chosen = next((p for p in paragraphs if p.number == paragraph), None)
            if chosen is None:
                raise DocumentNotFoundError(f"{doc_id!r} has no paragraph {paragraph}")
        if placed(paragraphs):
            return place_view(doc_id, self.engine.title(doc_id), paragraphs, page, chosen)
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
        width, height, turned = layout.sizes[page - 1]
        here = tuple(box for p, box in marks if p == page)
        if turned and here:  # the lines' boxes are measured on the page as if not turned
            here, note = (), TURNED
        return PageView(
            document=doc_id,
            title=self.engine.title(doc_id),
            page=page,
            pages=len(layout.sizes),
            width=width,
            height=height,
            paragraph=chosen,
            marks=here,
            paragraph_pages=tuple(sorted({p for p, _ in marks})),
            note=note,
        )

    def image(self, doc_id: str, page: int) -> tuple[bytes, str]:
        """Page `page` of `doc_id` as PNG, and a tag naming that image (file hash, page, dpi)."""
        _, _, data, _ = self._file(doc_id)
        key = (content_hash(data), page, self.dpi)
        png = self.images.get(key)
        if png is None:
            png = self.drawer.run(render, data, page, self.dpi)
            self.images.put(key, png)
        return png, f"{key[0][:32]}-{page}-{self.dpi}"


def read_again(path: Path, doc_id: str, root: str) -> Document:
    """The document read again through the documents' read path (bounded like a build's)."""
    try:
        return read_document(path, doc_id, root)
    except UnreadableError as e:
        raise DocumentNotFoundError(f"{doc_id!r} cannot be read any more ({e})") from e


def lines_of(document: Document) -> tuple[str, Lines]:
    """A document's text and its printed lines, placed in that text."""
    text, spans = join(document.blocks)
    lines = tuple(
        (start + ln.start, start + ln.end, ln.page, ln.box)
        for block, (start, _) in zip(document.blocks, spans)
        for ln in block.lines
    )
    return text, lines


def save_lines(folder: Path, sha: str, kept: tuple[str, Lines]) -> None:
    """Keep a document's text and lines as `folder`/<sha>.json.gz (best effort: without it a
    view reads the file again)."""
    text, lines = kept
    rows = [[s, e, page, *box] for s, e, page, box in lines]
    target = folder / f"{sha}.json.gz"
    temporary = folder / f".{sha}.{os.getpid()}.{threading.get_ident()}.tmp"
    try:
        folder.mkdir(exist_ok=True)
        temporary.write_bytes(gzip.compress(json.dumps({"text": text, "lines": rows}).encode(), 5))
        os.replace(temporary, target)
    except OSError:
        temporary.unlink(missing_ok=True)


def load_lines(folder: Path, sha: str) -> tuple[str, Lines] | None:
    """What save_lines kept for the file hashed `sha`; None if nothing (usable) is there."""
    try:
        kept = json.loads(gzip.decompress((folder / f"{sha}.json.gz").read_bytes()))
        lines = tuple(
            (int(r[0]), int(r[1]), int(r[2]), tuple(map(float, r[3:7]))) for r in kept["lines"]
        )
        return str(kept["text"]), lines  # type: ignore[return-value]
    except (OSError, ValueError, KeyError, TypeError, IndexError, EOFError):
        return None


def keep_layouts(index_folder: Path, documents: Iterable[Document]) -> None:
    """At a build: keep the lines of each document just read that has any (its PDF's), and
    remove those of files no longer among `documents` (those of unchanged files stay)."""
    folder = Path(index_folder) / LAYOUTS
    hashes = set()
    for document in documents:
        hashes.add(document.sha256)
        if any(block.lines for block in document.blocks):
            save_lines(folder, document.sha256, lines_of(document))
    if folder.is_dir():
        for old in folder.iterdir():
            if old.name.split(".")[0] not in hashes:
                old.unlink(missing_ok=True)
