"""Replicas behind nginx: N `qa serve` processes on one index folder, Debian's nginx in front
(running deploy/nginx.conf), and the throughput of 1, 2 and 3 replicas on this machine.

    .venv/bin/python bench/replicas.py [--seconds 60] [--replicas 1 2 3]

Each replica listens on its own loopback address (127.0.0.2, .3, ...), as separate machines
would. The index is bench/out/squad's (the 2,067 SQuAD dev contexts, see bench/index_build.py);
8 client threads (kept-alive http.client connections) ask real SQuAD dev questions through nginx
for a fixed time, half GET /api/search, half POST /api/ask. Then the scenarios of
tests/test_replicas.py at full length: a replica killed with -9 and restarted while the clients
run (failed requests seen by the clients). tests/test_replicas.py uses this module's Cluster.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy" / "nginx.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
OUT = ROOT / "bench" / "out"
SQUAD = Path("/work/shared/eval/squad-dev-v1.1.json")
CLIENTS = 8


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def get_json(url: str, timeout: float = 2.0) -> tuple[int, dict, dict]:
    """(status, JSON body, headers) of a GET, without the proxy or keep-alive."""
    host, _, rest = url.removeprefix("http://").partition("/")
    name, _, port = host.rpartition(":")
    conn = http.client.HTTPConnection(name, int(port), timeout=timeout)
    try:
        conn.request("GET", "/" + rest)
        response = conn.getresponse()
        body = response.read()
        return response.status, json.loads(body or b"{}"), dict(response.getheaders())
    finally:
        conn.close()


def wait_for(check: Callable[[], bool], timeout: float, every: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except OSError:
            pass
        time.sleep(every)
    return False


@dataclass
class Replica:
    """One `qa serve` process on its own loopback address."""

    host: str
    port: int
    log: Path
    env: dict[str, str]
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        command = [sys.executable, "-m", "qa", "serve", "--host", self.host, "--port"]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [*command, str(self.port)], cwd=ROOT, env=self.env, stdout=log, stderr=log
            )

    def health(self) -> dict:
        status, body, _ = get_json(self.url + "/health")
        return body if status == 200 else {}

    def ready(self, timeout: float = 120.0) -> bool:
        return wait_for(lambda: bool(self.health()), timeout, every=0.2)

    def kill(self) -> None:
        """SIGKILL: no shutdown, open connections are reset, as when a machine dies."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


def nginx_config(replicas: list[Replica], port: int) -> str:
    """deploy/nginx.conf with these replicas as its upstream and listening on `port`."""
    text = DEPLOY.read_text("utf-8")
    servers = re.findall(r"^ *server 127\.0\.0\.\d+:\d+ (.*);$", text, flags=re.M)
    assert servers, "deploy/nginx.conf has no upstream server lines"
    lines = "".join(f"    server {r.host}:{r.port} {servers[0]};\n" for r in replicas)
    text = re.sub(r"(^ *server 127\.0\.0\.\d+:\d+ .*;\n)+", lines, text, count=1, flags=re.M)
    return text.replace("listen 127.0.0.1:8080;", f"listen 127.0.0.1:{port};")


