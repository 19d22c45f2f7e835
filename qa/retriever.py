"""Retriever: rank paragraphs for a question by fusing dense and lexical evidence.

Candidates are the top paragraphs of BM25, of the passage vectors and of the sentence vectors.
Each candidate gets five signals:
  passage   best cosine between the question and the paragraph's passage vector(s)
  sentence  best cosine between the question and one of its sentences
  coverage  share of the question's term weight (idf) that the paragraph contains
  sentence_coverage  the same, for its best single sentence (the evidence sits together)
  bigram    BM25 over adjacent-term pairs (phrases of the question found as phrases)
Each signal is z-normalized over this question's candidates (scale-free: no signal dominates by
its units, whatever the corpus), sharpened (see SHARPNESS), then summed with weights fitted on
even-numbered SQuAD articles and checked on odd-numbered ones (bench/tune.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from qa.lexical import positions, terms
from qa.store import Index
from qa.store.vectors import one_faiss_thread

CANDIDATES = 100  # per source; the union is rescored exactly


# Questions are answered concurrently (the web app's thread pool), one per thread. Library
# threads on top of that only oversubscribe the cores: numpy's OpenBLAS turned the ~1,400-row
# cosine product of a question into ~6 ms instead of ~0.3 ms on a busy 2-core machine, and
# FAISS's OpenMP a 10k-vector search into ~40 ms instead of ~1.5 ms. Both give bitwise the
# same results with one thread (the work is split by output row). numpy's BLAS is limited once
# for the process; FAISS's OpenMP per calling thread, only while it ranks (index builds in
# other threads, or later in this one, keep every core).
def _single_threaded_blas() -> None:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # (installed with sentence-transformers; without it, just slower)
        return
    threadpool_limits(1, user_api="blas")


_single_threaded_blas()


@dataclass(frozen=True)
class Weights:
    passage: float = 0.369
    sentence: float = 0.471
    coverage: float = 0.281
    sentence_coverage: float = 0.207
    bigram: float = 0.100


# Each z-score goes through exp(SHARPNESS * z) (and is z-normalized again) before the weighted
# sum: a soft OR, where one signal far above the rest of the candidates counts for more than
# several middling ones. A paragraph that states the answer usually stands out on one signal
# (its wording, or its meaning), not on all.
SHARPNESS = 0.5


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
    """A ranked paragraph: its fused score, raw signals (by name, see SIGNALS) and, per
    sentence of the paragraph in order, the cosine and term overlap the ranking computed
    (what the highlight picks the sentence from)."""

    row: int
    score: float
    signals: dict[str, float]
    sentence_cosines: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    sentence_overlaps: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))

    @property
    def cosine(self) -> float:
        """The best dense similarity of the paragraph to the question."""
        return max(self.signals["passage"], self.signals["sentence"])


def make_query(text: str, vector: np.ndarray) -> Query:
    return Query(text=text, vector=np.asarray(vector, dtype=np.float32), terms=terms(text))


def _zscore(x: np.ndarray) -> np.ndarray:
    std = x.std()
    return (x - x.mean()) / std if std > 1e-9 else np.zeros_like(x)


def sharpen(values: np.ndarray, sharpness: float = SHARPNESS) -> np.ndarray:
    """One signal's values over a question's candidates, as the fusion weighs them."""
    return _zscore(np.exp(sharpness * _zscore(values)))


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
    return positions(first[rows], first[rows + 1] - first[rows])


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Rows of the k highest scores. Usually only a part of the corpus scores at all, and
    partitioning just that part is what keeps this cheap at 100k+ paragraphs."""
    scored = np.flatnonzero(scores)
    if len(scored) > k:
        return scored[np.argpartition(-scores[scored], k)[:k]]
    return np.argpartition(-scores, k)[:k]


def candidates(index: Index, query: Query, bm25: np.ndarray, document: str | None) -> np.ndarray:
    """Paragraph rows worth rescoring: the top of each source (or one document's rows)."""
    if document is not None:
        return np.asarray(index.by_document.get(document, []), dtype=np.int64)
    n = len(index.paragraphs)
    if n <= CANDIDATES:
        return np.arange(n)
    q = query.vector[None, :]
    found = [_top(bm25, CANDIDATES)]
    for part, owner in (
        (index.passages, index.passage_paragraph),
        (index.sentences, index.sentence_paragraph),
    ):
        _, ids = part.search(q, min(CANDIDATES * 2, part.ntotal))
        ids = ids[0][ids[0] >= 0]
        found.append(owner[ids])
    return np.unique(np.concatenate(found)).astype(np.int64)


@dataclass(frozen=True)
class Evidence:
    """The raw signals of candidate paragraphs (by name, one value per row), and the cosine
    and term overlap of each of their sentences (concatenated in row order)."""

    signals: dict[str, np.ndarray]
    sentence_cosines: np.ndarray
    sentence_overlaps: np.ndarray


def evidence(index: Index, query: Query, rows: np.ndarray) -> Evidence:
    """What the ranking knows of paragraphs `rows` for `query`."""
    idf = {t: index.lexical.idf(t) for t in set(query.terms)}
    total = sum(idf.values()) or 1.0
    coverage = index.lexical.coverage(idf, rows) / total
    sentence_ids = _ranges(index.sentence_first, rows)
    overlaps = index.lexical.coverage(idf, sentence_ids, sentences=True) / total
    cosines = index.sentence_vectors.cosines(sentence_ids, query.vector)
    passage_ids = _ranges(index.passage_first, rows)
    passage = _segment_max(
        index.passage_vectors.cosines(passage_ids, query.vector), index.passage_first, rows
    )
    sentence = _segment_max(cosines, index.sentence_first, rows)
    values = {
        "passage": passage,
        "sentence": np.where(sentence < -0.5, passage, sentence),  # no sentences: passage
        "coverage": coverage,
        "sentence_coverage": _segment_max(overlaps, index.sentence_first, rows),
        "bigram": index.lexical.bigram_scores(query.terms)[rows],
    }
    return Evidence(values, cosines, overlaps)


def rank(
    index: Index, query: Query, k: int, document: str | None = None, weights: Weights = WEIGHTS
) -> list[Hit]:
    """The `k` best paragraphs for `query`, best first."""
    if not index.paragraphs:
        return []
    with one_faiss_thread():
        rows = candidates(index, query, index.lexical.scores(query.terms), document)
        if len(rows) == 0:
            return []
        found = evidence(index, query, rows)
    raw = found.signals
    fused = sum(getattr(weights, name) * sharpen(raw[name]) for name in SIGNALS)
    order = np.argsort(-fused, kind="stable")[:k]
    lengths = index.sentence_first[rows + 1] - index.sentence_first[rows]
    starts = np.cumsum(lengths) - lengths  # where each row's sentences begin in `found`
    return [
        Hit(
            int(rows[i]),
            float(fused[i]),
            {name: float(raw[name][i]) for name in SIGNALS},
            found.sentence_cosines[starts[i] : starts[i] + lengths[i]],
            found.sentence_overlaps[starts[i] : starts[i] + lengths[i]],
        )
        for i in order
    ]
