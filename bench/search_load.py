"""Search under load: our server against the naive peer (bench/naive_peer.py), same corpus.

    .venv/bin/python bench/search_load.py [--corpus squad|100k|both] [--seconds 20]

For each corpus, one server after the other (never both at once): start it, time the start until
its first answer, then 8 concurrent clients (threads with kept-alive http.client connections: a
lean generator on the same 2 cores) ask varied real SQuAD dev questions for a fixed time; report
req/s, p50/p95/p99 and the server's peak RSS (VmHWM), ours and the peer's from the same run, and
their ratios. Then one client alone, for our end-to-end HTTP p50. Then, in-process on our index:
query encode alone, ANN alone, BM25 alone and the full search path.

Corpora:
  squad  the 2,067 SQuAD dev contexts (our index: bench/out/squad, built by bench/index_build.py
         or bench/features.py; the peer encodes the contexts with torch at startup).
  100k   SYNTHETIC: 100,000 paragraphs made of copies of the real SQuAD paragraphs (text
         identical, in other document ids) whose vectors are noise-perturbed copies of the real
         ones (cosine ~0.85 to the source). Written directly with qa.store's Index/Store (nothing
         is embedded); the peer gets the same first-passage vectors per paragraph (--vectors).
All traffic goes to 127.0.0.1; every loop is bounded in time and count.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ann_scale import synthesize  # noqa: E402
from qa.errors import IndexCorruptError  # noqa: E402
from qa.evaluation import load_squad  # noqa: E402
from qa.lexical import Lexical, terms  # noqa: E402
from qa.store import FORMAT_VERSION, Index, Store, read_manifest, vector_index  # noqa: E402

OUT = ROOT / "bench" / "out"
SQUAD = ROOT.parent / "shared" / "eval" / "squad-dev-v1.1.json"
PYTHON = ROOT / ".venv" / "bin" / "python"
CLIENTS = 8
MAX_REQUESTS = 200_000


def squad_index() -> Index:
    """bench/out/squad's index. One of an older format is rebuilt in place by
    `QA_DOCS=bench/out/squad/docs QA_INDEX=bench/out/squad/index .venv/bin/python -m qa index`."""
    return Store(OUT / "squad" / "index").load("all-MiniLM-L6-v2")


def synthetic_index(target: int = 100_000) -> Path:
    """bench/out/synth100k: a 100k-paragraph index made from the SQuAD one (built once, and
    again when the index format changes)."""
    root = OUT / "synth100k"
    store = Store(root / "index")
    if store.current() is not None:
        try:
            read_manifest(store.current_folder())  # refuses any other format
            return root
        except IndexCorruptError as e:
            print(f"building the synthetic index again: {e}", flush=True)
            shutil.rmtree(root / "index")
    started = time.perf_counter()
    base = squad_index()
    n = len(base.paragraphs)
    copies = -(-target // n)
    paragraphs, docs = [], []
    for c in range(copies):
        for doc in base.manifest["documents"]:
            docs.append({**doc, "id": f"c{c:02d}/{doc['id']}"})
        paragraphs += [replace(p, document=f"c{c:02d}/{p.document}") for p in base.paragraphs]
    paragraphs = paragraphs[:target]
    keep = {p.document for p in paragraphs}
    docs = [d for d in docs if d["id"] in keep]
    docs[-1]["paragraphs"] = sum(1 for p in paragraphs if p.document == docs[-1]["id"])

    def tile(rows: np.ndarray, first: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Vector rows of all copies (cut at `target` paragraphs) and their paragraph rows."""
        ids = np.concatenate([np.arange(len(rows))] * copies)
        owner = np.concatenate([rows + c * n for c in range(copies)])
        cut = owner < target
        return ids[cut], owner[cut].astype(np.int32)

    pid, passage_paragraph = tile(base.passage_paragraph, base.passage_first)
    sid, sentence_paragraph = tile(base.sentence_paragraph, base.sentence_first)
    d = base.manifest["dimension"]
    pvec = base.passages.all()
    svec = base.sentences.all()
    # Copy 0 keeps the real vectors; every other copy gets noise-perturbed ones.
    passage_vectors = synthesize(pvec, len(pid), seed=2)
    passage_vectors[: len(pvec)] = pvec
    sentence_vectors = synthesize(svec, len(sid), seed=3)
    sentence_vectors[: len(svec)] = svec
    print(f"  synthesized vectors: {time.perf_counter() - started:.1f}s", flush=True)

    par_terms = [terms(p.text) for p in base.paragraphs]
    sent_terms = [
        terms(base.paragraphs[r].text[s:e])
        for r, (s, e) in zip(base.sentence_paragraph, base.sentence_span.tolist())
    ]
    t = time.perf_counter()
    lexical = Lexical.build([par_terms[i % n] for i in range(target)], [sent_terms[i] for i in sid])
    print(f"  BM25 indexes: {time.perf_counter() - t:.1f}s", flush=True)
    t = time.perf_counter()
    passages = vector_index(passage_vectors, d)
    sentences = vector_index(sentence_vectors, d)
    print(
        f"  vector indexes ({type(passages).__name__} {len(pid):,} passages, "
        f"{type(sentences).__name__} {len(sid):,} sentences): {time.perf_counter() - t:.1f}s",
        flush=True,
    )
    created = datetime.now(UTC)
    index = Index(
        manifest={
            **base.manifest,
            "version": created.strftime("%Y%m%dT%H%M%S") + "-synth",
            "created": created.isoformat(timespec="seconds"),
            "documents": docs,
            "paragraphs": target,
            "passages": len(pid),
            "sentences": len(sid),
            "format": FORMAT_VERSION,
            "docs": str((root / "docs").resolve()),  # (an empty folder: nothing to rebuild)
        },
        paragraphs=paragraphs,
        passages=passages,
        passage_paragraph=passage_paragraph,
        passage_span=base.passage_span[pid],
        passage_hash=[base.passage_hash[i] for i in pid],
        sentences=sentences,
        sentence_paragraph=sentence_paragraph,
        sentence_span=base.sentence_span[sid],
        sentence_hash=[base.sentence_hash[i] for i in sid],
        lexical=lexical,
    )
    Store(root / "index").publish(index)
    # The peer's corpus: one line per paragraph, its first passage vector.
    (root / "corpus.txt").write_text(
        "\n".join(" ".join(p.text.split()) for p in paragraphs) + "\n", "utf-8"
    )
    np.save(root / "vectors.npy", passage_vectors[index.passage_first[:-1]])
    (root / "docs").mkdir(exist_ok=True)
    print(f"built the synthetic 100k index in {time.perf_counter() - started:.1f}s", flush=True)
    return root


