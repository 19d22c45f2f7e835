"""Workers: parse documents (file bytes -> a reader's `Parsed`) in worker processes under limits.

A hostile file can make a parser allocate without end (a PDF form that draws itself, a zip bomb),
run for minutes (deep nesting) or crash in C code (std::bad_alloc). So no parser runs in the
process that builds or serves: each file is parsed in a worker, a fresh interpreter
(`python -m qa.workers`, which never imports torch) whose address space is capped (RLIMIT_AS),
which is killed when a file takes longer than its time limit, and whose result is refused over a
size. A worker that dies is replaced; the others go on. Workers are reused from file to file and
run in parallel, one per core by default.
"""

from __future__ import annotations

import os
import pickle
import resource
import select
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import qa
from qa.readers.blocks import Parsed, UnreadableError

NOT_AGAIN = " (not read again until it changes)"  # said of a refusal remembered
# Told (page, pages) as a worker's OCR reads each page of a scan (`qa index` shows it). A page
# read also restarts the file's time limit: a scan is given QA_READ_SECONDS a page, not a file.
on_page: Callable[[int, int], None] | None = None
# Files whose reader may run OCR, page by page.
_PAGED = (".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff")
_HEADER = struct.Struct("<Q")  # each message: its length, then its pickle
_NICENESS = 5  # parsing yields the cores to the threads that answer questions
# What a worker that died of memory left on its stderr (C++, CPython, glibc).
_OUT_OF_MEMORY = (b"bad_alloc", b"MemoryError", b"Cannot allocate memory", b"out of memory")


@dataclass(frozen=True)
class Limits:
    """What reading one file may cost (QA_READ_MEMORY_MB, QA_READ_SECONDS, QA_READ_TEXT_MB,
    QA_READ_WORKERS; workers 0: one per core)."""

    memory_mb: int = 1536
    seconds: float = 60.0
    text_mb: int = 64
    workers: int = 0

    @classmethod
    def of(cls, settings: Any) -> Limits:
        return cls(
            settings.read_memory_mb,
            settings.read_seconds,
            settings.read_text_mb,
            settings.read_workers,
        )

    @property
    def size(self) -> int:
        return self.workers or os.cpu_count() or 1

    def key(self) -> str:
        """What a refusal depends on: a file refused under other limits is read again."""
        return f"{self.memory_mb}MB/{self.seconds:g}s/{self.text_mb}MB"


class LimitError(UnreadableError):
    """A file whose reading broke a limit or crashed the worker (remembered by content hash)."""

    def __init__(self, reason: str, sha256: str = "") -> None:
        super().__init__(reason)
        self.sha256 = sha256


class Pool:
    """Worker processes that parse files under `limits`, at most `limits.size` at once."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.size = limits.size
        self._slots = threading.Semaphore(self.size)
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()
        self._closed = False

    def start(self) -> None:
        """Start the workers now (they import the readers while the caller reads files)."""
        with self._lock:
            while len(self._idle) < self.size:
                self._idle.append(_Worker(self.limits))

    def parse(self, suffix: str, data: bytes) -> Parsed:
        """The reader of `suffix` applied to `data` in a worker; UnreadableError with the reason
        (LimitError if a limit was broken or the worker crashed)."""
        (result,) = self.parse_all([(suffix, data)])
        if isinstance(result, UnreadableError):
            raise result
        return result

    def parse_all(self, files: list[tuple[str, bytes]]) -> list[Parsed | UnreadableError]:
        """Each (suffix, bytes) of `files` parsed, or the error saying why not, in order. They
        go to one worker together (small files cost one exchange, not one each), each within
        the time limit; a file that breaks a limit is blamed alone, the rest go on."""
        results: list[Parsed | UnreadableError] = []
        with self._slots:
            while len(results) < len(files):
                worker = self._take()
                try:
                    answers = worker.ask(files[len(results) :], self.limits.seconds)
                except BaseException:
                    worker.kill()
                    raise
                results.extend(_result(a) for a in answers)
                with self._lock:
                    if self._closed or worker.process.returncode is not None:
                        worker.kill()  # (reaps it and closes its pipes)
                    else:
                        self._idle.append(worker)
        return results

    def _take(self) -> _Worker:
        with self._lock:
            if self._closed:
                raise UnreadableError("the reading workers were stopped")
            worker = self._idle.pop() if self._idle else None
        if worker is not None and worker.process.poll() is not None:
            worker.kill()  # it died idle (killed from outside): not this file's doing
            worker = None
        return worker or _Worker(self.limits)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.kill()


def _result(answer: tuple[str, Any]) -> Parsed | UnreadableError:
    kind, value = answer
    if kind == "ok":
        return value
    return LimitError(value) if kind == "limit" else UnreadableError(value)


_shared: Pool | None = None
_shared_lock = threading.Lock()


def shared(limits: Limits | None = None) -> Pool:
    """The process's pool for `limits` (default limits if None); a new one if they changed."""
    global _shared
    limits = limits or Limits()
    with _shared_lock:
        if _shared is None or _shared.limits != limits:
            if _shared is not None:
                _shared.close()
            _shared = Pool(limits)
        return _shared


