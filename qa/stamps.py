"""Stamps: what lstat said of each document file when its bytes were last hashed.

An update build at 100k documents spent most of its time reading and hashing files that had not
changed (31 s of 71 s). A file whose stamp (size, mtime, ctime, inode, device, as lstat gives
them) is the one recorded when its bytes hashed to what the index holds is taken as unchanged
without being opened; any difference (an edit, a touch, a copy over it, a chmod) has it read
and hashed again as before, and the same bytes still count as unchanged. ctime cannot be set
from user space, so even a tool that restores the old mtime after writing is caught. Only
regular files are stamped: a link is always read (its target may change under the same link).
`qa index --full` reads everything.

The stamps are `<index>/stamps.npz`, a cache beside the versions: arrays, not JSON (at 100k
files a 7 MB JSON took ~0.7 s to read and write back at every update), rewritten in one step
when they change; a missing or damaged file only means every document is read again.
"""

from __future__ import annotations

import os
import stat
import time
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

FILE = "stamps.npz"
OLD_FILE = "stamps.json"  # (the same records as JSON, from before: removed when FILE is written)
# A file changed within this long of its stat may change again within the same clock tick of
# the file system (mtime granularity is a few ms) without its stamp changing: not recorded,
# so it is read again next time ("racily clean", as git calls it).
SETTLE_SECONDS = 2.0
HASH_CHARS = 64  # a hex sha256

Stamp = tuple[int, int, int, int, int]


def of(facts: os.stat_result, now: float) -> Stamp | None:
    """The stamp in `facts` (an lstat taken at `now`) if they are a regular file's, settled."""
    if not stat.S_ISREG(facts.st_mode):
        return None
    if now - max(facts.st_mtime_ns, facts.st_ctime_ns) / 1e9 < SETTLE_SECONDS:
        return None
    return (facts.st_size, facts.st_mtime_ns, facts.st_ctime_ns, facts.st_ino, facts.st_dev)


def stamp(path: Path | str) -> Stamp | None:
    """The stamp of `path` if it is a regular file (its own lstat: no link followed)."""
    try:
        return of(os.lstat(path), time.time())
    except OSError:
        return None


def recorded(index: Path) -> dict[str, tuple[Stamp, str]]:
    """id -> (stamp, hash of the bytes) of the files stamped by the last build."""
    try:
        with np.load(Path(index) / FILE, allow_pickle=False) as data:
            names, times, places, hashes = (data[k] for k in ("ids", "times", "places", "hashes"))
        # Ids never hold a newline (documents.discover refuses control characters in names).
        ids = names.tobytes().decode("utf-8").split("\n") if len(times) else []
        text = hashes.tobytes().decode("ascii")
        if not len(ids) == len(times) == len(places) == len(text) // HASH_CHARS:
            return {}
        stamps = [(*t, *p) for t, p in zip(times.tolist(), places.tolist(), strict=True)]
        shas = (text[i : i + HASH_CHARS] for i in range(0, len(text), HASH_CHARS))
        return dict(zip(ids, zip(stamps, shas)))
    except (OSError, ValueError, TypeError, KeyError, EOFError, zipfile.BadZipFile):
        return {}  # none yet, or damaged: every file is read again


def remember(
    index: Path,
    stamped: Iterable[tuple[str, Stamp | None, str]],
    before: Mapping[str, tuple[Stamp, str]],
) -> None:
    """Keep the (id, stamp, hash) of the files this build read or stamped, if they differ from
    those recorded `before`."""
    known = {doc_id: (s, sha) for doc_id, s, sha in stamped if s is not None}
    if known == before:
        return
    values = list(known.values())
    arrays = {
        "ids": np.frombuffer("\n".join(known).encode("utf-8"), dtype=np.uint8),
        # size, mtime and ctime may be negative (a file dated before 1970); inode and device are
        # unsigned and may pass 2**63.
        "times": np.array([s[:3] for s, _ in values], dtype=np.int64).reshape(-1, 3),
        "places": np.array([s[3:] for s, _ in values], dtype=np.uint64).reshape(-1, 2),
        "hashes": np.frombuffer("".join(sha for _, sha in values).encode("ascii"), np.uint8),
    }
    path = Path(index) / FILE
    temporary = path.with_name(f".{FILE}.tmp")
    try:
        with open(temporary, "wb") as f:
            np.savez(f, **arrays)
        os.replace(temporary, path)  # one step: a reader sees the old stamps or the new
        (Path(index) / OLD_FILE).unlink(missing_ok=True)
    except (OSError, ValueError, OverflowError):
        pass  # a cache: without it the next build reads every file, as it would anyway


def unchanged(
    doc_id: str, now: Stamp | None, known: str, stamps: Mapping[str, tuple[Stamp, str]]
) -> bool:
    """Whether the stamp `now` of a file proves it still holds bytes hashing to `known`."""
    entry = stamps.get(doc_id)
    return bool(known) and entry is not None and entry[1] == known and now == entry[0]
