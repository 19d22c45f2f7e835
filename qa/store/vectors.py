"""Vector indexes: exact below ANN_THRESHOLD vectors, an HNSW graph past it; reading stored rows."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import faiss
import numpy as np

# Past ANN_THRESHOLD vectors an exact scan costs more than the rest of a question (~16 ms at
# 100k x 384 on 2 cores), so the vectors go into an HNSW graph instead. The parameters are the
# ones bench/ann_scale.py measured: recall@10 against the exact scan 0.990 at 500k vectors,
# 0.983 at 1M (float16 graph; 0.75 ms per query against 148 ms for the scan); at 500k,
# efConstruction 40 reached 0.93 at best.
# Candidates from either kind are rescored from the stored vectors (StoredVectors, below), so
# ANN can only miss a candidate, never misscore one. Deletions never touch a graph: deleted
# vectors are masked at search time (tombstones, qa/store/segments.py) until a merge builds a
# new graph from the vectors in use.
# The graph stores its vectors as float16 (IndexHNSWSQ, QT_fp16): half the memory of float32
# (at 100k paragraphs, 592k vectors: 455 MB instead of 910 MB, which was half the server's RSS).
# Measured by bench/fp16_index.py (the synthetic 100k index, same graph, 200 SQuAD questions):
# cosines moved by at most 6e-5, the top answer stayed the same for all 200, the top 5 for 198
# (two near-ties swapped), recall@10 against the exact scan unchanged (0.992 / 0.998). Below the
# threshold the exact index keeps float32: small corpora (the SQuAD eval) are scored as before.
ANN_THRESHOLD = 20_000
HNSW_M = 32  # graph neighbours per vector (64 on the bottom layer): ~256 bytes per vector
HNSW_EF_CONSTRUCTION = 100
HNSW_EF_SEARCH = 400  # candidate list while searching (FAISS uses max(efSearch, k); k is 200)


@contextmanager
def one_faiss_thread() -> Iterator[None]:
    """FAISS on one OpenMP thread in this thread meanwhile (OpenMP keeps the setting per thread):
    on a busy machine its threads only wait for each other (the retriever's searches; training
    a delta's codes took 1.3-3.3 s on 2 threads, 0.2-0.5 s on one)."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def flat_index(vectors: np.ndarray, dimension: int) -> faiss.Index:
    """Exact inner-product index (vectors are normalized, so scores are cosines)."""
    index = faiss.IndexFlatIP(dimension)
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def hnsw_index(vectors: np.ndarray, dimension: int) -> faiss.Index:
    """Approximate inner-product index: an HNSW graph over float16 copies of the vectors."""
    index = faiss.IndexHNSWSQ(
        dimension, faiss.ScalarQuantizer.QT_fp16, HNSW_M, faiss.METRIC_INNER_PRODUCT
    )
    index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    index.hnsw.efSearch = HNSW_EF_SEARCH
    if len(vectors):  # (float16 needs no training)
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def vector_index(vectors: np.ndarray, dimension: int) -> faiss.Index:
    """The index a version stores: exact below ANN_THRESHOLD vectors, HNSW from there on."""
    if len(vectors) < ANN_THRESHOLD:
        return flat_index(vectors, dimension)
    return hnsw_index(vectors, dimension)


class _Memory:
    """The buffer of a FAISS index's vectors, keeping the index alive while numpy uses it."""

    def __init__(self, owner: faiss.Index, address: int, size: int) -> None:
        self.owner = owner
        self.__array_interface__ = {
            "data": (address, True),  # read-only: the index is never changed once made
            "shape": (size,),
            "typestr": "|u1",
            "version": 3,
        }


class StoredVectors:
    """The vectors stored in a FAISS index, fetched by row as float32 (for rescoring).

    index.reconstruct_batch decodes float16 rows one virtual call at a time: ~1,800 candidate
    rows per question then cost ~2 ms more than float32 rows. For float16 storage this gathers
    the raw codes through a read-only numpy view of the index's memory (which keeps the index
    alive) and has FAISS decode them in one call: ~0.7 ms more than float32, measured on the
    synthetic 100k index (numpy's own float16 conversion is slower). The values are the same
    (float16 -> float32 is exact). Other indexes (float32) keep reconstruct_batch: a memcpy per
    row, faster than numpy's row gather.
    """

    def __init__(self, index: faiss.Index) -> None:
        self.index = index
        self.codes: np.ndarray | None = None  # one raw float16 code per row
        self._decoder: faiss.Index | None = None
        storage = index
        if isinstance(index, faiss.IndexHNSW):
            storage = faiss.downcast_index(index.storage)
        elif isinstance(index, faiss.IndexRefine):  # a large delta: its float16 rescoring store
            storage = faiss.downcast_index(index.refine_index)
        if (
            isinstance(storage, faiss.IndexScalarQuantizer)
            and storage.sq.qtype == faiss.ScalarQuantizer.QT_fp16
            and index.ntotal
        ):
            size = index.ntotal * storage.code_size
            address = faiss.rev_swig_ptr(storage.codes.data(), size).__array_interface__["data"][0]
            memory = np.asarray(_Memory(index, address, size))
            self.codes = memory.view(f"V{storage.code_size}")
            self._decoder = storage

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """The vectors of rows `ids`, shape (len(ids), d), float32."""
        if self.codes is None:
            return self.index.reconstruct_batch(ids)
        return self.decode(self.codes[ids])

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Raw float16 codes (as in `codes`, of this or another index) as float32 rows."""
        assert self._decoder is not None
        return self._decoder.sa_decode(codes.view(np.uint8).reshape(len(codes), -1))


def write_vectors(index: faiss.Index, path: Path) -> None:
    """Write a vector index through a Python file. faiss.write_index(index, path) reports a write
    error at close only on stderr: a small index on a full disk was "written" truncated."""
    with open(path, "wb") as f:
        faiss.write_index(index, faiss.PyCallbackIOWriter(f.write))


def read_vectors(path: Path) -> faiss.Index:
    """A stored vector index; an HNSW one searches with (at least) today's efSearch."""
    index = faiss.read_index(str(path))
    if isinstance(index, faiss.IndexHNSW):
        index.hnsw.efSearch = max(index.hnsw.efSearch, HNSW_EF_SEARCH)
    return index
