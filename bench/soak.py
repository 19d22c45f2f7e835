"""Soak: concurrent clients against a real `qa serve` for minutes, with a rebuild every minute.

    .venv/bin/python bench/soak.py [--clients 8] [--minutes 10] [--articles N] [--squad FILE]

Writes the SQuAD dev contexts as one .txt document per article into bench/out/soak/docs and
indexes them once into bench/out/soak/index (later runs reuse it: the build is incremental).
Then starts `qa serve` on a free port of 127.0.0.1 with QA_ADMIN_TOKEN set, and runs N client
threads that alternate POST /api/ask and GET /api/search with SQuAD questions, each waiting for
its answer before the next request (so at most N requests are in flight). Every minute it adds
a small document and calls POST /api/index. It prints, per minute, the requests, the errors
(anything but a 200, or a transport error), p50 and p99 latency and the rebuilds, then the
server's resident memory (RSS) at start and end. Exit code 1 if there was any error.
Traffic goes only to 127.0.0.1; everything stops at the deadline.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.incremental import SQUAD, file_name  # noqa: E402

OUT = ROOT / "bench" / "out" / "soak"


@dataclass
class Sample:
    minute: int
    endpoint: str
    seconds: float
    ok: bool
    detail: str = ""


def write_corpus(squad: Path, docs: Path, articles: int | None) -> list[str]:
    """One document per article (contexts separated by blank lines); returns the questions."""
    data = json.loads(squad.read_text("utf-8"))["data"][:articles]
    docs.mkdir(parents=True, exist_ok=True)
    questions = []
    for number, article in enumerate(data):
        path = docs / file_name(number, article["title"])
        text = "\n\n".join(p["context"].strip() for p in article["paragraphs"]) + "\n"
        if not path.exists() or path.read_text("utf-8") != text:
            path.write_text(text, "utf-8")
        questions += [qa["question"] for p in article["paragraphs"] for qa in p["qas"]]
    return questions


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def client(base: str, questions: list[str], seed: int, until: float, start: float, out: list):
    rng = random.Random(seed)
    with httpx.Client(base_url=base, timeout=60) as http:
        n = 0
        while time.monotonic() < until:
            question = rng.choice(questions)
            endpoint = "ask" if n % 2 == 0 else "search"
            n += 1
            began = time.monotonic()
            try:
                if endpoint == "ask":
                    response = http.post("/api/ask", json={"question": question})
                else:
                    response = http.get("/api/search", params={"q": question, "k": 5})
                ok = response.status_code == 200 and (
                    response.json().get("passages") or response.json().get("results")
                )
                detail = "" if ok else f"{response.status_code} {response.text[:200]}"
            except httpx.HTTPError as e:
                ok, detail = False, f"{type(e).__name__}: {e}"
            ended = time.monotonic()
            minute = int((began - start) // 60)
            out.append(Sample(minute, endpoint, ended - began, bool(ok), detail))


def rebuilder(
    base: str, token: str, docs: Path, until: float, start: float, log: list, pid: int, rss: dict
) -> None:
    """Every minute: note the server's RSS; unless `token` is empty, add a document and POST
    /api/index, noting what came of the previous build."""
    auth = {"Authorization": f"Bearer {token}"}
    minute = 1
    with httpx.Client(base_url=base, timeout=60) as http:
        while True:
            due = start + 60 * minute
            if due >= until:
                return
            time.sleep(max(0.0, due - time.monotonic()))
            rss[minute - 1] = rss_mb(pid)  # at the end of that minute
            if not token:
                minute += 1
                continue
            text = (
                f"Soak note {minute}: the harbour master counted {1000 + minute} boats "
                f"in minute {minute} of the soak test.\n"
            )
            (docs / f"zz-soak-{minute:03d}.txt").write_text(text, "utf-8")
            previous = http.get("/api/index", headers=auth).json()
            response = http.post("/api/index", headers=auth)
            log.append((minute, response.status_code, previous.get("state"), previous))
            minute += 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--articles", type=int, default=None, help="only the first N articles")
    parser.add_argument("--squad", type=Path, default=SQUAD)
    parser.add_argument("--no-rebuild", action="store_true", help="load only, no rebuilds")
    args = parser.parse_args(argv)
    if not 1 <= args.clients <= 64 or not 0 < args.minutes <= 120:
        parser.error("--clients must be 1..64 and --minutes 0..120")

    docs, index = OUT / "docs", OUT / "index"
    for old in docs.glob("zz-soak-*.txt"):  # notes of an earlier run
        old.unlink()
    questions = write_corpus(args.squad, docs, args.articles)
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env |= {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    qa = [str(ROOT / ".venv" / "bin" / "qa")] if (ROOT / ".venv/bin/qa").exists() else ["qa"]
    began = time.monotonic()
    subprocess.run([*qa, "index", "--docs", str(docs), "--index", str(index)], env=env, check=True)
    print(f"index of {len(list(docs.glob('*.txt')))} documents ready in "
          f"{time.monotonic() - began:.0f} s; {len(questions):,} questions")  # fmt: skip

    token = secrets.token_urlsafe(24)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [*qa, "serve", "--host", "127.0.0.1", "--port", str(port),
         "--docs", str(docs), "--index", str(index)],
        env=env | {"QA_ADMIN_TOKEN": token},
        stdout=subprocess.DEVNULL,
        stderr=open(OUT / "server.log", "w"),  # noqa: SIM115 (closed with the process)
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(base + "/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server did not start; see {OUT / 'server.log'}")
            time.sleep(0.5)
        with httpx.Client(base_url=base, timeout=60) as http:  # warm up the model
            http.post("/api/ask", json={"question": questions[0]})
        rss_start = rss_mb(server.pid)
        start = time.monotonic()
        until = start + 60 * args.minutes
        samples: list[Sample] = []
        rebuilds: list = []
        rss: dict[int, float] = {}
        admin = "" if args.no_rebuild else token
        threads = [
            threading.Thread(target=client, args=(base, questions, i, until, start, samples))
            for i in range(args.clients)
        ]
        threads.append(
            threading.Thread(
                target=rebuilder,
                args=(base, admin, docs, until, start, rebuilds, server.pid, rss),
            )
        )
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        rss_end = rss_mb(server.pid)
        with httpx.Client(base_url=base, timeout=60) as http:
            auth = {"Authorization": f"Bearer {token}"}
            for _ in range(120):  # let the last rebuild finish, then check it is served
                last = http.get("/api/index", headers=auth).json()
                if last["state"] != "running":
                    break
                time.sleep(1)
            newest = max([m for m, *_ in rebuilds], default=0)
            found = http.get(
                "/api/search",
                params={"q": f"harbour master counted {1000 + newest} boats", "k": 1},
            )
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()

    by_minute: dict[int, list[Sample]] = defaultdict(list)
    for s in samples:
        by_minute[s.minute].append(s)
    print(f"\n{args.clients} clients, {args.minutes:g} minutes, {base}, "
          f"{os.cpu_count()} CPUs (shared with whatever else runs)")  # fmt: skip
    print("minute  requests  errors  ask p50/p99 ms   search p50/p99 ms   RSS MB  rebuild")
    notes = {m: (code, state) for m, code, state, _ in rebuilds}
    for minute in sorted(by_minute):
        rows = by_minute[minute]
        ask = [s.seconds * 1000 for s in rows if s.endpoint == "ask"]
        search = [s.seconds * 1000 for s in rows if s.endpoint == "search"]
        errors = sum(not s.ok for s in rows)
        rebuild = notes.get(minute)
        note = f"POST {rebuild[0]} (previous: {rebuild[1]})" if rebuild else ""
        print(f"{minute + 1:>6}  {len(rows):>8}  {errors:>6}  "
              f"{percentile(ask, .5):>6.0f}/{percentile(ask, .99):<7.0f}  "
              f"{percentile(search, .5):>8.0f}/{percentile(search, .99):<8.0f}  "
              f"{rss.get(minute, rss_end):>6.0f}  {note}")  # fmt: skip
    total_errors = sum(not s.ok for s in samples)
    print(f"total   {len(samples):>8}  {total_errors:>6}  "
          f"({len(samples) / (60 * args.minutes):.1f} requests/s)")  # fmt: skip
    for s in [s for s in samples if not s.ok][:5]:
        print(f"  error: {s.endpoint} {s.detail}")
    failed = [p for _, _, state, p in rebuilds if state == "failed"] + (
        [last] if last["state"] == "failed" else []
    )
    print(f"rebuilds requested: {len(rebuilds)}; last: {last['state']} "
          f"({last['summary'] or last['error']}); version {last['version']}")  # fmt: skip
    for p in failed[:3]:
        print(f"  failed rebuild: {p['error']}")
    if rebuilds:
        latest = found.json()["results"][0]["document"] if found.status_code == 200 else found
        print(f"newest soak note (zz-soak-{newest:03d}.txt) found first by search: {latest}")
    print(f"server RSS: {rss_start:.0f} MB at start, {rss_end:.0f} MB at end "
          f"({rss_end - rss_start:+.0f} MB)")  # fmt: skip
    return 1 if total_errors or failed else 0


if __name__ == "__main__":
    sys.exit(main())