class _Worker:
    """One worker process, spoken to over its stdin and stdout."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        # Its stderr: says why it died, if it does (closed by kill()).
        self.errors = tempfile.TemporaryFile()  # noqa: SIM115
        self.peak_mb = 0.0  # its peak resident memory, once it has ended
        env = dict(os.environ)
        # It is given the parent's import path and skips `site` (-S): a third of its start-up.
        here = str(Path(qa.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join([here, *(p for p in sys.path if p)])
        self.process = subprocess.Popen(
            [sys.executable, "-S", "-m", "qa.workers", str(limits.memory_mb), str(limits.text_mb)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.errors,
            env=env,
            close_fds=True,
        )

    def ask(self, files: list[tuple[str, bytes]], seconds: float) -> list[tuple[str, Any]]:
        """The worker's answers to `files`, each within `seconds`; they end early, with
        ("limit", why), at a file that made it die, take too long or run out of memory (the
        worker is then ended)."""
        self.errors.seek(0)
        self.errors.truncate()
        assert self.process.stdin is not None and self.process.stdout is not None
        answers: list[tuple[str, Any]] = []
        try:
            _send(self.process.stdin, files)
            while len(answers) < len(files):
                deadline = time.monotonic() + seconds
                answer = pickle.loads(_receive_by(self.process.stdout.fileno(), deadline))
                while answer[0] == "page":  # a scanned page read: told, and its time restarts
                    if on_page is not None:
                        on_page(*answer[1:])
                    deadline = time.monotonic() + seconds
                    answer = pickle.loads(_receive_by(self.process.stdout.fileno(), deadline))
                answers.append(answer)
                if answers[-1][0] == "limit":  # out of memory: a fresh worker for the rest
                    self.kill()
                    break
        except TimeoutError:
            self.kill()
            answers.append(("limit", f"reading took over {seconds:g} s (QA_READ_SECONDS)"))
        except (OSError, EOFError, pickle.UnpicklingError):
            answers.append(("limit", self._death()))
        return answers

    def _death(self) -> str:
        """Why the worker ended (it is reaped here)."""
        self._reap(grace=5.0)
        self.errors.seek(0)
        said = self.errors.read()[-4096:]
        self.kill()
        code = self.process.returncode
        how = signal.Signals(-code).name if code is not None and code < 0 else f"exit {code}"
        # pdfium aborts silently when an allocation fails; an abort after a peak over half the
        # limit shows it (its last request, e.g. 1 GiB for an inflated stream, did not fit). A
        # segfault is a crash, however much the reader had used.
        big = how in ("SIGABRT", "SIGKILL") and self.peak_mb >= 0.5 * self.limits.memory_mb
        if big or any(s in said for s in _OUT_OF_MEMORY):
            return memory_reason(self.limits.memory_mb)
        return f"the reader crashed ({how})"

    def _reap(self, grace: float) -> None:
        """Wait for the worker to end (killed after `grace` seconds); keep its peak memory."""
        process = self.process
        deadline = time.monotonic() + grace
        while process.returncode is None:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                process.returncode = os.waitstatus_to_exitcode(status)
                self.peak_mb = usage.ru_maxrss / 1024
            elif time.monotonic() < deadline:
                time.sleep(0.01)
            else:
                process.kill()
                deadline = float("inf")  # and wait for it

    def kill(self) -> None:
        """End the worker, reap it (`peak_mb` is then its peak memory) and close its pipes."""
        self._reap(grace=0.0)
        for stream in (self.process.stdin, self.process.stdout, self.errors):
            with suppress(OSError):
                stream.close()  # type: ignore[union-attr]


def memory_reason(memory_mb: int) -> str:
    return f"reading needed over {memory_mb:,} MB (QA_READ_MEMORY_MB)"


def _send(stream: BinaryIO, message: Any) -> None:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(body)))
    stream.write(body)
    stream.flush()


def _receive_by(fd: int, deadline: float | None) -> bytes:
    """One message from `fd`; TimeoutError past `deadline`, EOFError if the writer is gone."""
    (size,) = _HEADER.unpack(_read_exactly(fd, _HEADER.size, deadline))
    return _read_exactly(fd, size, deadline)


def _read_exactly(fd: int, size: int, deadline: float | None) -> bytes:
    parts: list[bytes] = []
    while size:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            raise EOFError
        parts.append(chunk)
        size -= len(chunk)
    return b"".join(parts)


# --- The worker's side ------------------------------------------------------------------------


def _parse(
    suffix: str,
    data: bytes,
    memory_mb: int,
    text_mb: int,
    tell: Callable[[int, int], None] | None = None,
) -> tuple[str, Any]:
    from qa.readers import READERS

    if tell is not None and suffix in _PAGED:  # OCR, if the file needs it, says each page
        from qa.readers import ocr

        ocr.on_page = tell

    try:
        parsed = READERS[suffix](data)
    except UnreadableError as e:
        return "unreadable", str(e)
    except MemoryError:
        return "limit", memory_reason(memory_mb)
    except RecursionError:
        return "unreadable", "nested too deeply to be read"
    except OSError as e:
        return "unreadable", f"cannot read ({e.strerror or e})"
    except Exception as e:  # a parser's bug on a hostile file: skip the file
        return "unreadable", f"cannot be parsed ({type(e).__name__}: {e})"[:300]
    chars = sum(len(b.text) for b in parsed.blocks) + len(parsed.title or "")
    if chars > text_mb * 2**20:
        return "limit", f"its text is over {text_mb:,} MB (QA_READ_TEXT_MB): split it"
    return "ok", parsed


def serve(memory_mb: int, text_mb: int) -> None:
    """Answer parse requests from stdin until it closes (the worker's main loop)."""
    limit = memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    os.nice(_NICENESS)
    requests = sys.stdin.buffer
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything a library prints goes to stderr, never into the answers

    def tell(page: int, pages: int) -> None:
        _send(answers, ("page", page, pages))

    while True:
        try:
            files = pickle.loads(_receive_by(requests.fileno(), None))
        except EOFError:
            return
        for i, (suffix, data) in enumerate(files):
            answer = _parse(suffix, data, memory_mb, text_mb, tell)
            files[i] = data = None  # its memory is free for the next file
            try:
                _send(answers, answer)
            except MemoryError:
                _send(answers, ("limit", memory_reason(memory_mb)))
            if answer[0] == "limit":
                break  # the parent ends this worker


if __name__ == "__main__":
    serve(int(sys.argv[1]), int(sys.argv[2]))
