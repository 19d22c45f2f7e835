"""Segments: the vectors of one kind (passages or sentences) of a version, as a sealed base and a
small delta.

The base is the FAISS index a full build or a merge made (an HNSW graph past ANN_THRESHOLD
vectors: ~190 s to build at 592k vectors). A later build that adds, changes or deletes a few
documents keeps it as it is (its file hard-linked into the new version, never copied or rebuilt)
and puts the vectors of new text into the delta, an index rebuilt with each version (it stays
small: QA_MERGE_AFTER), storing its vectors as the base does: float16 beside an HNSW graph (the
values a merge will give them, and half the bytes to scan), float32 beside a flat base. It is
searched exhaustively, or past DELTA_SCAN vectors through fast-scan codes (below).
Base vectors whose text is gone are tombstones: a FAISS IDSelector masks them in every search,
so they are never returned. Row r of the version (paragraph order, as the table's vector rows)
is stored at slot[r]: base id slot[r] below base.ntotal, else delta id slot[r] - base.ntotal.
A merge (qa/store/merge.py) folds the delta into a new base.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import faiss
import numpy as np

from qa.store.vectors import StoredVectors, flat_index, one_faiss_thread, vector_index


class Segments:
    """Base + delta + tombstones, searched and read by version row."""

    def __init__(
        self,
        base: faiss.Index,
        delta: faiss.Index | None = None,
        slot: np.ndarray | None = None,
        source: Path | None = None,
        checksum: str | None = None,
    ) -> None:
        self.base = base
        self.delta = delta if delta is not None else faiss.IndexFlatIP(base.d)
        nb, nd = base.ntotal, self.delta.ntotal
        self.slot = np.arange(nb, dtype=np.int64) if slot is None else np.asarray(slot, np.int64)
        if len(self.slot) and (self.slot.min() < 0 or self.slot.max() >= nb + nd):
            raise ValueError("a vector row names no stored vector")
        in_base = self.slot < nb
        self.base_row = np.full(nb, -1, dtype=np.int64)  # -1: a tombstone
        self.base_row[self.slot[in_base]] = np.flatnonzero(in_base)
        self.delta_row = np.full(nd, -1, dtype=np.int64)
        self.delta_row[self.slot[~in_base] - nb] = np.flatnonzero(~in_base)
        live = int(np.count_nonzero(self.base_row >= 0))
        if live != int(in_base.sum()) or np.any(self.delta_row < 0):
            raise ValueError("vector rows share a stored vector, or a delta vector has no row")
        self.tombstones = nb - live
        self._params = self._mask() if self.tombstones else None
        self._base_vectors = StoredVectors(base)
        self._delta_vectors = StoredVectors(self.delta)
        self.source = source  # the file the base was read from or written to (to link it)
        self.checksum = checksum  # that file's checksum, as its manifest recorded it

    def _mask(self) -> faiss.SearchParameters:
        """Search parameters that leave the tombstones out (the bitmap must outlive them)."""
        self._bitmap = np.packbits(self.base_row >= 0, bitorder="little")
        self._selector = faiss.IDSelectorBitmap(len(self.base_row), faiss.swig_ptr(self._bitmap))
        if isinstance(self.base, faiss.IndexHNSW):
            return faiss.SearchParametersHNSW(sel=self._selector, efSearch=self.base.hnsw.efSearch)
        return faiss.SearchParameters(sel=self._selector)

    @property
    def ntotal(self) -> int:
        return len(self.slot)

    @property
    def d(self) -> int:
        return self.base.d

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """FAISS-style (scores, rows) of the k best rows for one query: both segments searched,
        tombstones left out, merged by score. The delta is asked for its DELTA_FIRST best first:
        when the last of them scores below the base's k-th, no other delta row is among the k
        best (most questions, the delta being small); else it is asked for its k best."""
        query = queries[:1]
        scores, rows = [], []
        if self.base.ntotal and k > 0:
            found, ids = self.base.search(query, min(k, self.base.ntotal), params=self._params)
            ok = ids[0] >= 0
            scores.append(found[0][ok])
            rows.append(self.base_row[ids[0][ok]])
        want = min(k, self.delta.ntotal)
        if want > 0:
            found, ids = self.delta.search(query, min(want, DELTA_FIRST))
            if want > DELTA_FIRST and (
                not scores or len(scores[0]) < k or found[0][-1] >= scores[0][-1]
            ):
                found, ids = self.delta.search(query, want)
            ok = ids[0] >= 0
            scores.append(found[0][ok])
            rows.append(self.delta_row[ids[0][ok]])
        if len(scores) < 2:  # one segment (no delta, or no base): its own order, no merging
            if not scores:
                return np.zeros((1, 0), np.float32), np.zeros((1, 0), np.int64)
            return scores[0][None, :], rows[0][None, :]
        score, row = np.concatenate(scores), np.concatenate(rows)
        best = np.argsort(-score, kind="stable")[:k]
        return score[best][None, :], row[best][None, :]

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """The vectors of version rows `ids`, shape (len(ids), d), float32 (for rescoring)."""
        slots = self.slot[np.asarray(ids, dtype=np.int64)]
        nb = self.base.ntotal
        base, delta = self._base_vectors, self._delta_vectors
        if len(slots) == 0:
            return np.zeros((0, self.d), dtype=np.float32)
        at = np.flatnonzero(slots >= nb)  # rows stored in the delta
        if len(at) == 0:
            return base.rows(slots)
        if len(at) == len(slots):
            return delta.rows(slots - nb)
        if base.codes is not None and delta.codes is not None:  # both float16: one decode
            codes = base.codes[np.minimum(slots, nb - 1)]
            codes[at] = delta.codes[slots[at] - nb]
            return base.decode(codes)
        out = base.rows(np.minimum(slots, nb - 1))
        out[at] = delta.rows(slots[at] - nb)
        return out

    def cosines(self, ids: np.ndarray, vector: np.ndarray) -> np.ndarray:
        """The scores of rows `ids` against one query `vector` (what the retriever rescores)."""
        return self.rows(ids) @ vector if len(ids) else np.zeros(0, np.float32)

    def all(self) -> np.ndarray:
        """Every row's vector, in row order (what a merge builds a new base from)."""
        return self.rows(np.arange(self.ntotal)) if self.ntotal else np.zeros((0, self.d))


