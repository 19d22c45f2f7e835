"""The real Milvus 2.3.5 server (tests/milvus_server.py's) against our FAISS HNSW, same vectors.

    .venv/bin/python bench/milvus_server.py [--n 24000] [--queries 300] [--index DIR]

Starts the server from .venv-milvus (`make test` makes it) on free loopback ports and reports:
its start time (until a gRPC call answers) and its RSS after loading; the build of one
collection (insert, flush, HNSW index, load); then, from pymilvus, single searches of real SQuAD
question vectors (odd-numbered articles): p50 and top-5 agreement with the exact scan at several
ef and consistency levels (Eventually: a published version never changes), next to qa.store's
FAISS HNSW on the same vectors in the same run (the ratio of the p50s).

Vectors: 384-d FLOAT_VECTOR (2.3.5 cannot index FLOAT16_VECTOR), HNSW with qa.store's graph
parameters (M 32, efConstruction 100), inner product. They are the passage and sentence vectors
of the SQuAD dev index (bench/out/squad, built by bench/index_build.py), copied with noise up to
--n like bench/ann_scale.py's. Nothing leaves 127.0.0.1; the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ann_scale import synthesize  # noqa: E402
from qa.embedder import Embedder  # noqa: E402
from qa.evaluation import load_squad  # noqa: E402
from qa.store import Store  # noqa: E402
from qa.store.vectors import HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH, HNSW_M, hnsw_index  # noqa: E402
from tests.milvus_server import group_pids, milvus_server  # noqa: E402

SQUAD = ROOT.parent / "shared" / "eval" / "squad-dev-v1.1.json"
NAME = "bench_passages"


def rss_mb(pids: set[int]) -> tuple[float, float]:
    """(RSS, peak RSS) of these processes in MB, from /proc."""
    now = peak = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                now += int(line.split()[1])
            elif line.startswith("VmHWM:"):
                peak += int(line.split()[1])
    return now / 1024, peak / 1024


def questions(squad: Path, count: int) -> np.ndarray:
    """Vectors of `count` real SQuAD dev questions of odd-numbered articles (rule 7)."""
    _, asked = load_squad(squad)
    odd = [q.text for q in asked if q.article % 2 == 1]
    rng = np.random.default_rng(1)
    texts = [odd[i] for i in rng.choice(len(odd), count, replace=False)]
    return Embedder().encode(texts)


def timed(search, queries: np.ndarray) -> tuple[float, list[list[int]]]:
    """p50 in ms of single searches, and their ids."""
    times, found = [], []
    for query in queries:
        started = time.perf_counter()
        found.append(search(query))
        times.append((time.perf_counter() - started) * 1000)
    return float(np.percentile(times, 50)), found


def agreement(found: list[list[int]], exact: np.ndarray, k: int = 5) -> tuple[float, float]:
    """(share of queries whose top-k set is the exact one, recall@k)."""
    same = [set(f[:k]) == set(e[:k]) for f, e in zip(found, exact, strict=True)]
    recall = [len(set(f[:k]) & set(e[:k])) / k for f, e in zip(found, exact, strict=True)]
    return float(np.mean(same)), float(np.mean(recall))


def build(milvus, vectors: np.ndarray) -> float:
    """Create, insert, flush, index and load one collection as a build would; its seconds."""
    from pymilvus import DataType, MilvusClient

    started = time.perf_counter()
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=vectors.shape[1])
    milvus.create_collection(NAME, schema=schema, consistency_level="Strong")
    for start in range(0, len(vectors), 2000):  # inserts under the server's 64 MB message
        rows = vectors[start : start + 2000]
        milvus.insert(NAME, [{"id": start + i, "vector": v} for i, v in enumerate(rows)])
    milvus.flush(NAME)
    params = milvus.prepare_index_params()
    graph = {"M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION}
    params.add_index("vector", index_type="HNSW", metric_type="IP", params=graph)
    milvus.create_index(NAME, params)
    milvus.load_collection(NAME)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=24_000, help="vectors in the collection")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--index", type=Path, default=ROOT / "bench" / "out" / "squad" / "index")
    parser.add_argument("--squad", type=Path, default=SQUAD)
    parser.add_argument("--ef", type=int, nargs="*", default=[64, 128, 256, HNSW_EF_SEARCH])
    args = parser.parse_args()
    from pymilvus import MilvusClient

    index = Store(args.index).load("all-MiniLM-L6-v2")
    base = np.concatenate([index.passages.all(), index.sentences.all()])
    vectors = synthesize(base, args.n)
    queries = questions(args.squad, args.queries)
    exact = np.argsort(-(queries @ vectors.T), axis=1)[:, :5]
    print(f"{args.n:,} {vectors.shape[1]}-d vectors, {args.queries} SQuAD questions", flush=True)

    faiss_index = hnsw_index(vectors, vectors.shape[1])
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        with milvus_server(Path(folder)) as server:
            start = time.perf_counter() - started
            pids = group_pids(server.pgid) - {server.pgid}  # the binary, not the launcher
            idle, _ = rss_mb(pids)
            milvus = MilvusClient(server.address)
            seconds = build(milvus, vectors)
            loaded, peak = rss_mb(pids)
            print(f"start {start:.1f} s (until a gRPC call answers); RSS idle {idle:.0f} MB")
            print(f"build (insert, flush, HNSW, load) {seconds:.1f} s; RSS loaded {loaded:.0f} MB")
            print(f"(peak {peak:.0f} MB; the server binary's)")
            runs = [(ef, limit, "Eventually") for ef in args.ef for limit in (5, 200)]
            runs += [(HNSW_EF_SEARCH, 200, level) for level in ("Bounded", "Strong")]
            for ef, limit, level in runs:
                if limit > ef:
                    continue

                def search(q, ef=ef, limit=limit, level=level):
                    hits = milvus.search(
                        NAME,
                        data=[q],
                        anns_field="vector",
                        limit=limit,
                        search_params={"metric_type": "IP", "params": {"ef": ef}},
                        consistency_level=level,
                    )
                    return [hit["id"] for hit in hits[0]]

                def local(q, ef=ef, limit=limit):
                    faiss_index.hnsw.efSearch = ef
                    return faiss_index.search(q[None, :], limit)[1][0].tolist()

                p50, found = timed(search, queries)
                faiss_p50, faiss_found = timed(local, queries)
                same, recall = agreement(found, exact)
                faiss_same, _ = agreement(faiss_found, exact)
                print(
                    f"ef {ef:<3} limit {limit:<3} {level:<10}: Milvus p50 {p50:6.2f} ms, top-5 "
                    f"exact {same:.1%} (recall@5 {recall:.3f}); FAISS HNSW p50 {faiss_p50:.3f} "
                    f"ms, top-5 exact {faiss_same:.1%}; ratio {p50 / faiss_p50:.0f}x",
                    flush=True,
                )
            milvus.close()
    print(f"(qa.store searches with ef {HNSW_EF_SEARCH}, limit 200)")


if __name__ == "__main__":
    main()