def squad_corpus() -> Path:
    path = OUT / "squad" / "corpus.txt"
    if not path.exists():
        contexts, _ = load_squad(SQUAD)
        path.write_text("\n".join(" ".join(c.split()) for c in contexts.values()) + "\n", "utf-8")
    return path


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Server:
    """A server process: started, timed to its first answer, measured, stopped."""

    def __init__(self, name: str, argv: list[str], path: str, port: int, env: dict) -> None:
        self.name, self.path, self.port = name, path, port
        self.log = open(OUT / f"{name}.log", "w")  # noqa: SIM115 (closed in stop)
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        try:
            self.first_answer = self._wait_first_answer()
        except BaseException:
            self.stop()
            raise

    def url(self, q: str) -> tuple[str, dict]:
        return f"http://127.0.0.1:{self.port}{self.path}", {"q": q, "k": 5}

    def _wait_first_answer(self, limit: float = 600) -> float:
        while time.perf_counter() - self.started < limit:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited; see {self.log.name}")
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            try:
                if ask(connection, self, "When was the first Super Bowl?") == 200:
                    return time.perf_counter() - self.started
            except OSError:
                pass
            finally:
                connection.close()
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} gave no answer within {limit}s")

    def stop(self) -> float:
        rss = peak_rss_mb(self.proc.pid)
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()
        return rss


def ask(connection: http.client.HTTPConnection, server: Server, q: str) -> int:
    """One question over a kept-alive connection; its HTTP status."""
    _, params = server.url(q)
    connection.request("GET", f"{server.path}?{urllib.parse.urlencode(params)}")
    response = connection.getresponse()
    response.read()
    return response.status


