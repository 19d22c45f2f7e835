"""Building the index: summary, incremental reuse of vectors, atomic versions, the lock."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qa.engine import Engine
from qa.errors import IndexBusyError, NoDocumentsError
from qa.lexical import terms
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


def test_an_emptied_folder_is_an_empty_index_and_a_missing_one_an_error(make_engine) -> None:
    engine = make_engine({"a.txt": "Some text worth keeping."})
    engine.build()
    docs = engine.settings.docs
    docs.rename(docs.with_name("moved"))  # a missing folder (unmounted, mistyped): refused
    with pytest.raises(NoDocumentsError, match="does not exist"):
        engine.build()
    assert engine.search("text worth keeping", k=1)[0].text == "Some text worth keeping."
    docs.with_name("moved").rename(docs)
    (docs / "a.txt").unlink()  # the last document deleted: its text must go too
    plan = engine.build()
    assert plan.removed == ["a.txt"] and "the index is empty" in plan.note
    assert engine.search("text worth keeping", k=5) == [] and engine.documents() == []
    assert not engine.ask("Which text is worth keeping?").answered
    fresh = Engine(engine.settings, engine.embedder)  # as loaded by a server started now
    assert fresh.health()["documents"] == 0 and fresh.search("text", k=5) == []
    (docs / "b.txt").write_text("Herons stand still for hours.", "utf-8")
    assert engine.build().added == ["b.txt"]  # and it fills again


def test_second_build_at_once_fails_fast(make_engine) -> None:
    engine = make_engine({"a.txt": "Some text."})
    with BuildLock(engine.store.lock_path), pytest.raises(IndexBusyError, match="another build"):
        engine.build()
    engine.build()  # the lock is released with its holder


def test_an_incremental_build_equals_a_full_one(make_engine) -> None:
    """What a build reuses (paragraphs, units, hashes, term ids) is what it would compute."""
    lines = (Path(__file__).parent.parent / "seeds" / "defectors.txt").read_text("utf-8")
    lines = [line for line in lines.splitlines() if line.strip()]
    third = len(lines) // 3
    parts = [
        "\n".join(lines[:third]),
        "\n".join(lines[third : 2 * third]),
        "\n".join(lines[2 * third :]),
    ]
    engine = make_engine({"a.txt": parts[0], "b.txt": parts[1]})
    engine.build()
    docs = engine.settings.docs
    (docs / "c.txt").write_text(parts[2], "utf-8")  # added
    (docs / "b.txt").write_text(parts[1] + "\n\nA new ending of the second part.", "utf-8")
    engine.build()
    incremental = engine.index
    engine.build(full=True)
    full = engine.index
    assert list(incremental.paragraphs) == list(full.paragraphs)
    for part in ("passage_span", "sentence_span", "passage_paragraph", "sentence_paragraph"):
        assert np.array_equal(getattr(incremental, part), getattr(full, part))
    assert (list(incremental.passage_hash), list(incremental.sentence_hash)) == (
        list(full.passage_hash),
        list(full.sentence_hash),
    )
    a, b = incremental.lexical, full.lexical
    assert sorted(a.vocabulary) == sorted(b.vocabulary)
    rows = np.arange(len(full.paragraphs))
    sentences = np.arange(len(full.sentence_hash))
    for question in ["When was the camp built?", "who wrote the first paragraph", "new ending"]:
        query = terms(question)
        weights = {t: b.idf(t) for t in set(query)}
        assert weights == {t: a.idf(t) for t in set(query)}
        assert np.array_equal(a.scores(query), b.scores(query))
        assert np.array_equal(a.bigram_scores(query), b.bigram_scores(query))
        assert np.array_equal(a.coverage(weights, rows), b.coverage(weights, rows))
        assert np.array_equal(
            a.coverage(weights, sentences, sentences=True),
            b.coverage(weights, sentences, sentences=True),
        )


# --- The index remembers its documents folder ----------------------------------------------------


def test_the_index_remembers_its_documents_folder(make_engine, tmp_path: Path) -> None:
    from dataclasses import replace

    from qa.engine import Engine
    from qa.errors import DocumentsFolderError

    engine = make_engine({"mine.txt": "My own notes about lichens on old stone walls."})
    engine.build()
    mine = engine.settings.docs
    assert engine.index.manifest["docs"] == str(mine.resolve())
    other = tmp_path / "other"
    other.mkdir()
    (other / "theirs.txt").write_text("Someone else's notes about tide pools.", "utf-8")

    # No folder given (`qa index --index I`, `qa serve --index I`, POST /api/index): the index's.
    own = Engine(replace(engine.settings, docs=None), engine.embedder)
    (mine / "more.txt").write_text("More notes about mosses.", "utf-8")
    assert own.docs == mine and own.build().added == ["more.txt"]

    # Another folder: a clear error naming both and the flag, and the index left as it was.
    elsewhere = Engine(replace(engine.settings, docs=other), engine.embedder)
    version = engine.store.current()
    with pytest.raises(DocumentsFolderError) as error:
        elsewhere.build()
    assert str(mine) in str(error.value) and str(other) in str(error.value)
    assert "--repoint" in str(error.value)
    assert engine.store.current() == version
    # ... unless re-pointed on purpose.
    plan = elsewhere.build(repoint=True)
    assert plan.added == ["theirs.txt"] and sorted(plan.removed) == ["mine.txt", "more.txt"]
    assert own.docs == other and elsewhere.index.manifest["docs"] == str(other.resolve())
