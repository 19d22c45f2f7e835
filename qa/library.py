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
import stat
import time
import unicodedata
import uuid
from collections.abc import Iterator
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
    NameConflictError,
    UnreadableUploadError,
    UploadError,
    UploadTooLargeError,
)
from qa.files import inside, real_folder
from qa.lookalike import invisible, skeleton

MAX_NAME_BYTES = 255  # per folder or file name, as most file systems allow
MAX_DEPTH = 8  # folders in a name
CHUNK = 1 << 16
# The hidden name of a file being added (".upload-<hex>.pdf"; "-name.pdf" before names of 255
# bytes were allowed).
_TEMPORARY = re.compile(r"\.upload-[0-9a-f]{12}(?:[.-]|$)")
STALE_SECONDS = 60.0  # a temporary this old was left by a crash (writing one takes moments)


@dataclass(frozen=True)
class StoredFile:
    name: str  # relative to the documents folder, with '/'
    bytes: int | None  # None for a skipped entry: nothing about what a link points at
    modified: str | None  # ISO 8601, UTC
    skipped: str | None = None  # why the build does not read it (a link, not a regular file)


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
        if "\\" in part:
            raise UploadError(f"the name {name!r} has a backslash")
        if hidden := invisible(part):
            raise UploadError(
                f"the name {name!r} has a control or invisible character ({hidden}): rename it"
            )
        if len(part.encode("utf-8")) > MAX_NAME_BYTES:
            raise UploadError(
                f"the name {name[:40]!r}… is too long: {len(part.encode()):,} bytes in one part, "
                f"at most {MAX_NAME_BYTES} bytes per file or folder name"
            )
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
    _check_place(docs, name)
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
    # Only the type of the upload in its temporary name: a 255-byte name still fits.
    temporary = path.with_name(f".upload-{uuid.uuid4().hex[:12]}{path.suffix}")
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


def _check_place(docs: Path, name: str) -> None:
    """NameConflictError if a folder of `name` is a file, or if `name` (or one of its folders)
    looks like another name in `docs` (UTS #39 skeletons). Two ASCII names are told apart by
    anyone (`modern.txt` beside `modem.txt`): look-alikes need a character of another script."""
    parts = name.split("/")
    for depth in range(1, len(parts)):
        folder = Path(docs, *parts[:depth])
        if folder.exists() and not folder.is_dir():
            raise NameConflictError(
                f"{'/'.join(parts[:depth])} is a file, so it cannot hold {'/'.join(parts[depth:])}"
            )
    wanted = {skeleton(p): p for p in ("/".join(parts[: d + 1]) for d in range(len(parts)))}
    for other in _names(Path(docs)):
        mine = wanted.get(skeleton(other))
        if mine is not None and mine != other and not (mine + other).isascii():
            raise NameConflictError(
                f"{name!r} looks like {other!r}, which is already in the documents folder "
                "(they differ only by look-alike characters): choose another name"
            )


def _names(root: Path) -> list[str]:
    """Every file and folder name under `root` (relative, '/'-separated)."""
    return [Path(e.path).relative_to(root).as_posix() for e in _entries(root)]


def _entries(root: Path) -> Iterator[os.DirEntry[str]]:
    """Every entry under `root` but hidden ones; only real folders are entered (never a link),
    and nothing is asked of an entry but its own lstat."""
    folders = [str(root)]
    while folders:
        with suppress(OSError), os.scandir(folders.pop()) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    folders.append(entry.path)
                yield entry


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
    """The entries of `docs` named like documents (of the types indexed), sorted by name. Facts
    come from lstat only: a link is listed as skipped, and nothing is learnt of its target."""
    root = Path(docs)
    if not root.is_dir():
        return []
    found = []
    for entry in _entries(root):
        path = Path(entry.path)
        if path.suffix.lower() in SUFFIXES and not entry.is_dir(follow_symlinks=False):
            with suppress(OSError):
                found.append(
                    _stored(path.relative_to(root).as_posix(), entry.stat(follow_symlinks=False))
                )
    return sorted(found, key=lambda f: f.name)


def _stored(name: str, facts: os.stat_result) -> StoredFile:
    if stat.S_ISLNK(facts.st_mode):
        return StoredFile(name, None, None, "a link: not read")
    if not stat.S_ISREG(facts.st_mode):
        return StoredFile(name, None, None, "not a regular file: not read")
    modified = datetime.fromtimestamp(facts.st_mtime, UTC).isoformat(timespec="seconds")
    return StoredFile(name, facts.st_size, modified)
