"""Float16 HNSW storage against float32: same graph, same questions, rankings compared.

    .venv/bin/python bench/fp16_index.py [--questions 200]

Uses bench/out/synth100k (built by bench/search_load.py --corpus 100k). Its HNSW indexes store
float16 vectors; this script regenerates the float32 vectors they were made from (the same seeded
noise on the same SQuAD vectors, checked against the stored ones) and puts them under a copy of
the same graph, so the stored precision is the only difference. Reports, for SQuAD dev questions
at random: how often the top answer and the top 5 stay the same, the largest change of a cosine
and of a fused score, and recall@10 of either index against the exact float32 scan.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import faiss
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ann_scale import synthesize  # noqa: E402
from bench.search_load import OUT, SQUAD, squad_index  # noqa: E402
from qa.engine import Engine  # noqa: E402
from qa.evaluation import load_squad  # noqa: E402
from qa.retriever import make_query, rank  # noqa: E402
from qa.settings import Settings  # noqa: E402
from qa.store import HNSW_EF_SEARCH, HNSW_M, StoredVectors  # noqa: E402


def float32_twin(index: faiss.Index, vectors: np.ndarray) -> faiss.Index:
    """An IndexHNSWFlat with `index`'s graph over the float32 `vectors`."""
    twin = faiss.IndexHNSWFlat(index.d, HNSW_M, faiss.METRIC_INNER_PRODUCT)
    twin.hnsw = index.hnsw  # a copy of the graph
    faiss.downcast_index(twin.storage).add(vectors)
    twin.ntotal = index.ntotal
    twin.hnsw.efSearch = HNSW_EF_SEARCH
    return twin


def regenerated(base: np.ndarray, owners: np.ndarray, n_base: int, seed: int) -> np.ndarray:
    """The synthetic vectors as bench/search_load.py made them (copy 0 keeps the real ones)."""
    vectors = synthesize(base, len(owners), seed=seed)
    vectors[:n_base] = base
    return vectors


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=int, default=200)
    args = parser.parse_args()
    root = OUT / "synth100k"
    engine = Engine(Settings.load({"index": root / "index", "docs": root}, environ={}))
    index = engine.index
    base = squad_index()
    twins = {}
    for kind, seed in (("passage", 2), ("sentence", 3)):
        part = getattr(index, f"{kind}s")
        source = getattr(base, f"{kind}s")
        vectors = regenerated(
            source.reconstruct_n(0, source.ntotal),
            getattr(index, f"{kind}_paragraph"),
            source.ntotal,
            seed,
        )
        stored = StoredVectors(part).rows(np.arange(part.ntotal))
        # (float16 rounding: FAISS and numpy differ by one unit in ~1e-4 of the values)
        if np.abs(vectors - stored).max() > 1e-3:
            sys.exit(f"the regenerated {kind} vectors are not the stored ones: rebuild synth100k")
        del stored
        twins[kind] = (float32_twin(part, vectors), vectors)
    _, qs = load_squad(SQUAD)
    questions = [q.text for q in random.Random(1).sample(qs, args.questions)]
    queries = [make_query(q, engine.embedder.encode_query(q)) for q in questions]
    half = [rank(index, q, 5) for q in queries]
    fp16 = (index.passages, index.sentences, index.passage_vectors, index.sentence_vectors)
    index.passages, index.sentences = twins["passage"][0], twins["sentence"][0]
    index.passage_vectors = StoredVectors(twins["passage"][0])
    index.sentence_vectors = StoredVectors(twins["sentence"][0])
    full = [rank(index, q, 5) for q in queries]
    index.passages, index.sentences, index.passage_vectors, index.sentence_vectors = fp16

    pairs = list(zip(half, full))
    top1 = sum(a[0].row == b[0].row for a, b in pairs)
    top5 = sum([h.row for h in a] == [h.row for h in b] for a, b in pairs)
    top5_set = sum({h.row for h in a} == {h.row for h in b} for a, b in pairs)
    same = [(x, y) for a, b in pairs for x, y in zip(a, b) if x.row == y.row]
    fused = max(abs(x.score - y.score) for x, y in same)
    cosine = max(abs(x.signals[s] - y.signals[s]) for x, y in same for s in ("passage", "sentence"))
    n = len(queries)
    print(f"{n} SQuAD dev questions on the synthetic 100k index, float16 vs float32 storage:")
    print(f"same top answer {top1}/{n}, same top 5 (in order) {top5}/{n}, as a set {top5_set}/{n}")
    print(f"largest change: cosine {cosine:.6f}, fused score {fused:.4f}")
    q = np.stack([x.vector for x in queries])
    for kind in ("passage", "sentence"):
        twin, vectors = twins[kind]
        exact = np.argsort(-(q @ vectors.T), axis=1)[:, :10]
        for name, part in (("float16", getattr(index, f"{kind}s")), ("float32", twin)):
            _, ids = part.search(q, 200)
            hits = np.mean([len(set(exact[i]) & set(ids[i][:10])) / 10 for i in range(n)])
            print(f"{kind}s ({part.ntotal:,}): recall@10 vs the exact scan, {name} {hits:.3f}")


if __name__ == "__main__":
    main()
