"""Milvus: the index's versions in Milvus (Milvus Lite in one file, or a Milvus server), chosen by
the store URI (QA_STORE: `milvus:PATH.db` or `milvus://HOST:PORT`).

A version V is four collections, written complete before any alias names them:
    qa_<V>_passages    row, paragraph, vector    (one row per passage vector of the version)
    qa_<V>_sentences   row, paragraph, vector
    qa_<V>_paragraphs  row, document, text       (the quoted text, for filters and other clients)
    qa_<V>_files       the version's other files (manifest, paragraph table, BM25), in chunks
Publishing flushes, indexes and loads them, then points the aliases qa_passages, qa_sentences,
qa_paragraphs and, last, qa_files at them: qa_files names the current version (a crash before
it leaves the previous one current; the next build drops the half-written collections). A
loaded Index searches the versioned collections, never an alias, so a request in flight finishes
on the version it started with. Every replica reads the same files (checksummed by their
manifest, as in a local version): the embedder, vocabulary, BM25 and fusion stay in the product.
The local --index folder keeps what is not the index: the build lock, refusals, feedback, page
layouts, and a verified copy of each version's files (milvus/<version>/).
"""

from __future__ import annotations

import base64
import logging
import re
import shutil
import tempfile
import threading
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from pymilvus import DataType, MilvusClient, MilvusException

from qa.errors import (
    IndexCorruptError,
    IndexMissingError,
    IndexWriteError,
    QAError,
    StoreUnavailableError,
)
from qa.store.format import FIX, MANIFEST, read_manifest, verify
from qa.store.index import Index
from qa.store.milvus_vectors import BATCH, LITE, SERVER, Vectors
from qa.store.segments import Segments
from qa.store.vectors import flat_index

TIMEOUT = 5.0  # seconds a search or read may take: an unreachable store is a 503 within it
BUILD_TIMEOUT = 3600.0  # indexing and loading a large version takes minutes
KINDS = ("passages", "sentences", "paragraphs", "files")
CURRENT = "qa_files"  # the alias switched last: the version it names is the current one
CHUNK = 45_000  # bytes of a file per row: 60,000 base64 characters, under VARCHAR's 65,535
TEXT_BYTES = 65_535  # VARCHAR's limit: a longer paragraph's text is cut (flagged `cut`)
MESSAGE_BYTES = 16 << 20  # text per insert (gRPC refuses messages past 64 MB)
_NAME = re.compile(r"qa_((?:[0-9A-Za-z]|_[uh])+)_(passages|sentences|paragraphs|files)")

logging.getLogger("pymilvus").setLevel(logging.CRITICAL)  # every error is reported as ours


def collection(version: str, kind: str) -> str:
    """The collection of `kind` of `version` ('-' and '_' spelled so that the name reads back)."""
    return f"qa_{version.replace('_', '_u').replace('-', '_h')}_{kind}"


def version_of(name: str) -> tuple[str, str] | None:
    """(version, kind) of one of our collections' names, else None."""
    found = _NAME.fullmatch(name)
    if found is None:
        return None
    token = re.sub(r"_([uh])", lambda m: "_" if m.group(1) == "u" else "-", found.group(1))
    return token, found.group(2)


