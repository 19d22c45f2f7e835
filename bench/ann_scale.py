"""ANN at scale: recall@10 and latency of our HNSW index against the exact flat scan.

    .venv/bin/python bench/ann_scale.py [--n 1000000] [--queries 200]

The vectors are synthetic but shaped like real ones: the passage and sentence vectors of the
SQuAD dev index (bench/out/squad, built by bench/features.py or bench/index_build.py), each
copied many times with Gaussian noise (cosine ~0.85 to its source) and re-normalized. The
queries are real SQuAD question vectors. Ground truth is the exact top 10 of IndexFlatIP.
Reports the HNSW build time, recall@10 and single-query p50 for a few efSearch values; the
one qa.store uses is marked.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import qa.store.vectors  # noqa: E402
from qa.store import HNSW_EF_SEARCH, Store, flat_index, hnsw_index  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"


def base_vectors() -> np.ndarray:
    index = Store(OUT / "squad" / "index").load("all-MiniLM-L6-v2")
    return np.concatenate(
        [
            index.passages.all(),
            index.sentences.all(),
        ]
    )


def synthesize(base: np.ndarray, n: int, seed: int = 0, noise: float = 0.032) -> np.ndarray:
    """n unit vectors: base rows (cycled) plus Gaussian noise, re-normalized."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    for start in range(0, n, 100_000):  # bounded chunks: no 2x peak memory
        stop = min(n, start + 100_000)
        rows = base[np.arange(start, stop) % len(base)]
        chunk = rows + rng.normal(0, noise, rows.shape).astype(np.float32)
        chunk /= np.linalg.norm(chunk, axis=1, keepdims=True)
        out[start:stop] = chunk
    return out


def p50_ms(index: faiss.Index, queries: np.ndarray, k: int = 10) -> float:
    times = []
    for q in queries:
        started = time.perf_counter()
        index.search(q[None, :], k)
        times.append((time.perf_counter() - started) * 1000)
    return float(np.percentile(times, 50))


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth)]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--flat-timed", type=int, default=30, help="single queries timed on flat")
    ef_construction = qa.store.vectors.HNSW_EF_CONSTRUCTION
    parser.add_argument("--ef-construction", type=int, default=ef_construction)
    parser.add_argument("--ef", type=int, nargs="*", default=[32, 64, HNSW_EF_SEARCH, 200])
    args = parser.parse_args()
    qa.store.vectors.HNSW_EF_CONSTRUCTION = args.ef_construction  # to try others than qa.store's

    base = base_vectors()
    questions = np.load(OUT / "questions.npy")
    rng = np.random.default_rng(1)
    queries = np.ascontiguousarray(questions[rng.choice(len(questions), args.queries, False)])
    started = time.perf_counter()
    vectors = synthesize(base, args.n)
    print(
        f"{args.n:,} synthetic {vectors.shape[1]}-d vectors ({vectors.nbytes / 2**30:.2f} GiB) "
        f"from {len(base):,} real SQuAD passage/sentence vectors + noise "
        f"({time.perf_counter() - started:.1f}s); {args.queries} real SQuAD question queries; "
        f"{faiss.omp_get_max_threads()} threads",
        flush=True,
    )

    flat = flat_index(vectors, vectors.shape[1])
    started = time.perf_counter()
    _, truth = flat.search(queries, 10)
    print(f"exact ground truth: {time.perf_counter() - started:.1f}s (batched)", flush=True)
    flat_p50 = p50_ms(flat, queries[: args.flat_timed])
    print(f"flat (IndexFlatIP)   p50 {flat_p50:8.2f} ms/query (single queries)", flush=True)
    del flat

    started = time.perf_counter()
    hnsw = hnsw_index(vectors, vectors.shape[1])
    build = time.perf_counter() - started
    print(
        f"HNSW build (M={hnsw.hnsw.nb_neighbors(1)}, efConstruction={hnsw.hnsw.efConstruction}): "
        f"{build:.1f}s",
        flush=True,
    )
    for ef in sorted(set(args.ef)):
        hnsw.hnsw.efSearch = ef
        _, found = hnsw.search(queries, 10)
        r = recall(found, truth)
        p50 = p50_ms(hnsw, queries)
        mark = "  <- qa.store" if ef == HNSW_EF_SEARCH else ""
        print(
            f"HNSW efSearch={ef:<4} recall@10 {r:.3f}  p50 {p50:6.3f} ms/query  "
            f"ratio to flat p50 {p50 / flat_p50:.4f}{mark}",
            flush=True,
        )
    print("targets: recall@10 >= 0.98 at <= 0.1 x flat p50")


if __name__ == "__main__":
    main()
