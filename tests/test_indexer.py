"""Building the index: summary, incremental reuse of vectors, atomic versions, the lock."""

from __future__ import annotations

import pytest

from qa.errors import IndexBusyError, NoDocumentsError
from qa.store import BuildLock

PARAS = [f"Paragraph number {i} talks about topic {i} in some detail." for i in range(10)]


def test_first_build_embeds_everything_and_summarizes(make_engine) -> None:
    engine = make_engine({"a.txt": "\n\n".join(PARAS), "b.md": "Another file entirely."})
    plan = engine.build()
    assert (len(plan.added), plan.paragraphs, plan.paragraphs_to_embed) == (2, 11, 11)
    assert plan.summary().startswith("2 documents added, 0 changed, 0 removed, 0 unchanged;")
    assert "index now 11 paragraphs in 2 documents" in plan.summary()
    assert engine.health()["paragraphs"] == 11


def test_rebuild_embeds_only_what_changed(make_engine) -> None:
    engine = make_engine({"a.txt": "\n\n".join(PARAS), "b.md": "Another file entirely."})
    engine.build()
    docs = engine.settings.docs
    before = engine.embedder.texts_embedded
    version = engine.index.version
    plan = engine.build()
    assert plan.texts_to_embed == 0 and plan.unchanged == ["a.txt", "b.md"]
    assert engine.embedder.texts_embedded == before  # nothing recomputed
    assert plan.version == engine.store.current() == version  # and no needless new version

    edited = PARAS.copy()
    edited[3] = "A completely new third paragraph about volcanoes."
    (docs / "a.txt").write_text("\n\n".join(edited), "utf-8")
    (docs / "b.md").unlink()
    (docs / "c.txt").write_text("A brand new document about rivers.", "utf-8")
    plan = engine.build()
    assert (plan.added, plan.changed, plan.removed) == (["c.txt"], ["a.txt"], ["b.md"])
    assert plan.paragraphs_to_embed == 2  # the edited paragraph and the new document
    assert engine.embedder.texts_embedded - before == 2
    assert engine.search("volcanoes", k=1)[0].text == edited[3]
    assert {d.id for d in engine.documents()} == {"a.txt", "c.txt"}


def test_full_rebuild_reembeds_and_dry_run_changes_nothing(make_engine) -> None:
    engine = make_engine({"a.txt": "\n\n".join(PARAS)})
    engine.build()
    version = engine.index.version
    assert engine.build(full=True, dry_run=True).texts_to_embed == 10
    assert engine.store.current() == version
    plan = engine.build(full=True)
    assert plan.paragraphs_to_embed == 10 and engine.index.version != version
    assert [p.name for p in engine.store.versions.iterdir()] == [engine.index.version]


def test_empty_documents_folder_keeps_the_old_index(make_engine) -> None:
    engine = make_engine({"a.txt": "Some text worth keeping."})
    engine.build()
    (engine.settings.docs / "a.txt").unlink()
    with pytest.raises(NoDocumentsError, match="no readable documents"):
        engine.build()
    assert engine.search("text worth keeping", k=1)[0].text == "Some text worth keeping."


def test_second_build_at_once_fails_fast(make_engine) -> None:
    engine = make_engine({"a.txt": "Some text."})
    with BuildLock(engine.store.lock_path), pytest.raises(IndexBusyError, match="another build"):
        engine.build()
    engine.build()  # the lock is released with its holder
