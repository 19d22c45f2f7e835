"""The Rebuilder: background builds, one at a time, and an engine that follows the newest index."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from qa.engine import Engine
from qa.errors import IndexBusyError
from qa.rebuilder import Rebuilder

DOCS = {
    "cats.txt": "Cats sleep for most of the day and hunt at dusk.\n\n"
    "A cat purrs when it is content and sometimes when it is hurt.\n",
    "volcanoes.md": "Volcanoes erupt when pressure in the magma chamber grows too large.\n",
}
ZEBRAS = "Zebras cross the Mara river every year in the great migration.\n"
OWLS = "Owls hunt mice at night on silent feathers.\n"


def until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll `condition` until it holds; False if it did not within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def found(engine: Engine, document: str, query: str) -> bool:
    return any(p.document == document for p in engine.search(query, k=3))


@pytest.fixture
def engine(make_engine) -> Engine:
    engine = make_engine(DOCS)
    engine.build()
    return engine


@pytest.fixture
def rebuilder(engine: Engine):
    rebuilder = Rebuilder(engine, poll_seconds=0.1, debounce_ms=200)
    yield rebuilder
    rebuilder.stop()
    rebuilder.wait()


def test_a_background_build_indexes_a_new_document_and_swaps(
    engine: Engine, rebuilder: Rebuilder
) -> None:
    before = engine.index.version
    assert rebuilder.status.state == "idle" and rebuilder.status.version == before
    (engine.settings.docs / "zebras.txt").write_text(ZEBRAS, "utf-8")
    with engine._reload_lock:  # the build cannot swap in (and end) before this block is done
        job = rebuilder.start()
        running = rebuilder.status
    assert (running.state, running.job, running.finished) == ("running", job, None)
    assert running.version == before  # still serving the old version meanwhile
    done = rebuilder.wait()
    assert (done.state, done.job, done.error) == ("idle", job, None)
    assert done.summary.startswith("1 documents added, 0 changed, 0 removed, 2 unchanged")
    assert done.started <= done.finished
    assert done.version == engine.index.version != before
    assert found(engine, "zebras.txt", "zebra migration across the river")


def test_only_one_build_runs_at_a_time(engine: Engine, rebuilder: Rebuilder) -> None:
    with engine._reload_lock:  # the first build cannot end meanwhile
        job = rebuilder.start()
        with pytest.raises(IndexBusyError, match=f"already running \\(job {job}\\)"):
            rebuilder.start()
    assert rebuilder.wait().job == job


def test_a_change_during_a_build_is_built_right_after_it(
    engine: Engine, rebuilder: Rebuilder
) -> None:
    """request() while a build runs queues one more build, started before anyone sees idle."""
    (engine.settings.docs / "zebras.txt").write_text(ZEBRAS, "utf-8")
    # Hold the engine's swap: the first build publishes, then waits here, still "running".
    with engine._reload_lock:
        published = engine.store.current()
        first = rebuilder.start()
        assert until(lambda: engine.store.current() != published)
        (engine.settings.docs / "owls.txt").write_text(OWLS, "utf-8")  # after its read
        rebuilder.request()
        rebuilder.request()  # twice: still one more build, not two
        assert rebuilder.status.job == first
    done = rebuilder.wait()
    assert done.state == "idle" and done.job != first
    assert done.summary.startswith("1 documents added, 0 changed, 0 removed, 3 unchanged")
    assert found(engine, "owls.txt", "owls hunting at night")
    assert found(engine, "zebras.txt", "zebra migration across the river")


def test_request_when_idle_starts_a_build(engine: Engine, rebuilder: Rebuilder) -> None:
    (engine.settings.docs / "owls.txt").write_text(OWLS, "utf-8")
    with engine._reload_lock:
        rebuilder.request()
        assert rebuilder.status.state == "running"
    assert rebuilder.wait().state == "idle"
    assert found(engine, "owls.txt", "owls hunting at night")


def test_a_failed_build_is_reported_and_the_old_index_keeps_serving(
    engine: Engine, rebuilder: Rebuilder
) -> None:
    before = engine.index.version
    docs = engine.settings.docs
    docs.rename(docs.with_name("elsewhere"))  # a missing folder is an error (an empty one is not)
    rebuilder.start()
    failed = rebuilder.wait()
    assert failed.state == "failed" and failed.summary is None
    assert failed.error == f"documents folder {docs} does not exist"
    assert failed.finished is not None
    assert failed.version == before == engine.index.version
    assert found(engine, "cats.txt", "why do cats purr")
    # The next build, once the documents are back, works and clears the error.
    docs.mkdir()
    (docs / "owls.txt").write_text(OWLS, "utf-8")
    rebuilder.start()
    done = rebuilder.wait()
    assert (done.state, done.error) == ("idle", None)
    assert [d.id for d in engine.documents()] == ["owls.txt"]


def test_a_build_from_another_engine_is_picked_up_by_polling(
    engine: Engine, rebuilder: Rebuilder
) -> None:
    rebuilder.run_in_background()
    (engine.settings.docs / "zebras.txt").write_text(ZEBRAS, "utf-8")
    other = Engine(engine.settings, engine.embedder)  # as `qa index` in another terminal would
    plan = other.build()
    assert plan.added == ["zebras.txt"]
    assert until(lambda: engine.index.version == plan.version, timeout=5)
    assert rebuilder.status.version == plan.version
    assert found(engine, "zebras.txt", "zebra migration across the river")


def test_polling_keeps_the_index_in_use_when_the_new_one_is_broken(
    engine: Engine, rebuilder: Rebuilder
) -> None:
    before = engine.index.version
    rebuilder.run_in_background()
    engine.store.pointer.write_text("no-such-version\n", "utf-8")
    time.sleep(0.5)  # several polls
    assert engine.index.version == before
    assert found(engine, "cats.txt", "why do cats purr")
    (engine.settings.docs / "zebras.txt").write_text(ZEBRAS, "utf-8")
    plan = Engine(engine.settings, engine.embedder).build()  # a full build: no usable previous
    assert "previous index unusable" in plan.note
    assert until(lambda: engine.index.version == plan.version, timeout=5)


def test_watching_rebuilds_after_a_file_is_added(make_engine, tmp_path: Path) -> None:
    # The index lives inside the documents folder: its own writes must not trigger builds.
    engine = make_engine(DOCS, index=tmp_path / "docs" / "index")
    engine.build()
    rebuilder = Rebuilder(engine, poll_seconds=0.1, debounce_ms=200)
    rebuilder.run_in_background(watch_docs=True)
    try:
        time.sleep(0.3)  # the watcher is set up
        (engine.settings.docs / "zebras.txt").write_text(ZEBRAS, "utf-8")
        assert until(lambda: rebuilder.status.job is not None, timeout=5)
        assert rebuilder.wait().state == "idle"
        assert found(engine, "zebras.txt", "zebra migration across the river")
        job = rebuilder.status.job
        time.sleep(1.0)  # a build that wrote the index would have triggered another by now
        assert rebuilder.status.job == job
    finally:
        rebuilder.stop()
        rebuilder.wait()


def test_stop_ends_polling_and_watching_and_they_can_start_again(
    engine: Engine, rebuilder: Rebuilder
) -> None:
    def background() -> set[str]:
        names = {"qa-index-poll", "qa-docs-watch"}
        return {t.name for t in threading.enumerate() if t.name in names}

    rebuilder.run_in_background(watch_docs=True)
    rebuilder.run_in_background(watch_docs=True)  # already running: not started twice
    assert sorted(t.name for t in threading.enumerate() if t.name.startswith("qa-")) == [
        "qa-docs-watch", "qa-index-poll",
    ]  # fmt: skip
    started = time.monotonic()
    rebuilder.stop()
    assert background() == set()
    assert time.monotonic() - started < 3
    rebuilder.run_in_background()
    assert background() == {"qa-index-poll"}
    (engine.settings.docs / "zebras.txt").write_text(ZEBRAS, "utf-8")
    plan = Engine(engine.settings, engine.embedder).build()
    assert until(lambda: engine.index.version == plan.version, timeout=5)


def test_a_build_reports_its_progress_and_is_kept_in_the_history(make_engine) -> None:
    from qa.rebuilder import Rebuilder

    engine = make_engine(
        {f"d{n}.txt": f"Document {n} is about topic {n} and more.\n" for n in range(3)}
    )
    seen = []
    engine.build(report=seen.append)
    phases = [p.phase for p in seen]
    assert phases[0] == "reading" and phases[-1] == "writing" and "embedding" in phases
    assert [p.documents_read for p in seen if p.phase == "reading"] == [1, 2, 3]
    embedded = [p for p in seen if p.phase == "embedding"]
    assert embedded[-1].texts_embedded == embedded[-1].texts > 0
    assert embedded[-1].paragraphs == 3
    # The Rebuilder keeps the last report of each build (with an ETA while it embeds).
    (engine.settings.docs / "d9.txt").write_text("A fourth document on gardening tools.\n")
    rebuilder = Rebuilder(engine)
    job = rebuilder.start()
    status = rebuilder.wait()
    assert status.progress is not None and status.progress["documents"] == 4
    assert "eta_seconds" in status.progress
    assert [b.job for b in rebuilder.history()] == [job]
