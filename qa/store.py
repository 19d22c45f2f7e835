"""Store: one index version on disk and in memory (paragraph table, FAISS vectors, BM25).

Layout of the index folder:
    current            name of the version in use (replaced atomically)
    versions/<name>/   manifest.json, table/ (paragraphs and vector rows, see qa/table.py),
                       passages.faiss, sentences.faiss,
                       lexical.npz (vocabulary, term ids, BM25 of terms and of bigrams)
    versions/.<name>.tmp/  a version being written (removed if that fails, or by the next build)
    .lock              held by the one build allowed at a time

Every part is read into memory, none is memory-mapped: a mapped file that is truncated or
rewritten in place under a running server would kill it (SIGBUS) instead of letting it answer
from the version it loaded.

The manifest records a checksum of every other file of its version, verified whenever a version
is loaded: a flipped byte anywhere is refused with the fix, never served as wrong text or vectors.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import xxhash

from qa.errors import IndexCorruptError, IndexMissingError, IndexWriteError
from qa.lexical import Lexical
from qa.paragraphs import Paragraph
from qa.table import Paragraphs, Strings, load_array, save_array

# 3: binary paragraph table (table/ instead of paragraphs.json), HNSW vectors stored as float16,
# one lexical.npz instead of three bm25s folders. 4: checksums of every file in the manifest.
# 5: paragraphs carry their section and page (table rows of 6 columns, sections.npy), documents
# their title and the hash of their file's bytes, the manifest its documents folder.
# 6: paragraphs carry the unit of their page (slide, notes, row: a 7th table column).
FORMAT_VERSION = 6
FIX = "run `qa index --full` to rebuild it"


@dataclass
class Index:
    """A loaded, read-only index version. Row i of `passage_paragraph` is passage vector i."""

    manifest: dict[str, Any]
    paragraphs: Sequence[Paragraph]  # a list when just built, a table.Paragraphs when loaded
    passages: faiss.Index
    passage_paragraph: np.ndarray  # int32, paragraph row of each passage vector
    passage_span: np.ndarray  # int32 (n, 2), passage span within its paragraph text
    passage_hash: Sequence[str]
    sentences: faiss.Index
    sentence_paragraph: np.ndarray  # int32, paragraph row of each sentence vector
    sentence_span: np.ndarray  # int32 (n, 2), sentence span within its paragraph text
    sentence_hash: Sequence[str]
    lexical: Lexical  # paragraph and sentence term ids, BM25 over terms and over bigrams
    by_document: dict[str, list[int]] = field(default_factory=dict)  # id -> paragraph rows

    def __post_init__(self) -> None:
        self.titles: dict[str, str] = {
            d["id"]: d.get("title") or Path(d["id"]).name for d in self.manifest["documents"]
        }
        if isinstance(self.paragraphs, Paragraphs):  # without making 100k Paragraph objects
            self.by_document.update(self.paragraphs.by_document())
        else:
            for row, p in enumerate(self.paragraphs):
                self.by_document.setdefault(p.document, []).append(row)
        # The vector rows of each paragraph are contiguous: [first[row], first[row + 1]).
        bounds = np.arange(len(self.paragraphs) + 1)
        self.passage_first = np.searchsorted(self.passage_paragraph, bounds).astype(np.int64)
        self.sentence_first = np.searchsorted(self.sentence_paragraph, bounds).astype(np.int64)
        # The stored vectors, for rescoring candidates (retriever): views, no copies.
        self.passage_vectors = StoredVectors(self.passages)
        self.sentence_vectors = StoredVectors(self.sentences)

    @property
    def version(self) -> str:
        return self.manifest["version"]

    def save(self, folder: Path) -> None:
        """Write every file of this version into `folder` and flush it to disk."""
        folder.mkdir(parents=True)
        table = folder / "table"
        table.mkdir()
        # The packed forms replace the lists: a server that swaps to the version it just built
        # (Engine.build) then holds what loading it would, not ~3x that in Python objects.
        self.paragraphs = Paragraphs.pack(self.paragraphs)
        self.paragraphs.save(table)
        for kind in ("passage", "sentence"):
            owner, spans = getattr(self, f"{kind}_paragraph"), getattr(self, f"{kind}_span")
            save_array(table, f"{kind}_paragraph", np.asarray(owner, dtype=np.int32))
            save_array(table, f"{kind}_span", np.asarray(spans, dtype=np.int32).reshape(-1, 2))
            hashes = getattr(self, f"{kind}_hash")
            if not isinstance(hashes, Strings):
                hashes = Strings.pack(hashes)
                setattr(self, f"{kind}_hash", hashes)
            hashes.save(table, f"{kind}_hash")
        _write_vectors(self.passages, folder / "passages.faiss")
        _write_vectors(self.sentences, folder / "sentences.faiss")
        self.lexical.save(folder / "lexical.npz")
        self.manifest["checksums"] = checksums(folder)
        # The manifest goes last: a folder with a manifest is complete.
        _write_json(folder / "manifest.json", self.manifest)
        for path in [*folder.rglob("*"), folder]:
            _fsync(path)

    @classmethod
    def load(cls, folder: Path, model: str, dimension: int | None = None) -> Index:
        """Load the version in `folder`, checking it was built by `model` in this format."""
        manifest = read_manifest(folder)
        check_model(manifest, model, dimension)
        verify(folder, manifest)
        # FAISS reads without the GIL: the vectors (the bulk of the bytes) load in a thread
        # while this one reads the table and the BM25 indexes.
        pool = ThreadPoolExecutor(max_workers=1)
        try:
            vectors = pool.submit(
                lambda: (
                    _read_vectors(folder / "passages.faiss"),
                    _read_vectors(folder / "sentences.faiss"),
                )
            )
            table = folder / "table"
            paragraphs = Paragraphs.load(table)
            n = len(paragraphs)
            parts = {
                f"{kind}_{name}": load(table, f"{kind}_{name}")
                for kind in ("passage", "sentence")
                for name, load in (
                    ("paragraph", lambda t, name: load_array(t, name, np.int32)),
                    ("span", lambda t, name: load_array(t, name, np.int32, columns=2)),
                    ("hash", Strings.load),
                )
            }
            lexical = Lexical.load(folder / "lexical.npz", n, len(parts["sentence_hash"]))
            passages, sentences = vectors.result()
            index = cls(
                manifest=manifest,
                paragraphs=paragraphs,
                passages=passages,
                sentences=sentences,
                lexical=lexical,
                **parts,
            )
        except Exception as e:  # any failure to parse a version (EOFError, TokenError, ...)
            reason = f"{type(e).__name__}: {e}"[:300]
            raise IndexCorruptError(f"the index in {folder} is damaged ({reason}): {FIX}") from e
        finally:
            pool.shutdown(wait=True)  # never leave a read running behind an error
        index.check()
        return index

    def check(self) -> None:
        """Cheap consistency checks between the parts of the version."""
        d = self.manifest.get("dimension")
        n_pass, n_sent = len(self.passage_paragraph), len(self.sentence_paragraph)
        if (
            self.passages.ntotal != n_pass
            or self.sentences.ntotal != n_sent
            or len(self.passage_hash) != n_pass
            or len(self.sentence_hash) != n_sent
            or len(self.passage_span) != n_pass
            or len(self.sentence_span) != n_sent
            or self.passages.d != d
            or self.sentences.d != d
            or self.manifest.get("paragraphs") != len(self.paragraphs)
            or not _rows_fit(self.passage_paragraph, len(self.paragraphs))
            or not _rows_fit(self.sentence_paragraph, len(self.paragraphs))
        ):
            raise IndexCorruptError(f"the index parts do not match each other: {FIX}")

    def vectors(self, which: str) -> dict[str, np.ndarray]:
        """hash -> vector for 'passages' or 'sentences': what a rebuild may reuse."""
        index, hashes = (
            (self.passages, self.passage_hash)
            if which == "passages"
            else (self.sentences, self.sentence_hash)
        )
        matrix = index.reconstruct_n(0, index.ntotal) if index.ntotal else []
        return dict(zip(hashes, matrix, strict=True))


def check_model(manifest: dict[str, Any], model: str, dimension: int | None) -> None:
    """IndexCorruptError unless the index was built by `model` (with `dimension`, if given)."""
    if manifest.get("model") != model:
        raise IndexCorruptError(
            f"the index was built with model {manifest.get('model')!r}, "
            f"but the configured model is {model!r}: {FIX}"
        )
    if dimension is not None and manifest.get("dimension") != dimension:
        raise IndexCorruptError(
            f"the index has {manifest.get('dimension')}-dimensional vectors, "
            f"the model makes {dimension}: {FIX}"
        )


def _rows_fit(owner: np.ndarray, paragraphs: int) -> bool:
    """Vector rows name existing paragraphs, in order (each paragraph's rows are contiguous)."""
    return not len(owner) or (
        owner[0] >= 0 and owner[-1] < paragraphs and not np.any(np.diff(owner) < 0)
    )


def read_manifest(folder: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    except FileNotFoundError:
        raise IndexCorruptError(f"the index in {folder} has no manifest: {FIX}") from None
    except (OSError, ValueError) as e:
        raise IndexCorruptError(f"the index manifest in {folder} is unreadable ({e}): {FIX}") from e
    if not isinstance(manifest, dict) or "format" not in manifest:
        raise IndexCorruptError(f"the index manifest in {folder} is not one of ours: {FIX}")
    if manifest["format"] != FORMAT_VERSION:
        newer = isinstance(manifest["format"], int) and manifest["format"] > FORMAT_VERSION
        raise IndexCorruptError(
            f"the index in {folder} has format {manifest['format']}, this program reads "
            f"format {FORMAT_VERSION}"
            + (" (it was built by a newer version; upgrade, or " if newer else " (")
            + f"{FIX})"
        )
    return manifest


MANIFEST = "manifest.json"
_CHUNK = 1 << 22


def _digest(path: Path) -> str:
    """xxh3-128 of a file: not a defence against an attacker who can write the index (they could
    write the manifest too), but a flipped bit anywhere is caught, at ~2.5 GB/s (sha256 ~0.35)."""
    digest = xxhash.xxh3_128()
    buffer = bytearray(_CHUNK)  # one buffer, read into: no new bytes object per chunk
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as f:
        while size := f.readinto(buffer):
            digest.update(view[:size])
    return digest.hexdigest()


def checksums(folder: Path) -> dict[str, str]:
    """Relative path -> checksum of every file of the version in `folder` but its manifest."""
    return {
        path.relative_to(folder).as_posix(): _digest(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != MANIFEST
    }


def verify(folder: Path, manifest: dict[str, Any]) -> None:
    """IndexCorruptError unless every file in `folder` is the one its manifest recorded."""
    expected = manifest.get("checksums")
    if not isinstance(expected, dict) or not expected:
        raise IndexCorruptError(f"the index manifest in {folder} has no checksums: {FIX}")
    try:
        found = checksums(folder)
    except OSError as e:
        raise IndexCorruptError(f"the index in {folder} is unreadable ({e}): {FIX}") from e
    for name in sorted(set(expected) | set(found)):
        if name not in found:
            problem = "is missing"
        elif name not in expected:
            problem = "is not part of it"
        elif found[name] != expected[name]:
            problem = "does not match its checksum"
        else:
            continue
        raise IndexCorruptError(f"the index in {folder} is damaged ({name} {problem}): {FIX}")


# Past ANN_THRESHOLD vectors an exact scan costs more than the rest of a question (~16 ms at
# 100k x 384 on 2 cores), so the vectors go into an HNSW graph instead. The parameters are the
# ones bench/ann_scale.py measured: recall@10 against the exact scan 0.990 at 500k vectors,
# 0.983 at 1M (float16 graph; 0.75 ms per query against 148 ms for the scan); at 500k,
# efConstruction 40 reached 0.93 at best.
# Candidates from either kind are rescored from the stored vectors (StoredVectors, below), so
# ANN can only miss a candidate, never misscore one. There are no deletions to handle: every
# build writes a complete new version whose indexes are built afresh from the (reused) vectors.
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
        self._codes: np.ndarray | None = None  # one raw float16 code per row
        self._decoder: faiss.Index | None = None
        hnsw = isinstance(index, faiss.IndexHNSW)
        storage = faiss.downcast_index(index.storage) if hnsw else index
        if (
            isinstance(storage, faiss.IndexScalarQuantizer)
            and storage.sq.qtype == faiss.ScalarQuantizer.QT_fp16
            and index.ntotal
        ):
            size = index.ntotal * storage.code_size
            address = faiss.rev_swig_ptr(storage.codes.data(), size).__array_interface__["data"][0]
            memory = np.asarray(_Memory(index, address, size))
            self._codes = memory.view(f"V{storage.code_size}")
            self._decoder = storage

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """The vectors of rows `ids`, shape (len(ids), d), float32."""
        if self._codes is None or self._decoder is None:
            return self.index.reconstruct_batch(ids)
        return self._decoder.sa_decode(self._codes[ids].view(np.uint8).reshape(len(ids), -1))


def _write_vectors(index: faiss.Index, path: Path) -> None:
    """Write a vector index through a Python file. faiss.write_index(index, path) reports a write
    error at close only on stderr: a small index on a full disk was "written" truncated."""
    with open(path, "wb") as f:
        faiss.write_index(index, faiss.PyCallbackIOWriter(f.write))


def _read_vectors(path: Path) -> faiss.Index:
    """A stored vector index; an HNSW one searches with (at least) today's efSearch."""
    index = faiss.read_index(str(path))
    if isinstance(index, faiss.IndexHNSW):
        index.hnsw.efSearch = max(index.hnsw.efSearch, HNSW_EF_SEARCH)
    return index


class Store:
    """The index folder: which version is current, and switching to a new one atomically."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.versions = self.root / "versions"
        self.pointer = self.root / "current"
        self.lock_path = self.root / ".lock"

    def current(self) -> str | None:
        try:
            name = self.pointer.read_text("utf-8").strip()
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:  # ValueError: not UTF-8
            raise IndexCorruptError(f"cannot read {self.pointer} ({e}): {FIX}") from e
        if name and not _VERSION_NAME.fullmatch(name):  # never a path out of versions/
            raise IndexCorruptError(f"{self.pointer} does not name an index version: {FIX}")
        return name or None

    def current_folder(self) -> Path:
        name = self.current()
        if name is None:
            raise IndexMissingError(
                f"no index in {self.root} yet: run `qa index` to build it from your documents"
            )
        folder = self.versions / name
        if not folder.is_dir():
            raise IndexCorruptError(f"the current index version {name} is missing: {FIX}")
        return folder

    def load(self, model: str, dimension: int | None = None) -> Index:
        return Index.load(self.current_folder(), model, dimension)

    def publish(self, index: Index) -> None:
        """Write `index` as a new version and make it current in one atomic step.

        IndexWriteError if any write fails (disk full, no permission; FAISS reports those as
        RuntimeError): the previous version stays current and nothing half-written is left.
        """
        name = index.version
        staging = self.versions / f".{name}.tmp"
        switched = False
        try:
            self.versions.mkdir(parents=True, exist_ok=True)
            index.save(staging)
            os.replace(staging, self.versions / name)
            _fsync(self.versions)
            tmp = self.root / ".current.tmp"
            tmp.write_text(name + "\n", "utf-8")
            _fsync(tmp)
            os.replace(tmp, self.pointer)  # the switch: readers see the old or the new, never half
            switched = True
            _fsync(self.root)
        except (OSError, RuntimeError, MemoryError) as e:
            if not switched:  # (after the switch only an fsync failed: the new version is in use)
                for leftover in (staging, self.versions / name, self.root / ".current.tmp"):
                    _remove(leftover)
                raise IndexWriteError(
                    f"cannot write the index: the new version could not be saved in {self.root} "
                    f"({_reason(e)}); the previous index is still in use: "
                    "free disk space (or fix the folder's permissions), then run `qa index` again"
                ) from e
        self.clean()

    def clean(self) -> None:
        """Remove every version but the current one, and leftovers of killed or failed builds
        (staging folders, a pointer never switched to). Call it holding the build lock."""
        try:
            keep = self.current()
        except IndexCorruptError:
            return  # which version is current is unknown: remove nothing
        _remove(self.root / ".current.tmp")
        for folder in self.versions.iterdir() if self.versions.is_dir() else []:
            if folder.name != keep:
                _remove(folder)


def _reason(error: BaseException) -> str:
    """The readable part of a write error: its strerror, or the one FAISS puts last in brackets
    ("Error in void faiss::write_index(...) ...: 4051 != 16000 (No space left on device)")."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    last = re.search(r"\(([^()]+)\)\s*$", str(error))
    return last.group(1) if last else (str(error) or type(error).__name__)[:200]


_VERSION_NAME = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]*")


def _remove(path: Path) -> None:
    """Remove a file or folder if it is there; never fails (a later build tries again)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with suppress(OSError):
            path.unlink(missing_ok=True)


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False), "utf-8")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BuildLock:
    """Exclusive lock for one build at a time. flock dies with its process: no stale locks."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def __enter__(self) -> BuildLock:
        import fcntl

        from qa.errors import IndexBusyError, IndexWriteError

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise IndexWriteError(
                f"cannot write to the index folder {self.path.parent} ({e.strerror}); "
                "fix its permissions or choose another with --index / QA_INDEX"
            ) from e
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            self._fd = None
            raise IndexBusyError(
                f"another build is running on {self.path.parent} (it holds {self.path}); "
                "wait for it to finish"
            ) from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the lock
            self._fd = None
