"""MilvusStore on Milvus Lite: the same answers as the local store, versions switched by aliases,
a request holding the old version still answered, the quoted text in qa_paragraphs, a store that
cannot be reached a 503 with its reason, a build killed mid-publish leaving the old version."""

from __future__ import annotations

import socket
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

pytest.importorskip("pymilvus")

from qa.engine import Engine  # noqa: E402
from qa.errors import IndexWriteError  # noqa: E402
from qa.retriever import make_query, rank  # noqa: E402
from qa.settings import Settings  # noqa: E402
from qa.store import milvus, milvus_vectors  # noqa: E402
from qa.store.milvus import MilvusStore, collection  # noqa: E402
from tests.conftest import SEEDS, TEST_HOSTS, write  # noqa: E402
from web.app import create_app  # noqa: E402

ANIMALS = ["otter", "heron", "badger", "lynx", "walrus", "ibis", "marmot", "gecko", "tapir", "yak"]
CITIES = ["Lisbon", "Osaka", "Quito", "Tromsø", "Nairobi", "Perth", "Hanoi", "Bergen", "Lima"]
QUESTIONS = [
    "How many North Koreans defected?",
    "Which animal was seen in Quito?",
    "Where did the walrus sleep?",
    "What did the keeper of the heron write down?",
    "Who counted the gecko eggs in Hanoi?",
]


def _corpus(folder: Path) -> None:
    """The seeds and 120 short made-up paragraphs: past the retriever's 100 candidates, so
    questions search the vectors (below it every paragraph is rescored)."""
    write(folder, "defectors.txt", (SEEDS / "defectors.txt").read_text("utf-8"))
    for f in range(4):
        lines = []
        for i in range(30):
            n = f * 30 + i
            animal, city = ANIMALS[n % len(ANIMALS)], CITIES[(n * 7) % len(CITIES)]
            lines.append(
                f"Note {n}: a {animal} was seen near {city} on day {n * 3 % 29 + 1}. "
                f"The keeper wrote down that it slept {n % 9 + 2} hours and ate {n % 5 + 1} fish."
            )
        write(folder, f"zoo{f}.txt", "\n\n".join(lines))


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory, embedder) -> tuple[Engine, Engine]:
    """(local store, Milvus Lite store) over the same documents, each built once."""
    root = tmp_path_factory.mktemp("milvus")
    return built_pair(root, f"milvus:{root}/qa.db", embedder)


def built_pair(root: Path, store: str, embedder) -> tuple[Engine, Engine]:
    """(local store, `store`) over the same documents in root/docs, each built once."""
    _corpus(root / "docs")
    local = Settings.load({"docs": root / "docs", "index": root / "local"}, environ=TEST_HOSTS)
    milvus_store = replace(local, index=root / "milvus", store=store)
    engines = Engine(local, embedder), Engine(milvus_store, embedder)
    for engine in engines:
        engine.build()
    return engines


def test_answers_and_cosines_are_the_local_stores(engines):
    local, lite = engines
    assert isinstance(lite.store, MilvusStore)
    assert len(lite.index.paragraphs) > 100  # the vectors are searched, not every paragraph
    for question in QUESTIONS:
        ours = [(p.document, p.text, p.score) for p in lite.search(question, k=5)]
        theirs = [(p.document, p.text, p.score) for p in local.search(question, k=5)]
        assert [t[:2] for t in ours] == [t[:2] for t in theirs]
        assert np.allclose([t[2] for t in ours], [t[2] for t in theirs], atol=1e-6)
        vector = lite.embedder.encode_query(question)[None, :]
        for kind in ("passages", "sentences"):
            want_scores, want_rows = getattr(local.index, kind).search(vector, 20)
            got_scores, got_rows = getattr(lite.index, kind).search(vector, 20)
            assert got_rows[0, :5].tolist() == want_rows[0, :5].tolist()
            assert np.abs(got_scores - want_scores).max() <= 1e-6
            want = getattr(local.index, kind).rows(want_rows[0])
            assert np.abs(getattr(lite.index, kind).rows(want_rows[0]) - want).max() <= 1e-6
            rescored = getattr(lite.index, kind).cosines(want_rows[0], vector[0])
            assert np.abs(rescored - want @ vector[0]).max() <= 1e-6


def test_rescoring_split_over_searches_and_reads_gives_the_same_cosines(engines, monkeypatch):
    local, lite = engines
    monkeypatch.setattr(milvus_vectors, "TOPK", 7)  # searches of <= 7 rows; longer ones read
    vector = lite.embedder.encode_query(QUESTIONS[1])
    for kind in ("passages", "sentences"):
        ids = np.arange(getattr(lite.index, kind).ntotal)[::-1][:80]
        want = getattr(local.index, kind).rows(ids) @ vector
        assert np.abs(getattr(lite.index, kind).cosines(ids, vector) - want).max() <= 1e-6


def test_paragraphs_collection_holds_the_quoted_text(engines):
    _, lite = engines
    index = lite.index
    rows = lite.store.call(
        "query", "qa_paragraphs", filter='document == "defectors.txt"', output_fields=["text"]
    )
    wanted = {r: index.paragraphs[r].text for r in index.by_document["defectors.txt"]}
    assert {r["row"]: r["text"] for r in rows} == wanted
    assert "defect" in " ".join(wanted.values())


