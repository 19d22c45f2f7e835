"""Refusals: a file that broke a reading limit is not read again until it changes, and is listed."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from qa.workers import LimitError, Pool
from tests.hostile import self_drawing_pdf
from tests.test_admin import log_in
from tests.test_live import TOKEN
from web.app import create_app

GOOD = "River otters hold hands while they sleep so that they do not drift apart.\n"
LIMITED = {"read_seconds": 1.0, "read_workers": 2}  # pdfium needs seconds for the hostile PDF
REASON = "reading took over 1 s (QA_READ_SECONDS)"


def test_a_file_that_broke_a_limit_is_skipped_remembered_and_listed(
    make_engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(
        {"good.txt": GOOD, "scans/x.pdf": self_drawing_pdf()}, admin_token=TOKEN, **LIMITED
    )
    plan = engine.build()
    assert plan.added == ["good.txt"]
    assert [str(s) for s in plan.skipped] == [f"skipped scans/x.pdf: {REASON}"]  # `qa index`
    assert engine.health()["refused"] == [{"id": "scans/x.pdf", "reason": REASON}]

    parsed = []
    real = Pool.parse_all
    monkeypatch.setattr(
        Pool,
        "parse_all",
        lambda pool, files: parsed.extend(f[0] for f in files) or real(pool, files),
    )
    started = time.monotonic()
    plan = engine.build()  # what --watch does after each change in the folder
    assert time.monotonic() - started < 1 and parsed == []  # not read again
    assert [str(s) for s in plan.skipped] == [
        f"skipped scans/x.pdf: {REASON} (not read again until it changes)"
    ]
    client = TestClient(create_app(engine))
    health = client.get("/health").json()
    assert health["refused"] == [{"id": "scans/x.pdf", "reason": REASON}]
    log_in(client)
    assert f"not read: {REASON}" in client.get("/admin").text

    (engine.settings.docs / "scans/x.pdf").write_bytes(self_drawing_pdf() + b"\n")  # changed
    engine.build()
    assert parsed == [".pdf"]  # read again, refused again

    (engine.settings.docs / "scans/x.pdf").unlink()
    engine.build()
    assert engine.health()["refused"] == []


def test_other_limits_or_a_full_rebuild_read_a_refused_file_again(
    make_engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    from qa.engine import Engine

    engine = make_engine({"good.txt": GOOD, "x.pdf": self_drawing_pdf()}, **LIMITED)
    engine.build()
    parsed = []
    real = Pool.parse_all

    def parse_all(pool: Pool, files: list[tuple[str, bytes]]) -> list:
        parsed.extend(suffix for suffix, _ in files)
        return [LimitError("stopped") if s == ".pdf" else real(pool, [(s, d)])[0] for s, d in files]

    monkeypatch.setattr(Pool, "parse_all", parse_all)
    engine.build()
    assert parsed == []
    engine.build(full=True)
    assert sorted(parsed) == [".pdf", ".txt"]
    parsed.clear()
    longer = Engine(replace(engine.settings, read_seconds=2.0), engine.embedder)
    longer.build()
    assert parsed == [".pdf"]
