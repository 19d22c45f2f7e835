"""Reading speed: the bounded worker pool against reading in the build's own process.

    PYTHONPATH=. .venv/bin/python bench/reading.py [--corpus txt|pdf] [--files 2000] [--repeat 3]

`txt`: the first 2,000 SQuAD dev contexts, one small .txt file each. `pdf`: SQuAD dev articles
(odd ones, `--files` of them), one PDF each, printed by Chromium (bench/formats.py). Both ways
read every file (its bytes and hash through qa.files, then the reader, then the Document):
`in-process` as qa/documents.py did before the workers (one file after another, here), then
through `load_documents` with a new pool each run (its start-up paid, as by `qa index`) and with
one already running (as a server's, reused by each rebuild). Runs alternate; printed: the median
seconds of each and its ratio to in-process, and the CPU seconds spent (this process and the
workers that ended) with theirs: on a machine whose cores are busy with other work, wall time
shows little of the workers' parallelism, CPU time shows their cost.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.features import SQUAD, write_docs  # noqa: E402
from qa.documents import (  # noqa: E402
    MAX_FILE_BYTES,
    UnreadableError,
    content_hash,
    discover,
    load_documents,
    make_document,
)
from qa.evaluation import load_squad  # noqa: E402
from qa.files import RefusedError, read_confined, real_folder  # noqa: E402
from qa.readers import READERS  # noqa: E402
from qa.workers import Limits, Pool  # noqa: E402


def in_process(folder: Path) -> int:
    """What load_documents did before the workers: each file parsed here, one after another."""
    found, _ = discover(folder)
    root = real_folder(folder)
    read = 0
    for name, doc_id, _ in found:
        path = Path(name)
        try:
            data = read_confined(path, root, MAX_FILE_BYTES)
            parsed = READERS[path.suffix.lower()](data)
            make_document(doc_id, path, parsed, content_hash(data))
            read += 1
        except (RefusedError, UnreadableError):
            pass
    return read


def with_workers(folder: Path, pool: Pool | None = None) -> int:
    """Read through the workers: of a fresh pool (its start-up paid, as by `qa index`), or of
    `pool`, already running (as in a server, whose pool outlives each rebuild)."""
    fresh = pool is None
    pool = pool or Pool(Limits())
    try:
        documents, _ = load_documents(folder, pool=pool)
    finally:
        if fresh:
            pool.close()
    return len(documents)


def cpu_seconds() -> float:
    """CPU time of this process and of its ended children (the workers of closed pools)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def corpus(kind: str, files: int, out: Path) -> Path:
    if kind == "txt":
        contexts, _ = load_squad(SQUAD)
        chosen = dict(list(contexts.items())[:files])
        return write_docs({f"{i}.txt": text for i, text in chosen.items()}, out / "docs")
    from bench.formats import load, render

    render(load(SQUAD, "odd", files), ["pdf"], out)
    return out / "pdf" / "docs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", choices=("txt", "pdf"), default="txt")
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = corpus(args.corpus, args.files, Path(tmp))
        count = len(discover(folder)[0])
        warm = Pool(Limits())
        warm.start()
        ways = {
            "in-process": in_process,
            "new workers": with_workers,
            "running workers": lambda folder: with_workers(folder, warm),
        }
        times: dict[str, list[float]] = {name: [] for name in ways}
        cpu: dict[str, list[float]] = {name: [] for name in ways}
        for _ in range(args.repeat):
            for name, way in ways.items():
                started, used = time.perf_counter(), cpu_seconds()
                assert way(folder) == count, name
                times[name].append(time.perf_counter() - started)
                cpu[name].append(cpu_seconds() - used)
        warm.close()
    old = statistics.median(times["in-process"])
    old_cpu = statistics.median(cpu["in-process"])
    print(f"{count:,} {args.corpus} files, {Limits().size} workers, median of {args.repeat}:")
    for name, spent in times.items():
        seconds, used = statistics.median(spent), statistics.median(cpu[name])
        line = f"  {name:16} {seconds:6.2f} s  ratio {seconds / old:.2f}x"
        if name != "running workers":  # (its workers' CPU time is counted when they end)
            line += f"   CPU {used:6.2f} s  ratio {used / old_cpu:.2f}x"
        print(line)


if __name__ == "__main__":
    main()