def fresh(vectors: np.ndarray, dimension: int) -> Segments:
    """A new base over `vectors` (row order), no delta: what a full build makes."""
    return Segments(vector_index(vectors.reshape(-1, dimension), dimension))


def live(segments: Segments, hashes: Iterable[str]) -> dict[str, list[int]]:
    """Text hash -> the base ids still holding its vector (`hashes`: of the version's rows)."""
    found: dict[str, list[int]] = {}
    nb = segments.base.ntotal
    pairs = list(zip(hashes, segments.slot.tolist(), strict=True))
    for h, s in reversed(pairs):  # last first: over() pops a text's rows in their order
        if s < nb:
            found.setdefault(h, []).append(s)
    return found


def over(
    base: Segments,
    available: dict[str, list[int]],
    hashes: list[str],
    vectors: Callable[[list[int]], np.ndarray],
) -> Segments:
    """The segments of a version whose rows have text `hashes`, over `base`'s base index: a row
    takes a base vector of the same text still `available` (each vector once), the others go
    into a new delta with `vectors(rows)`. Base vectors nobody takes are tombstones."""
    nb = base.base.ntotal
    slot = np.empty(len(hashes), dtype=np.int64)
    missing: list[int] = []
    for row, h in enumerate(hashes):
        ids = available.get(h)
        if ids:
            slot[row] = ids.pop()
        else:
            missing.append(row)
    slot[missing] = nb + np.arange(len(missing))
    delta = delta_index(np.asarray(vectors(missing), np.float32).reshape(-1, base.d), base.base)
    return Segments(base.base, delta, slot, base.source, base.checksum)