def load(server: Server, questions: list[str], seconds: float, clients: int = CLIENTS) -> dict:
    """`clients` concurrent clients, each asking the next question as soon as it has one.

    Each client is a thread with one kept-alive http.client connection: a lean generator
    (~0.2 ms of CPU per request; async httpx took ~1-2 ms) on the same 2 cores as the server,
    so it takes little from either server, and the same from both."""
    latencies: list[float] = []
    errors = 0
    rng = random.Random(0)
    order = iter([rng.choice(questions) for _ in range(MAX_REQUESTS)])
    lock = threading.Lock()
    deadline = 0.0

    def client(warm_up: str) -> None:
        nonlocal errors
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        try:
            ask(connection, server, warm_up)
            barrier.wait()
            while time.perf_counter() < deadline:
                with lock:
                    q = next(order, None)
                if q is None:
                    return
                started = time.perf_counter()
                status = ask(connection, server, q)
                with lock:
                    latencies.append(time.perf_counter() - started)
                    errors += status != 200
        finally:
            connection.close()

    def start() -> None:
        nonlocal deadline
        deadline = time.perf_counter() + seconds

    barrier = threading.Barrier(clients, action=start)  # all warmed up: the clock starts
    threads = [threading.Thread(target=client, args=(q,)) for q in questions[:clients]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = seconds + max(0.0, time.perf_counter() - deadline)  # the last answers included
    ms = np.array(latencies) * 1000
    return {
        "requests": len(ms),
        "errors": errors,
        "rps": len(ms) / elapsed,
        "p50": float(np.percentile(ms, 50)),
        "p95": float(np.percentile(ms, 95)),
        "p99": float(np.percentile(ms, 99)),
    }


def one_client(server: Server, questions: list[str], n: int = 300) -> dict:
    """Latency of one client asking one question after the other: what a request costs the
    server end to end."""
    rng = random.Random(2)
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    latencies = []
    try:
        for i in range(n + 20):
            started = time.perf_counter()
            if ask(connection, server, rng.choice(questions)) != 200:
                raise RuntimeError(f"{server.name} failed a question")
            if i >= 20:  # the first ones warm up
                latencies.append((time.perf_counter() - started) * 1000)
    finally:
        connection.close()
    return {"p50": statistics.median(latencies)}


def run_pair(label: str, index_root: Path, corpus: Path, vectors: Path | None, args) -> dict:
    _, qs = load_squad(SQUAD)
    questions = [q.text for q in qs]
    # No QA_DOCS: the server takes the index's own documents folder (another one is an error).
    env = {**os.environ, "QA_INDEX": str(index_root / "index")}
    env.pop("QA_DOCS", None)
    results = {}
    ours = Server(
        "ours",
        [str(PYTHON), "-m", "qa", "serve", "--port", str(args.port)],
        "/api/search",
        args.port,
        env,
    )
    try:
        results["ours"] = load(ours, questions, args.seconds)
        alone = one_client(ours, questions)
    finally:
        rss = ours.stop()
    results["ours"].update(startup=ours.first_answer, rss=rss, p50_alone=alone["p50"])
    print("ours:", {k: round(v, 2) for k, v in results["ours"].items()}, flush=True)
    peer_argv = [str(PYTHON), str(ROOT / "bench" / "naive_peer.py"), "--corpus", str(corpus)]
    peer_argv += ["--port", str(args.port + 1)] + (["--vectors", str(vectors)] if vectors else [])
    peer = Server("peer", peer_argv, "/search", args.port + 1, dict(os.environ))
    try:
        results["peer"] = load(peer, questions, args.seconds)
    finally:
        rss = peer.stop()
    results["peer"].update(startup=peer.first_answer, rss=rss)

    o, p = results["ours"], results["peer"]
    print(f"\n== {label}: {CLIENTS} concurrent clients, {args.seconds:.0f} s each ==")
    head = ("", "req/s", "p50 ms", "p95 ms", "p99 ms", "requests", "errors", "start s", "RSS MB")
    row = "{:6} {:>8} {:>8} {:>8} {:>8} {:>9} {:>6} {:>8} {:>8}"
    print(row.format(*head) + "   (start: to the first answer; RSS: peak, VmHWM)")
    for name, r in results.items():
        values = [f"{r[k]:.1f}" for k in ("rps", "p50", "p95", "p99")]
        values += [r["requests"], r["errors"], f"{r['startup']:.1f}", f"{r['rss']:.0f}"]
        print(row.format(name, *values))
    print(
        f"ratios ours/peer: throughput {o['rps'] / p['rps']:.2f}x  p50 {o['p50'] / p['p50']:.3f}  "
        f"p95 {o['p95'] / p['p95']:.3f}  p99 {o['p99'] / p['p99']:.3f}  "
        f"startup {o['startup'] / p['startup']:.3f}  RSS {o['rss'] / p['rss']:.2f}"
    )
    if vectors:
        print(
            "(the peer loads its 100k vectors precomputed: encoding them at startup, as the "
            "naive script does for a text file, would take ~100,000 / 25 per s = over an hour)"
        )
    print(
        f"our p95 {o['p95']:.1f} ms vs peer p50 {p['p50']:.1f} ms: "
        f"{'lower' if o['p95'] < p['p50'] else 'NOT lower'}",
        flush=True,
    )
    return results


def in_process(label: str, index_root: Path, http: dict | None, n: int = 200) -> None:
    """Median time of each stage of a search, on our index, one query at a time."""
    from qa.answer import make_answer
    from qa.engine import Engine
    from qa.retriever import make_query, rank
    from qa.settings import Settings

    settings = Settings.load({"index": index_root / "index", "docs": index_root}, environ={})
    engine = Engine(settings)
    index = engine.index
    _, qs = load_squad(SQUAD)
    questions = [q.text for q in random.Random(1).sample(qs, n)]
    emb = engine.embedder
    stages: dict[str, list[float]] = {
        k: [] for k in ("encode", "ann", "bm25", "rank", "search", "verify")
    }
    for q in questions:
        t0 = time.perf_counter()
        vector = emb.encode_query(q)
        t1 = time.perf_counter()
        query = make_query(q, vector)
        k = min(200, index.passages.ntotal)
        index.passages.search(query.vector[None, :], k)
        index.sentences.search(query.vector[None, :], min(200, index.sentences.ntotal))
        t2 = time.perf_counter()
        index.lexical.scores(query.terms)
        t3 = time.perf_counter()
        hits = rank(index, query, 5)  # (searches and scores again: the whole ranking step)
        t4 = time.perf_counter()
        engine.search(q, 5)
        t5 = time.perf_counter()
        # What the answer adds to the ranking: the verifier reads the shown passages, scores
        # the confidence and looks for the answer phrase (qa.answer.make_answer).
        make_answer(q, index, hits, settings.passages, settings.min_confidence)
        t6 = time.perf_counter()
        steps = (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5)
        for name, dt in zip(stages, steps):
            stages[name].append(dt * 1000)
    med = {k: statistics.median(v) for k, v in stages.items()}
    print(f"\n== {label}: in-process, one query at a time, median of {n} ({emb.backend}) ==")
    print(f"query encode {med['encode']:.2f} ms | ANN (passages+sentences, k=200) "
          f"{med['ann']:.2f} ms | BM25 scores {med['bm25']:.2f} ms | "
          f"rank (candidates + all signals) {med['rank']:.2f} ms | "
          f"full engine.search {med['search']:.2f} ms | "
          f"answer (verifier, {settings.passages} passages) {med['verify']:.2f} ms")  # fmt: skip
    base = med["encode"] + med["ann"] + med["bm25"]
    print(f"encode + ANN + BM25 = {base:.2f} ms", flush=True)
    if http is not None:
        for name, p50 in (("1 client", http["p50_alone"]), ("8 clients", http["p50"])):
            print(
                f"HTTP p50 with {name} {p50:.1f} ms: / (encode + ANN + BM25) = {p50 / base:.2f}, "
                f"/ full engine.search = {p50 / med['search']:.2f}"
            )
    # The same questions from 8 threads at once (what the threadpool does), for concurrency.
    done = []

    def worker(qs: list[str]) -> None:
        for q in qs:
            engine.search(q, 5)
            done.append(1)

    threads = [threading.Thread(target=worker, args=(questions[i::CLIENTS],)) for i in range(8)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    rate = len(done) / (time.perf_counter() - t)
    print(f"8 threads, {len(done)} searches in-process: {rate:.0f}/s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", choices=["squad", "100k", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f} at start", flush=True)
    if args.corpus in ("squad", "both"):
        r = run_pair("SQuAD dev contexts (2,067)", OUT / "squad", squad_corpus(), None, args)
        in_process("SQuAD dev contexts", OUT / "squad", r["ours"])
    if args.corpus in ("100k", "both"):
        root = synthetic_index()
        label = "SYNTHETIC 100k paragraphs (real texts, noise-perturbed vector copies)"
        r = run_pair(label, root, root / "corpus.txt", root / "vectors.npy", args)
        in_process(label, root, r["ours"])


if __name__ == "__main__":
    main()
