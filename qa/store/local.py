"""Local files: the index folder, which version is current, and switching to a new one atomically.

Layout of the index folder:
    current            name of the version in use (replaced atomically)
    versions/<name>/   one complete version (qa/store/index.py: manifest.json, table/,
                       passages.faiss, sentences.faiss, lexical.npz)
    versions/.<name>.tmp/  a version being written (removed if that fails, or by the next build)
    .lock              held by the one build allowed at a time
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from contextlib import suppress
from datetime import datetime
from pathlib import Path

import numpy as np

from qa.errors import IndexCorruptError, IndexMissingError, IndexWriteError
from qa.store import segments
from qa.store.format import FIX, fsync
from qa.store.index import Index
from qa.store.segments import Segments


class Store:
    """The index folder: which version is current, and switching to a new one atomically."""

    segmented = True  # a build may keep the previous base and add a delta (segments.py)

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.versions = self.root / "versions"
        self.pointer = self.root / "current"
        self.lock_path = self.root / ".lock"

    def current(self) -> str | None:
        try:
            name = self.pointer.read_text("utf-8").strip()
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:  # ValueError: not UTF-8
            raise IndexCorruptError(f"cannot read {self.pointer} ({e}): {FIX}") from e
        if name and not _VERSION_NAME.fullmatch(name):  # never a path out of versions/
            raise IndexCorruptError(f"{self.pointer} does not name an index version: {FIX}")
        return name or None

    def current_folder(self) -> Path:
        name = self.current()
        if name is None:
            raise IndexMissingError(
                f"no index in {self.root} yet: run `qa index` to build it from your documents"
            )
        folder = self.versions / name
        if not folder.is_dir():
            raise IndexCorruptError(f"the current index version {name} is missing: {FIX}")
        return folder

    def load(self, model: str, dimension: int | None = None) -> Index:
        return Index.load(self.current_folder(), model, dimension)

    def fresh(self, vectors: np.ndarray, dimension: int) -> Segments:
        """A new base over `vectors` (what a full build makes)."""
        return segments.fresh(vectors, dimension)

    def publish(self, index: Index) -> None:
        """Write `index` as a new version and make it current in one atomic step.

        IndexWriteError if any write fails (disk full, no permission; FAISS reports those as
        RuntimeError): the previous version stays current and nothing half-written is left.
        """
        name = index.version
        staging = self.versions / f".{name}.tmp"
        switched = False
        try:
            self.versions.mkdir(parents=True, exist_ok=True)
            index.save(staging)
            os.replace(staging, self.versions / name)
            index.locate(self.versions / name)
            fsync(self.versions)
            tmp = self.root / ".current.tmp"
            tmp.write_text(name + "\n", "utf-8")
            fsync(tmp)
            os.replace(tmp, self.pointer)  # the switch: readers see the old or the new, never half
            switched = True
            fsync(self.root)
        except (OSError, RuntimeError, MemoryError) as e:
            if not switched:  # (after the switch only an fsync failed: the new version is in use)
                for leftover in (staging, self.versions / name, self.root / ".current.tmp"):
                    _remove(leftover)
                raise IndexWriteError(
                    f"cannot write the index: the new version could not be saved in {self.root} "
                    f"({_reason(e)}); the previous index is still in use: "
                    "free disk space (or fix the folder's permissions), then run `qa index` again"
                ) from e
        self.clean()

    def clean(self) -> None:
        """Remove every version but the current one, and leftovers of killed or failed builds
        (staging folders, a pointer never switched to). Call it holding the build lock."""
        try:
            keep = self.current()
        except IndexCorruptError:
            return  # which version is current is unknown: remove nothing
        _remove(self.root / ".current.tmp")
        for folder in self.versions.iterdir() if self.versions.is_dir() else []:
            if folder.name != keep:
                _remove(folder)


def _reason(error: BaseException) -> str:
    """The readable part of a write error: its strerror, or the one FAISS puts last in brackets
    ("Error in void faiss::write_index(...) ...: 4051 != 16000 (No space left on device)")."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    last = re.search(r"\(([^()]+)\)\s*$", str(error))
    return last.group(1) if last else (str(error) or type(error).__name__)[:200]


_VERSION_NAME = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]*")


def version_name(created: datetime) -> str:
    """A new version's name: sortable by creation time, unique by a random suffix."""
    return created.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]


def _remove(path: Path) -> None:
    """Remove a file or folder if it is there; never fails (a later build tries again)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with suppress(OSError):
            path.unlink(missing_ok=True)


class BuildLock:
    """Exclusive lock for one build at a time. flock dies with its process: no stale locks."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def __enter__(self) -> BuildLock:
        import fcntl

        from qa.errors import IndexBusyError, IndexWriteError

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise IndexWriteError(
                f"cannot write to the index folder {self.path.parent} ({e.strerror}); "
                "fix its permissions or choose another with --index / QA_INDEX"
            ) from e
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            self._fd = None
            raise IndexBusyError(
                f"another build is running on {self.path.parent} (it holds {self.path}); "
                "wait for it to finish"
            ) from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the lock
            self._fd = None
