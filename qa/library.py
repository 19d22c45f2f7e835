"""Library: add and remove files of the documents folder (for /admin and the documents API).

Only what the indexer reads can be added (its file types), under a safe name, within a size
limit, and only if it can be read: the upload is read in memory and parsed by a worker process
under the reading limits (qa/workers.py) before anything is written, so an unreadable or hostile
file is refused with the reason and leaves nothing behind (not even the folders of its name).
An accepted file is written beside its place under a hidden name and moved there in one step,
so a half-written upload is never indexed; what a crash in that moment leaves is removed by
`sweep`. Without `replace` an existing file is never overwritten (the move fails instead, even
against a racing upload). Nothing outside the documents folder is written, read or removed.
"""

from __future__ import annotations

import os
import re
import time
import unicodedata
import uuid
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from qa import workers
from qa.documents import SUFFIXES, UnreadableError, make_document
from qa.errors import (
    DocumentExistsError,
    DocumentNotFoundError,
    UnreadableUploadError,
    UploadError,
    UploadTooLargeError,
)
from qa.files import inside, real_folder

MAX_NAME_BYTES = 255  # per folder or file name, as most file systems allow
MAX_DEPTH = 8  # folders in a name
CHUNK = 1 << 16
_TEMPORARY = re.compile(r"\.upload-[0-9a-f]{12}-")  # the hidden name of a file being added
STALE_SECONDS = 60.0  # a temporary this old was left by a crash (writing one takes moments)


@dataclass(frozen=True)
class StoredFile:
    name: str  # relative to the documents folder, with '/'
    bytes: int
    modified: str  # ISO 8601, UTC


@dataclass(frozen=True)
class Added:
    name: str
    bytes: int
    replaced: bool


def safe_name(name: str) -> str:
    """`name` as a document id (NFC, '/'-separated), or UploadError saying what is wrong."""
    name = unicodedata.normalize("NFC", name.strip())
    if not name:
        raise UploadError("the file name is empty")
    parts = name.split("/")
    if len(parts) > MAX_DEPTH + 1:
        raise UploadError(f"the name {name!r} has too many folders (at most {MAX_DEPTH})")
    for part in parts:
        if part in ("", ".", ".."):
            raise UploadError(f"the name {name!r} has an empty, '.' or '..' part")
        if part.startswith("."):
            raise UploadError(f"the name {name!r} is hidden (starts with '.'): rename it")
        if "\\" in part or any(unicodedata.category(c) in ("Cc", "Cf", "Cs") for c in part):
            raise UploadError(f"the name {name!r} has a backslash or a control character")
        if len(part.encode("utf-8")) > MAX_NAME_BYTES:
            raise UploadError(f"the name {name!r} is too long (at most {MAX_NAME_BYTES} bytes)")
    suffix = Path(parts[-1]).suffix.lower()
    if suffix not in SUFFIXES:
        allowed = " ".join(sorted(SUFFIXES))
        raise UploadError(f"{suffix or 'no extension'}: not a document type ({allowed})")
    return "/".join(parts)


def _place(docs: Path, name: str) -> Path:
    """Where document `name` lives, checked to be inside `docs` (no link leads out)."""
    root = real_folder(docs)
    path = Path(root) / name
    if not inside(os.path.realpath(path.parent), root):  # the boundary of every read
        raise UploadError(f"{name!r} is not inside the documents folder")
    return path


