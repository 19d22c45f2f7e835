"""Loading an index: clear errors naming the fix for a missing, damaged or mismatched index."""

from __future__ import annotations

import json

import pytest

from qa.errors import IndexCorruptError, IndexMissingError
from qa.store import Store


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
    assert manifest["format"] == 2 and manifest["model"] == "all-MiniLM-L6-v2"
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


@pytest.mark.parametrize("victim", ["passages.faiss", "paragraphs.json", "manifest.json", "bm25"])
def test_missing_part_is_reported(built, victim) -> None:
    import shutil

    store, folder = built
    path = folder / victim
    shutil.rmtree(path) if path.is_dir() else path.unlink()
    with pytest.raises(IndexCorruptError, match="--full"):
        store.load("all-MiniLM-L6-v2", 384)


@pytest.mark.parametrize("victim", ["passages.faiss", "sentences.faiss", "paragraphs.json"])
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
