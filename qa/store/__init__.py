"""Store: the index on disk and in memory, one concept per module.

    format.py   the manifest, the format number, checksums of every file
    vectors.py  FAISS vector indexes (exact or HNSW) and reading their stored rows
    index.py    Index: one loaded version (paragraph table, vectors, BM25) and its files
    local.py    Store: the index folder, its `current` version, atomic publishing; BuildLock
    segments.py Segments: a kind's vectors as a sealed base, a small delta, tombstones
    merge.py    merge(): fold the delta into a new base, published like any version

A version is written complete beside the one in use and made current in one atomic step.
Everything above the store (indexer, retriever, engine) uses only Store's current / load /
publish / clean / lock_path / fresh / segmented and an Index whose `passages` and `sentences`
answer search(q, k) -> rows, rows(ids) -> vectors, cosines(ids, q), ntotal and d (Segments):
a second backend is a module beside local.py giving those, chosen by the store URI (open_store).

    milvus.py   MilvusStore: the versions in Milvus (Lite or a server), switched by aliases
    milvus_vectors.py  Vectors: one kind's vectors in a Milvus collection; Profile: Lite or server
"""

from pathlib import Path

from qa.store.format import FIX, FORMAT_VERSION, check_model, checksums, read_manifest, verify
from qa.store.index import Index
from qa.store.local import BuildLock, Store
from qa.store.vectors import (
    ANN_THRESHOLD,
    HNSW_EF_CONSTRUCTION,
    HNSW_EF_SEARCH,
    HNSW_M,
    StoredVectors,
    flat_index,
    hnsw_index,
    vector_index,
)


def open_store(uri: str, root: Path) -> Store:
    """The store QA_STORE names: "" the files in `root` (--index), `milvus:PATH.db` Milvus Lite,
    `milvus://HOST:PORT` a Milvus server (`root` then keeps the lock, refusals and feedback)."""
    if not uri:
        return Store(root)
    try:
        from qa.store.milvus import MilvusStore
    except ImportError as e:  # the [milvus] extra is optional
        from qa.errors import SettingsError

        raise SettingsError(
            f"QA_STORE={uri} needs pymilvus and milvus-lite: pip install -e '.[milvus]' ({e})"
        ) from e
    return MilvusStore(uri, root)  # type: ignore[return-value]  (the same interface)


__all__ = [
    "ANN_THRESHOLD",
    "FIX",
    "FORMAT_VERSION",
    "HNSW_EF_CONSTRUCTION",
    "HNSW_EF_SEARCH",
    "HNSW_M",
    "BuildLock",
    "Index",
    "Store",
    "StoredVectors",
    "check_model",
    "checksums",
    "flat_index",
    "hnsw_index",
    "open_store",
    "read_manifest",
    "vector_index",
    "verify",
]
