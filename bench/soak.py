"""Soak: concurrent clients against a real `qa serve` for minutes, with a rebuild every minute.

    .venv/bin/python bench/soak.py [--clients 8] [--minutes 10] [--articles N] [--squad FILE]
    .venv/bin/python bench/soak.py --churn [--minutes 3] [--articles 20]

Writes the SQuAD dev contexts as one .txt document per article into bench/out/soak/docs and
indexes them once into bench/out/soak/index (later runs reuse it: the build is incremental).
Then starts `qa serve` on a free port of 127.0.0.1 with QA_ADMIN_TOKEN set, and runs N client
threads that alternate POST /api/ask and GET /api/search with SQuAD questions, each waiting for
its answer before the next request (so at most N requests are in flight). Every minute it adds
a small document and calls POST /api/index. It prints, per minute, the requests, the errors
(anything but a 200, or a transport error), p50 and p99 latency and the rebuilds, then the
server's resident memory (RSS) at start and end. Exit code 1 if there was any error.
Traffic goes only to 127.0.0.1; everything stops at the deadline.

With --churn (its own folders, bench/out/soak-churn), the documents change under the clients
instead: a document is added, edited, the folder gains corrupt files (binary text, a broken PDF,
a FIFO, a link to /etc/passwd) and a real document is overwritten with garbage, then documents are
deleted down to none; each step is followed by POST /api/index, and once the new version is
served, every text removed so far is searched for: finding one is a failure. An empty answer
counts as a success here (the index ends empty).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shutil
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
MARKERS = {  # unique sentences the churn adds, then edits away or deletes
    "added": "The quartermaster of Vellmar logged exactly 7,319 grey herons at dawn.",
    "edited": "The lamplighter of Osterbrook counted exactly 4,127 copper lanterns at dusk.",
}


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


def client(
    base: str,
    questions: list[str],
    seed: int,
    until: float,
    start: float,
    out: list,
    empty_ok: bool = False,
):
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
                body = response.json() if response.status_code == 200 else {}
                found = body["passages"] if "passages" in body else body.get("results")
                ok = response.status_code == 200 and (found or (empty_ok and found == []))
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


def churn(base: str, token: str, docs: Path, until: float, log: list[str]) -> None:
    """Add, edit, corrupt and delete documents (down to none), rebuilding after each step; after
    each swap, search for every text removed so far: `log` gets one line per step, and a line
    starting with FAIL for any removed text still served."""
    auth = {"Authorization": f"Bearer {token}"}
    originals = sorted(docs.glob("*.txt"))
    removed: list[str] = []  # texts that must not be served any more
    steps: list[tuple[str, object]] = [
        ("add a document", lambda: (docs / "churn.txt").write_text(MARKERS["added"], "utf-8")),
        ("edit it", lambda: (docs / "churn.txt").write_text(MARKERS["edited"], "utf-8")),
        ("add corrupt files, garble a document", lambda: corrupt(docs, originals[0])),
        ("delete the edited document", lambda: (docs / "churn.txt").unlink()),
        ("delete half the documents", lambda: [p.unlink() for p in originals[1::2]]),
        ("delete every document", lambda: [p.unlink() for p in docs.iterdir()]),
    ]
    gone = {  # what each step removes from the index
        1: [MARKERS["added"]],
        2: [first_sentence(originals[0])],
        3: [MARKERS["edited"]],
        4: [first_sentence(p) for p in originals[1::2]],
        5: [first_sentence(p) for p in originals[2::2]],
    }
    pause = max(5.0, (until - time.monotonic()) / (len(steps) + 1))
    with httpx.Client(base_url=base, timeout=60) as http:
        for number, (what, step) in enumerate(steps):
            time.sleep(pause)
            step()  # type: ignore[operator]
            began = time.monotonic()
            while http.post("/api/index", headers=auth).status_code == 409:  # one is running
                time.sleep(0.5)
            while (status := http.get("/api/index", headers=auth).json())["state"] == "running":
                time.sleep(0.2)
            removed += gone.get(number, [])
            served = [
                text
                for text in removed
                for r in http.get("/api/search", params={"q": text, "k": 3}).json()["results"]
                if text in r["text"]
            ]
            health = http.get("/health").json()
            log.append(
                f"{'FAIL ' if served or status['state'] != 'idle' else ''}{what}: build "
                f"{status['state']} in {time.monotonic() - began:.1f} s, "
                f"{health['documents']} documents served; removed texts served: {len(served)}"
                + (f" ({status['error']})" if status["error"] else "")
            )


def first_sentence(path: Path) -> str:
    return path.read_text("utf-8").split(". ")[0]


def corrupt(docs: Path, victim: Path) -> None:
    """Files a clumsy user or an attacker leaves: each must be skipped, none may stop a build."""
    (docs / "binary.txt").write_bytes(bytes(range(1, 256)) * 64)
    (docs / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj <</Type /Catalog>> endobj\ntrailer")
    os.mkfifo(docs / "pipe.txt")
    (docs / "passwd.txt").symlink_to("/etc/passwd")
    victim.write_bytes(os.urandom(4096).replace(b"\x00", b"\x01"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--articles", type=int, default=None, help="only the first N articles")
    parser.add_argument("--squad", type=Path, default=SQUAD)
    parser.add_argument("--no-rebuild", action="store_true", help="load only, no rebuilds")
    parser.add_argument(
        "--churn", action="store_true", help="add, edit, corrupt, delete documents meanwhile"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.clients <= 64 or not 0 < args.minutes <= 120:
        parser.error("--clients must be 1..64 and --minutes 0..120")

    out = OUT.with_name("soak-churn") if args.churn else OUT
    docs, index = out / "docs", out / "index"
    if args.churn:  # a fresh folder: the last run deleted or garbled what it had
        shutil.rmtree(docs, ignore_errors=True)
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
        stderr=open(out / "server.log", "w"),  # noqa: SIM115 (closed with the process)
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
                raise SystemExit(f"the server did not start; see {out / 'server.log'}")
            time.sleep(0.5)
        with httpx.Client(base_url=base, timeout=60) as http:  # warm up the model
            http.post("/api/ask", json={"question": questions[0]})
        rss_start = rss_mb(server.pid)
        start = time.monotonic()
        until = start + 60 * args.minutes
        samples: list[Sample] = []
        rebuilds: list = []
        rss: dict[int, float] = {}
        admin = "" if args.no_rebuild or args.churn else token
        threads = [
            threading.Thread(
                target=client, args=(base, questions, i, until, start, samples, args.churn)
            )
            for i in range(args.clients)
        ]
        churned: list[str] = []
        if args.churn:
            threads.append(threading.Thread(target=churn, args=(base, token, docs, until, churned)))
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
    for line in churned:
        print(f"churn: {line}")
    if args.churn and len(churned) < 6:
        print(f"churn: only {len(churned)} of 6 steps ran before the deadline (raise --minutes)")
    churn_failed = any(line.startswith("FAIL") for line in churned) or (
        args.churn and len(churned) < 6
    )
    return 1 if total_errors or failed or churn_failed else 0


if __name__ == "__main__":
    sys.exit(main())
