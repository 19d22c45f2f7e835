"""The Milvus store against the local store: same rankings, same cosines, latency ratio.

    .venv/bin/python bench/milvus.py [--store milvus:PATH.db | milvus://HOST:PORT]
                                     [--index bench/out/squad/index] [--questions 600]

One version of a local index (default bench/out/squad, the 2,067 SQuAD dev contexts; its
vectors are exact below 20k, as Milvus Lite's FLAT) is published as is into the Milvus store
(default: Milvus Lite in a temporary file). Then, for N SQuAD dev questions of odd-numbered
articles (fixed seed), both indexes answer in this one process, alternating:
  - top-5 paragraphs of the full ranking (qa.retriever.rank) identical, or differing only by
    ties (the swapped paragraphs' fused scores within 1e-6);
  - the vector searches of both kinds (the retriever's top 200): top-5 rows identical, and the
    largest cosine difference over them and over the rescored rows (cosines(), which Milvus
    computes: a search filtered to those rows);
  - per-question time of rank() (the question's embedding, the same for both, excluded):
    p50/p95 of each and their ratio.
Against a server the vectors are float32 in HNSW (2.3.5 cannot index float16): the differences
are then the two graphs'.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.embedder import Embedder  # noqa: E402
from qa.evaluation import load_squad  # noqa: E402
from qa.retriever import CANDIDATES, make_query, rank  # noqa: E402
from qa.store import Store, open_store  # noqa: E402
from qa.store.local import version_name  # noqa: E402

SQUAD = Path("/work/shared/eval/squad-dev-v1.1.json")
TIE = 1e-6


def _same_top(a: list, b: list) -> tuple[bool, bool]:
    """(identical, identical but for ties) of two rankings of Hits."""
    rows_a, rows_b = [h.row for h in a], [h.row for h in b]
    if rows_a == rows_b:
        return True, True
    scores = {h.row: h.score for h in a + b}
    differ = [i for i, (x, y) in enumerate(zip(rows_a, rows_b, strict=True)) if x != y]
    tie = all(abs(scores[rows_a[i]] - scores[rows_b[i]]) <= TIE for i in differ)
    return False, tie


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", help="Milvus store URI (default: Milvus Lite in a temp file)")
    parser.add_argument("--index", type=Path, default=ROOT / "bench" / "out" / "squad" / "index")
    parser.add_argument("--questions", type=int, default=600)
    parser.add_argument("--squad", type=Path, default=SQUAD)
    parser.add_argument(
        "--published", action="store_true", help="the store holds it already (an earlier run)"
    )
    args = parser.parse_args()

    embedder = Embedder()
    local = Store(args.index).load(embedder.name, embedder.dimension)
    copy = Store(args.index).load(embedder.name, embedder.dimension)
    copy.manifest["version"] = version_name(datetime.now(UTC))  # a new version each run
    with tempfile.TemporaryDirectory() as tmp:
        uri = args.store or f"milvus:{tmp}/bench.db"
        store = open_store(uri, Path(tmp) / "index")
        started = time.perf_counter()
        if not args.published:
            store.publish(copy)
        published = time.perf_counter() - started
        milvus = store.load(embedder.name, embedder.dimension)
        vectors = milvus.passages.ntotal + milvus.sentences.ntotal
        print(f"{uri}: published {len(milvus.paragraphs):,} paragraphs, {vectors:,} vectors "
              f"in {published:.1f} s")  # fmt: skip

        _, questions = load_squad(args.squad)
        odd = [q for q in questions if q.article % 2 == 1]
        picked = random.Random(0).sample(odd, min(args.questions, len(odd)))
        texts = [q.text for q in picked]
        same = ties = vector_same = 0
        checks = 0
        worst = 0.0
        times: dict[str, list[float]] = {"local": [], "milvus": []}
        for i, text in enumerate(texts):
            vector = embedder.encode_query(text)
            query = make_query(text, vector)
            hits = {}
            order = ("local", "milvus") if i % 2 else ("milvus", "local")
            for name in order:
                index = local if name == "local" else milvus
                t = time.perf_counter()
                hits[name] = rank(index, query, 5)
                times[name].append(time.perf_counter() - t)
            exact, tie = _same_top(hits["local"], hits["milvus"])
            same += exact
            ties += tie
            for kind in ("passages", "sentences"):
                k = min(CANDIDATES * 2, getattr(local, kind).ntotal)
                ls, lr = getattr(local, kind).search(vector[None, :], k)
                ms, mr = getattr(milvus, kind).search(vector[None, :], k)
                vector_same += lr[0, :5].tolist() == mr[0, :5].tolist()
                checks += 1
                common = np.intersect1d(lr[0], mr[0])
                if len(common):
                    cos_l = getattr(local, kind).rows(common) @ vector
                    cos_m = getattr(milvus, kind).cosines(common, vector)
                    worst = max(worst, float(np.abs(cos_l - cos_m).max()))
                top_l, top_m = dict(zip(lr[0, :5], ls[0, :5])), dict(zip(mr[0, :5], ms[0, :5]))
                for row in top_l.keys() & top_m.keys():  # (an ANN may find other rows)
                    worst = max(worst, abs(float(top_l[row] - top_m[row])))
        n = len(texts)
        p = {k: (statistics.median(v) * 1e3, np.percentile(v, 95) * 1e3) for k, v in times.items()}
        print(f"questions: {n} (odd-numbered articles, seed 0)")
        print(f"top-5 paragraphs identical: {same}/{n} = {same / n:.2%}; "
              f"identical or ties only: {ties}/{n} = {ties / n:.2%}")  # fmt: skip
        print(f"vector top-5 rows identical: {vector_same}/{checks} = {vector_same / checks:.2%}")
        print(f"max cosine difference (top-5 scores and rescored cosines): {worst:.2e}")
        print(f"rank() p50/p95 ms: local {p['local'][0]:.1f}/{p['local'][1]:.1f}, "
              f"milvus {p['milvus'][0]:.1f}/{p['milvus'][1]:.1f}; "
              f"p50 ratio milvus/local {p['milvus'][0] / p['local'][0]:.1f}x")  # fmt: skip


if __name__ == "__main__":
    main()
