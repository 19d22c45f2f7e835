"""A real Milvus 2.3.5 server for tests: the PyPI package `milvus` (the server binary and its
libraries) from its own virtual environment `.venv-milvus`, made by `make test`, since its
dependencies are not ours. Started as a subprocess in a process group of its own, on free
loopback ports, with its data in a temporary folder; always stopped with its whole group."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-milvus"
# The binary and its libraries, unpacked from the package's .lzma files once (by `make test`,
# else by the first start): ~7 s that every start in a new data folder would pay again.
BINARIES = VENV / "server"
# The ports of the package's config template (milvus/data/config.yaml.template); the embedded
# etcd's peer port and the metrics/health port are set apart (ETCD_CONFIG_PATH, METRICS_PORT).
TEMPLATE_PORTS = (
    "proxy_port",
    "proxy_internal_port",
    "etcd_port",
    "root_coord_port",
    "query_coord_port",
    "query_node_port",
    "index_coord_port",
    "index_node_port",
    "data_coord_port",
    "data_node_port",
)
START_TIMEOUT = 120.0  # seconds; ~4 s measured here, 10-13 s seen on loaded machines

# Runs inside .venv-milvus: the package's own config writer and start(), with our ports; then
# it waits for the binary, and kills the whole group if the test process dies without
# stopping it (a killed pytest leaves no server behind).
LAUNCHER = """
import json, os, signal, sys, threading, time
import milvus

options = json.loads(sys.argv[1])
binaries, metrics = options.pop("binaries"), options.pop("metrics_port")
milvus._initialize_data_files(binaries)
os.makedirs(options["data_dir"], exist_ok=True)
os.symlink(os.path.join(binaries, "bin"), os.path.join(options["data_dir"], "bin"))
server = milvus.MilvusServer(milvus.MilvusServerConfig(**options), wait_for_started=False)
server.webservice_port = metrics  # start() takes it if free, as it does the others
parent = os.getppid()

def watch():
    while os.getppid() == parent:
        time.sleep(0.5)
    os.killpg(0, signal.SIGKILL)

threading.Thread(target=watch, daemon=True).start()
server.start()
sys.exit(server.server_proc.wait())
"""

ETCD_CONFIG = """\
name: default
listen-client-urls: http://127.0.0.1:{client}
advertise-client-urls: http://127.0.0.1:{client}
listen-peer-urls: http://127.0.0.1:{peer}
initial-advertise-peer-urls: http://127.0.0.1:{peer}
initial-cluster: default=http://127.0.0.1:{peer}
"""


@dataclass(frozen=True)
class MilvusServer:
    """A running server: every port it was given, its process group, its folder."""

    ports: dict[str, int]
    pgid: int
    folder: Path

    @property
    def uri(self) -> str:
        """The store URI the product takes (`--store`)."""
        return f"milvus://127.0.0.1:{self.ports['proxy_port']}"

    @property
    def address(self) -> str:
        """The address pymilvus takes (`MilvusClient(address)`)."""
        return f"http://127.0.0.1:{self.ports['proxy_port']}"


def require_venv() -> None:
    """Skip when `.venv-milvus` is missing on a developer's machine; under CI it is a failure
    (`make test` makes it)."""
    if (VENV / "bin" / "python").exists():
        return
    reason = f"{VENV} is missing: `make test` makes it (pip install milvus==2.3.5)"
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports, all held open at once so none is given twice."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def group_pids(pgid: int) -> set[int]:
    """The live processes of a process group (the launcher and the server binary); a zombie
    is dead, whether or not its new parent has reaped it yet."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError):  # gone meanwhile
                if os.getpgid(int(entry.name)) == pgid:
                    state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                    if state != "Z":
                        pids.add(int(entry.name))
    return pids


def group_alive(pgid: int) -> bool:
    """Whether any process of the group is left alive."""
    return bool(group_pids(pgid))


def stop(process: subprocess.Popen, grace: float = 2.0) -> None:
    """SIGTERM to the whole group, SIGKILL after `grace` seconds; returns once none is left.
    (A server with loaded collections takes over 10 s to stop cleanly; its data is thrown away.)"""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while group_alive(process.pid) and time.monotonic() < deadline:
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=0.1)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 10
    while group_alive(process.pid) and time.monotonic() < deadline:  # SIGKILL takes a moment
        time.sleep(0.05)


def answers(uri: str) -> bool:
    """Whether the server answers a gRPC call (health OK alone comes a little before)."""
    from pymilvus import MilvusClient

    try:
        client = MilvusClient(uri, timeout=5)
    except Exception:  # noqa: BLE001 - any failure means "not yet"
        return False
    try:
        client.list_collections(timeout=5)
        return True
    except Exception:  # noqa: BLE001
        return False
    finally:
        client.close()


def wait_ready(process: subprocess.Popen, server: MilvusServer, timeout: float) -> None:
    """Until /healthz says OK and a gRPC call succeeds; a clear error if the process ends or
    the time runs out (with the end of its log)."""
    health = f"http://127.0.0.1:{server.ports['metrics_port']}/healthz"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Milvus exited ({process.returncode}):\n{log_tail(server)}")
        with suppress(OSError), urllib.request.urlopen(health, timeout=2) as response:
            if b"OK" in response.read() and answers(server.address):
                return
        time.sleep(0.2)
    raise TimeoutError(f"Milvus did not answer within {timeout:.0f} s:\n{log_tail(server)}")


def log_tail(server: MilvusServer, lines: int = 30) -> str:
    """The last lines of the launcher's and the server's error output."""
    text = ""
    for name in ("launcher.log", "data/logs/milvus-stderr.log"):
        path = server.folder / name
        if path.exists():
            tail = path.read_text("utf-8", "replace").splitlines()[-lines:]
            text += f"--- {name}\n" + "\n".join(tail) + "\n"
    return text


@contextmanager
def milvus_server(folder: Path, timeout: float = START_TIMEOUT) -> Iterator[MilvusServer]:
    """Start a Milvus 2.3.5 server with its data in `folder`, wait until it answers (at most
    `timeout` seconds), yield it, and stop its whole process group whatever happens."""
    require_venv()
    names = [*TEMPLATE_PORTS, "etcd_peer_port", "metrics_port"]
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    folder.mkdir(parents=True, exist_ok=True)
    etcd = folder / "etcd.yaml"
    etcd.write_text(ETCD_CONFIG.format(client=ports["etcd_port"], peer=ports["etcd_peer_port"]))
    options = {name: ports[name] for name in TEMPLATE_PORTS}
    options |= {
        "data_dir": str(folder / "data"),
        "binaries": str(BINARIES),
        "metrics_port": ports["metrics_port"],
    }
    # Milvus reads `etcd.config.path` from this variable; the package's template has no key.
    env = os.environ | {"ETCD_CONFIG_PATH": str(etcd)}
    with open(folder / "launcher.log", "wb") as log:
        process = subprocess.Popen(
            [str(VENV / "bin" / "python"), "-c", LAUNCHER, json.dumps(options)],
            cwd=folder,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped as one
        )
    server = MilvusServer(ports, process.pid, folder)
    try:
        wait_ready(process, server, timeout)
        yield server
    finally:
        stop(process)


if __name__ == "__main__":  # a server by hand: python tests/milvus_server.py FOLDER; ^C or TERM
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with milvus_server(Path(sys.argv[1])) as running:
        print(running.uri, running.pgid, json.dumps(running.ports), flush=True)
        with suppress(KeyboardInterrupt):
            signal.pause()
