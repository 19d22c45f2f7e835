"""Documents: read a folder of .txt, .md, .html/.htm and .pdf files into plain text.

A bad file never stops a build: it is reported as a `Skipped` entry with a one-line reason.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from qa.errors import NoDocumentsError

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
PDF_SUFFIXES = {".pdf"}
SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES
MAX_FILE_BYTES = 64 * 1024 * 1024
# Decoded text with more control characters than this share (in its first 8,192 characters) is
# binary that happened to have no NUL byte (a compressed file, an image renamed .txt).
MAX_CONTROL_SHARE = 0.05
# Unicode's control characters (category Cc: U+0000-U+001F, U+007F-U+009F) but the whitespace
# ones; a regex counts them ~10x faster than unicodedata per character (every build reads all).
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f]")

# Elements whose text forms its own block (paragraph) in an HTML page.
HTML_BLOCKS = (
    "p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre", "td", "th", "dt", "dd",
    "figcaption", "caption", "div", "section", "article", "header", "footer", "aside", "tr",
    "title", "address", "summary",
)  # fmt: skip
HTML_INVISIBLE = ("script", "style", "noscript", "template", "head", "svg", "iframe", "object")


@dataclass(frozen=True)
class Document:
    """One source document as plain text. `id` is its path relative to the documents folder."""

    id: str
    path: Path
    text: str
    sha256: str
    note: str = ""  # e.g. how it was decoded, when that was not plain UTF-8


@dataclass(frozen=True)
class Skipped:
    """A file that was not indexed, and why."""

    id: str
    reason: str

    def __str__(self) -> str:
        return f"skipped {self.id}: {self.reason}"


class UnreadableError(Exception):
    """Raised by a reader for a file that cannot be turned into text."""


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def decode(data: bytes) -> tuple[str, str]:
    """Text of `data` and a note on the encoding used ('' for UTF-8)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace"), ""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace"), "decoded as UTF-16"
    if b"\x00" in data[:8192]:
        raise UnreadableError("binary content (NUL bytes), not text")
    try:
        return _text(data.decode("utf-8")), ""
    except UnicodeDecodeError:
        pass
    # Not UTF-8: Windows-1252 is what such files almost always are; Latin-1 decodes any byte.
    try:
        return _text(data.decode("cp1252")), "not valid UTF-8, decoded as Windows-1252"
    except UnicodeDecodeError:
        return _text(data.decode("latin-1")), "not valid UTF-8, decoded as Latin-1"


def _text(text: str) -> str:
    """`text`, unless it is mostly control characters: then UnreadableError (binary)."""
    sample = text[:8192]
    controls = len(_CONTROL.findall(sample))
    if sample and controls > MAX_CONTROL_SHARE * len(sample):
        raise UnreadableError(
            f"binary content ({controls:,} control characters in the first "
            f"{len(sample):,}), not text"
        )
    return text


def normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_text(path: Path) -> tuple[str, str]:
    return decode(path.read_bytes())


def read_html(path: Path) -> tuple[str, str]:
    from bs4 import BeautifulSoup

    markup, note = decode(path.read_bytes())
    soup = BeautifulSoup(markup, "html.parser")
    for tag in soup.find_all(HTML_INVISIBLE):
        tag.decompose()
    for tag in soup.find_all("br"):
        tag.replace_with("\n")
    for tag in soup.find_all(HTML_BLOCKS):
        tag.insert_before("\n\n")
        tag.insert_after("\n\n")
    blocks = []
    for block in soup.get_text().split("\n\n"):
        lines = [" ".join(line.split()) for line in block.split("\n")]
        text = "\n".join(line for line in lines if line)
        if text:
            blocks.append(text)
    return "\n\n".join(blocks), note


def read_pdf(path: Path) -> tuple[str, str]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(path)
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError) as e:
        raise UnreadableError(f"not a readable PDF ({type(e).__name__}: {e})") from e
    text = "\n\n".join(page for page in pages if page)
    if not text.strip():
        raise UnreadableError("PDF has no text layer (scanned images?)")
    return text, ""


READERS: dict[str, Callable[[Path], tuple[str, str]]] = {
    **dict.fromkeys(TEXT_SUFFIXES, read_text),
    **dict.fromkeys(HTML_SUFFIXES, read_html),
    **dict.fromkeys(PDF_SUFFIXES, read_pdf),
}


def read_document(path: Path, doc_id: str) -> Document:
    """Read one file into a Document; raises UnreadableError with the reason."""
    try:
        size = path.stat().st_size
    except OSError as e:
        raise UnreadableError(f"cannot read ({e.strerror})") from e
    if size > MAX_FILE_BYTES:
        raise UnreadableError(
            f"too large ({_size(size)}; the limit is {_size(MAX_FILE_BYTES)}): split it"
        )
    try:
        text, note = READERS[path.suffix.lower()](path)
    except UnreadableError:
        raise
    except OSError as e:
        raise UnreadableError(f"cannot read ({e.strerror or e})") from e
    except Exception as e:  # a parser's bug on a hostile file: skip the file
        raise UnreadableError(f"cannot be parsed ({type(e).__name__}: {e})"[:300]) from e
    text = normalize_newlines(text)
    if not text.strip():
        raise UnreadableError("empty (no text)")
    return Document(id=doc_id, path=path, text=text, sha256=content_hash(text), note=note)


def _size(n: int) -> str:
    return f"{n / 2**20:,.1f} MB" if n >= 2**20 else f"{n:,} bytes"


def _printable_id(doc_id: str) -> str:
    """`doc_id` with bytes that are not UTF-8 (kept by Python as lone surrogates) shown as \\xNN."""
    return doc_id.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def discover(folder: Path) -> tuple[list[tuple[Path, str]], list[Skipped]]:
    """Files under `folder` (recursively, sorted), with ids; unsupported ones become Skipped."""
    found: list[tuple[Path, str]] = []
    skipped: list[Skipped] = []

    def unreadable_folder(error: OSError) -> None:
        where = Path(error.filename or folder)
        doc_id = where.relative_to(folder).as_posix() + "/" if where != folder else "."
        skipped.append(Skipped(_printable_id(doc_id), f"cannot read folder ({error.strerror})"))

    # os.walk without followlinks cannot loop; linked files are still read.
    for root, dirs, files in os.walk(folder, onerror=unreadable_folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(root) / name
            doc_id = path.relative_to(folder).as_posix()
            if name.startswith("."):
                continue
            if _printable_id(doc_id) != doc_id:  # ids go into JSON, URLs and pages: UTF-8 only
                skipped.append(
                    Skipped(_printable_id(doc_id), "file name is not valid UTF-8: rename it")
                )
                continue
            if path.suffix.lower() not in SUFFIXES:
                skipped.append(Skipped(doc_id, f"unsupported file type {path.suffix or '(none)'}"))
                continue
            found.append((path, doc_id))
    return found, skipped


def load_documents(
    folder: Path, on_document: Callable[[int, int], None] | None = None
) -> tuple[list[Document], list[Skipped]]:
    """All readable documents under `folder`, and the files skipped with reasons;
    `on_document(read, total)` is told after each file."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NoDocumentsError(f"documents folder {folder} does not exist")
    found, skipped = discover(folder)
    documents = []
    for read, (path, doc_id) in enumerate(found, 1):
        try:
            documents.append(read_document(path, doc_id))
        except UnreadableError as e:
            skipped.append(Skipped(doc_id, str(e)))
        if on_document is not None:
            on_document(read, len(found))
    return documents, skipped
