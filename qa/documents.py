"""Documents: read a folder of documents (the formats of qa/readers/) into their blocks.

Each format's reader (qa/readers/) turns a file's bytes into blocks (headings, paragraphs, list
items, table rows); a document's text is those blocks' texts joined, so every paragraph made
from them is a verbatim slice of it. A bad file never stops a build: it is reported as a
`Skipped` entry with a one-line reason.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from qa import workers
from qa.errors import NoDocumentsError
from qa.files import RefusedError, read_confined, real_folder
from qa.readers import FORMATS
from qa.readers.blocks import Block, Parsed, UnreadableError
from qa.readers.clean import decode, normalize_newlines  # noqa: F401 (part of this module's API)
from qa.stamps import Stamp, stamp, unchanged
from qa.stamps import of as stamp_of
from qa.workers import LimitError

SUFFIXES = set(FORMATS)
MAX_FILE_BYTES = 64 * 1024 * 1024
# Blocks of these kinds that follow each other (the items of one list, the rows of one table)
# are one line apart in the text, and may make one paragraph; other blocks are a blank line apart.
GROUPED = ("item", "row")


@dataclass(frozen=True)
class Document:
    """One source document. `id` is its path relative to the documents folder; `text` is its
    blocks' texts joined (see `join`); `sha256` is the hash of the file's bytes."""

    id: str
    path: Path | str  # a str if taken as unchanged by its stamp (a Path each: 0.5 s at 100k)
    text: str
    sha256: str
    note: str = ""  # e.g. how it was decoded, when that was not plain UTF-8
    title: str = ""  # from the file (metadata, <title>, front matter, heading), else its name
    blocks: tuple[Block, ...] = ()
    unchanged: bool = False  # same bytes as the index holds: read, hashed, not parsed again
    stamp: Stamp | None = None  # the file's lstat when read (qa/stamps.py), if a regular file


@dataclass(frozen=True)
class Skipped:
    """A file that was not indexed, and why."""

    id: str
    reason: str
    sha256: str = ""  # of a file whose reading broke a limit: remembered, not read again

    def __str__(self) -> str:
        return f"skipped {self.id}: {self.reason}"


def content_hash(data: bytes | str) -> str:
    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


def separator(before: Block, after: Block) -> str:
    """What stands between two blocks in a document's text: a line break inside one list or
    table, else a blank line. Whitespace only: nothing a quote shows is invented."""
    return "\n" if before.kind == after.kind and after.kind in GROUPED else "\n\n"


def join(blocks: tuple[Block, ...] | list[Block]) -> tuple[str, list[tuple[int, int]]]:
    """The text of `blocks` and each block's span in it."""
    parts: list[str] = []
    spans: list[tuple[int, int]] = []
    at = 0
    for i, block in enumerate(blocks):
        if i:
            gap = separator(blocks[i - 1], block)
            parts.append(gap)
            at += len(gap)
        parts.append(block.text)
        spans.append((at, at + len(block.text)))
        at += len(block.text)
    return "".join(parts), spans


def make_document(doc_id: str, path: Path, parsed: Parsed, sha256: str | None = None) -> Document:
    """The Document of a reader's result; UnreadableError if it holds no text."""
    blocks = tuple(_cleaned(b) for b in parsed.blocks if b.text.strip())
    if not blocks:
        raise UnreadableError("empty (no text)")
    text, _ = join(blocks)
    title = " ".join((parsed.title or "").split()) or doc_id  # else its file name
    return Document(
        id=doc_id,
        path=path,
        text=text,
        sha256=sha256 or content_hash(text),
        note=parsed.note,
        title=title,
        blocks=blocks,
    )


def _cleaned(block: Block) -> Block:
    """`block` with its text's newlines normalized and surrounding whitespace stripped (its
    printed lines' offsets moved along; dropped if the text changed otherwise)."""
    text = normalize_newlines(block.text)
    stripped = text.strip()
    cut = len(text) - len(text.lstrip())
    lines = block.lines if text == block.text else ()
    lines = tuple(
        replace(ln, start=max(0, ln.start - cut), end=min(len(stripped), ln.end - cut))
        for ln in lines
        if ln.end - cut > 0 and ln.start - cut < len(stripped)
    )
    return replace(block, text=stripped, lines=lines)


def text_document(doc_id: str, text: str) -> Document:
    """A Document of plain `text`, read as a .txt file would be (for tests and benchmarks)."""
    from qa.readers import txt

    return make_document(doc_id, Path(doc_id), txt.read(text.encode("utf-8")))


