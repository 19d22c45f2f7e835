"""Documents: read a folder of .txt, .md, .html/.htm and .pdf files into plain text.

A bad file never stops a build: it is reported as a `Skipped` entry with a one-line reason.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from qa.errors import NoDocumentsError
from qa.files import RefusedError, read_confined, real_folder

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


def read_text(data: bytes) -> tuple[str, str]:
    return decode(data)


def read_html(data: bytes) -> tuple[str, str]:
    from bs4 import BeautifulSoup

    markup, note = decode(data)
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


def read_pdf(data: bytes) -> tuple[str, str]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError) as e:
        raise UnreadableError(f"not a readable PDF ({type(e).__name__}: {e})") from e
    text = "\n\n".join(page for page in pages if page)
    if not text.strip():
        raise UnreadableError("PDF has no text layer (scanned images?)")
    return text, ""


READERS: dict[str, Callable[[bytes], tuple[str, str]]] = {
    **dict.fromkeys(TEXT_SUFFIXES, read_text),
    **dict.fromkeys(HTML_SUFFIXES, read_html),
    **dict.fromkeys(PDF_SUFFIXES, read_pdf),
}


def read_document(path: Path, doc_id: str, root: str | None = None) -> Document:
    """Read one file into a Document; raises UnreadableError with the reason.

    The file's bytes are read once, here, through qa.files: only a regular file whose real path
    lies inside the folder `root` (a real path; default: the file's own folder), at most
    MAX_FILE_BYTES. The readers parse those bytes and never open anything themselves.
    """
    try:
        data = read_confined(path, root or real_folder(path.parent), MAX_FILE_BYTES)
    except RefusedError as e:
        raise UnreadableError(str(e)) from e
    try:
        text, note = READERS[path.suffix.lower()](data)
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


def _printable_id(doc_id: str) -> str:
    """`doc_id` with bytes that are not UTF-8 (kept by Python as lone surrogates) shown as \\xNN,
    and control characters (a newline, a terminal escape) shown as \\n, \\x1b, ..."""
    text = doc_id.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return _NAME_CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def _valid_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: a byte of the name that is not UTF-8
        return False
    return True


# Characters a file name may not hold to be indexed: ids go into JSON, URLs, pages and terminals,
# where a newline breaks the document's link and forges lines, an escape drives the terminal and
# a bidi override disguises the name.
_NAME_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def discover(folder: Path) -> tuple[list[tuple[Path, str]], list[Skipped]]:
    """Files under `folder` (recursively, sorted), with ids; unsupported ones become Skipped.

    Hidden files and folders (names starting with '.') and linked folders are not looked into;
    the hidden ones are reported in one line, each linked folder in one of its own.
    """
    found: list[tuple[Path, str]] = []
    skipped: list[Skipped] = []
    hidden: list[str] = []

    def unreadable_folder(error: OSError) -> None:
        where = Path(error.filename or folder)
        doc_id = where.relative_to(folder).as_posix() + "/" if where != folder else "."
        skipped.append(Skipped(_printable_id(doc_id), f"cannot read folder ({error.strerror})"))

    # os.walk without followlinks cannot loop. Linked files are listed here; qa.files reads
    # only those whose real path lies inside the folder.
    for root, dirs, files in os.walk(folder, onerror=unreadable_folder):
        here = Path(root)
        kept = []
        for d in sorted(dirs):
            doc_id = (here / d).relative_to(folder).as_posix() + "/"
            if d.startswith("."):
                hidden.append(_printable_id(doc_id))
            elif (here / d).is_symlink():
                skipped.append(
                    Skipped(_printable_id(doc_id), "a linked folder: not followed (move it in)")
                )
            else:
                kept.append(d)
        dirs[:] = kept
        for name in sorted(files):
            path = here / name
            doc_id = path.relative_to(folder).as_posix()
            if name.startswith("."):
                hidden.append(_printable_id(doc_id))
                continue
            if _printable_id(doc_id) != doc_id:  # ids go into JSON, URLs and pages: UTF-8 only
                problem = "has control characters" if _valid_utf8(doc_id) else "is not valid UTF-8"
                skipped.append(Skipped(_printable_id(doc_id), f"file name {problem}: rename it"))
                continue
            if path.suffix.lower() not in SUFFIXES:
                skipped.append(Skipped(doc_id, f"unsupported file type {path.suffix or '(none)'}"))
                continue
            found.append((path, doc_id))
    if hidden:
        examples = ", ".join(hidden[:3]) + (", ..." if len(hidden) > 3 else "")
        skipped.append(
            Skipped(
                ".*",
                f"{len(hidden)} hidden file{'s or folders' if len(hidden) > 1 else ' or folder'} "
                f"(names starting with '.') not indexed: {examples}",
            )
        )
    return found, skipped


def load_documents(folder: Path) -> tuple[list[Document], list[Skipped]]:
    """All readable documents under `folder`, and the files skipped with reasons."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NoDocumentsError(f"documents folder {folder} does not exist")
    found, skipped = discover(folder)
    root = real_folder(folder)
    documents = []
    for path, doc_id in found:
        try:
            documents.append(read_document(path, doc_id, root))
        except UnreadableError as e:
            skipped.append(Skipped(doc_id, str(e)))
    return documents, skipped
