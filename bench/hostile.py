"""Hostile files read under the reading limits: time, outcome and peak memory of each.

    PYTHONPATH=. .venv/bin/python bench/hostile.py [--memory-mb 1536] [--seconds 60] [--scale 1]

Each file of tests/hostile.py (the ones of issue 22, at their reported size with --scale 1) is
read by a fresh worker (qa/workers.py) under QA_READ_MEMORY_MB / QA_READ_SECONDS; printed per
file: its size, the seconds until the answer, what the build would say, and the worker's peak
resident memory. Last, the peak memory of this process, which never parses: it stays that of
a Python holding the files' bytes.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qa.workers import Limits, _result, _Worker  # noqa: E402
from tests.hostile import HOSTILE  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--memory-mb", type=int, default=Limits.memory_mb)
    parser.add_argument("--seconds", type=float, default=Limits.seconds)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    limits = Limits(memory_mb=args.memory_mb, seconds=args.seconds)
    print(f"limits: {limits.memory_mb:,} MB, {limits.seconds:g} s per file")
    print(f"{'file':18} {'bytes':>12} {'seconds':>8} {'peak MB':>8}  outcome")
    for name, make in HOSTILE.items():
        data = make(args.scale)
        worker = _Worker(limits)
        started = time.perf_counter()
        (answer,) = worker.ask([("." + name.rsplit(".", 1)[1], data)], limits.seconds)
        spent = time.perf_counter() - started
        worker.kill()
        result = _result(answer)
        outcome = f"skipped: {result}" if isinstance(result, Exception) else "read"
        print(f"{name:18} {len(data):12,} {spent:8.1f} {worker.peak_mb:8,.0f}  {outcome}")
        del data
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"this process (which never parses): peak {own:,.0f} MB")


if __name__ == "__main__":
    main()
