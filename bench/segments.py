"""Segments: answers like a full build, one-document updates at 100k, throughput with a delta,
a merge under load.

    .venv/bin/python bench/segments.py [--part equivalence|updates|throughput|merge|all]

equivalence  the 2,067 SQuAD dev contexts (bench/out/squad, one document each; built by
             bench/features.py), every base an HNSW graph as at scale (ANN_THRESHOLD lowered to
             1,000 for this run). 30 contexts held back, then a base built without them; then
             30 added, 30 changed (first sentence dropped), 30 deleted: the delta version, and
             after it the merged one, against a build of the same documents without segments
             (a new base from the same vectors, so only the segments differ): top-5 paragraphs
             identical for every 5th SQuAD dev question (2,114)?
updates      the synthetic 100k index of bench/search_load.py (592k vectors), its documents
             written as files: adding one document (5 paragraphs, all text new), changing one
             document, deleting one, each timed as Engine.build (what `--watch` and an upload
             run; the server swaps to it in memory) against embedding the same texts alone.
throughput   the 100k index with 5,000 paragraphs moved to the delta (their base vectors
             tombstones) against the merged index: CPU per question (one thread, interleaved
             question by question) and searches per second in-process (2 threads, interleaved
             rounds), same questions; retrieval alone and the whole Engine.search; the same
             with an exhaustive delta, and whether both give the same top 5 and top 200.
merge        a real `qa serve` on the delta version, 8 clients asking for the whole merge
             (bounded), the merge run by this process: failed requests, and whether the server
             switched to the merged version.
Every loop is bounded; servers listen on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.features import OUT, SQUAD  # noqa: E402
from bench.incremental import texts_of  # noqa: E402
from bench.search_load import synthetic_index  # noqa: E402
from qa.engine import Engine  # noqa: E402
from qa.evaluation import load_squad  # noqa: E402
from qa.retriever import make_query, rank  # noqa: E402
from qa.settings import Settings  # noqa: E402
from qa.store import Index, Store  # noqa: E402
from qa.store import segments as store_segments  # noqa: E402
from qa.store import vectors as store_vectors  # noqa: E402
from qa.store.segments import Segments  # noqa: E402

MODEL = "all-MiniLM-L6-v2"
SCRATCH = OUT / "segments"


def engine(docs: Path, index: Path, merge_after: int = 5000, embedder=None) -> Engine:
    settings = Settings.load(
        {"docs": docs, "index": index, "merge_after": str(merge_after)}, environ={}
    )
    return Engine(settings, embedder)


def top5(index: Index, queries: list) -> list[tuple]:
    """Per question, its top 5 as (document, paragraph number): comparable across versions."""
    out = []
    for q in queries:
        hits = rank(index, q, 5)
        out.append(
            tuple((index.paragraphs[h.row].document, index.paragraphs[h.row].number) for h in hits)
        )
    return out


def same(a: list[tuple], b: list[tuple]) -> float:
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a)


def equivalence() -> None:
    store_vectors.ANN_THRESHOLD = 1_000  # every base an HNSW graph, as at 100k
    source = OUT / "squad"
    if not (source / "index").is_dir():
        raise SystemExit("no bench/out/squad: run bench/features.py (or index_build.py) first")
    root = SCRATCH / "squad"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(source / "docs", root / "docs")
    shutil.copytree(source / "index", root / "index")
    docs = root / "docs"
    names = sorted(p.name for p in docs.iterdir())
    held, changed, deleted = names[0::69][:30], names[23::69][:30], names[46::69][:30]
    (root / "held").mkdir()
    for name in held:
        shutil.move(docs / name, root / "held" / name)
    base = engine(docs, root / "index", merge_after=0)
    t = time.perf_counter()
    base.build(repoint=True)  # a new base (HNSW) of the 2,037 others, from the stored vectors
    print(f"base without the held-back 30: {time.perf_counter() - t:.1f}s", flush=True)
    shutil.copytree(root / "index", root / "twin")  # the same start, built without segments
    for name in held:
        shutil.move(root / "held" / name, docs / name)
    for name in changed:
        text = (docs / name).read_text("utf-8")
        (docs / name).write_text(text.split(". ", 1)[-1], "utf-8")
    for name in deleted:
        (docs / name).unlink()
    live = engine(docs, root / "index", embedder=base.embedder)
    plan = live.build()
    print(f"delta version: {plan.summary()}", flush=True)
    reference = engine(docs, root / "twin", merge_after=0, embedder=base.embedder)
    reference.build()
    index, ref = live.index, reference.index
    print(
        f"  delta: {index.passages.delta.ntotal:,} passages, {index.sentences.delta.ntotal:,} "
        f"sentences; tombstones {index.passages.tombstones:,} + {index.sentences.tombstones:,}; "
        f"pending {index.pending():,} paragraphs",
        flush=True,
    )
    _, questions = load_squad(SQUAD)
    asked = [q.text for q in questions][::5]
    t = time.perf_counter()
    queries = [make_query(q, live.embedder.encode_query(q)) for q in asked]
    print(f"  {len(queries):,} questions encoded: {time.perf_counter() - t:.1f}s", flush=True)
    expected = top5(ref, queries)
    before = top5(index, queries)
    t = time.perf_counter()
    live.merge()
    print(f"merged: {time.perf_counter() - t:.1f}s", flush=True)
    after = top5(live.index, queries)
    print(
        "top-5 identical to the build without segments: "
        f"delta version {same(before, expected):.2%}, "
        f"merged {same(after, expected):.2%} (target >= 99.5 %); top-1: "
        f"{same([b[:1] for b in before], [e[:1] for e in expected]):.2%} / "
        f"{same([a[:1] for a in after], [e[:1] for e in expected]):.2%}",
        flush=True,
    )


def synthetic_docs(root: Path) -> Path:
    """The synthetic index's documents as files (copies of bench/out/squad's, same bytes)."""
    docs = root / "docs"
    manifest = json.loads((Store(root / "index").current_folder() / "manifest.json").read_text())
    for entry in manifest["documents"]:
        path = docs / entry["id"]
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            os.link(OUT / "squad" / "docs" / entry["id"].split("/", 1)[1], path)
    return docs


def timed_build(live: Engine, texts: list[str], label: str) -> None:
    t, cpu = time.perf_counter(), time.process_time()
    plan = live.build()
    build, cpu = time.perf_counter() - t, time.process_time() - cpu
    t = time.perf_counter()
    if texts:
        live.embedder.encode(texts)
    embed = time.perf_counter() - t
    print(
        f"{label}: answerable after {build:.2f}s (build; {cpu:.2f} CPU-s in this process), "
        f"embedding its {len(texts)} texts alone "
        f"{embed:.2f}s; build - 2 x embedding = {build - 2 * embed:.2f}s "
        f"(target: build <= 5 s); {plan.summary()}",
        flush=True,
    )


def updates() -> None:
    root = synthetic_index()
    docs = synthetic_docs(root)
    live = engine(docs, root / "index")
    t = time.perf_counter()
    live.index  # noqa: B018 (loaded now, not inside the first timed build)
    print(f"loaded the 100k index: {time.perf_counter() - t:.1f}s", flush=True)
    t = time.perf_counter()
    plan = live.build(repoint=True)  # (a copy of the index says another folder)
    print(
        f"first build over the files (nothing to do, stamps recorded): {plan.summary()} "
        f"{time.perf_counter() - t:.1f}s",
        flush=True,
    )
    contexts, _ = load_squad(SQUAD)
    article = list(contexts.values())[:5]  # a one-page document: 5 paragraphs, all text new
    text = "\n\n".join(c.lower() for c in article)
    (docs / "new-article.txt").write_text(text, "utf-8")
    texts = texts_of(live, docs / "new-article.txt", "new-article.txt")
    timed_build(live, texts, "add one document (5 paragraphs)")
    victim = sorted(docs.glob("c01/*"))[0]
    new = victim.read_text("utf-8").upper()
    victim.unlink()  # (a hard link to bench/out/squad's file: never write through it)
    victim.write_text(new, "utf-8")
    texts = texts_of(live, victim, victim.relative_to(docs).as_posix())
    timed_build(live, texts, "change one document (1 paragraph)")
    victim.unlink()
    timed_build(live, [], "delete one document")
    print(f"pending: {live.index.pending()} paragraphs", flush=True)


def with_delta(index: Index, paragraphs: int, exhaustive: bool = False) -> Index:
    """`index` with its last `paragraphs` paragraphs' vectors moved to a delta segment, built as
    an update builds it (`exhaustive`: one float16 scan whatever its size, as before fast scan)."""
    parts = {}
    first = {"passage": index.passage_first, "sentence": index.sentence_first}
    scan = store_segments.DELTA_SCAN
    store_segments.DELTA_SCAN = 1 << 62 if exhaustive else scan
    try:
        for kind in ("passage", "sentence"):
            segments: Segments = getattr(index, f"{kind}s")
            start = int(first[kind][len(index.paragraphs) - paragraphs])
            moved = np.arange(start, segments.ntotal)
            slot = segments.slot.copy()
            slot[moved] = segments.base.ntotal + np.arange(len(moved))
            delta = store_segments.delta_index(segments.rows(moved), segments.base)
            parts[f"{kind}s"] = Segments(
                segments.base, delta, slot, segments.source, segments.checksum
            )
    finally:
        store_segments.DELTA_SCAN = scan
    version = index.version + "-d"
    return replace(index, manifest={**index.manifest, "version": version}, by_document={}, **parts)


def cpu_per_query(variants: dict[str, Callable], queries: list, rounds: int) -> dict[str, list]:
    """Per variant, CPU ms per question of each round, the variants interleaved question by
    question (alternating their order): the machine's load swings hit all of them alike."""
    out: dict[str, list] = {name: [] for name in variants}
    for _ in range(rounds):
        spent = dict.fromkeys(variants, 0.0)
        for i, q in enumerate(queries):
            for name in list(variants)[:: 1 if i % 2 else -1]:
                t = time.process_time()
                variants[name](q)
                spent[name] += time.process_time() - t
        for name in variants:
            out[name].append(spent[name] / len(queries) * 1e3)
    return out


