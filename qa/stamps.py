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
they change, and a missing or damaged file only means every document is read again.
"""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

FILE = "stamps.json"
# A file changed within this long of its stat may change again within the same clock tick of
# the file system (mtime granularity is a few ms) without its stamp changing: not recorded,
# so it is read again next time ("racily clean", as git calls it).
SETTLE_SECONDS = 2.0

Stamp = tuple[int, int, int, int, int]


def stamp(path: Path) -> Stamp | None:
    """The stamp of `path` if it is a regular file (its own lstat: no link followed)."""
    try:
        facts = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISREG(facts.st_mode):
        return None
    latest = max(facts.st_mtime_ns, facts.st_ctime_ns) / 1e9
    if time.time() - latest < SETTLE_SECONDS:
        return None
    return (facts.st_size, facts.st_mtime_ns, facts.st_ctime_ns, facts.st_ino, facts.st_dev)


def recorded(index: Path) -> dict[str, tuple[Stamp, str]]:
    """id -> (stamp, hash of the bytes) of the files stamped by the last build."""
    try:
        records = json.loads((Path(index) / FILE).read_text(encoding="utf-8"))
        return {r[0]: (tuple(r[1:6]), r[6]) for r in records}
    except (OSError, ValueError, TypeError, IndexError, KeyError):
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
    records = [[doc_id, *s, sha] for doc_id, (s, sha) in sorted(known.items())]
    path = Path(index) / FILE
    temporary = path.with_name(f".{FILE}.tmp")
    try:
        temporary.write_text(json.dumps(records, separators=(",", ":")), encoding="utf-8")
        os.replace(temporary, path)  # one step: a reader sees the old stamps or the new
    except OSError:
        pass  # a cache: without it the next build reads every file, as it would anyway


def unchanged(
    doc_id: str, path: Path, known: str, stamps: Mapping[str, tuple[Stamp, str]]
) -> Stamp | None:
    """The stamp of `path` if it proves the file still holds bytes hashing to `known`."""
    entry = stamps.get(doc_id)
    if not known or entry is None or entry[1] != known:
        return None
    now = stamp(path)
    return now if now is not None and now == entry[0] else None
