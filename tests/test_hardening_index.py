"""Index faults: a full disk, a damaged or foreign index, a concurrent build. Each gives a clear
message naming the fix, and the index in use keeps answering. (Loading errors one by one are in
tests/test_store.py, a kill -9 in tests/test_crash.py.)"""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from qa.engine import Engine
from qa.errors import IndexBusyError, IndexCorruptError, IndexWriteError
from qa.rebuilder import Rebuilder
from qa.store import BuildLock
from qa.store import format as store_format
from qa.store import index as store_module
from web.app import create_app

OLD = {"lighthouse.txt": "The lighthouse keeper lives alone on the rocky island all winter."}
NEW = "Submarine captains collect stamps from every port they visit."


def answers_from_the_old_index(engine: Engine, version: str) -> None:
    assert engine.index.version == version == engine.store.current()
    hit = engine.search("Who lives on the island?", k=1)[0]
    assert hit.document == "lighthouse.txt"
    fresh = Engine(engine.settings, engine.embedder)  # and so does a server started now
    assert fresh.search("Who lives on the island?", k=1)[0].document == "lighthouse.txt"


def no_leftovers(engine: Engine) -> None:
    """Only the version in use is left in versions/: nothing half-written fills the disk."""
    names = sorted(p.name for p in engine.store.versions.iterdir())
    assert names == [engine.store.current()]


@pytest.fixture
def engine(make_engine) -> Engine:
    engine = make_engine(OLD, admin_token="t0ken")
    engine.build()
    (engine.settings.docs / "submarine.txt").write_text(NEW, "utf-8")
    return engine


def disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("where", ["first file", "mid-save", "manifest", "pointer"])
def test_a_full_disk_during_a_build_keeps_the_old_index_and_says_what_to_do(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    before = engine.index.version
    with monkeypatch.context() as patch:
        if where == "first file":  # the paragraph table, the first part of the version
            patch.setattr(store_module.Paragraphs, "save", disk_full)
        elif where == "mid-save":  # after the vectors, in the BM25 files
            patch.setattr(store_module.Lexical, "save", disk_full)
        elif where == "manifest":  # everything written but the manifest
            real = store_module.write_json

            def write_json(path: Path, data) -> None:
                if path.name == "manifest.json":
                    disk_full()
                real(path, data)

            patch.setattr(store_module, "write_json", write_json)
        else:  # the version is complete; writing the new `current` pointer fails
            real_write_text = Path.write_text

            def write_text(self: Path, *args, **kwargs):
                if self.name == ".current.tmp":
                    disk_full()
                return real_write_text(self, *args, **kwargs)

            patch.setattr(Path, "write_text", write_text)
        with pytest.raises(IndexWriteError) as failure:
            engine.build()
    message = str(failure.value)
    assert "No space left on device" in message
    assert "the previous index is still in use: free disk space" in message
    assert "run `qa index` again" in message
    answers_from_the_old_index(engine, before)
    no_leftovers(engine)
    plan = engine.build()  # space is back: the next build works
    assert plan.added == ["submarine.txt"] and engine.index.version != before
    assert engine.search("Who collects stamps?", k=1)[0].document == "submarine.txt"
    no_leftovers(engine)


def test_a_full_disk_during_a_rebuild_over_http_is_reported_and_serving_goes_on(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = engine.index.version
    rebuilder = Rebuilder(engine)
    client = TestClient(create_app(engine, rebuilder))
    monkeypatch.setattr(store_module, "write_json", disk_full)
    auth = {"Authorization": "Bearer t0ken"}
    assert client.post("/api/index", headers=auth).status_code == 202
    status = rebuilder.wait()
    assert status.state == "failed" and "free disk space" in status.error
    shown = client.get("/api/index", headers=auth).json()
    assert shown["state"] == "failed" and "No space left on device" in shown["error"]
    assert shown["version"] == before
    ask = client.post("/api/ask", json={"question": "Who lives on the rocky island?"})
    assert ask.status_code == 200 and ask.json()["passages"][0]["document"] == "lighthouse.txt"
    answers_from_the_old_index(engine, before)


@pytest.mark.parametrize("victim", ["passages.faiss", "table/texts.npy", "manifest.json"])
def test_a_damaged_index_is_refused_clearly_and_the_next_build_repairs_it(
    engine: Engine, victim: str
) -> None:
    before = engine.index.version  # loaded: this engine keeps answering from memory
    path = engine.store.current_folder() / victim
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    assert engine.search("Who lives on the island?", k=1)[0].document == "lighthouse.txt"
    client = TestClient(create_app(Engine(engine.settings, engine.embedder)))
    health = client.get("/health")
    assert health.status_code == 503 and "qa index --full" in health.json()["detail"]
    # A process that has to read the damaged version (a plain `qa index`) rebuilds fully ...
    fresh = Engine(engine.settings, engine.embedder)
    plan = fresh.build()
    assert plan.note.startswith("previous index unusable, rebuilding fully")
    assert sorted(plan.added) == ["lighthouse.txt", "submarine.txt"]
    assert fresh.index.version != before
    assert client.get("/health").json()["documents"] == 2
    no_leftovers(engine)


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"model": "other-model"}, "built with model 'other-model'"),
        ({"dimension": 768}, "768-dimensional vectors"),
        ({"format": 99}, "built by a newer version; upgrade"),
        ({"format": "v1"}, "has format v1"),
    ],
)
def test_a_foreign_index_is_refused_with_the_fix_and_rebuilt(
    engine: Engine, change: dict, said: str
) -> None:
    manifest_path = engine.store.current_folder() / "manifest.json"
    manifest = json.loads(manifest_path.read_text("utf-8"))
    manifest_path.write_text(json.dumps(manifest | change), "utf-8")
    with pytest.raises(IndexCorruptError, match="qa index --full") as refused:
        Engine(engine.settings, engine.embedder).search("island", k=1)
    assert said in str(refused.value)
    assert engine.search("Who lives on the island?", k=1)[0].document == "lighthouse.txt"
    fresh = Engine(engine.settings, engine.embedder)  # a `qa index` that must read it from disk
    plan = fresh.build()
    assert said in plan.note and plan.note.startswith("previous index unusable")
    assert fresh.search("Who collects stamps?", k=1)[0].document == "submarine.txt"