def add(
    docs: Path,
    name: str,
    data: BinaryIO,
    max_bytes: int,
    replace: bool = False,
    limits: workers.Limits | None = None,
) -> Added:
    """Write the file `name` into `docs` from `data`; refused if too large, of another type,
    unreadable under the reading `limits` (UnreadableUploadError), or (without `replace`)
    already there."""
    name = safe_name(name)
    if not Path(docs).is_dir():
        raise UploadError(f"the documents folder {docs} does not exist")
    path = _place(docs, name)
    if path.exists() and not replace:
        raise DocumentExistsError(f"{name} is already in the documents folder: replace it?")
    if path.is_dir():
        raise UploadError(f"{name} is a folder")
    content = _take(data, max_bytes, name)
    try:  # refuse now what the build would skip; parsed in a worker, never here
        make_document(name, path, workers.shared(limits).parse(path.suffix.lower(), content))
    except UnreadableError as e:
        raise UnreadableUploadError(f"{name} cannot be read: {e}") from e
    sweep_folder(path.parent)
    made: list[Path] = []
    temporary = path.with_name(f".upload-{uuid.uuid4().hex[:12]}-{path.name}")
    try:
        made = _make_folders(path.parent)  # (a file on the way: an OSError, said below)
        _write(temporary, content)
        existed = path.exists()
        if replace:
            os.replace(temporary, path)
        else:
            try:
                os.link(temporary, path)  # fails if it appeared meanwhile: never overwritten
            except FileExistsError:
                raise DocumentExistsError(
                    f"{name} is already in the documents folder: replace it?"
                ) from None
    except OSError as e:
        raise UploadError(f"cannot write {name} ({e.strerror or e})") from e
    finally:
        with suppress(OSError):
            temporary.unlink()
        if not path.exists():  # refused after all: the folders made for it go too
            _remove_folders(made)
    return Added(name, len(content), existed)


def _take(data: BinaryIO, max_bytes: int, name: str) -> bytes:
    """The upload's bytes (in memory: at most `max_bytes`, QA_MAX_UPLOAD_BYTES)."""
    chunks, size = [], 0
    while chunk := data.read(CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise UploadTooLargeError(
                f"{name} is too large (over {max_bytes:,} bytes, QA_MAX_UPLOAD_BYTES)"
            )
        chunks.append(chunk)
    if size == 0:
        raise UploadError(f"{name} is empty")
    return b"".join(chunks)


def _write(target: Path, content: bytes) -> None:
    with open(target, "xb") as out:
        out.write(content)
        out.flush()
        os.fsync(out.fileno())


def _make_folders(folder: Path) -> list[Path]:
    """Make `folder` and the folders above it that are missing; those made, outermost first."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    made = []
    try:
        for each in reversed(missing):
            each.mkdir()
            made.append(each)
    except OSError:
        _remove_folders(made)
        raise
    return made


def _remove_folders(made: list[Path]) -> None:
    """Remove the folders an upload made (innermost first) if they are still empty."""
    for folder in reversed(made):
        with suppress(OSError):
            folder.rmdir()


def sweep_folder(folder: Path, older_than: float = STALE_SECONDS) -> None:
    """Remove the hidden temporaries of uploads that a crash left in `folder`."""
    now = time.time()
    with suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            if _TEMPORARY.match(entry.name) and entry.is_file(follow_symlinks=False):
                with suppress(OSError):
                    if now - entry.stat(follow_symlinks=False).st_mtime > older_than:
                        os.unlink(entry.path)


def sweep(docs: Path) -> None:
    """Remove what crashed uploads left anywhere in the documents folder (at server start)."""
    for folder, _dirs, _files in os.walk(docs):
        sweep_folder(Path(folder))


def remove(docs: Path, name: str) -> None:
    """Delete the document file `name` from `docs` (a link is removed, not what it points at)."""
    name = safe_name(name)
    path = _place(docs, name)
    if not (path.is_file() or path.is_symlink()):
        raise DocumentNotFoundError(f"no file {name!r} in the documents folder")
    try:
        path.unlink()
    except OSError as e:
        raise UploadError(f"cannot delete {name} ({e.strerror or e})") from e


def files(docs: Path) -> list[StoredFile]:
    """The document files in `docs` (of the types indexed), sorted by name."""
    root = Path(docs)
    if not root.is_dir():
        return []
    found = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(p.startswith(".") for p in rel.parts) or path.suffix.lower() not in SUFFIXES:
            continue
        with suppress(OSError):
            stat = path.stat()
            if path.is_file():
                modified = datetime.fromtimestamp(stat.st_mtime, UTC)
                found.append(
                    StoredFile(rel.as_posix(), stat.st_size, modified.isoformat(timespec="seconds"))
                )
    return found
