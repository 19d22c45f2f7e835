"""Ranking: candidate selection, and the evidence each hit carries to the highlight."""

from __future__ import annotations

import numpy as np
import pytest

from qa.retriever import CANDIDATES, _top, make_query, rank, sharpen


def test_top_returns_the_highest_scores_when_many_rows_score() -> None:
    rng = np.random.default_rng(0)
    scores = np.zeros(10_000, dtype=np.float32)
    scored = rng.choice(10_000, 3_000, replace=False)
    scores[scored] = rng.random(3_000, dtype=np.float32) + 0.01
    best = set(np.argsort(-scores)[:CANDIDATES].tolist())
    assert set(_top(scores, CANDIDATES).tolist()) == best


def test_top_keeps_every_scoring_row_when_few_score() -> None:
    scores = np.zeros(1_000, dtype=np.float32)
    scores[[3, 500, 999]] = [1.0, 2.0, 0.5]
    top = _top(scores, CANDIDATES)
    assert len(top) == CANDIDATES and {3, 500, 999} <= set(top.tolist())


def test_one_outstanding_signal_outweighs_several_middling_ones() -> None:
    # Two signals over 42 candidates: candidate 0 stands far out on the first and is average on
    # the second; candidate 1 is well above the rest on both. Plain z-scores rank 1 first; the
    # sharpened ones (a soft OR) rank 0 first.
    ordinary = np.tile([-1.0, 1.0], 20)
    first = np.r_[4.0, 2.0, ordinary]
    second = np.r_[0.0, 2.0, ordinary]

    def z(x: np.ndarray) -> np.ndarray:
        return (x - x.mean()) / x.std()

    assert np.argmax(z(first) + z(second)) == 1
    assert np.argmax(sharpen(first) + sharpen(second)) == 0


def test_sharpening_keeps_the_order_of_a_signal_and_is_scale_free() -> None:
    values = np.array([0.1, 0.5, 0.2, 0.9, 0.3])
    assert np.array_equal(np.argsort(sharpen(values)), np.argsort(values))
    assert np.allclose(sharpen(values), sharpen(values * 1000 + 7))
    assert not sharpen(np.full(4, 0.3)).any()  # a signal that says nothing counts for nothing


def test_each_hit_carries_the_evidence_of_its_own_sentences(seed_engine) -> None:
    # The highlight picks a sentence from what the ranking computed; a misaligned slice would
    # make it pick from another paragraph's sentences.
    index = seed_engine.index
    text = "Why did Ri Il-kyu leave his post?"
    query = make_query(text, seed_engine.embedder.encode_query(text))
    hits = rank(index, query, len(index.paragraphs))
    assert len(hits) == len(index.paragraphs) > 1
    for hit in hits:
        ids = np.arange(index.sentence_first[hit.row], index.sentence_first[hit.row + 1])
        cosines = index.sentence_vectors.rows(ids) @ query.vector
        assert np.allclose(hit.sentence_cosines, cosines, atol=1e-6)
        assert len(hit.sentence_overlaps) == len(ids)
        assert hit.signals["sentence_coverage"] == pytest.approx(hit.sentence_overlaps.max())
