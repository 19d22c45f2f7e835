"""Rebuilder: run index builds in the background of a live server and keep it on the newest index.

The server never stops answering: a build writes a new version beside the current one, and the
engine swaps one reference when it sees the new version (from this process or another `qa index`).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from qa.engine import Engine
from qa.errors import IndexBusyError, QAError
from qa.indexer import Progress

log = logging.getLogger(__name__)
HISTORY = 20  # finished builds remembered (in memory: the history of this server's run)


@dataclass
class BuildState:
    """What the last (or running) background build did."""

    state: str = "idle"  # idle | running | failed
    job: str | None = None
    started: str | None = None
    finished: str | None = None
    summary: str | None = None
    error: str | None = None
    version: str | None = None  # the index version in use when the state was read
    progress: dict | None = None  # how far it got (qa.indexer.Progress, and eta_seconds)

    def as_dict(self) -> dict:
        return asdict(self)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Rebuilder:
    """One background build at a time; polls the index pointer so outside builds are seen too."""

    def __init__(self, engine: Engine, poll_seconds: float = 1.0, debounce_ms: int = 1000) -> None:
        self.engine = engine
        self.poll_seconds = poll_seconds
        self.debounce_ms = debounce_ms
        self._status = BuildState()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # notified when a build ends
        self._stop = threading.Event()
        self._pending = False  # changes seen while a build ran: build again right after it
        self._threads: list[threading.Thread] = []
        self._history: deque[BuildState] = deque(maxlen=HISTORY)
        self._embedding_since: float | None = None
        self.merging: threading.Thread | None = None  # the background merge, if one ran

    @property
    def status(self) -> BuildState:
        """A copy of the build state, with the index version in use now."""
        with self._lock:
            status = replace(self._status)
        status.version = self._version()
        return status

    def launch(self) -> BuildState:
        """Start an incremental build in the background and return its (running) state.

        IndexBusyError if one is already running.
        """
        with self._lock:
            if self._status.state == "running":
                raise IndexBusyError(f"a rebuild is already running (job {self._status.job})")
            status = replace(self._begin())
        status.version = self._version()
        return status

    def start(self) -> str:
        """Start an incremental build in the background; returns its job id."""
        job = self.launch().job
        assert job is not None
        return job

    def _begin(self) -> BuildState:
        """Mark a new build as running and start its thread (the caller holds the lock)."""
        self._status = BuildState(state="running", job=uuid.uuid4().hex[:12], started=_now())
        thread = threading.Thread(
            target=self._run, args=(self._status,), name="qa-rebuild", daemon=True
        )
        thread.start()
        return self._status

    def history(self) -> list[BuildState]:
        """The builds this server ran (the last HISTORY), newest first."""
        with self._lock:
            return [replace(b) for b in reversed(self._history)]

    def _progress(self, job: str | None, progress: Progress) -> None:
        """Keep how far the build `job` got, with an estimate of the time it still needs (from
        the pace of its embedding so far: nearly all of a build's time)."""
        now = time.monotonic()
        if progress.phase != "embedding" or not progress.texts_embedded:
            self._embedding_since = now if progress.phase == "embedding" else None
        eta = None
        if self._embedding_since is not None and progress.texts_embedded:
            pace = (now - self._embedding_since) / progress.texts_embedded
            eta = round(pace * (progress.texts - progress.texts_embedded), 1)
        with self._lock:
            if self._status.job == job:
                self._status.progress = {**asdict(progress), "eta_seconds": eta}

    def _run(self, running: BuildState) -> None:
        try:
            plan = self.engine.build(report=partial(self._progress, running.job))
            status = replace(running, state="idle", finished=_now(), summary=plan.summary())
            log.info("index rebuilt (job %s): %s", running.job, status.summary)
            if plan.merge_due:
                self.merge_in_background()
        except QAError as e:
            status = replace(running, state="failed", finished=_now(), error=str(e))
            log.warning("index rebuild failed (job %s): %s", running.job, e)
        except Exception as e:  # a bug must not kill the server; it is reported instead
            status = replace(running, state="failed", finished=_now(), error=f"unexpected: {e!r}")
            log.exception("index rebuild failed (job %s)", running.job)
        with self._lock:
            status.progress = self._status.progress  # the last report: what it got through
            self._status = status
            self._history.append(replace(status, version=None))
            if self._pending:  # hand over to the next build without ever looking idle
                self._pending = False
                self._begin()
            self._changed.notify_all()

    def merge_in_background(self) -> None:
        """Fold the index's delta segment into a new base in a thread of its own (one at a
        time); builds go on meanwhile, and the server swaps to the merged version."""
        with self._lock:
            if self.merging is not None and self.merging.is_alive():
                return
            self.merging = threading.Thread(target=self._merge, name="qa-merge", daemon=True)
            self.merging.start()

    def _merge(self) -> None:
        try:
            log.info("index merged into a new base: version %s", self.engine.merge())
        except Exception as e:  # the delta keeps serving; the next build tries again
            log.warning("index merge failed: %s", e)

    def request(self) -> BuildState:
        """Start a build, or, if one is running, one more right after it; the state now."""
        with self._lock:
            if self._status.state == "running":
                self._pending = True  # seen by _run under the same lock: never lost
            else:
                self._begin()
        return self.status

    def _version(self) -> str | None:
        try:
            return self.engine.index.version
        except QAError:
            return None

    def wait(self, timeout: float = 60.0) -> BuildState:
        """Block until no build is running or queued (for tests and the CLI)."""
        with self._changed:
            self._changed.wait_for(lambda: self._status.state != "running", timeout)
        return self.status

    def poll_forever(self) -> None:
        """Reload the engine whenever the current index version changes on disk."""
        reported = ""
        while not self._stop.wait(self.poll_seconds):
            try:
                if self.engine.reload():
                    log.info("now serving index version %s", self._version())
                reported = ""
            except Exception as e:  # a damaged new version: keep serving the one in memory
                if str(e) != reported:
                    log.warning("keeping the index in use: %s", e)
                    reported = str(e)

    def watch_forever(self, docs: Path) -> None:
        """Rebuild after changes in the documents folder settle (for debounce_ms)."""
        from watchfiles import DefaultFilter, watch

        # An index folder inside the documents folder must not trigger builds of itself.
        ignore = DefaultFilter(ignore_paths=[str(Path(self.engine.settings.index).resolve())])
        try:
            for _changes in watch(
                docs, watch_filter=ignore, debounce=self.debounce_ms, stop_event=self._stop
            ):
                self.request()
        except Exception as e:  # e.g. the folder is gone: say so, keep serving
            log.error("stopped watching %s: %s", docs, e)

    def run_in_background(self, watch_docs: bool = False) -> None:
        """Poll the index pointer (and watch the documents folder) until stop()."""
        if any(t.is_alive() for t in self._threads):
            return
        self._stop.clear()
        docs = self.engine.docs
        targets = [("qa-index-poll", self.poll_forever)]
        if watch_docs:
            targets.append(("qa-docs-watch", partial(self.watch_forever, docs)))
        self._threads = [threading.Thread(target=t, name=n, daemon=True) for n, t in targets]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """End polling and watching (a running build finishes on its own)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []
