"""Shared fixtures: the real model is loaded once per test session; indexes live in tmp dirs."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from qa.embedder import Embedder
from qa.engine import Engine
from qa.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
# The host name Starlette's TestClient sends, trusted like a deployment's own name would be.
TEST_HOSTS = {"QA_TRUSTED_HOSTS": "testserver,localhost,127.0.0.1,::1"}


def write(folder: Path, name: str, content: str | bytes) -> Path:
    """Write a test document (text as UTF-8, bytes as they are), creating subfolders."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, "utf-8")
    return path


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return Embedder()


@pytest.fixture(scope="session")
def seed_settings(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Settings:
    """Settings of a session-wide index of the seeds (built once; treat it as read-only)."""
    root = tmp_path_factory.mktemp("seed")
    docs = root / "docs"
    shutil.copytree(SEEDS, docs)
    settings = Settings.load({"docs": docs, "index": root / "index"}, environ=TEST_HOSTS)
    Engine(settings, embedder).build()
    return settings


@pytest.fixture
def seed_engine(seed_settings: Settings, embedder: Embedder) -> Engine:
    return Engine(seed_settings, embedder)


@pytest.fixture
def make_engine(tmp_path: Path, embedder: Embedder):
    """Engine over a fresh documents folder: make_engine({"a.txt": "text"}, **settings)."""

    def make(files: dict[str, str | bytes], **overrides) -> Engine:
        docs = tmp_path / "docs"
        docs.mkdir(exist_ok=True)
        for name, content in files.items():
            write(docs, name, content)
        settings = Settings.load({"docs": docs, "index": tmp_path / "index"}, environ=TEST_HOSTS)
        return Engine(replace(settings, **overrides), embedder)

    return make


@contextmanager
def serving(settings: Settings, app: Callable[[Settings], Any]) -> Iterator[int]:
    """The real server (uvicorn, the guarded protocol) over app(settings with its port) on a
    free loopback port, in a thread, until the block ends; yields the port."""
    from web import server as server_module

    sock = server_module.listen("127.0.0.1", 0)
    port = sock.getsockname()[1]
    settings = replace(settings, host="127.0.0.1", port=port, trusted_hosts="")
    server = server_module.server(app(settings), settings)
    server.config.log_config = None
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture(scope="session")
def milvus_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Milvus 2.3.5 server for the session (tests/milvus_server.py), started on first
    use on free loopback ports and stopped at the end: its store URI, `milvus://127.0.0.1:PORT`."""
    from tests.milvus_server import milvus_server

    with milvus_server(tmp_path_factory.mktemp("milvus")) as server:
        yield server.uri


@pytest.fixture(scope="module")
def milvus_store(milvus_uri: str) -> str:
    """The session's Milvus server with no qa index in it, for a module that builds one: one
    Milvus holds one index (its aliases, qa_files, ... name the current version)."""
    from pymilvus import MilvusClient

    client = MilvusClient(milvus_uri.replace("milvus:", "http:"), timeout=30)
    try:
        for name in client.list_collections():
            if name.startswith("qa_"):
                for alias in client.list_aliases(collection_name=name)["aliases"]:
                    client.drop_alias(alias)
                client.drop_collection(name)
    finally:
        client.close()
    return milvus_uri
