"""Merge: fold the delta segment of a version into a new base, published like any version.

Building the new base (an HNSW graph over every vector: minutes at 100k paragraphs) runs without
the build lock, from the version in use (and so does folding its lexical delta into a new
lexical base), so builds go on meanwhile (an edited file does not
wait for the merge). Only then is the lock taken: the version current by now (the same one,
or a later build's) is published again over the new base, its rows taking the new base's
vectors by text hash and the few rows added since going into its delta. The switch is the
atomic `current` rename every build uses: a request in flight finishes on the version it
started with, the next one is answered from the merged version.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime

from qa.errors import IndexBusyError
from qa.lexical_segments import LexicalSegments
from qa.store import segments
from qa.store.index import Index
from qa.store.local import BuildLock, Store, version_name

LOCK_WAIT_SECONDS = 600.0  # a merge waits this long for a running build to finish


def merge(store: Store, index: Index, model: str) -> Index:
    """Publish a version of the current index whose base holds every vector of `index` (the
    version in use), with no delta or tombstones from it; returns that version."""
    d = index.passages.d
    kinds = ("passage", "sentence")
    bases = {kind: segments.fresh(getattr(index, f"{kind}s").all(), d) for kind in kinds}
    lexical = index.lexical.folded() if isinstance(index.lexical, LexicalSegments) else None
    with _lock(store):
        current = index if store.current() == index.version else store.load(model, d)
        created = datetime.now(UTC)
        name = version_name(created)
        parts = {}
        for kind, base in bases.items():
            available = segments.live(base, getattr(index, f"{kind}_hash"))
            old, hashes = getattr(current, f"{kind}s"), list(getattr(current, f"{kind}_hash"))
            parts[f"{kind}s"] = segments.over(base, available, hashes, old.rows)
        if current is index and lexical is not None:  # (a later build's keeps its own delta)
            parts["lexical"] = lexical
        merged = replace(
            current,
            manifest={
                **current.manifest,
                "version": name,
                "created": created.isoformat(timespec="seconds"),
                "base": name,
            },
            by_document={},
            **parts,
        )
        store.publish(merged)
    return merged


@contextmanager
def _lock(store: Store) -> Iterator[None]:
    """The build lock, waited for (a build holds it for seconds, a full one for minutes)."""
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            with BuildLock(store.lock_path):
                yield
            return
        except IndexBusyError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
