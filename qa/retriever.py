"""Retriever: rank paragraphs for a question by fusing dense and lexical evidence.

Candidates are the top paragraphs of BM25, of the passage vectors and of the sentence vectors.
Each candidate gets five signals:
  passage   best cosine between the question and the paragraph's passage vector(s)
  sentence  best cosine between the question and one of its sentences
  coverage  share of the question's term weight (idf) that the paragraph contains
  sentence_coverage  the same, for its best single sentence (the evidence sits together)
  bigram    BM25 over adjacent-term pairs (phrases of the question found as phrases)
Each signal is z-normalized over this question's candidates (scale-free: no signal dominates by
its units, whatever the corpus), then summed with weights fitted on even-numbered SQuAD articles
and checked on odd-numbered ones (bench/tune.py).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from qa.lexical import bigrams, terms
from qa.store import Index

CANDIDATES = 100  # per source; the union is rescored exactly


@dataclass(frozen=True)
class Weights:
    passage: float = 0.92
    sentence: float = 1.16
    coverage: float = 0.70
    sentence_coverage: float = 0.48
    bigram: float = 0.14


WEIGHTS = Weights()
SIGNALS = tuple(f.name for f in fields(Weights))


@dataclass(frozen=True)
class Query:
    """A question ready for retrieval: its text, vector and stemmed terms."""

    text: str
    vector: np.ndarray
    terms: list[str]


@dataclass(frozen=True)
class Hit:
    """A ranked paragraph: its fused score and raw signals (by name, see SIGNALS)."""

    row: int
    score: float
    signals: dict[str, float]

    @property
    def cosine(self) -> float:
        """The best dense similarity of the paragraph to the question."""
        return max(self.signals["passage"], self.signals["sentence"])


def make_query(text: str, vector: np.ndarray) -> Query:
    return Query(text=text, vector=np.asarray(vector, dtype=np.float32), terms=terms(text))


def _zscore(x: np.ndarray) -> np.ndarray:
    std = x.std()
    return (x - x.mean()) / std if std > 1e-9 else np.zeros_like(x)


def _segment_max(values: np.ndarray, first: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """For each row r, the max of values[first[r]:first[r+1]] (values given for those ranges)."""
    lengths = first[rows + 1] - first[rows]
    out = np.full(len(rows), -1.0, dtype=np.float32)
    nonempty = lengths > 0
    if nonempty.any():
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        out[nonempty] = np.maximum.reduceat(values, starts[nonempty])
    return out


def _ranges(first: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Concatenated vector rows [first[r], first[r+1]) of each paragraph row r."""
    return np.concatenate([np.arange(first[r], first[r + 1]) for r in rows]).astype(np.int64)


def _dense(part, first: np.ndarray, rows: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """Best cosine per paragraph among its vectors in `part` (a FAISS index)."""
    ids = _ranges(first, rows)
    sims = part.reconstruct_batch(ids) @ vector if len(ids) else np.zeros(0, np.float32)
    return _segment_max(sims, first, rows)


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
    return np.unique(np.concatenate(found)).astype(np.int64)


def signals(index: Index, query: Query, rows: np.ndarray) -> dict[str, np.ndarray]:
    """The raw signals of paragraphs `rows` for `query`."""
    idf = {t: index.lexical.idf(t) for t in set(query.terms)}
    total = sum(idf.values()) or 1.0
    coverage = index.lexical.matches(idf)[rows] / total
    sentence_ids = _ranges(index.sentence_first, rows)
    sentence_cov = index.sentence_lexical.matches(idf)[sentence_ids] / total
    passage = _dense(index.passages, index.passage_first, rows, query.vector)
    sentence = _dense(index.sentences, index.sentence_first, rows, query.vector)
    return {
        "passage": passage,
        "sentence": np.where(sentence < -0.5, passage, sentence),  # no sentences: passage
        "coverage": coverage,
        "sentence_coverage": _segment_max(sentence_cov, index.sentence_first, rows),
        "bigram": index.bigram_lexical.scores(bigrams(query.terms))[rows],
    }


def rank(
    index: Index, query: Query, k: int, document: str | None = None, weights: Weights = WEIGHTS
) -> list[Hit]:
    """The `k` best paragraphs for `query`, best first."""
    if not index.paragraphs:
        return []
    rows = candidates(index, query, index.lexical.scores(query.terms), document)
    if len(rows) == 0:
        return []
    raw = signals(index, query, rows)
    fused = sum(getattr(weights, name) * _zscore(raw[name]) for name in SIGNALS)
    order = np.argsort(-fused, kind="stable")[:k]
    return [
        Hit(int(rows[i]), float(fused[i]), {name: float(raw[name][i]) for name in SIGNALS})
        for i in order
    ]