def read_document(
    path: Path,
    doc_id: str,
    root: str | None = None,
    known: str | None = None,
    pool: workers.Pool | None = None,
    refused: Mapping[str, str] | None = None,
) -> Document:
    """Read one file into a Document; raises UnreadableError with the reason (LimitError, with
    the file's hash, if reading it broke a limit of the worker pool or crashed its worker).

    The file's bytes are read once, here, through qa.files: only a regular file whose real path
    lies inside the folder `root` (a real path; default: the file's own folder), at most
    MAX_FILE_BYTES. They are parsed in a worker of `pool` (default: the shared pool), never in
    this process. If the bytes hash to `known` (the hash the index holds for the file), the
    document is not parsed again (`unchanged`: the index's paragraphs still hold); if they hash
    to one of `refused` (hash -> reason), it is refused again without being read.
    """
    (result,) = read_documents(
        [(path, doc_id)], root or real_folder(path.parent), {doc_id: known or ""}, pool, refused
    )
    if isinstance(result, Skipped):
        raise (
            LimitError(result.reason, result.sha256)
            if result.sha256
            else UnreadableError(result.reason)
        )
    return result


def read_documents(
    files: list[tuple[Path, str]],
    root: str,
    known: Mapping[str, str] | None = None,
    pool: workers.Pool | None = None,
    refused: Mapping[str, str] | None = None,
) -> list[Document | Skipped]:
    """Each (path, id) of `files` read as `read_document` does, as a Document or the Skipped
    entry saying why not; those to parse go to one worker together."""
    results: list[Document | Skipped | None] = [None] * len(files)
    pending: list[tuple[int, bytes, str, Stamp | None]] = []  # the files to parse
    known = known or {}
    for i, (path, doc_id) in enumerate(files):
        before = stamp(path)  # taken before reading: a change while reading shows next time
        try:
            data = read_confined(path, root, MAX_FILE_BYTES)
        except RefusedError as e:
            results[i] = Skipped(doc_id, str(e))
            continue
        sha256 = content_hash(data)
        if sha256 == known.get(doc_id):
            results[i] = Document(doc_id, path, "", sha256, unchanged=True, stamp=before)
        elif refused and sha256 in refused:
            results[i] = Skipped(doc_id, refused[sha256] + workers.NOT_AGAIN, sha256)
        else:
            pending.append((i, data, sha256, before))
    batch = [(files[i][0].suffix.lower(), data) for i, data, _, _ in pending]
    parsed = (pool or workers.shared()).parse_all(batch) if batch else []
    for (i, _, sha256, before), result in zip(pending, parsed):
        path, doc_id = files[i]
        try:
            if isinstance(result, UnreadableError):
                raise result
            results[i] = replace(make_document(doc_id, path, result, sha256), stamp=before)
        except LimitError as e:
            results[i] = Skipped(doc_id, str(e), sha256)
        except UnreadableError as e:
            results[i] = Skipped(doc_id, str(e))
    return results  # type: ignore[return-value]  (every one is set)


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


Found = tuple[str, str, Stamp | None]  # a file's path, its id, its stamp when listed


def discover(folder: Path) -> tuple[list[Found], list[Skipped]]:
    """Files under `folder` (recursively, sorted), with ids and stamps (qa/stamps.py);
    unsupported ones become Skipped.

    Hidden files and folders (names starting with '.') and linked folders are not looked into;
    the hidden ones are reported in one line, each linked folder in one of its own. Each file's
    stamp is taken from the listing's own entry: at 100k files, a pathlib object and an lstat
    of each, made apart from the walk, took ~2 s of every update.
    """
    found: list[Found] = []
    skipped: list[Skipped] = []
    hidden: list[str] = []
    now = time.time()
    # Folders to list, as (path, id prefix); a stack, so the order is os.walk's (top-down, each
    # folder's files before its subfolders) and no depth of nesting exhausts the recursion.
    pending = [(os.fspath(folder), "")]
    while pending:
        where, prefix = pending.pop()
        try:
            with os.scandir(where) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as e:
            skipped.append(
                Skipped(_printable_id(prefix or "."), f"cannot read folder ({e.strerror})")
            )
            continue
        folders, files = [], []
        for entry in entries:
            (folders if _is_folder(entry) else files).append(entry)
        inner = []
        for entry in folders:
            doc_id = prefix + entry.name + "/"
            if entry.name.startswith("."):
                hidden.append(_printable_id(doc_id))
            elif entry.is_symlink():  # not followed: a link cannot make the walk loop
                skipped.append(
                    Skipped(_printable_id(doc_id), "a linked folder: not followed (move it in)")
                )
            else:
                inner.append((entry.path, doc_id))
        # Ids go into JSON, URLs and pages: UTF-8 without control characters only. The names of
        # a folder are looked at one by one only if any of them is not printable.
        names = prefix + "/".join(e.name for e in files)
        printable = _printable_id(names) == names
        for entry in files:
            name = entry.name
            doc_id = prefix + name
            if name.startswith("."):
                hidden.append(_printable_id(doc_id))
                continue
            if not printable and _printable_id(doc_id) != doc_id:
                problem = "has control characters" if _valid_utf8(doc_id) else "is not valid UTF-8"
                skipped.append(Skipped(_printable_id(doc_id), f"file name {problem}: rename it"))
                continue
            suffix = _suffix(name)
            if suffix.lower() not in SUFFIXES:
                skipped.append(Skipped(doc_id, f"unsupported file type {suffix or '(none)'}"))
                continue
            # Linked files are listed too (never stamped: a link is always read); qa.files reads
            # only those whose real path lies inside the folder.
            try:
                facts = stamp_of(entry.stat(follow_symlinks=False), now)
            except OSError:
                facts = None  # (read_confined says why, if it cannot be read)
            found.append((entry.path, doc_id, facts))
        pending.extend(reversed(inner))
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