class MilvusStore:
    """The index's versions in Milvus: Store's interface (current, load, publish, clean)."""

    segmented = False  # a version is a full build: no delta, no tombstones, no merge

    def __init__(self, uri: str, root: Path) -> None:
        self.uri = uri
        self.root = Path(root)
        self.lock_path = self.root / ".lock"
        self.copies = self.root / "milvus"  # verified copies of the versions' files
        path = uri.removeprefix("milvus:")
        self._address = path if not path.startswith("//") else "http:" + path
        self.profile = SERVER if path.startswith("//") else LITE
        self._client: MilvusClient | None = None
        self._lock = threading.Lock()

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """client.method(...), within TIMEOUT unless given; StoreUnavailableError if it fails."""
        kwargs.setdefault("timeout", TIMEOUT)
        try:
            with self._lock:
                if self._client is None:
                    self._client = MilvusClient(self._address, timeout=TIMEOUT)
            return getattr(self._client, method)(*args, **kwargs)
        except (MilvusException, grpc.RpcError) as e:  # (a hung server: DEADLINE_EXCEEDED)
            reason = e.message if isinstance(e, MilvusException) else e.details()  # type: ignore[attr-defined]
            hint = (
                "check that Milvus is running and reachable"
                if self.profile is SERVER
                else "Milvus Lite opens its file in one process at a time: stop the other one "
                "using it (or use a Milvus server)"
            )
            raise StoreUnavailableError(
                f"the Milvus store {self.uri} (QA_STORE) failed: {reason or e} ({method}); {hint}"
            ) from e

    def current(self) -> str | None:
        try:
            described = self.call("describe_alias", CURRENT)
        except StoreUnavailableError as e:
            if _no_alias(e):  # nothing published yet
                return None
            raise
        found = version_of(described["collection_name"])
        if found is None:
            raise IndexCorruptError(f"the alias {CURRENT} in {self.uri} names no version: {FIX}")
        return found[0]

    def current_folder(self) -> Path:
        """The current version's files, copied from Milvus (once) and verified."""
        name = self.current()
        if name is None:
            raise IndexMissingError(
                f"no index in {self.uri} yet: run `qa index` to build it from your documents"
            )
        folder = self.copies / name
        if not (folder / MANIFEST).is_file():
            self.copies.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=self.copies, prefix=".") as tmp:
                self._download(name, Path(tmp) / name)
                verify(Path(tmp) / name, read_manifest(Path(tmp) / name))
                _settle(Path(tmp) / name, folder)
        return folder

    def load(self, model: str, dimension: int | None = None) -> Index:
        folder = self.current_folder()
        manifest = read_manifest(folder)
        vectors = {
            kind[:-1]: Vectors(
                self, collection(manifest["version"], kind), manifest[kind], manifest["dimension"]
            )
            for kind in ("passages", "sentences")
        }
        for part in vectors.values():  # (a Lite file opened again has them released)
            self.call("load_collection", part.name, timeout=BUILD_TIMEOUT)
            stored = self.call("get_collection_stats", part.name)["row_count"]
            if stored != part.ntotal:
                raise IndexCorruptError(
                    f"{part.name} in {self.uri} holds {stored} vectors, its manifest "
                    f"{part.ntotal}: {FIX}"
                )
        index = Index.load(folder, model, dimension, vectors.__getitem__)
        for kind, part in vectors.items():
            part.owner = getattr(index, f"{kind}_paragraph")
        return index

    def fresh(self, vectors: np.ndarray, dimension: int) -> Segments:
        """A new version's vectors, held until publish writes them to Milvus (no graph)."""
        return Segments(flat_index(vectors.reshape(-1, dimension), dimension))

    def publish(self, index: Index) -> None:
        """Write `index` as collections qa_<version>_* and switch the aliases to them.

        IndexWriteError (StoreUnavailableError if Milvus is down) if anything fails: the
        previous version stays current, the collections written so far are dropped."""
        name = index.version
        self.root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.root, prefix=".milvus-") as tmp:
            files = Path(tmp) / name
            index.save(files, vectors=False)  # manifest, table, BM25: checksummed
            try:
                self._write(index, files)
                for kind in KINDS:  # qa_files last: the switch
                    self._point(f"qa_{kind}", collection(name, kind))
            except BaseException as e:
                with suppress(QAError):  # (if Milvus is down, the next build's clean() does it)
                    self._repoint()
                for kind in KINDS:
                    with suppress(StoreUnavailableError):
                        self.call("drop_collection", collection(name, kind))
                if isinstance(e, StoreUnavailableError) and self._down():
                    raise
                if isinstance(e, StoreUnavailableError | OSError):
                    raise IndexWriteError(
                        f"cannot write the index to {self.uri} ({e}); the previous index is "
                        "still in use: fix the cause, then run `qa index` again"
                    ) from e
                raise
            self.copies.mkdir(parents=True, exist_ok=True)
            _settle(files, self.copies / name)
        for kind in ("passages", "sentences"):  # the swapped-to index searches Milvus too
            part = Vectors(
                self, collection(name, kind), index.manifest[kind], index.manifest["dimension"]
            )
            part.owner = getattr(index, f"{kind[:-1]}_paragraph")
            setattr(index, kind, part)
            setattr(index, f"{kind[:-1]}_vectors", part)
        self.clean()

    def clean(self) -> None:
        """Drop the collections (and copies) of every version but the current and the previous
        one (which replicas may still be answering from), and those of killed builds. Call it
        holding the build lock; one build at a time per Milvus."""
        try:
            keep = self.current()
        except (IndexCorruptError, StoreUnavailableError):
            return  # which version is current is unknown: drop nothing
        self._repoint()
        names = [n for n in self.call("list_collections") if version_of(n)]
        versions = {version_of(n)[0] for n in names}  # type: ignore[index]
        older = sorted(v for v in versions if keep is not None and v < keep)
        kept = {keep, older[-1] if older else None}
        for n in names:
            if version_of(n)[0] not in kept:  # type: ignore[index]
                self.call("drop_collection", n)
        for folder in self.copies.iterdir() if self.copies.is_dir() else []:
            if folder.name not in kept:
                shutil.rmtree(folder, ignore_errors=True)

    def _repoint(self) -> None:
        """Point every alias at the current version again (a build killed while switching them
        left some on its collections; a server will not drop a collection an alias names)."""
        keep = self.current()
        for kind in KINDS[:-1]:
            if keep is not None:
                self._point(f"qa_{kind}", collection(keep, kind))
            else:  # nothing was ever published: no alias may name a half-written collection
                with suppress(StoreUnavailableError):
                    self.call("drop_alias", f"qa_{kind}")

    def _down(self) -> bool:
        try:
            self.call("list_collections")
            return False
        except StoreUnavailableError:
            return True

    def _point(self, alias: str, target: str) -> None:
        try:
            self.call("describe_alias", alias)
        except StoreUnavailableError as e:
            if not _no_alias(e):
                raise
            self.call("create_alias", target, alias)
        else:
            self.call("alter_alias", target, alias)

    def _write(self, index: Index, files: Path) -> None:
        """Create, fill, flush, index and load the collections of `index`'s version."""
        name, d = index.version, index.manifest["dimension"]
        for kind in ("passages", "sentences"):
            vectors = getattr(index, kind).all().reshape(-1, d)
            owner = getattr(index, f"{kind[:-1]}_paragraph")
            self._create(collection(name, kind), {"paragraph": DataType.INT64}, d)
            self._insert(
                collection(name, kind),
                len(vectors),
                lambda a, b, v=vectors, o=owner: {
                    "paragraph": o[a:b].tolist(),
                    "vector": list(self.profile.encode(v[a:b])),
                },
            )
        self._create(
            collection(name, "paragraphs"),
            {"document": DataType.VARCHAR, "text": DataType.VARCHAR, "cut": DataType.BOOL},
        )
        texts = [_fit(p.text) for p in index.paragraphs]
        documents = [p.document for p in index.paragraphs]
        self._insert(
            collection(name, "paragraphs"),
            len(texts),
            lambda a, b: {
                "document": [_fit(x)[0] for x in documents[a:b]],
                "text": [t for t, _ in texts[a:b]],
                "cut": [c for _, c in texts[a:b]],
            },
            np.array([len(t.encode()) + len(d.encode()) for (t, _), d in zip(texts, documents)]),
        )
        chunks = [
            (path.relative_to(files).as_posix(), part, data[i : i + CHUNK])
            for path in sorted(p for p in files.rglob("*") if p.is_file())
            for data in [path.read_bytes()]
            for part, i in enumerate(range(0, max(len(data), 1), CHUNK))
        ]
        self._create(
            collection(name, "files"),
            {"name": DataType.VARCHAR, "part": DataType.INT64, "data": DataType.VARCHAR},
        )
        self._insert(
            collection(name, "files"),
            len(chunks),
            lambda a, b: {
                "name": [c[0] for c in chunks[a:b]],
                "part": [c[1] for c in chunks[a:b]],
                "data": [base64.b64encode(c[2]).decode("ascii") for c in chunks[a:b]],
            },
            np.array([len(c[2]) * 4 // 3 + len(c[0]) for c in chunks]),
        )
        for kind in KINDS:
            self._index(collection(name, kind))

    def _create(self, name: str, fields: dict[str, DataType], d: int = 0) -> None:
        """A collection keyed by `row`, with `fields` and a vector: `d` wide, else a 2-wide
        placeholder (Milvus 2.3 wants a vector in every collection, indexed to be loaded)."""
        schema = self.call("create_schema", auto_id=False, enable_dynamic_field=False, timeout=None)
        schema.add_field("row", DataType.INT64, is_primary=True)
        for key, kind in fields.items():
            extra = {"max_length": TEXT_BYTES} if kind == DataType.VARCHAR else {}
            schema.add_field(key, kind, **extra)
        schema.add_field("vector", self.profile.vector if d else DataType.FLOAT_VECTOR, dim=d or 2)
        # Strong: the build reads back what it just wrote (a server's default hides fresh writes)
        self.call("create_collection", name, schema=schema, consistency_level="Strong")

    def _insert(
        self,
        name: str,
        rows: int,
        columns: Callable[[int, int], dict],
        sizes: np.ndarray | None = None,
    ) -> None:
        """Insert rows [0, rows) in batches of at most BATCH rows and (by `sizes`, each row's
        bytes) MESSAGE_BYTES: a gRPC message is at most 64 MB."""
        a = 0
        while a < rows:
            b = min(a + BATCH, rows)
            if sizes is not None:  # (at least one row: a row is far below the limit)
                b = a + max(1, int(np.searchsorted(np.cumsum(sizes[a:b]), MESSAGE_BYTES, "right")))
            batch = columns(a, b)
            if "vector" not in batch:
                batch["vector"] = [[0.0, 0.0]] * (b - a)
            batch["row"] = list(range(a, b))
            records = [{k: v[i] for k, v in batch.items()} for i in range(b - a)]
            self.call("insert", name, records, timeout=BUILD_TIMEOUT)
            a = b

    def _index(self, name: str) -> None:
        self.call("flush", name, timeout=BUILD_TIMEOUT)
        params = self.call("prepare_index_params", timeout=None)
        vectors = not name.endswith(("_paragraphs", "_files"))
        profile = self.profile if vectors else LITE  # placeholders: exact, nothing to build
        params.add_index(
            "vector",
            index_type=profile.index,
            metric_type="IP",
            params=profile.index_params,
        )
        self.call("create_index", name, params, timeout=BUILD_TIMEOUT)
        self.call("load_collection", name, timeout=BUILD_TIMEOUT)

    def _download(self, version: str, folder: Path) -> None:
        """Write the files of `version` into `folder` from its files collection."""
        name = collection(version, "files")
        self.call("load_collection", name, timeout=BUILD_TIMEOUT)
        parts: dict[str, dict[int, bytes]] = {}
        start = 0
        step = MESSAGE_BYTES // (CHUNK * 4 // 3)  # a result past ~64 MB is refused too
        while True:
            got = self.call(
                "query",
                name,
                filter=f"row >= {start} and row < {start + step}",
                output_fields=["name", "part", "data"],
                timeout=BUILD_TIMEOUT,
            )
            if not got:
                break
            for r in got:
                parts.setdefault(r["name"], {})[r["part"]] = base64.b64decode(r["data"])
            start += step
        if MANIFEST not in parts:
            raise IndexCorruptError(f"{name} in {self.uri} has no manifest: {FIX}")
        for relative, chunks in parts.items():
            path = folder / relative
            if ".." in Path(relative).parts or Path(relative).is_absolute():
                raise IndexCorruptError(f"{name} in {self.uri} names a file {relative!r}: {FIX}")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"".join(chunks[i] for i in sorted(chunks)))


def _settle(files: Path, folder: Path) -> None:
    """Move a version's verified files to `folder`, unless a replica sharing the index folder
    put the same ones there first (never removed from under a process reading them)."""
    with suppress(OSError):
        files.rename(folder)


def _no_alias(error: StoreUnavailableError) -> bool:
    """Whether Milvus said the alias does not exist (Lite: code 100; a 2.3.5 server: 1600)."""
    cause = error.__cause__
    message = str(getattr(cause, "message", "")).lower()
    return (
        isinstance(cause, MilvusException)
        and "alias" in message
        and ("not exist" in message or "not found" in message)
    )


def _fit(text: str) -> tuple[str, bool]:
    """`text` cut to what a VARCHAR holds (whole characters), and whether it was cut."""
    data = text.encode("utf-8")
    if len(data) <= TEXT_BYTES:
        return text, False
    return data[:TEXT_BYTES].decode("utf-8", errors="ignore"), True