@dataclass
class Cluster:
    """Replicas of one index folder behind nginx, all on loopback, in `folder` (logs, config)."""

    docs: Path
    index: Path
    folder: Path
    size: int = 3
    store: str = ""  # QA_STORE of every replica (empty: the index folder's files)
    replicas: list[Replica] = field(default_factory=list)
    nginx: subprocess.Popen | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
        env.update(PYTHONPATH=str(ROOT), QA_DOCS=str(self.docs), QA_INDEX=str(self.index))
        if self.store:
            env["QA_STORE"] = self.store
        for i in range(self.size):
            host = f"127.0.0.{i + 2}"
            log = self.folder / f"replica-{i + 2}.log"
            self.replicas.append(Replica(host, free_port(host), log, env))
        for replica in self.replicas:
            replica.start()
        for replica in self.replicas:
            assert replica.ready(), (
                f"replica {replica.url} did not start:\n{replica.log.read_text()}"
            )
        self.port = free_port("127.0.0.1")
        (self.folder / "qa.conf").write_text(nginx_config(self.replicas, self.port), "utf-8")
        main = self.folder / "nginx.conf"
        temp = "".join(
            f"    {kind}_temp_path {self.folder / kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        # The main context Debian's /etc/nginx/nginx.conf would give, in our own folder.
        main.write_text(
            f"daemon off;\nworker_processes 1;\npid {self.folder / 'nginx.pid'};\n"
            f"error_log {self.folder / 'nginx-error.log'} warn;\n"
            + ("user root;\n" if os.geteuid() == 0 else "")  # workers may write our folder
            + "events { worker_connections 512; }\n"
            f"http {{\n    access_log off;\n{temp}    include {self.folder / 'qa.conf'};\n}}\n",
            "utf-8",
        )
        self.nginx = subprocess.Popen(
            [NGINX, "-e", str(self.folder / "nginx-error.log"), "-p", str(self.folder)]
            + ["-c", str(main)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        if not wait_for(lambda: get_json(self.url + "/health")[0] == 200, 10):
            self.stop()
            raise RuntimeError(f"nginx did not start: {self.nginx_errors()}")

    def nginx_errors(self) -> str:
        log = self.folder / "nginx-error.log"
        return log.read_text() if log.exists() else ""

    def stop(self) -> None:
        if self.nginx is not None and self.nginx.poll() is None:
            self.nginx.send_signal(signal.SIGQUIT)  # graceful: workers finish, then exit
            try:
                self.nginx.wait(10)
            except subprocess.TimeoutExpired:
                self.nginx.kill()
                self.nginx.wait(10)
        for replica in self.replicas:
            replica.stop()


@contextmanager
def cluster(
    docs: Path, index: Path, folder: Path, size: int = 3, store: str = ""
) -> Iterator[Cluster]:
    running = Cluster(docs, index, folder, size, store)
    try:
        running.start()
        yield running
    finally:
        running.stop()


@dataclass
class Result:
    """What one request got: status (0: no response), the replica, the body (JSON or None)."""

    status: int
    upstream: str
    body: dict | None
    error: str = ""


class Client:
    """A kept-alive connection to nginx; a connection nginx closed while idle is reopened."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn: http.client.HTTPConnection | None = None
        self.used = False

    def request(self, method: str, path: str, body: dict | None = None) -> Result:
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                self.used = False
            try:
                data = json.dumps(body).encode() if body is not None else None
                headers = {"Content-Type": "application/json"} if data else {}
                self.conn.request(method, path, body=data, headers=headers)
                response = self.conn.getresponse()
                raw = response.read()
                self.used = True
                parsed = json.loads(raw) if response.status == 200 else None
                return Result(response.status, response.getheader("X-Upstream", ""), parsed)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as e:
                # Only a reused connection may have been closed by nginx's keepalive limits
                # before our request: that, and only that, is sent again (as any HTTP client does).
                stale = self.used and attempt == 0
                self.close()
                if not stale:
                    return Result(0, "", None, repr(e))
            except (OSError, http.client.HTTPException, ValueError) as e:
                self.close()
                return Result(0, "", None, repr(e))
        return Result(0, "", None, "unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = None


def load(
    port: int,
    questions: list[str],
    stop: threading.Event,
    clients: int = CLIENTS,
    seconds: float = 600.0,
    results: list[Result] | None = None,
) -> list[Result]:
    """`clients` threads asking `questions` (GET /api/search and POST /api/ask in turn) until
    `stop` is set or `seconds` pass; every request's Result, appended to `results` as it comes."""
    results = [] if results is None else results
    deadline = time.monotonic() + seconds

    def run(offset: int) -> None:
        client = Client(port)
        cycle = itertools.islice(itertools.cycle(questions), offset, None)
        for n, question in enumerate(cycle):
            if stop.is_set() or time.monotonic() > deadline:
                break
            if n % 2:
                path = "/api/search?" + urllib.parse.urlencode({"q": question})
                results.append(client.request("GET", path))
            else:
                results.append(client.request("POST", "/api/ask", {"question": question}))
        client.close()

    threads = [threading.Thread(target=run, args=(i * 7,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 60)
    return results


def failures(results: list[Result]) -> list[Result]:
    return [r for r in results if r.status != 200]


def squad_questions(squad: Path, limit: int = 2000) -> list[str]:
    data = json.loads(squad.read_text("utf-8"))
    questions = [q["question"] for a in data["data"] for p in a["paragraphs"] for q in p["qas"]]
    return questions[:limit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--squad", type=Path, default=SQUAD, help="questions asked")
    args = parser.parse_args()
    index = OUT / "squad" / "index"
    if not (index / "current").exists():
        sys.exit("no bench/out/squad/index: run bench/index_build.py first")
    questions = squad_questions(args.squad)
    folder = OUT / "replicas"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} before the run")
    rates = {}
    for size in args.replicas:
        with cluster(OUT / "squad" / "docs", index, folder, size) as running:
            results = load(running.port, questions, threading.Event(), seconds=args.seconds)
            rates[size] = len(results) / args.seconds
            by = Counter(r.upstream for r in results)
            print(
                f"{size} replica(s): {rates[size]:.1f} req/s, {len(failures(results))} failed, "
                f"per replica {dict(by)}, ratio to 1 replica {rates[size] / rates[min(rates)]:.2f}",
                flush=True,
            )
            if size == max(args.replicas) and size > 1:
                kill_and_restart(running, questions, args.seconds)


def kill_and_restart(running: Cluster, questions: list[str], seconds: float) -> None:
    """kill -9 one replica a third into `seconds` of load, restart it; the failures seen."""
    stop = threading.Event()
    out: list[Result] = []
    thread = threading.Thread(
        target=load, args=(running.port, questions, stop), kwargs={"results": out}
    )
    thread.start()
    time.sleep(seconds / 3)
    victim = running.replicas[-1]
    victim.kill()
    started = time.monotonic()
    victim.start()
    assert victim.ready()
    back = time.monotonic() - started
    time.sleep(max(0.0, seconds * 2 / 3 - back))
    stop.set()
    thread.join()
    print(
        f"kill -9 and restart of {victim.host} under load ({seconds:.0f} s, back after "
        f"{back:.1f} s): {len(out)} requests, {len(failures(out))} failed",
        flush=True,
    )


if __name__ == "__main__":
    main()
