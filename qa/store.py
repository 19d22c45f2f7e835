"""Store: one index version on disk and in memory (paragraph table, FAISS vectors, BM25).

Layout of the index folder:
    current            name of the version in use (replaced atomically)
    versions/<name>/   manifest.json, paragraphs.json, passages.faiss, sentences.faiss,
                       lexical.npz (vocabulary, term ids, BM25 of terms and of bigrams)
    .lock              held by the one build allowed at a time
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from qa.errors import IndexCorruptError, IndexMissingError
from qa.lexical import Lexical
from qa.paragraphs import Paragraph
from qa.units import Units, text_hash

FORMAT_VERSION = 3  # 3: one lexical.npz instead of three bm25s folders
FIX = "run `qa index --full` to rebuild it"


@dataclass
class Index:
    """A loaded, read-only index version. Row i of `passage_paragraph` is passage vector i."""

    manifest: dict[str, Any]
    paragraphs: list[Paragraph]
    passages: faiss.Index
    passage_paragraph: np.ndarray  # int32, paragraph row of each passage vector
    passage_span: np.ndarray  # int32 (n, 2), passage span within its paragraph text
    passage_hash: list[str]
    sentences: faiss.Index
    sentence_paragraph: np.ndarray  # int32, paragraph row of each sentence vector
    sentence_span: np.ndarray  # int32 (n, 2), sentence span within its paragraph text
    sentence_hash: list[str]
    lexical: Lexical  # paragraph and sentence term ids, BM25 over terms and over bigrams
    by_document: dict[str, list[int]] = field(default_factory=dict)  # id -> paragraph rows

    def __post_init__(self) -> None:
        for row, p in enumerate(self.paragraphs):
            self.by_document.setdefault(p.document, []).append(row)
        # The vector rows of each paragraph are contiguous: [first[row], first[row + 1]).
        bounds = np.arange(len(self.paragraphs) + 1)
        self.passage_first = np.searchsorted(self.passage_paragraph, bounds).astype(np.int64)
        self.sentence_first = np.searchsorted(self.sentence_paragraph, bounds).astype(np.int64)

    @property
    def version(self) -> str:
        return self.manifest["version"]

    def save(self, folder: Path) -> None:
        """Write every file of this version into `folder` and flush it to disk."""
        folder.mkdir(parents=True)
        table = [
            [p.document, p.number, p.start, p.end, p.text, [list(s) for s in p.sentences]]
            for p in self.paragraphs
        ]
        arrays = {
            "passage_paragraph": self.passage_paragraph.tolist(),
            "passage_span": self.passage_span.tolist(),
            "passage_hash": self.passage_hash,
            "sentence_paragraph": self.sentence_paragraph.tolist(),
            "sentence_span": self.sentence_span.tolist(),
            "sentence_hash": self.sentence_hash,
        }
        _write_json(folder / "paragraphs.json", {"paragraphs": table, **arrays})
        faiss.write_index(self.passages, str(folder / "passages.faiss"))
        faiss.write_index(self.sentences, str(folder / "sentences.faiss"))
        self.lexical.save(folder / "lexical.npz")
        # The manifest goes last: a folder with a manifest is complete.
        _write_json(folder / "manifest.json", self.manifest)
        for path in [*folder.rglob("*"), folder]:
            _fsync(path)

    @classmethod
    def load(cls, folder: Path, model: str, dimension: int | None = None) -> Index:
        """Load the version in `folder`, checking it was built by `model` in this format."""
        manifest = read_manifest(folder)
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
        try:
            table = json.loads((folder / "paragraphs.json").read_text("utf-8"))
            paragraphs = [
                Paragraph(d, n, s, e, t, tuple(tuple(x) for x in sent))
                for d, n, s, e, t, sent in table["paragraphs"]
            ]
            index = cls(
                manifest=manifest,
                paragraphs=paragraphs,
                passages=_read_vectors(folder / "passages.faiss"),
                passage_paragraph=np.asarray(table["passage_paragraph"], dtype=np.int32),
                passage_span=np.asarray(table["passage_span"], dtype=np.int32).reshape(-1, 2),
                passage_hash=table["passage_hash"],
                sentences=_read_vectors(folder / "sentences.faiss"),
                sentence_paragraph=np.asarray(table["sentence_paragraph"], dtype=np.int32),
                sentence_span=np.asarray(table["sentence_span"], dtype=np.int32).reshape(-1, 2),
                sentence_hash=table["sentence_hash"],
                lexical=Lexical.load(
                    folder / "lexical.npz", len(paragraphs), len(table["sentence_paragraph"])
                ),
            )
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as e:
            raise IndexCorruptError(f"the index in {folder} is damaged ({e}): {FIX}") from e
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
            or self.passages.d != d
            or self.sentences.d != d
            or self.manifest.get("paragraphs") != len(self.paragraphs)
        ):
            raise IndexCorruptError(f"the index parts do not match each other: {FIX}")

    def units(self) -> dict[str, Units]:
        """Paragraph text hash -> its passage and sentence spans: what a rebuild may reuse."""
        out = {}
        for row, p in enumerate(self.paragraphs):
            a, b = self.passage_first[row], self.passage_first[row + 1]
            c, d = self.sentence_first[row], self.sentence_first[row + 1]
            out[text_hash(p.text)] = Units(
                passages=[tuple(x) for x in self.passage_span[a:b].tolist()],
                sentences=[tuple(x) for x in self.sentence_span[c:d].tolist()],
            )
        return out

    def vectors(self, which: str) -> dict[str, np.ndarray]:
        """hash -> vector for 'passages' or 'sentences': what a rebuild may reuse."""
        index, hashes = (
            (self.passages, self.passage_hash)
            if which == "passages"
            else (self.sentences, self.sentence_hash)
        )
        matrix = index.reconstruct_n(0, index.ntotal) if index.ntotal else []
        return dict(zip(hashes, matrix, strict=True))


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


# Past ANN_THRESHOLD vectors an exact scan costs more than the rest of a question (~16 ms at
# 100k x 384 on 2 cores), so the vectors go into an HNSW graph instead. The parameters are the
# ones bench/ann_scale.py measured: recall@10 against the exact scan 0.990 at 500k vectors
# (efConstruction 40: 0.93 at best; 1M was too slow to build on the busy 2-core machine).
# Candidates from either kind are rescored exactly (retriever: reconstruct_batch), so ANN can
# only miss a candidate, never misscore one. There are no deletions to handle: every build
# writes a complete new version whose indexes are built afresh from the (reused) vectors.
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
    """Approximate inner-product index: an HNSW graph over the full vectors (no compression)."""
    index = faiss.IndexHNSWFlat(dimension, HNSW_M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    index.hnsw.efSearch = HNSW_EF_SEARCH
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def vector_index(vectors: np.ndarray, dimension: int) -> faiss.Index:
    """The index a version stores: exact below ANN_THRESHOLD vectors, HNSW from there on."""
    if len(vectors) < ANN_THRESHOLD:
        return flat_index(vectors, dimension)
    return hnsw_index(vectors, dimension)


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
        except OSError as e:
            raise IndexCorruptError(f"cannot read {self.pointer} ({e}): {FIX}") from e
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
        """Write `index` as a new version and make it current in one atomic step."""
        self.versions.mkdir(parents=True, exist_ok=True)
        name = index.version
        staging = self.versions / f".{name}.tmp"
        index.save(staging)
        os.replace(staging, self.versions / name)
        _fsync(self.versions)
        tmp = self.root / ".current.tmp"
        tmp.write_text(name + "\n", "utf-8")
        _fsync(tmp)
        os.replace(tmp, self.pointer)  # the switch: readers see the old or the new, never half
        _fsync(self.root)
        self.clean()

    def clean(self) -> None:
        """Remove every version but the current one (and leftovers of crashed builds)."""
        import shutil

        keep = self.current()
        for folder in self.versions.iterdir() if self.versions.is_dir() else []:
            if folder.name != keep:
                shutil.rmtree(folder, ignore_errors=True)


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
