"""Segments: an update keeps the base (hard-linked, verified), puts new text in an exact delta,
masks deleted text, answers like a full build, and a merge folds the delta into a new base
without failing a request."""

from __future__ import annotations

import json
import shutil
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import faiss
import numpy as np
import pytest

from qa.engine import Engine
from qa.errors import IndexCorruptError
from qa.rebuilder import Rebuilder
from qa.settings import Settings
from qa.store import Store, segments, vectors
from qa.store.merge import merge
from qa.store.vectors import flat_index, hnsw_index, read_vectors, write_vectors
from tests.conftest import serving

DOCS = {
    "volcano.txt": "Volcanoes erupt molten rock called lava.\n\n"
    "Magma that reaches the surface cools into basalt.",
    "music.txt": "The violin has four strings tuned in fifths.\n\n"
    "A cello is played sitting down, held between the knees.",
    "birds.txt": "Penguins live mostly in the Southern Hemisphere.\n\n"
    "Emperor penguins huddle together to survive the Antarctic winter.",
}
QUESTIONS = [
    "Which instrument has four strings?",
    "Where do penguins live?",
    "What is lava?",
    "How does bread rise?",
    "Which river flows north?",
]


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, 16)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.mark.parametrize("make", [flat_index, hnsw_index])
def test_search_leaves_tombstones_out_and_merges_the_delta_by_score(make) -> None:
    rng = np.random.default_rng(0)
    old = _unit(rng, 40)
    base = segments.Segments(make(old, 16))
    hashes = [f"h{i}" for i in range(40)]
    # The new version: rows 0..29 keep their text (base vectors), 10 rows of new text.
    new = _unit(rng, 10)
    kept = hashes[:30]
    grown = segments.over(base, segments.live(base, hashes), [*kept, *"abcdefghij"], lambda r: new)
    assert grown.ntotal == 40 and grown.tombstones == 10 and grown.delta.ntotal == 10
    # The delta stores vectors as its base does: the values a merge will give them.
    stored = faiss.IndexFlatIP if make is flat_index else faiss.IndexScalarQuantizer
    assert isinstance(grown.delta, stored)
    assert np.allclose(grown.rows(np.arange(30)), old[:30], atol=1e-3)
    assert np.allclose(grown.rows(np.arange(30, 40)), new, atol=1e-3)  # (float16 by a graph)
    for query in [*old[30:], *new[:3]]:  # a masked vector itself, or a new one, asked for
        scores, rows = grown.search(query[None, :], 5)
        expected = np.argsort(-(grown.all() @ query))[:5]
        assert set(rows[0]) == set(expected)  # exact here (small), masked, merged
        assert np.all(np.diff(scores[0]) <= 1e-6)


