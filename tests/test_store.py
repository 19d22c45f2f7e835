"""Loading an index: clear errors naming the fix for a missing, damaged or mismatched index."""

from __future__ import annotations

import json

import pytest

from qa.errors import IndexCorruptError, IndexMissingError
from qa.store import FORMAT_VERSION, Store


@pytest.fixture
def built(make_engine):
    engine = make_engine({"a.txt": "One paragraph.\n\nAnother paragraph."})
    engine.build()
    return engine.store, engine.store.current_folder()


def test_missing_index_says_how_to_build_it(tmp_path) -> None:
    with pytest.raises(IndexMissingError, match="run `qa index`"):
        Store(tmp_path / "none").load("all-MiniLM-L6-v2")


def test_manifest_records_what_the_index_holds(built) -> None:
    store, folder = built
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["format"] == FORMAT_VERSION and manifest["model"] == "all-MiniLM-L6-v2"
    assert manifest["dimension"] == 384 and manifest["paragraphs"] == 2
    assert (
        manifest["documents"][0]["id"] == "a.txt" and len(manifest["documents"][0]["sha256"]) == 64
    )
    assert manifest["created"]


def test_other_model_or_dimension_is_refused(built) -> None:
    store, _ = built
    with pytest.raises(IndexCorruptError, match="built with model 'all-MiniLM-L6-v2'.*--full"):
        store.load("other-model")
    with pytest.raises(IndexCorruptError, match="384-dimensional.*768.*--full"):
        store.load("all-MiniLM-L6-v2", 768)


@pytest.mark.parametrize(
    "victim", ["passages.faiss", "table", "table/texts.npy", "manifest.json", "lexical.npz"]
)
def test_missing_part_is_reported(built, victim) -> None:
    import shutil

    store, folder = built
    path = folder / victim
    shutil.rmtree(path) if path.is_dir() else path.unlink()
    with pytest.raises(IndexCorruptError, match="--full"):
        store.load("all-MiniLM-L6-v2", 384)


@pytest.mark.parametrize(
    "victim",
    [
        "passages.faiss",
        "sentences.faiss",
        "table/texts.npy",
        "table/rows.npy",
        "table/sentence_hash.npy",
        "lexical.npz",
    ],
)
def test_truncated_file_is_reported(built, victim) -> None:
    store, folder = built
    data = (folder / victim).read_bytes()
    (folder / victim).write_bytes(data[: len(data) // 2])
    with pytest.raises(IndexCorruptError, match="--full"):
        store.load("all-MiniLM-L6-v2", 384)


def test_future_format_says_upgrade(built) -> None:
    store, folder = built
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps(manifest | {"format": 99}))
    with pytest.raises(IndexCorruptError, match="newer version; upgrade"):
        store.load("all-MiniLM-L6-v2", 384)


def test_pointer_to_a_missing_version(built) -> None:
    store, _ = built
    store.pointer.write_text("nope\n")
    with pytest.raises(IndexCorruptError, match="missing"):
        store.load("all-MiniLM-L6-v2")


def test_past_the_threshold_vectors_go_into_hnsw_and_still_find_the_paragraph(
    make_engine, monkeypatch
) -> None:
    import faiss

    import qa.retriever
    import qa.store.vectors

    monkeypatch.setattr(qa.store.vectors, "ANN_THRESHOLD", 4)
    monkeypatch.setattr(qa.retriever, "CANDIDATES", 2)  # so candidates come from index.search
    engine = make_engine(
        {
            "a.txt": "Volcanoes erupt molten rock called lava.\n\n"
            "The violin has four strings tuned in fifths.\n\n"
            "Penguins live mostly in the Southern Hemisphere.\n\n"
            "Bread rises because yeast produces carbon dioxide.\n\n"
            "The Nile flows north into the Mediterranean Sea.",
        }
    )
    engine.build()
    index = engine.index  # loaded back from disk
    assert isinstance(index.passages.base, faiss.IndexHNSW)
    assert isinstance(index.sentences.base, faiss.IndexHNSW)
    assert index.passages.base.hnsw.efSearch >= qa.store.HNSW_EF_SEARCH
    storage = faiss.downcast_index(index.sentences.base.storage)  # float16: half the memory
    assert storage.sq.qtype == faiss.ScalarQuantizer.QT_fp16
    (best,) = engine.search("Which instrument has four strings?", k=1)
    assert best.paragraph == 2
    # A rebuild after a deletion keeps the graph and masks the removed paragraph's vectors.
    (engine.settings.docs / "a.txt").write_text(
        "Volcanoes erupt molten rock called lava.\n\n"
        "Penguins live mostly in the Southern Hemisphere.\n\n"
        "Bread rises because yeast produces carbon dioxide.\n\n"
        "The Nile flows north into the Mediterranean Sea.",
        "utf-8",
    )
    engine.build()
    assert engine.index.passages.ntotal == 4 and engine.index.passages.tombstones == 1
    assert all("violin" not in p.text for p in engine.search("four strings", k=4))


def test_hnsw_vectors_keep_their_cosines_to_float16_precision() -> None:
    import numpy as np

    from qa.store import hnsw_index

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((500, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = hnsw_index(vectors, 384)
    stored = index.reconstruct_n(0, 500)
    assert np.abs(stored - vectors).max() < 1e-3
    query = vectors[7]
    assert np.abs(stored @ query - vectors @ query).max() < 1e-3
    _, ids = index.search(query[None, :], 1)
    assert ids[0][0] == 7


def test_stored_vectors_give_the_rows_reconstruct_gives() -> None:
    import gc

    import faiss
    import numpy as np

    from qa.store import StoredVectors, flat_index, hnsw_index

    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((50, 384)).astype(np.float32)
    ids = np.array([3, 0, 49, 3, 17])
    other = faiss.IndexHNSWFlat(384, 4)  # a kind without a view: reconstructed
    other.add(vectors)
    for make in (flat_index, hnsw_index, lambda v, d: other):
        index = make(vectors, 384)
        expected = index.reconstruct_batch(ids)
        stored = StoredVectors(index)
        del index
        gc.collect()  # the view keeps the FAISS index (its memory) alive
        rows = stored.rows(ids)
        assert rows.dtype == np.float32 and np.array_equal(rows, expected)
    assert StoredVectors(flat_index(vectors[:0], 384)).rows(np.zeros(0, np.int64)).shape == (0, 384)