def throughput(rounds: int = 4, per_round: int = 100, moved: int = 5000) -> None:
    root = synthetic_index()
    live = engine(synthetic_docs(root), root / "index")
    merged = live.index
    print(
        f"baseline: {merged.passages.delta.ntotal + merged.sentences.delta.ntotal} delta vectors, "
        f"{merged.passages.tombstones + merged.sentences.tombstones} tombstones",
        flush=True,
    )
    t = time.process_time()
    delta = with_delta(merged, moved)
    print(
        f"delta: {delta.passages.delta.ntotal:,} passages + {delta.sentences.delta.ntotal:,} "
        f"sentences of {moved:,} paragraphs ({type(delta.sentences.delta).__name__}, built in "
        f"{time.process_time() - t:.1f} CPU-s); tombstones {delta.passages.tombstones:,} + "
        f"{delta.sentences.tombstones:,}",
        flush=True,
    )
    exhaustive = with_delta(merged, moved, exhaustive=True)
    _, questions = load_squad(SQUAD)
    asked = [q.text for q in questions][1::7][: per_round * 2]
    queries = [make_query(q, live.embedder.encode_query(q)) for q in asked]

    def qps(work) -> float:
        done = [0]

        def run(part: list) -> None:
            for item in part:
                work(item)
                done[0] += 1

        threads = [threading.Thread(target=run, args=(queries[i::2],)) for i in range(2)]
        t = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        return done[0] / (time.perf_counter() - t)

    def searcher(index: Index):
        def search(q) -> None:
            live._index = index
            live.search(q.text, k=5)

        return search

    indexes = {"merged": merged, "delta": delta, "exhaustive delta": exhaustive}
    for label, make_work in (
        ("retrieval (rank)", lambda index: lambda q: rank(index, q, 5)),
        ("Engine.search", searcher),
    ):
        cpu = cpu_per_query({n: make_work(i) for n, i in indexes.items()}, queries, rounds)
        m = np.median(cpu["merged"])
        print(
            f"{label}, CPU per question (one thread, interleaved; medians of {rounds} rounds): "
            + ", ".join(
                f"{n} {np.median(c):.2f} ms (x{m / np.median(c):.3f})" for n, c in cpu.items()
            )
            + "; rounds: "
            + " / ".join(f"{a / b:.3f}" for a, b in zip(cpu["merged"], cpu["delta"], strict=True)),
            flush=True,
        )
        results: dict[str, list[float]] = {"merged": [], "delta": []}
        for _ in range(rounds):
            for name in results:
                results[name].append(qps(make_work(indexes[name])))
        m, d = np.median(results["merged"]), np.median(results["delta"])
        print(
            f"{label}: merged {m:.1f}/s, delta of {moved:,} paragraphs {d:.1f}/s: "
            f"ratio {d / m:.3f} "
            f"(target >= 0.90; 2 threads, medians of {rounds} interleaved rounds)",
            flush=True,
        )
    live._index = merged
    top = {n: top5(i, queries) for n, i in indexes.items()}
    print(
        f"top 5 identical, delta / exhaustive: {same(top['delta'], top['exhaustive delta']):.2%}"
        f", delta / merged: {same(top['delta'], top['merged']):.2%}"
        f", exhaustive / merged: {same(top['exhaustive delta'], top['merged']):.2%}"
        f" ({len(queries)} questions)",
        flush=True,
    )
    for kind in ("passages", "sentences"):
        fast, full = getattr(delta, kind), getattr(exhaustive, kind)
        found = [fast.search(q.vector[None, :], 200)[1][0] for q in queries]
        truth = [full.search(q.vector[None, :], 200)[1][0] for q in queries]
        again = sum(_asked_twice(fast, q.vector[None, :], 200) for q in queries)
        print(
            f"{kind}: top 200 the exhaustive delta's for "
            f"{np.mean([set(a) == set(b) for a, b in zip(found, truth, strict=True)]):.2%} "
            f"of the questions; the delta asked for its 200 best (not only its "
            f"{store_segments.DELTA_FIRST}) for {again / len(queries):.1%}",
            flush=True,
        )


