"""Refusals: the files whose reading broke a limit, remembered by the hash of their bytes.

Such a file costs its whole limit (a minute, 1.5 GB) each time it is read, so it is not read
again until its bytes change (or the limits do): every build, `--watch` included, skips it at
once with the same reason. The list is `<index>/refused.json`, rewritten by each build with the
refused files it saw, so it also tells /admin, /health and `qa index` which files are refused.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from qa.documents import Skipped
from qa.workers import NOT_AGAIN, Limits

FILE = "refused.json"


def remembered(index: Path, limits: Limits) -> dict[str, str]:
    """hash -> reason of the files refused under these `limits` (others are read again)."""
    return {r["sha256"]: r["reason"] for r in _records(index) if r.get("limits") == limits.key()}


def listed(index: Path) -> list[dict[str, str]]:
    """The refused files of the last build: [{"id", "reason"}], by id."""
    return sorted(({"id": r["id"], "reason": r["reason"]} for r in _records(index)),
                  key=lambda r: r["id"])  # fmt: skip


def remember(index: Path, skipped: list[Skipped], limits: Limits) -> None:
    """Keep the refused files among `skipped` (those with a hash), in place of the last list."""
    records = [
        {"id": s.id, "sha256": s.sha256, "reason": s.reason.removesuffix(NOT_AGAIN),
         "limits": limits.key()}
        for s in skipped
        if s.sha256
    ]  # fmt: skip
    path = Path(index) / FILE
    if not records and not path.exists():
        return
    temporary = path.with_name(f".{FILE}.tmp")
    temporary.write_text(json.dumps(records, indent=1), encoding="utf-8")
    os.replace(temporary, path)  # one step: a reader sees the old list or the new one


def _records(index: Path) -> list[dict[str, str]]:
    try:
        records = json.loads((Path(index) / FILE).read_text(encoding="utf-8"))
        return [r for r in records if {"id", "sha256", "reason"} <= set(r)]
    except (OSError, ValueError, TypeError, AttributeError):
        return []  # none yet, or damaged: every file is read (and judged) again