def test_an_update_switches_the_aliases_and_the_old_version_still_answers(engines):
    local, lite = engines
    old = lite.index
    question = "Which bird nested on the lighthouse of Bergen?"
    write(lite.settings.docs, "lighthouse.txt", "A heron nested on the lighthouse of Bergen.")
    try:
        plan = lite.build()
        assert plan.added == ["lighthouse.txt"] and plan.version != old.version
        assert lite.store.current() == plan.version == lite.index.version
        for kind in milvus.KINDS:
            named = lite.store.call("describe_alias", f"qa_{kind}")["collection_name"]
            assert named == collection(plan.version, kind)
        assert lite.search(question, k=1)[0].document == "lighthouse.txt"
        # A request that took the old version before the switch finishes on it.
        query = make_query(question, lite.embedder.encode_query(question))
        hits = rank(old, query, 3)
        assert hits and all(old.paragraphs[h.row].document != "lighthouse.txt" for h in hits)
        # A replica starting now loads the new version from Milvus (its files, verified).
        fresh = Engine(replace(lite.settings, index=lite.settings.index.parent / "replica"))
        fresh._embedder = lite.embedder
        assert fresh.index.version == plan.version
        assert fresh.search(question, k=1)[0].document == "lighthouse.txt"
        # A third version: the first one's collections are dropped, the previous one kept.
        write(lite.settings.docs, "lighthouse.txt", "A heron nested on the lighthouse of Lima.")
        third = lite.build().version
        names = set(lite.store.call("list_collections"))
        assert collection(plan.version, "passages") in names  # the previous version
        assert collection(third, "passages") in names
        assert collection(old.version, "passages") not in names
    finally:
        (lite.settings.docs / "lighthouse.txt").unlink()
        lite.build()
        local.build()


def test_a_build_killed_mid_publish_leaves_the_old_version_serving(engines, monkeypatch):
    _, lite = engines
    before = lite.store.current()
    answer = [p.text for p in lite.search(QUESTIONS[0], k=3)]
    point = MilvusStore._point

    def killed(self, alias, target):  # the aliases but the last one were switched
        if alias == milvus.CURRENT:
            raise RuntimeError("killed")
        point(self, alias, target)

    write(lite.settings.docs, "extra.txt", "An extra note about a lynx in Perth.")
    try:
        with monkeypatch.context() as m:
            m.setattr(MilvusStore, "_point", killed)
            with pytest.raises(RuntimeError, match="killed"):
                lite.build()
        assert lite.store.current() == before
        for kind in milvus.KINDS:  # the aliases it had switched point at the old version again
            named = lite.store.call("describe_alias", f"qa_{kind}")["collection_name"]
            assert named == collection(before, kind)
        reader = Engine(replace(lite.settings, index=lite.settings.index.parent / "reader"))
        reader._embedder = lite.embedder
        assert reader.index.version == before
        assert [p.text for p in reader.search(QUESTIONS[0], k=3)] == answer
        # A write Milvus refuses is an IndexWriteError; the old version stays current.
        with monkeypatch.context() as m:
            m.setattr(milvus, "TEXT_BYTES", 0)  # the collections cannot be made
            with pytest.raises(IndexWriteError, match="previous index is still in use"):
                lite.build()
        assert lite.store.current() == before
        # Collections a killed build left (one that died before dropping them) are dropped.
        leftover = collection("20000101T000000-dead00", "passages")
        lite.store._create(leftover, {"paragraph": milvus.DataType.INT64}, 384)
        monkeypatch.setattr(milvus, "MESSAGE_BYTES", 2_000)  # inserts cut by size: 1+ rows each
        plan = lite.build()
        assert lite.store.current() == plan.version != before
        assert leftover not in lite.store.call("list_collections")
    finally:
        (lite.settings.docs / "extra.txt").unlink()
        lite.build()


@pytest.mark.parametrize("server", ["closed", "silent"])
def test_an_unreachable_store_is_a_503_with_its_reason(tmp_path, embedder, monkeypatch, server):
    """A port nothing listens on, or a host that accepts connections and never answers (a hung
    server): a 503 naming the store, within the timeout of a call."""
    monkeypatch.setattr(milvus, "TIMEOUT", 1.5)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        if server == "silent":
            s.listen()  # the kernel completes connections; nobody ever reads or answers
        else:
            s.close()
        settings = Settings.load(
            {"index": tmp_path / "index", "store": f"milvus://127.0.0.1:{port}"},
            environ=TEST_HOSTS,
        )
        client = TestClient(create_app(Engine(settings, embedder)))
        started = time.monotonic()
        response = client.get("/api/search", params={"q": "Who defected?"})
        assert time.monotonic() - started < 1.5 * 2 + 2
    assert response.status_code == 503
    assert f"milvus://127.0.0.1:{port}" in response.json()["detail"]
    assert "check that Milvus is running" in response.json()["detail"]
