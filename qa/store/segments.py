"""Segments: the vectors of one kind (passages or sentences) of a version, as a sealed base and a
small exact delta.

The base is the FAISS index a full build or a merge made (an HNSW graph past ANN_THRESHOLD
vectors: ~190 s to build at 592k vectors). A later build that adds, changes or deletes a few
documents keeps it as it is (its file hard-linked into the new version, never copied or rebuilt)
and puts the vectors of new text into the delta, an exact (exhaustive) index rebuilt with each
version (it stays small), storing its vectors as the base does: float16 beside an HNSW graph
(the values a merge will give them, and half the bytes to scan), float32 beside a flat base.
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

from qa.store.vectors import StoredVectors, flat_index, vector_index


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
        tombstones left out, merged by score."""
        scores, rows = [], []
        for index, row_of, params in (
            (self.base, self.base_row, self._params),
            (self.delta, self.delta_row, None),
        ):
            if index.ntotal == 0 or k <= 0:
                continue
            found, ids = index.search(queries[:1], min(k, index.ntotal), params=params)
            ok = ids[0] >= 0
            scores.append(found[0][ok])
            rows.append(row_of[ids[0][ok]])
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
        in_base = slots < nb
        if len(slots) == 0:
            return np.zeros((0, self.d), dtype=np.float32)
        if in_base.all():
            return self._base_vectors.rows(slots)
        out = np.empty((len(slots), self.d), dtype=np.float32)
        if in_base.any():
            out[in_base] = self._base_vectors.rows(slots[in_base])
        out[~in_base] = self._delta_vectors.rows(slots[~in_base] - nb)
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


def delta_index(vectors: np.ndarray, base: faiss.Index) -> faiss.Index:
    """An exhaustive index of `vectors`, stored as `base` stores its own."""
    if not isinstance(base, faiss.IndexHNSW):
        return flat_index(vectors, base.d)
    index = faiss.IndexScalarQuantizer(
        base.d, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
    )
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))  # (float16 needs no training)
    return index