def test_a_second_build_at_the_same_time_is_refused_and_serving_goes_on(engine: Engine) -> None:
    before = engine.index.version
    with BuildLock(engine.store.lock_path):  # another `qa index` is running
        with pytest.raises(IndexBusyError, match="another build is running.*wait for it"):
            engine.build()
        answers_from_the_old_index(engine, before)
    assert engine.build().added == ["submarine.txt"]  # the lock is free again


def test_leftovers_of_a_crashed_build_do_not_break_the_next_one(engine: Engine) -> None:
    before = engine.index.version
    versions = engine.store.versions
    shutil.copytree(versions / before, versions / f".{before}.tmp")  # staging of a crashed build
    (versions / "20990101T000000-dead00").mkdir()  # renamed but never made current, no manifest
    (versions / "20990101T000000-dead00" / "passages.faiss").write_bytes(b"\x00" * 10)
    (engine.store.root / ".current.tmp").write_text("20990101T000000-dead00\n", "utf-8")
    answers_from_the_old_index(engine, before)
    plan = engine.build()
    assert plan.added == ["submarine.txt"] and plan.note == ""
    no_leftovers(engine)
    assert engine.store.current() == engine.index.version != before


def test_a_read_only_index_folder_is_a_clear_failure(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = engine.index.version

    real_mkdir = Path.mkdir

    def mkdir(self: Path, *args, **kwargs):  # CI runs as root: simulate chmod a-w versions/
        if self.parent.name == "versions":
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_mkdir(self, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(Path, "mkdir", mkdir)
        with pytest.raises(IndexWriteError, match=r"\(Permission denied\).*permissions"):
            engine.build()
    answers_from_the_old_index(engine, before)


def test_unwritable_index_folder_is_a_clear_error(make_engine, monkeypatch) -> None:
    import os

    from qa.errors import IndexWriteError

    engine = make_engine({"a.txt": "Some text."})
    real_open = os.open

    def refuse(path, *args, **kwargs):  # CI runs as root, who may write anywhere: simulate
        if str(path).endswith(".lock"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(IndexWriteError, match="cannot write to the index folder.*permissions"):
        engine.build()


# --- Round 2: FAISS write errors, stale staging, damaged and silently corrupted files ----------


def test_a_full_disk_while_faiss_writes_is_a_readable_error_with_nothing_left(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = engine.index.version
    real = store_module.faiss.write_index

    def write_index(index, where) -> None:  # FAISS writing to a full device, large or small
        if isinstance(where, str):  # by path, it raises RuntimeError (large) or nothing (small)
            real(index, "/dev/full")
        else:  # through a Python file object: OSError
            with open("/dev/full", "wb") as full:
                real(index, store_module.faiss.PyCallbackIOWriter(full.write))

    monkeypatch.setattr(store_module.faiss, "write_index", write_index)
    with pytest.raises(IndexWriteError) as failure:
        engine.build()
    message = str(failure.value)
    assert message.startswith("cannot write the index") and "\n" not in message
    assert "(No space left on device)" in message and "faiss::" not in message
    answers_from_the_old_index(engine, before)
    no_leftovers(engine)
    assert not (engine.store.root / ".current.tmp").exists()
    # ... and over HTTP: the rebuild fails with the same message, not "unexpected: RuntimeError"
    rebuilder = Rebuilder(engine)
    client = TestClient(create_app(engine, rebuilder))
    assert client.post("/api/index", headers={"Authorization": "Bearer t0ken"}).status_code == 202
    status = rebuilder.wait()
    assert status.state == "failed" and status.error.startswith("cannot write the index")
    no_leftovers(engine)


def test_staging_left_by_a_killed_build_is_removed_by_the_next_build_even_a_no_op(
    engine: Engine,
) -> None:
    (engine.settings.docs / "submarine.txt").unlink()  # the next build has nothing to do
    versions = engine.store.versions
    before = engine.index.version
    shutil.copytree(versions / before, versions / f".{before}.tmp")  # killed mid-write
    (engine.store.root / ".current.tmp").write_text("20990101T000000-dead00\n", "utf-8")
    plan = engine.build()
    assert plan.version == before and plan.added == []
    no_leftovers(engine)
    assert not (engine.store.root / ".current.tmp").exists()


def damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "empty":
        path.write_bytes(b"")
    elif how == "header":  # inside the .npy header's Python literal
        path.write_bytes(data[:20] + b"(((\x00'" + data[25:])
    else:  # 16 flipped bytes in the middle
        middle = len(data) // 2
        path.write_bytes(
            data[:middle]
            + bytes(b ^ 0xFF for b in data[middle : middle + 16])
            + data[middle + 16 :]
        )


@pytest.mark.parametrize(
    ("victim", "how"),
    [
        ("table/texts.npy", "empty"),
        ("table/rows.npy", "header"),
        ("table/texts.npy", "flip"),
        ("passages.faiss", "flip"),
        ("sentences.faiss", "flip"),
        ("table/passage_hash.npy", "flip"),
        ("table/sentence_span.npy", "flip"),
        ("lexical.npz", "flip"),
    ],
)
def test_damaged_or_silently_corrupted_files_are_refused_and_a_build_repairs_them(
    engine: Engine, victim: str, how: str, capsys: pytest.CaptureFixture
) -> None:
    from qa import cli

    damage(engine.store.current_folder() / victim, how)
    with pytest.raises(IndexCorruptError, match=r"qa index --full") as refused:
        Engine(engine.settings, engine.embedder).warm_up()  # what `qa serve` does first
    assert victim in str(refused.value) and "\n" not in str(refused.value)
    argv = ["search", "island", "--index", str(engine.settings.index)]
    assert cli.main(argv) == 2
    assert "qa: error: " in capsys.readouterr().err
    fresh = Engine(engine.settings, engine.embedder)  # an incremental `qa index`
    plan = fresh.build()
    assert plan.note.startswith("previous index unusable, rebuilding fully")
    assert sorted(plan.added) == ["lighthouse.txt", "submarine.txt"]
    assert Engine(engine.settings, engine.embedder).search("stamps", k=1)[0].document == (
        "submarine.txt"
    )


@pytest.mark.parametrize("how", ["empty", "header"])
def test_files_that_fail_to_parse_are_refused_even_with_matching_checksums(
    engine: Engine, how: str
) -> None:
    """Checksums catch damage first; parsing is guarded on its own (EOFError, TokenError)."""
    folder = engine.store.current_folder()
    damage(folder / "table" / "rows.npy", how)
    manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    manifest["checksums"] = store_format.checksums(folder)
    (folder / "manifest.json").write_text(json.dumps(manifest), "utf-8")
    with pytest.raises(IndexCorruptError, match=r"is damaged \(\w+Error.*qa index --full"):
        Engine(engine.settings, engine.embedder).warm_up()


@pytest.mark.parametrize("pointer", [b"\xff\xfe\x00bad", b"../../../etc\n", b".hidden.tmp\n"])
def test_a_damaged_current_pointer_is_refused_and_rebuilt(engine: Engine, pointer: bytes) -> None:
    engine.store.pointer.write_bytes(pointer)
    with pytest.raises(IndexCorruptError, match="qa index --full"):
        Engine(engine.settings, engine.embedder).warm_up()
    plan = Engine(engine.settings, engine.embedder).build()
    assert plan.note.startswith("previous index unusable, rebuilding fully")
    assert Engine(engine.settings, engine.embedder).health()["documents"] == 2
