"""Stamps: what lstat said of each document file when its bytes were last hashed.

An update build at 100k documents spent most of its time reading and hashing files that had not
changed (31 s of 71 s). A file whose stamp (size, mtime, ctime, inode, device, as lstat gives
them) is the one recorded when its bytes hashed to what the index holds is taken as unchanged
without being opened; any difference (an edit, a touch, a copy over it, a chmod) has it read
and hashed again as before, and the same bytes still count as unchanged. ctime cannot be set
from user space, so even a tool that restores the old mtime after writing is caught. Only
regular files are stamped: a link is always read (its target may change under the same link).
`qa index --full` reads everything.

The stamps are `<index>/stamps.json`, a cache beside the versions: rewritten in one step when
they change, and a missing or damaged file only means every document is read again. A process
keeps the records it last read or wrote while that file stays the same (a server, `--watch`):
at 100k files, reading them back took ~0.4 s of every update.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

import orjson

FILE = "stamps.json"
# A file changed within this long of its stat may change again within the same clock tick of
# the file system (mtime granularity is a few ms) without its stamp changing: not recorded,
# so it is read again next time ("racily clean", as git calls it).
SETTLE_SECONDS = 2.0

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


Records = dict[str, tuple[Stamp, str]]
# The stamps file last read or written by this process, as (its path and lstat, its records).
# (Replaced whole, in one assignment: a build in another thread sees the old or the new.)
_kept: tuple[tuple[object, ...], Records] | None = None


def _identity(path: Path) -> tuple[object, ...]:
    """What tells one stamps file from another: each write replaces it (a new inode, new times)."""
    facts = os.lstat(path)
    return (
        str(path),
        facts.st_ino,
        facts.st_dev,
        facts.st_size,
        facts.st_mtime_ns,
        facts.st_ctime_ns,
    )


def recorded(index: Path) -> Records:
    """id -> (stamp, hash of the bytes) of the files stamped by the last build (read-only: it
    may be the mapping this process keeps)."""
    global _kept
    path = Path(index) / FILE
    try:
        identity = _identity(path)
        kept = _kept
        if kept is not None and kept[0] == identity:
            return kept[1]
        records = {i: (tuple(s), sha) for i, (s, sha) in orjson.loads(path.read_bytes()).items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}  # none yet, or damaged: every file is read again
    _kept = (identity, records)
    return records


def remember(
    index: Path,
    stamped: Iterable[tuple[str, Stamp | None, str]],
    before: Mapping[str, tuple[Stamp, str]],
) -> None:
    """Keep the (id, stamp, hash) of the files this build read or stamped, if they differ from
    those recorded `before`."""
    global _kept
    known = {doc_id: (s, sha) for doc_id, s, sha in stamped if s is not None}
    if known == before:
        return
    path = Path(index) / FILE
    temporary = path.with_name(f".{FILE}.tmp")
    try:
        temporary.write_bytes(orjson.dumps(known))  # {id: [stamp, sha256]}
        os.replace(temporary, path)  # one step: a reader sees the old stamps or the new
        _kept = (_identity(path), known)
    except (OSError, TypeError):
        pass  # a cache: without it the next build reads every file, as it would anyway


def unchanged(
    listed: Iterable[tuple[str, Stamp | None]],
    known: Mapping[str, str],
    records: Mapping[str, tuple[Stamp, str]],
) -> list[bool]:
    """Per (id, stamp now) of `listed`: whether the stamp proves the file still holds bytes
    hashing to `known[id]`, the hash the index holds (one pass over 100k files)."""
    missing = (None, None)
    out = []
    for doc_id, now in listed:
        stamp_then, sha = records.get(doc_id, missing)
        out.append(now is not None and now == stamp_then and sha == known.get(doc_id))
    return out
