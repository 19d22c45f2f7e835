"""Workers: hostile files break a limit in a worker process, never the build or the server."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from qa.documents import load_documents
from qa.readers.blocks import UnreadableError
from qa.workers import LimitError, Limits, Pool
from tests.conftest import write
from tests.hostile import (
    docx_bomb,
    emphasis_markdown,
    inflating_pdf,
    nested_html,
    self_drawing_pdf,
    wide_table_markdown,
)
from tests.test_documents import make_pdf
from tests.test_rebuilder import until

GOOD = "River otters hold hands while they sleep so that they do not drift apart."
SLOW = self_drawing_pdf()  # pdfium draws it for seconds, until it runs out of memory


@pytest.fixture
def pool():
    pool = Pool(Limits(memory_mb=400, seconds=3, workers=2))
    yield pool
    pool.close()


def pids(pool: Pool) -> set[int]:
    return {w.process.pid for w in pool._idle}


def test_hostile_files_are_skipped_with_their_reason_and_every_good_file_is_read(
    tmp_path: Path, pool: Pool
) -> None:
    hostile = {
        "self-drawing.pdf": self_drawing_pdf(),  # pdfium: std::bad_alloc, SIGABRT
        "inflating.pdf": inflating_pdf(0.5),  # a content stream of 512 MB
        "bomb.docx": docx_bomb(0.06),  # 480 MB inflated
        "emphasis.md": emphasis_markdown(0.2),
        "wide-table.md": wide_table_markdown(),
    }
    for name, data in hostile.items():
        write(tmp_path, f"bad/{name}", data)
    write(tmp_path, "nested.html", nested_html())  # hostile once, now read in linear time
    write(tmp_path, "good.txt", GOOD)
    write(tmp_path, "good.pdf", make_pdf("Sea otters use stones as tools to open shells."))
    started = time.monotonic()
    documents, skipped = load_documents(tmp_path, pool=pool)
    assert sorted(d.id for d in documents) == ["good.pdf", "good.txt", "nested.html"]
    reasons = {s.id: s.reason for s in skipped}
    assert set(reasons) == {f"bad/{name}" for name in hostile}
    for name, reason in reasons.items():  # (Markdown and DOCX input is capped before parsing)
        assert (
            "reading needed over 400 MB" in reason
            or "reading took over 3 s" in reason
            or (name.endswith((".md", ".docx")) and "; the limit is " in reason)
        ), (name, reason)
    assert all(s.sha256 for s in skipped if "QA_READ" in s.reason)  # remembered by hash
    assert time.monotonic() - started < 40  # 6 files, at most 3 s each, 2 at a time (+ margin)


def test_a_file_over_the_memory_limit_names_the_limit() -> None:
    pool = Pool(Limits(memory_mb=256, seconds=60, workers=1))
    try:  # pdfium aborts (SIGABRT) without a word when an allocation fails: its peak tells
        with pytest.raises(LimitError, match=r"^reading needed over 256 MB \(QA_READ_MEMORY_MB\)$"):
            pool.parse(".pdf", self_drawing_pdf())
        assert pool.parse(".txt", GOOD.encode()).blocks[0].text == GOOD  # a fresh worker goes on
    finally:
        pool.close()


def test_a_slow_file_is_stopped_at_the_time_limit_and_its_worker_replaced(tmp_path: Path) -> None:
    pool = Pool(Limits(seconds=0.5, workers=1))
    try:
        pool.parse(".txt", b"warm up")
        (before,) = pids(pool)
        started = time.monotonic()
        with pytest.raises(LimitError, match=r"^reading took over 0.5 s \(QA_READ_SECONDS\)$"):
            pool.parse(".pdf", SLOW)
        assert time.monotonic() - started < 3
        with pytest.raises(ProcessLookupError):
            os.kill(before, 0)  # killed and reaped
        assert pool.parse(".txt", GOOD.encode()).blocks[0].text == GOOD
    finally:
        pool.close()


def test_too_much_text_is_refused_at_the_output_limit() -> None:
    pool = Pool(Limits(text_mb=1, workers=1))
    try:
        with pytest.raises(LimitError, match=r"its text is over 1 MB \(QA_READ_TEXT_MB\): split"):
            pool.parse(".txt", b"word " * 300_000)
        assert pool.parse(".txt", b"word " * 100_000).blocks
    finally:
        pool.close()


def test_a_worker_that_crashes_is_named_and_replaced() -> None:
    pool = Pool(Limits(seconds=30, workers=1))
    pool.start()
    (worker,) = pids(pool)
    crashed: list[BaseException] = []

    def parse() -> None:
        try:
            pool.parse(".pdf", SLOW)
        except UnreadableError as e:
            crashed.append(e)

    thread = threading.Thread(target=parse)
    thread.start()
    try:
        assert until(lambda: not pool._idle, 10)  # it is reading the file
        time.sleep(0.2)
        os.kill(worker, signal.SIGSEGV)  # what a reader's bug in C does
        thread.join(10)
        assert [str(e) for e in crashed] == ["the reader crashed (SIGSEGV)"]
        assert isinstance(crashed[0], LimitError)
        assert pool.parse(".txt", GOOD.encode()).blocks[0].text == GOOD
    finally:
        pool.close()


def test_a_worker_killed_while_idle_is_not_blamed_on_the_next_file(pool: Pool) -> None:
    pool.parse(".txt", b"warm up")
    for pid in pids(pool):
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    assert pool.parse(".txt", GOOD.encode()).blocks[0].text == GOOD


def test_workers_are_reused_run_in_parallel_and_never_load_torch(
    tmp_path: Path, pool: Pool
) -> None:
    for i in range(20):
        write(tmp_path, f"{i:02}.pdf", make_pdf(f"Otter fact number {i}."))
    pool.start()
    started = pids(pool)
    assert len(started) == 2
    documents, skipped = load_documents(tmp_path, pool=pool)
    assert len(documents) == 20 and not skipped
    assert pids(pool) == started  # the same two processes read all 20 files
    for pid in started:
        maps = Path(f"/proc/{pid}/maps").read_text()
        assert "pdfium" in maps and "torch" not in maps

    two_at_once = []
    threads = [threading.Thread(target=lambda: two_at_once.append(slow(pool))) for _ in range(2)]
    clock = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert time.monotonic() - clock < 1.6 * max(two_at_once)  # side by side, not one after another


def slow(pool: Pool) -> float:
    started = time.monotonic()
    with pytest.raises(LimitError):
        pool.parse(".pdf", SLOW)  # each stopped at a limit (3 s, or 400 MB)
    return time.monotonic() - started


def test_a_reader_error_is_a_reason_not_a_limit(pool: Pool) -> None:
    with pytest.raises(UnreadableError, match="binary") as caught:
        pool.parse(".txt", b"\x00\x01binary")
    assert not isinstance(caught.value, LimitError)