# A delta past DELTA_SCAN vectors is searched in two steps instead of one exhaustive float16
# scan: a SIMD scan over 4-bit product-quantization codes (FAISS "fast scan", 2 dimensions per
# code: 96 bytes read per vector instead of 768) picks DELTA_REFINE x k candidates, rescored
# from the float16 vectors (the scores are the exhaustive scan's; a candidate can be missed).
# With the delta asked for DELTA_FIRST rows first (Segments.search), a 5,000-paragraph delta at
# 100k paragraphs (5,415 + 23,981 vectors) costs a retrieval 8 % more CPU instead of 20 %, and
# the top 5 of 200 SQuAD questions are the exhaustive delta's (bench/README.md, "Throughput with
# a delta"). The codes are trained on DELTA_TRAIN of the delta's own vectors (k-means on one
# thread, deterministic): with their encoding ~0.85 CPU-s for both kinds of that delta (float16
# alone: 0.03 s), paid by each version whose delta is past DELTA_SCAN.
DELTA_SCAN = 4_096
DELTA_FIRST = 20
DELTA_REFINE = 3
DELTA_TRAIN = 1_024
DELTA_TRAIN_ITERATIONS = 10  # k-means (FAISS's default 25: the same recall, 2x the time)
DELTA_CODE_DIMENSIONS = 2  # dimensions per 4-bit code


def delta_index(vectors: np.ndarray, base: faiss.Index) -> faiss.Index:
    """An index of `vectors` storing them as `base` stores its own: float32 beside a flat base
    (searched exhaustively), float16 beside a graph (exhaustively below DELTA_SCAN vectors, else
    fast-scan candidates rescored from the float16 vectors)."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if not isinstance(base, faiss.IndexHNSW):
        return flat_index(vectors, base.d)
    exact = faiss.IndexScalarQuantizer(
        base.d, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
    )
    exact.add(vectors)  # (float16 needs no training)
    if len(vectors) < DELTA_SCAN:
        return exact
    per = DELTA_CODE_DIMENSIONS if base.d % DELTA_CODE_DIMENSIONS == 0 else 1
    scan = faiss.IndexPQFastScan(base.d, base.d // per, 4, faiss.METRIC_INNER_PRODUCT)
    scan.pq.cp.niter = DELTA_TRAIN_ITERATIONS
    with one_faiss_thread():
        scan.train(vectors[:: max(1, len(vectors) // DELTA_TRAIN)][:DELTA_TRAIN])  # spread out
    scan.add(vectors)
    index = faiss.IndexRefine(scan, exact)
    index.k_factor = DELTA_REFINE
    return index


def reuse(
    old: Segments, source: np.ndarray, vectors: Callable[[np.ndarray], np.ndarray]
) -> Segments:
    """The segments of a version over `old`'s base, row r holding the vector of `old`'s row
    source[r] (-1: a new text): a row keeps that row's base vector (each base vector once: the
    first row naming it), the others go into a new delta with `vectors(rows)`. Base vectors no
    row keeps are tombstones. O(rows) in numpy, where `over` matches every row's text hash."""
    nb = old.base.ntotal
    source = np.asarray(source, dtype=np.int64)
    slot = np.full(len(source), -1, dtype=np.int64)
    has = np.flatnonzero(source >= 0)
    previous = old.slot[source[has]]
    in_base = previous < nb
    kept, first = np.unique(previous[in_base], return_index=True)
    slot[has[in_base][first]] = kept
    missing = np.flatnonzero(slot < 0)
    slot[missing] = nb + np.arange(len(missing))
    added = np.asarray(vectors(missing), np.float32).reshape(-1, old.d)
    return Segments(old.base, delta_index(added, old.base), slot, old.source, old.checksum)
