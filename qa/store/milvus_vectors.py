"""Vectors in Milvus: one kind (passages or sentences) of a version, in its collection, searched
and rescored by Milvus; and what depends on the kind of Milvus (Profile: Lite or a server).
Written and published by MilvusStore (qa/store/milvus.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from pymilvus import DataType

from qa.errors import IndexCorruptError
from qa.store.format import FIX
from qa.store.vectors import HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH, HNSW_M

if TYPE_CHECKING:
    from qa.store.milvus import MilvusStore

BATCH = 2_000  # rows per insert or read
TOPK = 16_384  # the most rows one Milvus search returns


@dataclass(frozen=True)
class Profile:
    """The one place for what depends on the kind of Milvus: vector type, index, search."""

    vector: DataType
    index: str
    index_params: dict[str, Any] = field(default_factory=dict)

    def search_params(self, limit: int) -> dict[str, Any]:
        params = {"ef": max(HNSW_EF_SEARCH, limit)} if self.index == "HNSW" else {}  # ef >= limit
        return {"metric_type": "IP", "params": params}

    def encode(self, vectors: np.ndarray) -> np.ndarray:
        return vectors.astype(np.float16 if self.vector == DataType.FLOAT16_VECTOR else np.float32)

    def decode(self, stored: Any) -> np.ndarray:
        if isinstance(stored, bytes):  # float16 vectors come back as their bytes
            return np.frombuffer(stored, dtype=np.float16).astype(np.float32)
        return np.asarray(stored, dtype=np.float32)


# Milvus Lite: exact search over float32, the same scores as the local exact index. A server:
# an HNSW graph with the local graph's parameters, over float32: Milvus 2.3.5 accepts float16
# vectors (FLOAT16_VECTOR, half the memory) but cannot index them (its index build fails with
# "invalid data type: 0" and is retried forever); with Milvus >= 2.4 change `vector` here.
LITE = Profile(DataType.FLOAT_VECTOR, "FLAT")
SERVER = Profile(
    DataType.FLOAT_VECTOR, "HNSW", {"M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION}
)


class Vectors:
    """One kind of vectors of a version, in its Milvus collection: what the retriever and the
    indexer use of Segments (search, cosines, rows, all, ntotal, d), no delta or tombstones."""

    delta_row = np.zeros(0, dtype=np.int64)
    tombstones = 0

    def __init__(self, store: MilvusStore, name: str, ntotal: int, d: int) -> None:
        self.store = store
        self.name = name
        self.ntotal = ntotal
        self.d = d
        self.owner = np.zeros(0, dtype=np.int32)  # paragraph row of each row (sorted), as stored

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores (1, k), rows (1, k)) of the k best rows for one query."""
        if k <= 0 or self.ntotal == 0:
            return np.zeros((1, 0), np.float32), np.zeros((1, 0), np.int64)
        hits = self.store.call(
            "search",
            self.name,
            data=list(self.store.profile.encode(np.asarray(queries[:1], np.float32))),
            limit=k,
            anns_field="vector",
            output_fields=["row"],
            search_params=self.store.profile.search_params(k),
            consistency_level="Bounded",  # a published version never changes
        )[0]
        scores = np.array([h["distance"] for h in hits], dtype=np.float32)
        rows = np.array([h["row"] for h in hits], dtype=np.int64)
        return scores[None, :], rows[None, :]

    def cosines(self, ids: np.ndarray, vector: np.ndarray) -> np.ndarray:
        """The scores of rows `ids` against `vector`, computed by Milvus: a search filtered to
        their paragraphs (the retriever asks for whole paragraphs' rows; a filter on ~300
        paragraphs costs half one on their ~1,500 rows), so no vector leaves the store. Rows a
        search leaves out (an approximate index may) are read and scored here."""
        ids = np.asarray(ids, dtype=np.int64)
        paragraphs = np.unique(self.owner[ids])
        counts = np.searchsorted(self.owner, paragraphs, "right") - np.searchsorted(
            self.owner, paragraphs, "left"
        )
        found: dict[int, float] = {}
        group: list[int] = []
        size = 0
        for p, n in [*zip(paragraphs.tolist(), counts.tolist()), (None, TOPK)]:
            if group and size + n > TOPK:  # one search returns at most TOPK rows
                hits = self.store.call(
                    "search",
                    self.name,
                    data=list(self.store.profile.encode(np.asarray(vector, np.float32)[None])),
                    filter=f"paragraph in {group}",
                    limit=size,
                    anns_field="vector",
                    output_fields=["row"],
                    search_params=self.store.profile.search_params(size),
                    consistency_level="Bounded",
                )[0]
                found.update((h["row"], h["distance"]) for h in hits)
                group, size = [], 0
            if p is not None and n <= TOPK:  # (rows of a larger paragraph are read below)
                group.append(p)
                size += n
        out = np.array([found.get(i, np.nan) for i in ids.tolist()], dtype=np.float32)
        missing = np.isnan(out)
        if missing.any():  # (an approximate index may return fewer than asked)
            out[missing] = self.rows(ids[missing]) @ vector
        return out

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """The vectors of rows `ids`, shape (len(ids), d), float32 (for rescoring)."""
        ids = np.asarray(ids, dtype=np.int64)
        out = np.empty((len(ids), self.d), dtype=np.float32)
        wanted = np.unique(ids)
        for a in range(0, len(wanted), BATCH):
            got = self.store.call(
                "get", self.name, ids=wanted[a : a + BATCH].tolist(), output_fields=["vector"]
            )
            found = {r["row"]: r["vector"] for r in got}
            for i in np.flatnonzero(np.isin(ids, wanted[a : a + BATCH])):
                if int(ids[i]) not in found:
                    raise IndexCorruptError(f"{self.name} has no row {ids[i]}: {FIX}")
                out[i] = self.store.profile.decode(found[int(ids[i])])
        return out

    def all(self) -> np.ndarray:
        """Every row's vector, in row order (what the next build reuses)."""
        return self.rows(np.arange(self.ntotal))
