"""Stamps: an unchanged file is not read again; any change to it still is."""

from __future__ import annotations

import os
import time

import orjson
import pytest

from qa import documents, stamps

PARAS = [f"Paragraph {i} tells of the river town number {i}." for i in range(3)]


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files the build opens and reads (a spy: the real read still happens)."""
    monkeypatch.setattr(stamps, "SETTLE_SECONDS", 0.0)  # files in tests are seconds old
    seen: list[str] = []
    real = documents.read_confined

    def spy(path, root, max_bytes, *args):  # noqa: ANN001, ANN202
        seen.append(path.name)
        return real(path, root, max_bytes, *args)

    monkeypatch.setattr(documents, "read_confined", spy)
    return seen


def test_an_unchanged_file_is_not_read_again(make_engine, reads: list[str]) -> None:
    engine = make_engine({"a.txt": "\n\n".join(PARAS), "b.txt": "Another file about hills."})
    engine.build()
    assert sorted(reads) == ["a.txt", "b.txt"]
    reads.clear()
    docs = engine.settings.docs
    (docs / "c.txt").write_text("A new file about valleys.", "utf-8")
    plan = engine.build()
    assert reads == ["c.txt"] and plan.added == ["c.txt"] and plan.unchanged == ["a.txt", "b.txt"]
    assert engine.search("valleys", k=1)[0].text == "A new file about valleys."
    reads.clear()
    assert engine.build(full=True).paragraphs_to_embed == 5  # --full reads everything
    assert sorted(reads) == ["a.txt", "b.txt", "c.txt"]


def test_a_touched_file_is_read_and_an_edit_that_keeps_size_and_mtime_is_caught(
    make_engine, reads: list[str]
) -> None:
    engine = make_engine({"a.txt": "\n\n".join(PARAS)})
    engine.build()
    path = engine.settings.docs / "a.txt"
    time.sleep(0.05)  # (past the file system's clock tick)
    os.utime(path, ns=(time.time_ns(), time.time_ns()))  # touched: same bytes
    reads.clear()
    plan = engine.build()
    assert reads == ["a.txt"] and plan.unchanged == ["a.txt"] and plan.texts_to_embed == 0
    assert plan.version == engine.index.version  # same bytes: no new version
    reads.clear()
    assert engine.build().unchanged == ["a.txt"] and reads == []  # stamped again
    # Same size, mtime put back (as `cp -p` or an editor may): the ctime still tells.
    before = os.stat(path)
    time.sleep(0.05)
    path.write_text("\n\n".join(PARAS).replace("river", "rover"), "utf-8")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(path).st_size == before.st_size
    plan = engine.build()
    assert reads == ["a.txt"] and plan.changed == ["a.txt"]
    assert "rover" in engine.search("rover town", k=1)[0].text


def test_a_damaged_stamps_file_means_reading_everything(make_engine, reads: list[str]) -> None:
    engine = make_engine({"a.txt": "\n\n".join(PARAS)})
    engine.build()
    (engine.store.root / stamps.FILE).write_text('[["a.txt", 1, 2', "utf-8")
    reads.clear()
    assert engine.build().unchanged == ["a.txt"] and reads == ["a.txt"]
    reads.clear()
    assert engine.build().unchanged == ["a.txt"] and reads == []  # written again


def test_a_link_is_always_read(make_engine, reads: list[str]) -> None:
    engine = make_engine({"real/a.txt": "\n\n".join(PARAS)})
    docs = engine.settings.docs
    (docs / "b.txt").symlink_to(docs / "real" / "a.txt")
    engine.build()
    reads.clear()
    engine.build()
    assert reads == ["b.txt"]  # its target may change under the same link


def test_stamps_another_process_wrote_are_read_again(make_engine, reads: list[str]) -> None:
    engine = make_engine({"a.txt": "\n\n".join(PARAS)})
    engine.build()  # (this process now keeps the records it wrote)
    path = engine.store.root / stamps.FILE
    records = orjson.loads(path.read_bytes())
    records["a.txt"][0][0] += 1  # another build recorded another size for a.txt
    path.with_name("other").write_bytes(orjson.dumps(records))
    os.replace(path.with_name("other"), path)
    reads.clear()
    assert engine.build().unchanged == ["a.txt"] and reads == ["a.txt"]
    reads.clear()
    assert engine.build().unchanged == ["a.txt"] and reads == []
