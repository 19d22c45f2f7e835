"""Files: read a document's bytes only from inside the documents folder, bounded in size and time.

Every source file is read through `read_confined`, so these hold for every build (`qa index`,
`--watch`, `POST /api/index`):
- only a file whose real path (every link resolved) lies inside the documents folder is read: a
  link to /etc/passwd, ../../secret or /proc/self/status is refused, not followed;
- only a regular file is read: a FIFO, socket or device is refused without blocking (it is opened
  with O_NONBLOCK, and checked again on the opened descriptor, so a swap in between is caught);
- at most `max_bytes` + 1 bytes are read whatever `stat` says (/proc files and devices say 0),
  and a read that takes longer than `max_seconds` is abandoned.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

CHUNK_BYTES = 1 << 20
READ_SECONDS = 30.0  # a local disk reads 64 MB in well under a second; a stuck mount never ends
# open() flags: never block (a FIFO with no writer), never follow a link swapped in after the
# check, never make a terminal our controlling one, never leak the descriptor to a child.
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
)
_KINDS = {
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a folder",
}


class RefusedError(Exception):
    """A file that is not read; the message is the one-line reason."""


def real_folder(folder: Path) -> str:
    """The real path of the documents folder: the boundary no read may leave."""
    return os.path.realpath(folder)


def inside(path: str, root: str) -> bool:
    """Whether the real path `path` is `root` or lies under it."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def size_text(n: int) -> str:
    return f"{n / 2**20:,.1f} MB" if n >= 2**20 else f"{n:,} bytes"


def too_large(size: int | None, max_bytes: int) -> RefusedError:
    shown = size_text(size) if size is not None else f"over {size_text(max_bytes)}"
    return RefusedError(f"too large ({shown}; the limit is {size_text(max_bytes)}): split it")


def _check_regular(mode: int) -> None:
    if not stat.S_ISREG(mode):
        kind = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
        raise RefusedError(f"not a regular file ({kind}): not read")


def read_confined(
    path: Path, root: str, max_bytes: int, max_seconds: float = READ_SECONDS
) -> bytes:
    """The bytes of `path`, a regular file inside the real folder `root`; else RefusedError."""
    try:
        real = os.path.realpath(path, strict=True)
    except OSError as e:
        raise RefusedError(f"cannot read ({e.strerror or e})") from e
    if not inside(real, root):
        raise RefusedError("a link to a file outside the documents folder: not read")
    try:
        before = os.stat(real)  # (no link left to follow): refuse a FIFO before opening it
        _check_regular(before.st_mode)
        if before.st_size > max_bytes:
            raise too_large(before.st_size, max_bytes)
        fd = os.open(real, _OPEN_FLAGS)
    except OSError as e:
        raise RefusedError(f"cannot read ({e.strerror or e})") from e
    try:
        opened = os.fstat(fd)  # what was opened, not what the path named a moment earlier
        _check_regular(opened.st_mode)
        where = _opened_path(fd)  # a folder on the way swapped for a link after the check
        if where is not None and not inside(where, root):
            raise RefusedError("a link to a file outside the documents folder: not read")
        return _read_bounded(fd, max_bytes, max_seconds)
    except OSError as e:
        raise RefusedError(f"cannot read ({e.strerror or e})") from e
    finally:
        os.close(fd)


def _opened_path(fd: int) -> str | None:
    """The path the kernel gives the open file (Linux), or None where that is unknown."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None


def _read_bounded(fd: int, max_bytes: int, max_seconds: float) -> bytes:
    """At most max_bytes from `fd`, in chunks, within max_seconds; RefusedError past either."""
    deadline = time.monotonic() + max_seconds
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = os.read(fd, min(CHUNK_BYTES, max_bytes + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:  # a file that grew, or one whose stat lies (/proc, devices)
            raise too_large(None, max_bytes)
        if time.monotonic() > deadline:
            raise RefusedError(f"reading took longer than {max_seconds:.0f} s: not read")
