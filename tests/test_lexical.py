"""The lexical side: BM25 and term coverage from term ids equal their definitions over strings."""

from __future__ import annotations

import bm25s
import numpy as np
import pytest

from qa.lexical import Lexical, bigrams, terms

PARAGRAPHS = [
    "The prison camp was built near the river in 1942.",
    "Prisoners in the camp worked on the river dam; the dam still stands.",
    "A",  # no terms at all
    "Rivers and dams: the river camp of the prison service, a camp like no other camp.",
    "Volcanoes erupt when magma rises through the crust.",
]
SENTENCES = [  # (paragraph, start, end)
    (0, 0, 49),
    (1, 0, 45),
    (1, 46, 68),
    (2, 0, 1),
    (3, 0, 81),
    (4, 0, 51),
]
QUESTIONS = ["Where was the prison camp built?", "dam river camp", "magma crust", "nothing here"]


def build(paragraphs=PARAGRAPHS, sentences=SENTENCES) -> Lexical:
    return Lexical.build(
        [terms(p) for p in paragraphs], [terms(paragraphs[r][s:e]) for r, s, e in sentences]
    )


def reference_scores(texts: list[list[str]], query: list[str]) -> np.ndarray:
    """BM25 as bm25s computes it from the token strings themselves."""
    bm25 = bm25s.BM25()
    bm25.index([t or ["\x00"] for t in texts], show_progress=False)
    known = [t for t in query if t in bm25.vocab_dict]
    return bm25.get_scores(known) if known else np.zeros(len(texts), dtype=np.float32)


def reference_coverage(texts: list[str], weights: dict[str, float]) -> np.ndarray:
    """Each text's summed weight of the query terms it contains, counted once each."""
    out = np.zeros(len(texts), dtype=np.float32)
    for term, weight in weights.items():
        out += np.array([np.float32(weight) if term in terms(t) else 0 for t in texts], np.float32)
    return out


@pytest.mark.parametrize("question", QUESTIONS)
def test_scores_and_coverage_equal_their_definitions(question: str) -> None:
    lexical, query = build(), terms(question)
    paragraph_terms = [terms(p) for p in PARAGRAPHS]
    assert np.array_equal(lexical.scores(query), reference_scores(paragraph_terms, query))
    assert np.array_equal(
        lexical.bigram_scores(query),
        reference_scores([bigrams(t) for t in paragraph_terms], bigrams(query)),
    )
    weights = {t: lexical.idf(t) for t in set(query)}
    rows = np.array([4, 2, 0, 3])  # any candidates, in any order (2 has no terms)
    assert np.array_equal(
        lexical.coverage(weights, rows), reference_coverage([PARAGRAPHS[r] for r in rows], weights)
    )
    sentences = [PARAGRAPHS[r][s:e] for r, s, e in SENTENCES]
    assert np.array_equal(
        lexical.coverage(weights, np.arange(len(sentences)), sentences=True),
        reference_coverage(sentences, weights),
    )


def test_idf_counts_paragraphs_and_ignores_unknown_terms() -> None:
    lexical = build()
    n, df = len(PARAGRAPHS), 3  # "camp" is in paragraphs 0, 1 and 3
    assert lexical.idf("camp") == pytest.approx(np.log(1 + (n - df + 0.5) / (df + 0.5)))
    assert lexical.idf("zebra") == 0.0 and lexical.coverage({"zebra": 1.0}, np.arange(5)).sum() == 0


def test_reusing_a_previous_versions_ids_gives_the_same_index() -> None:
    """An incremental build (old text by its previous row, new text as terms, a paragraph
    removed) equals building from scratch."""
    previous = build()
    kept = [0, 1, 3]
    paragraphs = [PARAGRAPHS[r] for r in kept] + ["A new camp by the volcano river."]
    sentences = [(kept.index(r), s, e) for r, s, e in SENTENCES if r in kept]
    sentences.append((3, 0, len(paragraphs[3])))
    reused = Lexical.build(
        [*kept, terms(paragraphs[3])],
        [i for i, (r, _, _) in enumerate(SENTENCES) if r in kept] + [terms(paragraphs[3])],
        previous,
    )
    fresh = build(paragraphs, sentences)
    assert sorted(reused.vocabulary) == sorted(fresh.vocabulary)  # "magma" etc. dropped out
    for question in QUESTIONS + ["volcano camp"]:
        query = terms(question)
        weights = {t: fresh.idf(t) for t in set(query)}
        assert weights == {t: reused.idf(t) for t in set(query)}
        for a, b in [
            (fresh.scores(query), reused.scores(query)),
            (fresh.bigram_scores(query), reused.bigram_scores(query)),
            (fresh.coverage(weights, np.arange(4)), reused.coverage(weights, np.arange(4))),
            (
                fresh.coverage(weights, np.arange(len(sentences)), sentences=True),
                reused.coverage(weights, np.arange(len(sentences)), sentences=True),
            ),
        ]:
            assert np.array_equal(a, b)


def test_save_and_load_round_trip(tmp_path) -> None:
    lexical = build()
    lexical.save(tmp_path / "lexical.npz")
    loaded = Lexical.load(tmp_path / "lexical.npz", len(PARAGRAPHS), len(SENTENCES))
    query = terms("dam river camp")
    assert loaded.vocabulary == lexical.vocabulary
    assert np.array_equal(loaded.scores(query), lexical.scores(query))
    assert np.array_equal(loaded.bigram_scores(query), lexical.bigram_scores(query))
    with pytest.raises(ValueError):
        Lexical.load(tmp_path / "lexical.npz", len(PARAGRAPHS) + 1, len(SENTENCES))
