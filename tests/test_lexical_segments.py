"""Lexical segments: a base kept as it is plus a delta scores every row as one BM25 built from
scratch over the same texts would, through updates, a save and a load, and a fold."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qa import lexical_segments
from qa.lexical import Lexical, terms
from qa.lexical_segments import LexicalSegments

BASE = [
    "The prison camp was built near the river in 1942.",
    "Prisoners in the camp worked on the river dam; the dam still stands.",
    "A",  # no terms at all
    "Rivers and dams: the river camp of the prison service, a camp like no other camp.",
    "Volcanoes erupt when magma rises through the crust.",
    "The camp by the river was closed after the war ended.",
]
QUESTIONS = [
    "Where was the prison camp built?",
    "dam river camp",
    "magma crust volcano",
    "river camp closed after the war",
    "new harbour lighthouse",
    "nothing here",
]


def sentences_of(text: str) -> list[str]:
    return [s for s in text.split("; ")]


def full(texts: list[str]) -> Lexical:
    return Lexical.build(
        [terms(t) for t in texts], [terms(s) for t in texts for s in sentences_of(t)]
    )


def update(previous, rows: list[str], texts: list[str]) -> LexicalSegments:
    """`texts` as a version over `previous` (whose rows are `rows`): a text still there keeps
    its previous row, a new one comes as terms."""
    first = np.cumsum([0] + [len(sentences_of(t)) for t in rows])
    given = [
        rows.index(t) if t in rows else (terms(t), [terms(s) for s in sentences_of(t)])
        for t in texts
    ]
    return lexical_segments.over(previous, first, given, None)


def assert_same(a, b: Lexical, texts: list[str]) -> None:
    rows = np.arange(len(texts))
    sentences = np.arange(sum(len(sentences_of(t)) for t in texts))
    assert a.size == b.size == len(texts)
    for question in QUESTIONS:
        query = terms(question)
        weights = {t: b.idf(t) for t in set(query)}
        assert weights == {t: a.idf(t) for t in set(query)}
        assert np.array_equal(a.scores(query), b.scores(query)), question
        assert np.array_equal(a.bigram_scores(query), b.bigram_scores(query)), question
        assert np.array_equal(a.coverage(weights, rows), b.coverage(weights, rows))
        assert np.array_equal(
            a.coverage(weights, sentences, sentences=True),
            b.coverage(weights, sentences, sentences=True),
        )


def test_updates_score_as_a_build_from_scratch(tmp_path: Path) -> None:
    base = full(BASE)
    # Deleted (the volcano), changed (the dam), added (a harbour, twice: two rows of one text),
    # and the rest moved around.
    first = [BASE[5], BASE[0], "The new harbour has a lighthouse and a camp.", BASE[2], BASE[3]]
    first += ["Prisoners in the camp worked on the river dam; it was torn down in 1990."]
    first += ["The new harbour has a lighthouse and a camp."]
    one = update(base, BASE, first)
    assert one.delta.size == 3 and one.base is base
    assert_same(one, full(first), first)
    # An update over that one: a delta row kept, one deleted, a base row deleted, a new one.
    second = [first[0], first[2], first[3], first[4], "Lighthouses guide ships into the harbour."]
    two = update(one, first, second)
    assert two.base is base and two.delta.size == 2
    assert_same(two, full(second), second)
    # Saved (base and delta files, slots) and loaded back; folded into one Lexical.
    (tmp_path / "table").mkdir()
    two.save(tmp_path, tmp_path / "table")
    loaded = lexical_segments.load(tmp_path, tmp_path / "table", 5, len(second))
    assert isinstance(loaded, LexicalSegments)
    assert_same(loaded, full(second), second)
    folded = two.folded()
    assert isinstance(folded, Lexical) and sorted(folded.vocabulary) == sorted(
        full(second).vocabulary
    )
    assert_same(folded, full(second), second)


def test_everything_deleted_scores_nothing() -> None:
    empty = update(full(BASE), BASE, [])
    assert empty.size == 0 and empty.scores(terms("prison camp")).shape == (0,)
    assert empty.idf("camp") == 0.0
