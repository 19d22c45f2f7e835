"""Retriever: rank paragraphs for a question by fusing BM25 and dense similarities.

Three signals per candidate paragraph: BM25, the best passage-vector cosine and the best
sentence-vector cosine. Each is z-normalized over the candidate set of this query (scale-free:
no signal dominates because of its units), then combined with weights fitted on held-in data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qa.lexical import terms
from qa.store import Index

CANDIDATES = 100  # per source; the union is rescored exactly


@dataclass(frozen=True)
class Weights:
    bm25: float = 1.0
    passage: float = 0.5
    sentence: float = 0.5


@dataclass(frozen=True)
class Query:
    """A question ready for retrieval: its text, vector and stemmed terms."""

    text: str
    vector: np.ndarray
    terms: list[str]


@dataclass(frozen=True)
class Hit:
    """A ranked paragraph with its fused score and raw signals."""

    row: int
    score: float
    bm25: float
    passage: float
    sentence: float


def make_query(text: str, vector: np.ndarray) -> Query:
    return Query(text=text, vector=np.asarray(vector, dtype=np.float32), terms=terms(text))


def _zscore(x: np.ndarray) -> np.ndarray:
    std = x.std()
    return (x - x.mean()) / std if std > 1e-9 else np.zeros_like(x)


def _max_per_paragraph(index_part, rows_of: list[np.ndarray], vector: np.ndarray) -> np.ndarray:
    """For each candidate, the best cosine among its vectors (rows_of[i])."""
    flat = np.concatenate(rows_of) if rows_of else np.zeros(0, dtype=np.int64)
    if len(flat) == 0:
        return np.zeros(len(rows_of), dtype=np.float32)
    sims = index_part.reconstruct_batch(flat) @ vector
    bounds = np.cumsum([0] + [len(r) for r in rows_of])
    return np.array(
        [sims[a:b].max() if b > a else -1.0 for a, b in zip(bounds[:-1], bounds[1:])],
        dtype=np.float32,
    )


def candidates(index: Index, query: Query, bm25: np.ndarray, document: str | None) -> np.ndarray:
    """Paragraph rows worth rescoring: the top of each source (or one document's rows)."""
    if document is not None:
        return np.asarray(index.by_document.get(document, []), dtype=np.int64)
    n = len(index.paragraphs)
    if n <= CANDIDATES:
        return np.arange(n)
    q = query.vector[None, :]
    found = [np.argpartition(-bm25, CANDIDATES)[:CANDIDATES]]
    for part, owner in (
        (index.passages, index.passage_paragraph),
        (index.sentences, index.sentence_paragraph),
    ):
        _, ids = part.search(q, min(CANDIDATES * 2, part.ntotal))
        ids = ids[0][ids[0] >= 0]
        found.append(owner[ids])
    return np.unique(np.concatenate(found))


def rank(
    index: Index,
    query: Query,
    k: int,
    document: str | None = None,
    weights: Weights = Weights(),
) -> list[Hit]:
    """The `k` best paragraphs for `query`, best first."""
    if not index.paragraphs:
        return []
    bm25_all = index.lexical.scores(query.terms)
    rows = candidates(index, query, bm25_all, document)
    if len(rows) == 0:
        return []
    passage_rows = [np.arange(index.passage_first[r], index.passage_first[r + 1]) for r in rows]
    sentence_rows = [np.arange(index.sentence_first[r], index.sentence_first[r + 1]) for r in rows]
    bm25 = bm25_all[rows]
    passage = _max_per_paragraph(index.passages, passage_rows, query.vector)
    sentence = _max_per_paragraph(index.sentences, sentence_rows, query.vector)
    sentence = np.where(sentence < -0.5, passage, sentence)  # paragraphs without sentences
    fused = (
        weights.bm25 * _zscore(bm25)
        + weights.passage * _zscore(passage)
        + weights.sentence * _zscore(sentence)
    )
    order = np.argsort(-fused, kind="stable")[:k]
    return [
        Hit(int(rows[i]), float(fused[i]), float(bm25[i]), float(passage[i]), float(sentence[i]))
        for i in order
    ]