def _is_folder(entry: os.DirEntry[str]) -> bool:
    """Whether `entry` is a folder or a link to one (as os.walk tells them from files)."""
    try:
        return entry.is_dir()
    except OSError:
        return False


def _suffix(name: str) -> str:
    """A file name's suffix, as pathlib gives it ('' for 'notes' or 'notes.')."""
    dot = name.rfind(".")
    return name[dot:] if 0 < dot < len(name) - 1 else ""


def load_documents(
    folder: Path,
    known: Mapping[str, str] | None = None,
    on_document: Callable[[int, int], None] | None = None,
    pool: workers.Pool | None = None,
    refused: Mapping[str, str] | None = None,
    stamps: Mapping[str, tuple[Stamp, str]] | None = None,
) -> tuple[list[Document], list[Skipped]]:
    """All readable documents under `folder`, and the files skipped with reasons. `known`: id ->
    hash of the files the index holds; those whose bytes are the same are not parsed again, and
    those whose `stamps` still hold (qa/stamps.py) are not even read.
    `refused`: hash -> reason of files that broke a limit before; not read again. Files are
    parsed in parallel by the workers of `pool`. `on_document(read, total)` is told after each
    file."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NoDocumentsError(f"documents folder {folder} does not exist")
    pool = pool or workers.shared()
    pool.start()  # the workers start while the folder is listed
    found, skipped = discover(folder)
    root = real_folder(folder)
    # The files whose stamps still hold are taken at once (no thread, no read); the others are
    # read in batches. Documents keep the order of `found`, which is the order of the index.
    results: list[Document | Skipped | None] = [None] * len(found)
    rest = []
    known = known or {}
    held = unchanged(((doc_id, now) for _, doc_id, now in found), known, stamps or {})
    for i, ((path, doc_id, now), same) in enumerate(zip(found, held, strict=True)):
        if same:
            results[i] = Document(doc_id, path, "", known[doc_id], unchanged=True, stamp=now)
        else:
            rest.append(i)
    count = len(found) - len(rest)
    if on_document is not None and count:
        on_document(count, len(found))

    files = {i: (Path(found[i][0]), found[i][1]) for i in rest}

    def read(batch: list[int]) -> list[Document | Skipped]:
        return read_documents([files[i] for i in batch], root, known, pool, refused)

    # Threads only wait on the files and the workers; one more than the workers keeps each fed.
    batches = _batches(list(files.values()), pool.size)
    at = iter(rest)
    numbered = [[next(at) for _ in batch] for batch in batches]
    with ThreadPoolExecutor(pool.size + 1, thread_name_prefix="reading") as threads:
        for batch, read_ in zip(numbered, threads.map(read, numbered), strict=True):
            for i, result in zip(batch, read_, strict=True):
                results[i] = result
                count += 1
                if on_document is not None:
                    on_document(count, len(found))
    documents = [r for r in results if isinstance(r, Document)]
    skipped.extend(r for r in results if isinstance(r, Skipped))
    return documents, skipped


BATCH_FILES = 32  # small files sent to a worker at once: one exchange each, not one per file
BATCH_BYTES = 4 * 2**20


def _batches(found: list[tuple[Path, str]], workers: int) -> list[list[tuple[Path, str]]]:
    """`found` in runs of files that go to a worker together: at most BATCH_FILES and about
    BATCH_BYTES, and enough runs that every worker gets several."""
    most = max(1, min(BATCH_FILES, len(found) // (4 * workers)))
    batches: list[list[tuple[Path, str]]] = []
    size = 0
    for item in found:
        try:
            bytes_ = item[0].lstat().st_size
        except OSError:
            bytes_ = 0  # (read_confined says why)
        if not batches or len(batches[-1]) >= most or size + bytes_ > BATCH_BYTES:
            batches.append([])
            size = 0
        batches[-1].append(item)
        size += bytes_
    return batches
