"""The live server and its index: rebuilds over HTTP, outside builds and watched folders picked up,
and a swap under load that drops no request."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
import uvicorn
from bs4 import BeautifulSoup
from fastapi import FastAPI
from fastapi.testclient import TestClient

from qa.engine import Engine
from qa.rebuilder import Rebuilder
from qa.settings import Settings
from tests.conftest import ROOT, TEST_HOSTS
from tests.test_rebuilder import until
from web.app import create_app

TOKEN = "s3cret-tøken"  # not ASCII: compared as bytes, never as text
DOCS = {
    "cats.txt": "Cats sleep for most of the day and hunt at dusk.\n\n"
    "A cat purrs when it is content and sometimes when it is hurt.\n",
    "volcanoes.md": "Volcanoes erupt when pressure in the magma chamber grows too large.\n\n"
    "Lava cools into basalt, a dark and fine-grained rock.\n",
}
ZEBRAS = "Zebras cross the Mara river every year in the great migration.\n"
ZEBRA_QUERY = "zebra migration across the Mara river"


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def serve_in_thread(app: FastAPI) -> Iterator[str]:
    """Serve `app` with uvicorn (lifespan on) on a free loopback port; yields its base URL."""
    sock = free_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        assert until(lambda: server.started or not thread.is_alive(), 30) and server.started
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def bearer(token: str, scheme: str = "Bearer") -> dict[str, bytes]:
    """The Authorization header as clients send it: UTF-8 bytes."""
    return {"Authorization": f"{scheme} {token}".encode()}


def documents_found(client: TestClient | httpx.Client, query: str) -> set[str]:
    response = client.get("/api/search", params={"q": query, "k": 3})
    assert response.status_code == 200
    return {r["document"] for r in response.json()["results"]}


@pytest.fixture
def engine(make_engine) -> Engine:
    engine = make_engine(DOCS, admin_token=TOKEN)
    engine.build()
    return engine


@pytest.fixture
def client(engine: Engine) -> TestClient:
    return TestClient(create_app(engine))  # no lifespan: no polling, builds only when asked


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory, embedder) -> TestClient:
    """An app with an admin token, shared by the tests that must not get past it."""
    root = tmp_path_factory.mktemp("guarded")
    (root / "docs").mkdir()
    (root / "docs" / "cats.txt").write_text(DOCS["cats.txt"], "utf-8")
    settings = Settings.load({"docs": root / "docs", "index": root / "index"}, environ=TEST_HOSTS)
    engine = Engine(replace(settings, admin_token=TOKEN), embedder)
    engine.build()
    return TestClient(create_app(engine))


# --- The admin token ---------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "headers"), [("POST", {}), ("GET", bearer("anything"))])
def test_the_index_endpoints_are_off_without_a_token(make_engine, method: str, headers) -> None:
    engine = make_engine(DOCS)  # admin_token empty
    engine.build()
    client = TestClient(create_app(engine))
    response = client.request(method, "/api/index", headers=headers)
    assert response.status_code == 403
    assert "set QA_ADMIN_TOKEN" in response.json()["detail"]
    assert engine.store.current() == engine.index.version  # nothing was started


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        b"",
        b"Bearer",
        b"Bearer ",
        b"Bearer wrong",
        bearer(TOKEN + "x")["Authorization"],
        bearer(TOKEN[:-1])["Authorization"],
        bearer(TOKEN, scheme="Basic")["Authorization"],
        b"Bearer \xff\xfe",
        b"Bearer " + b"x" * 10_000,
    ],
)
@pytest.mark.parametrize("method", ["POST", "GET"])
def test_a_missing_or_wrong_token_is_401(
    guarded: TestClient, method: str, authorization: bytes | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = guarded.request(method, "/api/index", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    detail = response.json()["detail"]
    assert "Authorization: Bearer <QA_ADMIN_TOKEN>" in detail and TOKEN not in detail
    assert guarded.app.state.rebuilder.status.job is None  # nothing was ever started


def guarded_state(client: TestClient) -> str:
    response = client.get("/api/index", headers=bearer(TOKEN))
    assert response.status_code == 200
    return response.json()["state"]


def test_a_rebuild_over_http_makes_a_new_document_searchable(
    client: TestClient, engine: Engine
) -> None:
    old = client.get("/health").json()["index_version"]
    assert "zebras.txt" not in documents_found(client, ZEBRA_QUERY)
    (engine.settings.docs / "zebras.txt").write_text(ZEBRAS, "utf-8")
    with engine._reload_lock:  # the build cannot swap in (and end) before this block is done
        response = client.post("/api/index", headers=bearer(TOKEN, scheme="bearer"))
        assert response.status_code == 202
        assert guarded_state(client) == "running"
    started = response.json()
    assert set(started) == {
        "state", "job", "started", "finished", "summary", "error", "version", "progress",
    }  # fmt: skip
    assert (started["state"], started["finished"], started["version"]) == ("running", None, old)
    assert len(started["job"]) == 12
    assert until(lambda: guarded_state(client) != "running")
    status = client.get("/api/index", headers=bearer(TOKEN)).json()
    assert (status["state"], status["job"], status["error"]) == ("idle", started["job"], None)
    assert status["summary"].startswith("1 documents added, 0 changed, 0 removed, 2 unchanged")
    new = status["version"]
    assert new != old
    assert "zebras.txt" in documents_found(client, ZEBRA_QUERY)
    # /health and the footer of every page tell the version in use.
    assert client.get("/health").json()["index_version"] == new
    footer = BeautifulSoup(client.get("/").text, "html.parser").select_one("footer")
    assert footer.select_one(".version").get_text() == new
    assert "3 documents, 5 paragraphs" in footer.get_text(" ", strip=True)


def test_a_second_rebuild_while_one_runs_is_409(client: TestClient, engine: Engine) -> None:
    with engine._reload_lock:  # the first build cannot end meanwhile
        first = client.post("/api/index", headers=bearer(TOKEN))
        second = client.post("/api/index", headers=bearer(TOKEN))
    assert (first.status_code, second.status_code) == (202, 409)
    assert second.json() == {"detail": f"a rebuild is already running (job {first.json()['job']})"}
    assert client.app.state.rebuilder.wait().job == first.json()["job"]


def test_a_failed_rebuild_is_reported_and_the_server_keeps_answering(
    client: TestClient, engine: Engine
) -> None:
    docs = engine.settings.docs
    docs.rename(docs.with_name("gone"))  # a missing folder fails (an emptied one is an empty index)
    assert client.post("/api/index", headers=bearer(TOKEN)).status_code == 202
    client.app.state.rebuilder.wait()
    status = client.get("/api/index", headers=bearer(TOKEN)).json()
    assert status["state"] == "failed"
    assert status["error"] == f"documents folder {docs} does not exist"
    assert "cats.txt" in documents_found(client, "why do cats purr")


# --- Outside builds and watched folders --------------------------------------------------------


def test_the_server_picks_up_a_build_made_elsewhere(engine: Engine) -> None:
    app = create_app(engine, Rebuilder(engine, poll_seconds=0.1))
    with TestClient(app) as client:  # the lifespan starts polling
        (engine.settings.docs / "zebras.txt").write_text(ZEBRAS, "utf-8")
        plan = Engine(engine.settings, engine.embedder).build()  # as `qa index` would
        assert until(lambda: client.get("/health").json()["index_version"] == plan.version, 5)
        assert "zebras.txt" in documents_found(client, ZEBRA_QUERY)
        status = client.get("/api/index", headers=bearer(TOKEN)).json()
        assert (status["state"], status["job"], status["version"]) == ("idle", None, plan.version)
    assert not any(t.name == "qa-index-poll" for t in threading.enumerate())  # stopped


def test_qa_serve_watch_indexes_a_new_file_within_seconds(tmp_path: Path) -> None:
    """The real command: `qa serve --watch` in its own process, then a file dropped in."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text, "utf-8")
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()  # uvicorn binds it again (SO_REUSEADDR); nothing else takes it meanwhile
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env.update(QA_DOCS=str(docs), QA_INDEX=str(tmp_path / "index"), QA_PORT=str(port))
    server = subprocess.Popen(
        [sys.executable, "-m", "qa", "serve", "--watch"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:

            def up() -> bool:
                assert server.poll() is None, server.communicate()
                try:
                    return http.get("/health").status_code == 200
                except httpx.TransportError:
                    return False

            assert until(up, timeout=90)
            assert "zebras.txt" not in documents_found(http, ZEBRA_QUERY)
            (docs / "zebras.txt").write_text(ZEBRAS, "utf-8")
            written = time.monotonic()
            assert until(lambda: "zebras.txt" in documents_found(http, ZEBRA_QUERY), 15)
            assert time.monotonic() - written < 10
    finally:
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=30)
    assert server.returncode == 0, err
    assert "Watching" in out and f"http://127.0.0.1:{port}" in out
    assert "index rebuilt (job" in err and "1 documents added" in err
    assert "Traceback" not in err


# --- The swap under load -----------------------------------------------------------------------


def test_a_live_swap_drops_no_request(make_engine) -> None:
    """4 clients hammer /api/search on a real server while a rebuild adds a document and swaps:
    every response is a valid 200, and the new document's passages appear after the swap."""
    engine = make_engine(DOCS, admin_token=TOKEN)
    engine.build()
    # A document big enough that its build takes a while under load.
    zebras = "\n\n".join(
        f"Herd {n} of zebras crossed the Mara river in the great migration, day {n} of the trek."
        for n in range(1, 41)
    )
    app = create_app(engine, Rebuilder(engine, poll_seconds=0.2))
    failures: list[str] = []
    seen: list[list[bool]] = [[] for _ in range(4)]  # per client: did the results hold zebras?
    swapped, done = threading.Event(), threading.Event()

    def hammer(base: str, me: int) -> None:
        with httpx.Client(base_url=base, timeout=30) as http:
            while not done.is_set():
                try:
                    response = http.get("/api/search", params={"q": ZEBRA_QUERY, "k": 3})
                    body = response.json()
                    assert response.status_code == 200, body
                    assert body["query"] == ZEBRA_QUERY and len(body["results"]) == 3, body
                except (httpx.HTTPError, json.JSONDecodeError, AssertionError) as e:
                    failures.append(f"client {me}: {e!r}")
                    continue
                new = any(r["document"] == "zebras.txt" for r in body["results"])
                seen[me].append(new)
                if new:
                    swapped.set()

    with serve_in_thread(app) as base:
        clients = [threading.Thread(target=hammer, args=(base, n)) for n in range(4)]
        for thread in clients:
            thread.start()
        try:
            assert until(lambda: all(len(s) >= 3 for s in seen), 30), "the clients did not start"
            (engine.settings.docs / "zebras.txt").write_text(zebras, "utf-8")
            started = httpx.post(f"{base}/api/index", headers=bearer(TOKEN), timeout=30)
            assert started.status_code == 202
            before = sum(map(len, seen))
            assert swapped.wait(60), "the new document never showed up"
            during = sum(map(len, seen)) - before  # answered while the build ran
            time.sleep(1.0)  # a tail of requests on the new index
        finally:
            done.set()
            for thread in clients:
                thread.join(timeout=30)
        status = httpx.get(f"{base}/api/index", headers=bearer(TOKEN)).json()
    assert failures == []
    assert status["state"] == "idle" and status["summary"].startswith("1 documents added")
    assert during >= 4, "the build did not overlap the requests"
    for answers in seen:
        assert not answers[0] and answers[-1], answers  # old index first, new one at the end
        first_new = answers.index(True)
        assert all(answers[first_new:]), answers  # never back to the old index