def _clustered(rng: np.random.Generator, n: int, d: int, centers: np.ndarray) -> np.ndarray:
    """Unit vectors near `centers` (as text embeddings are: topics, and texts near each other)."""
    v = centers[rng.integers(len(centers), size=n)] + 0.6 * rng.standard_normal((n, d)) / d**0.5
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def test_a_large_delta_is_searched_like_an_exhaustive_one(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    d = 384
    centers = rng.standard_normal((60, d))
    old, new = (
        _clustered(rng, 300, d, centers),
        _clustered(rng, segments.DELTA_SCAN + 500, d, centers),
    )
    base = segments.Segments(hnsw_index(old, d))
    hashes = [f"h{i}" for i in range(300)]
    grown = segments.over(
        base,
        segments.live(base, hashes),
        [*hashes[100:], *map(str, range(len(new)))],
        lambda r: new,
    )
    # Past DELTA_SCAN vectors: fast-scan candidates rescored from float16 values (a merge's).
    assert isinstance(grown.delta, faiss.IndexRefine)
    stored = grown.all()
    assert np.allclose(stored, np.concatenate([old[100:], new]), atol=1e-4)  # (float16)
    write_vectors(grown.delta, tmp_path / "delta.faiss")
    read = segments.Segments(base.base, read_vectors(tmp_path / "delta.faiss"), grown.slot)
    queries = _clustered(rng, 40, d, centers)
    for query in queries:
        exact = np.argsort(-(stored @ query), kind="stable")
        for found in (grown, read):
            scores, rows = found.search(query[None, :], 200)
            assert set(rows[0][:20]) == set(exact[:20])
            assert len(set(rows[0]) & set(exact[:200])) >= 198
            assert np.allclose(scores[0], stored[rows[0]] @ query, atol=1e-5)


def test_the_delta_is_asked_for_more_when_its_first_rows_reach_the_top(monkeypatch) -> None:
    monkeypatch.setattr(segments, "DELTA_FIRST", 2)
    rng = np.random.default_rng(2)
    d = 16
    centers = rng.standard_normal((4, d))
    old, new = _clustered(rng, 40, d, centers), _clustered(rng, 30, d, centers[:2])
    base = segments.Segments(flat_index(old, d))
    hashes = [f"h{i}" for i in range(40)]
    grown = segments.over(
        base, segments.live(base, hashes), [*hashes[5:], *map(str, range(30))], lambda r: new
    )
    vectors = grown.all()
    # Near centers 0 and 1 most of the 10 best rows are in the delta; near 2 and 3, none.
    for query in _clustered(rng, 20, d, centers):
        _, rows = grown.search(query[None, :], 10)
        assert list(rows[0]) == list(np.argsort(-(vectors @ query), kind="stable")[:10])


def _full(index: Path, docs: Path, embedder) -> Engine:
    """The same build without segments (a new base from the same vectors): what an update
    must answer like. (A `--full` rebuild embeds in other batches: vectors differ by noise.)"""
    settings = Settings.load({"docs": docs, "index": index, "merge_after": "0"}, environ={})
    engine = Engine(settings, embedder)
    engine.build()
    return engine


def _answers(engine: Engine) -> list[list[tuple[str, int, float]]]:
    return [
        [(p.document, p.paragraph, round(p.score, 4)) for p in engine.search(q, k=5)]
        for q in QUESTIONS
    ]


def _update(docs: Path) -> None:
    """Add a document, change one, delete one."""
    (docs / "bread.txt").write_text(
        "Bread rises because yeast produces carbon dioxide.\n\nThe Nile flows north.", "utf-8"
    )
    (docs / "music.txt").write_text(
        "The violin has four strings tuned in fifths.\n\nA harp has forty-seven strings.", "utf-8"
    )
    (docs / "volcano.txt").unlink()


def test_an_update_links_the_base_and_answers_like_a_full_build(
    make_engine, tmp_path: Path, embedder
) -> None:
    engine = make_engine(DOCS)
    engine.build()
    first = engine.store.current_folder()
    linked = ("passages.faiss", "sentences.faiss", "lexical.npz")  # the bases: vectors, BM25
    inodes = {n: (first / n).stat().st_ino for n in linked}
    shutil.copytree(engine.settings.index, tmp_path / "twin")
    _update(engine.settings.docs)
    plan = engine.build()
    assert plan.added == ["bread.txt"] and plan.changed == ["music.txt"]
    folder = engine.store.current_folder()
    assert not first.exists()  # the old version is cleaned, its base lives on (hard link)
    for name, inode in inodes.items():
        assert (folder / name).stat().st_ino == inode
    manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    assert manifest["base"] == first.name != manifest["version"]
    index = engine.store.load("all-MiniLM-L6-v2", 384)  # loaded back, checksums verified
    assert index.passages.delta.ntotal == 3  # bread (2) and the harp
    assert index.passages.tombstones == 3  # the volcano (2) and the cello
    assert index.pending() == 6
    assert _answers(engine) == _answers(_full(tmp_path / "twin", engine.settings.docs, embedder))
    hits = engine.search("How many strings does a harp have?", k=1)
    assert "forty-seven" in hits[0].text
    assert all("lava" not in p.text for p in engine.search("What is lava?", k=5))


def test_a_delta_past_delta_scan_is_saved_loaded_and_answers_like_a_full_build(
    make_engine, tmp_path: Path, embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vectors, "ANN_THRESHOLD", 4)  # bases are graphs, as at scale
    monkeypatch.setattr(segments, "DELTA_SCAN", 16)
    engine = make_engine(DOCS)
    engine.build()
    shutil.copytree(engine.settings.index, tmp_path / "twin")
    colours = ["red", "blue", "green", "white", "black", "yellow", "grey", "orange", "pink", "gold"]
    text = "\n\n".join(
        " ".join(f"Lighthouse {10 * part + i} is painted {c}." for i, c in enumerate(colours))
        for part in range(2)
    )
    (engine.settings.docs / "lighthouses.txt").write_text(text, "utf-8")
    engine.build()
    index = engine.store.load("all-MiniLM-L6-v2", 384)  # written, checksummed, read back
    assert isinstance(index.sentences.delta, faiss.IndexRefine)  # 20 sentences: past 16
    assert index.sentences.delta.ntotal == 20
    assert _answers(engine) == _answers(_full(tmp_path / "twin", engine.settings.docs, embedder))
    assert engine.search("Which lighthouse is painted white?")[0].document == "lighthouses.txt"


def test_a_damaged_linked_base_is_refused_with_the_fix(make_engine) -> None:
    engine = make_engine(DOCS)
    engine.build()
    (engine.settings.docs / "bread.txt").write_text("Yeast makes bread rise.", "utf-8")
    engine.build()
    path = engine.store.current_folder() / "sentences.faiss"
    data = bytearray(path.read_bytes())
    data[-9] ^= 0xFF
    path.write_bytes(data)
    with pytest.raises(IndexCorruptError, match=r"sentences.faiss does not match.*qa index --full"):
        engine.store.load("all-MiniLM-L6-v2", 384)


@pytest.mark.parametrize(
    "victim", ["lexical.delta.npz", "lexical.npz", "table/lexical_paragraph_slot.npy"]
)
def test_a_damaged_lexical_delta_or_base_is_refused_with_the_fix(make_engine, victim) -> None:
    engine = make_engine(DOCS)
    engine.build()
    (engine.settings.docs / "bread.txt").write_text("Yeast makes bread rise.", "utf-8")
    engine.build()
    path = engine.store.current_folder() / victim
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(data)
    with pytest.raises(IndexCorruptError, match=rf"{victim} does not match.*qa index --full"):
        engine.store.load("all-MiniLM-L6-v2", 384)


def test_a_merge_folds_the_delta_into_a_new_base_with_the_same_answers(make_engine) -> None:
    engine = make_engine(DOCS)
    engine.build()
    _update(engine.settings.docs)
    engine.build()
    before = _answers(engine)
    version = engine.merge()
    assert engine.index.version == version == engine.store.current()
    assert [p.name for p in engine.store.versions.iterdir()] == [version]
    index = engine.store.load("all-MiniLM-L6-v2", 384)
    assert index.manifest["base"] == version
    assert index.passages.delta.ntotal == index.sentences.delta.ntotal == 0
    assert index.passages.tombstones == index.sentences.tombstones == index.pending() == 0
    assert not (engine.store.current_folder() / "lexical.delta.npz").exists()  # folded too
    assert _answers(engine) == before


def test_a_build_during_a_merge_is_kept_in_the_merged_version(make_engine) -> None:
    engine = make_engine(DOCS)
    engine.build()
    (engine.settings.docs / "bread.txt").write_text("Yeast makes bread rise.", "utf-8")
    engine.build()
    snapshot = engine.index  # what the merge builds its base from...
    (engine.settings.docs / "nile.txt").write_text("The Nile flows north.", "utf-8")
    engine.build()  # ...while this build publishes a later version
    merged = merge(engine.store, snapshot, "all-MiniLM-L6-v2")
    assert merged.manifest["base"] == merged.version == engine.store.current()
    assert sorted(merged.by_document) == sorted([*DOCS, "bread.txt", "nile.txt"])
    assert merged.passages.delta.ntotal == 1  # the Nile: not in the snapshot's base
    engine.reload()
    assert "Nile" in engine.search("Which river flows north?", k=1)[0].text


def test_past_merge_after_the_server_merges_in_the_background(make_engine) -> None:
    engine = make_engine(DOCS, merge_after=1)
    engine.build()
    (engine.settings.docs / "bread.txt").write_text("Yeast makes bread.\n\nIt rises.", "utf-8")
    rebuilder = Rebuilder(engine)
    rebuilder.start()
    rebuilder.wait()
    assert rebuilder.merging is not None
    rebuilder.merging.join(60)
    assert engine.index.manifest["base"] == engine.index.version == engine.store.current()
    assert engine.index.pending() == 0


def test_merge_after_zero_builds_a_new_base_every_time(make_engine) -> None:
    engine = make_engine(DOCS, merge_after=0)
    engine.build()
    (engine.settings.docs / "bread.txt").write_text("Yeast makes bread rise.", "utf-8")
    plan = engine.build()
    assert not plan.merge_due
    assert engine.index.manifest["base"] == engine.index.version
    assert engine.index.passages.delta.ntotal == 0


def test_an_index_of_the_format_before_segments_is_refused_with_the_fix(make_engine) -> None:
    engine = make_engine(DOCS)
    engine.build()
    path = engine.store.current_folder() / "manifest.json"
    manifest = json.loads(path.read_text("utf-8"))
    path.write_text(json.dumps({**manifest, "format": 5}), "utf-8")
    with pytest.raises(IndexCorruptError, match=r"has format 5.*run `qa index --full`"):
        Store(engine.settings.index).load("all-MiniLM-L6-v2")


def test_no_request_fails_while_a_merge_switches_a_real_server(make_engine) -> None:
    from web.app import create_app

    engine = make_engine(DOCS)
    engine.build()
    _update(engine.settings.docs)
    engine.build()
    statuses: list[int] = []
    versions: set[str] = set()
    stop = threading.Event()

    def app(settings: Settings):  # noqa: ANN202
        served = Engine(settings, engine.embedder)
        return create_app(served, Rebuilder(served, 0.1))

    def client(base: str, question: str) -> None:
        url = f"{base}/api/search?q={urllib.parse.quote(question)}&k=3"
        for _ in range(400):  # bounded
            if stop.is_set():
                return
            try:
                with urllib.request.urlopen(url, timeout=20) as response:
                    statuses.append(response.status)
                with urllib.request.urlopen(f"{base}/health", timeout=20) as response:
                    versions.add(json.load(response)["index_version"])
            except urllib.error.HTTPError as e:
                statuses.append(e.code)
            except OSError:  # refused, reset, timed out: a failed request too
                statuses.append(0)

    with serving(engine.settings, app) as port:
        base = f"http://127.0.0.1:{port}"
        clients = [threading.Thread(target=client, args=(base, q)) for q in QUESTIONS[:3]]
        try:
            for c in clients:
                c.start()
            time.sleep(0.5)
            merged = engine.merge()  # as `qa index` would, in another process
            deadline = time.monotonic() + 30
            while merged not in versions and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.3)
        finally:
            stop.set()
            for c in clients:
                c.join(60)
    assert merged in versions and len(versions) == 2
    assert len(statuses) > 10 and set(statuses) == {200}


def test_qa_index_merges_once_the_delta_passes_merge_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, embedder
) -> None:
    from qa import cli

    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text, "utf-8")
    monkeypatch.setattr("qa.engine.Embedder", lambda *a, **k: embedder)
    monkeypatch.setenv("QA_MERGE_AFTER", "2")
    index = str(tmp_path / "index")
    assert cli.main(["index", "--docs", str(docs), "--index", index]) == 0
    (docs / "bread.txt").write_text("Yeast makes bread rise.", "utf-8")
    assert cli.main(["index", "--index", index]) == 0  # 1 changed paragraph: kept in the delta
    assert "merg" not in capsys.readouterr().err
    (docs / "music.txt").unlink()  # 2 more: past 2
    assert cli.main(["index", "--index", index]) == 0
    assert "merged: index version" in capsys.readouterr().err
    loaded = Store(Path(index)).load("all-MiniLM-L6-v2")
    assert loaded.manifest["base"] == loaded.version and loaded.pending() == 0
