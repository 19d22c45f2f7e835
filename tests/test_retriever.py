"""Candidate selection: the BM25 side of the candidates the fused ranking rescores."""

from __future__ import annotations

import numpy as np

from qa.retriever import CANDIDATES, _top


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