def _asked_twice(segments: Segments, query: np.ndarray, k: int) -> bool:
    """Did Segments.search ask the delta twice (its first rows reaching the base's k-th)?"""
    base = segments.base.search(query, k, params=segments._params)[0][0]
    first = segments.delta.search(query, store_segments.DELTA_FIRST)[0][0]
    return bool(first[-1] >= base[-1])


def merge_under_load(seconds_cap: float = 1800.0) -> None:
    root = synthetic_index()
    docs = synthetic_docs(root)
    live = engine(docs, root / "index")
    delta = with_delta(live.index, 5000)
    delta.manifest["version"] = delta.manifest["version"].replace("-d", "") + "d"
    live.store.publish(delta)  # the server starts on a version with a 5,000-paragraph delta
    sock_port = _free_port()
    env = {
        **os.environ,
        "QA_INDEX": str(root / "index"),
        "QA_DOCS": str(docs),
        "QA_PORT": str(sock_port),
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": str(ROOT),
    }
    log = open(SCRATCH / "serve.log", "w")  # noqa: SIM115 (closed below)
    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "python"), "-m", "qa", "serve"], env=env, stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        _wait_up(sock_port)
        _, questions = load_squad(SQUAD)
        asked = [q.text for q in questions][::11]
        statuses: list[int] = []
        versions: list[str] = []
        stop = threading.Event()

        def client(i: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", sock_port, timeout=60)
            for n in range(100_000):  # bounded
                if stop.is_set():
                    break
                q = asked[(i * 997 + n) % len(asked)]
                try:
                    conn.request("GET", "/api/search?" + urllib.parse.urlencode({"q": q, "k": 5}))
                    r = conn.getresponse()
                    r.read()
                    statuses.append(r.status)
                except OSError:
                    statuses.append(0)
                    conn = http.client.HTTPConnection("127.0.0.1", sock_port, timeout=60)
            conn.close()

        def watch() -> None:
            while not stop.is_set():
                versions.append(_health(sock_port))
                time.sleep(0.5)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
        threads.append(threading.Thread(target=watch))
        for th in threads:
            th.start()
        t = time.perf_counter()
        merged = live.merge()
        took = time.perf_counter() - t
        deadline = time.monotonic() + 120
        while versions[-1:] != [merged] and time.monotonic() < deadline:
            time.sleep(0.5)
        switched = time.perf_counter() - t
        time.sleep(2)
        stop.set()
        for th in threads:
            th.join(120)
        failed = sum(s != 200 for s in statuses)
        print(
            f"merge under load: merged in {took:.0f}s, server on the merged version after "
            f"{switched:.0f}s ({'yes' if versions[-1:] == [merged] else 'NO'}); "
            f"{len(statuses):,} requests, {failed} failed (target 0)",
            flush=True,
        )
    finally:
        server.terminate()
        server.wait(30)
        log.close()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _health(port: int) -> str:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/health")
        body = json.loads(conn.getresponse().read())
        conn.close()
        return body.get("index_version", "")
    except (OSError, ValueError):
        return ""


def _wait_up(port: int, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not _health(port):
        if time.monotonic() > deadline:
            raise SystemExit("the server did not start")
        time.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parts = ("equivalence", "updates", "throughput", "merge")
    parser.add_argument("--part", choices=[*parts, "all"], default="all")
    parser.add_argument("--delta", type=int, default=5000, help="paragraphs in the delta")
    args = parser.parse_args()
    SCRATCH.mkdir(parents=True, exist_ok=True)
    for part in parts:
        if args.part in (part, "all"):
            {"equivalence": equivalence, "updates": updates,
             "throughput": lambda: throughput(moved=args.delta),
             "merge": merge_under_load}[part]()  # fmt: skip


if __name__ == "__main__":
    main()
