"""Index build on Ray workers against the local build, same corpus, same 2 cores.

    .venv/bin/python bench/cluster_build.py [--contexts N] [--squad FILE]

The first N SQuAD dev contexts (all 2,067 with --contexts 0), one document each, are indexed
from scratch (`--full`) in this process: once on a local Ray cluster with 1 worker, then R rounds
(--rounds) of a local build followed by a build on 2 workers. On a shared machine the rate drifts
by 2x within minutes, so the ratio is taken per round (adjacent builds) and its median reported.
Reported: texts/s of each build (texts embedded / build seconds, the whole build: split, embed,
BM25, FAISS, write) and Ray's start-up: `ray.init` of a local cluster, then the workers loading
the model. Every Ray build's vectors, paragraphs and BM25 files are checked byte-identical to the
local build's. Last, a build whose embedding is replaced by zeros: the driver's own work (read,
split, tokenize, BM25, FAISS, write), i.e. the most texts/s any number of workers can reach with
one driver (--driver-only: just a local build and this one).
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.features import OUT, SQUAD, write_docs  # noqa: E402
from qa.cluster import RayEncoder, connect  # noqa: E402
from qa.embedder import Embedder  # noqa: E402
from qa.engine import Engine  # noqa: E402
from qa.evaluation import load_squad  # noqa: E402
from qa.settings import Settings  # noqa: E402


def version(index: Path) -> Path:
    return index / "versions" / (index / "current").read_text().strip()


def identical(a: Path, b: Path) -> bool:
    """Every file of the two versions but the manifest (name, time) byte for byte."""
    va, vb = version(a), version(b)
    files = [p.relative_to(va) for p in va.rglob("*") if p.is_file() and p.name != "manifest.json"]
    return all(filecmp.cmp(va / f, vb / f, shallow=False) for f in files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contexts", type=int, default=600, help="first N contexts (0: all)")
    parser.add_argument("--squad", type=Path, default=SQUAD)
    parser.add_argument("--rounds", type=int, default=4, help="local / 2-worker rounds")
    parser.add_argument("--driver-only", action="store_true", help="skip the Ray builds")
    args = parser.parse_args()
    contexts, _ = load_squad(args.squad)
    if args.contexts:
        contexts = dict(list(contexts.items())[: args.contexts])
    scratch = OUT / "cluster-build"
    shutil.rmtree(scratch, ignore_errors=True)
    docs = write_docs(contexts, scratch / "docs")
    print(f"{len(contexts)} contexts; {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    embedder = Embedder()

    def build(name: str, **options) -> float:
        settings = Settings.load({"docs": docs, "index": scratch / name}, environ={})
        plan = Engine(settings, embedder).build(full=True, **options)
        rate = plan.texts_to_embed / plan.seconds
        print(f"{name}: {plan.texts_to_embed:,} texts in {plan.seconds:.1f} s, {rate:.1f} texts/s")
        return rate

    rates = {"local": build("local")}

    def zeros(batches: list[list[str]]) -> Iterator[np.ndarray]:
        for batch in batches:
            yield np.zeros((len(batch), embedder.dimension), dtype=np.float32)

    if args.driver_only:
        driver = build("driver-alone", map_batches=zeros)
        print(f"driver alone / local: {driver / rates['local']:.1f}x")
        return
    started = time.perf_counter()
    connect(num_cpus=os.cpu_count())
    init = time.perf_counter() - started
    ratios = []
    for workers in (1, 2):
        with RayEncoder(embedder, workers=workers) as encoder:
            started = time.perf_counter()
            encoder.start()
            load = time.perf_counter() - started
            print(
                f"ray, {workers} worker(s): start-up {init + load:.1f} s "
                f"(ray.init {init:.1f} s, workers load the model {load:.1f} s)"
            )
            init = 0.0  # the cluster is up now
            for n in range(1 if workers == 1 else args.rounds):
                if workers == 2:  # a local build right before each: the same conditions
                    rates["local"] = build("local")
                ratio = build(f"ray{workers}", map_batches=encoder) / rates["local"]
                if workers == 2:
                    ratios.append(ratio)
                same = identical(scratch / "local", scratch / f"ray{workers}")
                print(f"  round {n + 1}: ray {workers} / local {ratio:.2f}, identical: {same}")
    local = rates["local"]
    print(
        f"ray 2 workers / local, per round: {', '.join(f'{r:.2f}' for r in ratios)}; "
        f"median {statistics.median(ratios):.2f}"
    )
    driver = build("driver-alone", map_batches=zeros)
    print(f"driver alone / local: {driver / local:.1f}x (the ceiling of workers per driver)")
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
