"""MilvusStore on a real Milvus 2.3.5 server (started by tests/milvus_server.py): the same answers
and cosines as the local store, and two replicas sharing the server switch versions together."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pytest
from fastapi.testclient import TestClient

pytest.importorskip("pymilvus")

from qa.engine import Engine  # noqa: E402
from qa.rebuilder import Rebuilder  # noqa: E402
from qa.store import milvus  # noqa: E402
from qa.store.milvus import MilvusStore, collection  # noqa: E402
from tests.conftest import write  # noqa: E402
from tests.test_store_milvus import QUESTIONS, built_pair  # noqa: E402
from web.app import create_app  # noqa: E402


@pytest.fixture(scope="module")
def engines(tmp_path_factory, embedder, milvus_store) -> tuple[Engine, Engine]:
    """(local store, Milvus server store) over the same documents, each built once."""
    return built_pair(tmp_path_factory.mktemp("server"), milvus_store, embedder)


def test_answers_and_cosines_are_the_local_stores(engines):
    local, server = engines
    assert isinstance(server.store, MilvusStore) and server.store.profile is milvus.SERVER
    assert len(server.index.paragraphs) > 100  # the vectors are searched, not every paragraph
    for question in QUESTIONS:
        ours = [(p.document, p.text, p.score) for p in server.search(question, k=5)]
        theirs = [(p.document, p.text, p.score) for p in local.search(question, k=5)]
        assert [t[:2] for t in ours] == [t[:2] for t in theirs]
        assert np.allclose([t[2] for t in ours], [t[2] for t in theirs], atol=1e-6)
    rows = server.store.call(
        "query", "qa_paragraphs", filter='document == "defectors.txt"', output_fields=["text"]
    )
    index = server.index
    assert {r["row"]: r["text"] for r in rows} == {
        r: index.paragraphs[r].text for r in index.by_document["defectors.txt"]
    }


def test_two_replicas_switch_versions_together(engines):
    _, server = engines
    question = "Which bird nested on the lighthouse of Bergen?"
    replicas = [
        Engine(replace(server.settings, index=server.settings.index.parent / f"replica{i}"))
        for i in range(2)
    ]
    apps = []
    for replica in replicas:
        replica._embedder = server.embedder
        apps.append(TestClient(create_app(replica, Rebuilder(replica, poll_seconds=0.2))))
    write(server.settings.docs, "lighthouse.txt", "A heron nested on the lighthouse of Bergen.")
    try:
        with apps[0] as first, apps[1] as second:
            before = [c.get("/api/search", params={"q": question}).json() for c in apps]
            assert all(r["results"][0]["document"] != "lighthouse.txt" for r in before)
            plan = server.build()  # a third process (`qa index`) publishes a new version
            named = server.store.call("describe_alias", milvus.CURRENT)["collection_name"]
            assert named == collection(plan.version, "files")
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and any(
                r.index.version != plan.version for r in replicas
            ):
                time.sleep(0.1)
            for client in (first, second):
                found = client.get("/api/search", params={"q": question}).json()["results"]
                assert found[0]["document"] == "lighthouse.txt"
                assert found[0]["text"] == "A heron nested on the lighthouse of Bergen."
    finally:
        (server.settings.docs / "lighthouse.txt").unlink()
        server.build()
