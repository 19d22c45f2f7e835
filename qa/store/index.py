"""Index: one version of the index in memory, and its files (paragraph table, vectors, BM25).

Every part is read into memory, none is memory-mapped: a mapped file that is truncated or
rewritten in place under a running server would kill it (SIGBUS) instead of letting it answer
from the version it loaded.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from qa import lexical_segments
from qa.errors import IndexCorruptError
from qa.lexical import Lexical
from qa.lexical_segments import LexicalSegments
from qa.paragraphs import Paragraph
from qa.store.format import (
    FIX,
    MANIFEST,
    check_model,
    checksums,
    fsync,
    read_manifest,
    verify,
    write_json,
)
from qa.store.segments import Segments
from qa.store.vectors import read_vectors, write_vectors
from qa.table import Paragraphs, Strings, load_array, save_array


@dataclass
class Index:
    """A loaded, read-only index version. Row i of `passage_paragraph` is passage vector i."""

    manifest: dict[str, Any]
    paragraphs: Sequence[Paragraph]  # a list when just built, a table.Paragraphs when loaded
    passages: Segments  # (a plain faiss.Index is taken as a base without delta)
    passage_paragraph: np.ndarray  # int32, paragraph row of each passage vector
    passage_span: np.ndarray  # int32 (n, 2), passage span within its paragraph text
    passage_hash: Sequence[str]
    sentences: Segments
    sentence_paragraph: np.ndarray  # int32, paragraph row of each sentence vector
    sentence_span: np.ndarray  # int32 (n, 2), sentence span within its paragraph text
    sentence_hash: Sequence[str]
    # Paragraph and sentence term ids, BM25 over terms and over bigrams; as a base and a delta
    # (qa/lexical_segments.py) in a version built over another.
    lexical: Lexical | LexicalSegments
    by_document: dict[str, list[int]] = field(default_factory=dict)  # id -> paragraph rows

    def __post_init__(self) -> None:
        self.titles: dict[str, str] = {
            # (ids are '/'-separated: the name without a Path each, 1.6 s at 100k documents)
            d["id"]: d.get("title") or d["id"].rsplit("/", 1)[-1]
            for d in self.manifest["documents"]
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
        if isinstance(self.passages, faiss.Index):
            self.passages = Segments(self.passages)
        if isinstance(self.sentences, faiss.Index):
            self.sentences = Segments(self.sentences)
        self.lexical_file: tuple[Path, str] | None = None  # (set by locate)
        # The stored vectors by row, for rescoring candidates (retriever).
        self.passage_vectors = self.passages
        self.sentence_vectors = self.sentences

    @property
    def version(self) -> str:
        return self.manifest["version"]

    def save(self, folder: Path, vectors: bool = True) -> None:
        """Write every file of this version into `folder` and flush it to disk (`vectors`
        False: all but the vector files, for a store that keeps the vectors itself)."""
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
        linked = {
            f"{kind}s.faiss": _save_segments(getattr(self, f"{kind}s"), folder, table, kind)
            for kind in ("passage", "sentence")
            if vectors
        }
        if isinstance(self.lexical, LexicalSegments):
            linked["lexical.npz"] = self.lexical.save(folder, table)
        else:
            self.lexical.save(folder / "lexical.npz")
        # A linked base file is the base version's, checksummed when it was written.
        self.manifest["checksums"] = checksums(folder, {k: v for k, v in linked.items() if v})
        if vectors:
            self.locate(folder)
        # The manifest goes last: a folder with a manifest is complete.
        write_json(folder / MANIFEST, self.manifest)
        for path in [*folder.rglob("*"), folder]:
            fsync(path)

    @classmethod
    def load(
        cls,
        folder: Path,
        model: str,
        dimension: int | None = None,
        vectors: Callable[[str], Segments] | None = None,
    ) -> Index:
        """Load the version in `folder`, checking it was built by `model` in this format
        (`vectors`: kind -> its vectors, kept by another store; default: the folder's files)."""
        manifest = read_manifest(folder)
        check_model(manifest, model, dimension)
        verify(folder, manifest)
        # FAISS reads without the GIL: the vectors (the bulk of the bytes) load in a thread
        # while this one reads the table and the BM25 indexes.
        pool = ThreadPoolExecutor(max_workers=1)
        try:
            files = pool.submit(
                lambda: [
                    (read_vectors(folder / f"{k}.faiss"), read_vectors(folder / f"{k}.delta.faiss"))
                    for k in ("passages", "sentences")
                    if vectors is None
                ]
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
            lexical = lexical_segments.load(folder, table, n, len(parts["sentence_hash"]))
            passages, sentences = (
                (
                    Segments(
                        base,
                        delta,
                        load_array(table, f"{kind}_slot", np.int32),
                        folder / f"{kind}s.faiss",
                        manifest["checksums"][f"{kind}s.faiss"],
                    )
                    for kind, (base, delta) in zip(("passage", "sentence"), files.result())
                )
                if vectors is None
                else (vectors("passage"), vectors("sentence"))
            )
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
        index.locate(folder)
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

    def locate(self, folder: Path) -> None:
        """The version's files are in `folder` (now): a later version links its base from there."""
        checksums = self.manifest["checksums"]
        for segments, name in (
            (self.passages, "passages.faiss"),
            (self.sentences, "sentences.faiss"),
        ):
            if name in checksums:  # (a store that keeps the vectors itself has no such file)
                segments.source, segments.checksum = folder / name, checksums[name]
        # lexical.npz is the lexical base, whether or not the version has a delta beside it.
        self.lexical_file = (folder / "lexical.npz", checksums["lexical.npz"])
        if isinstance(self.lexical, LexicalSegments):
            self.lexical.source = self.lexical_file

    def pending(self) -> int:
        """Paragraphs added, changed or deleted since the base was built: those with vectors in
        the delta, and the base's passage tombstones (one or a few per deleted paragraph)."""
        changed = np.concatenate(
            [
                self.passage_paragraph[self.passages.delta_row],
                self.sentence_paragraph[self.sentences.delta_row],
            ]
        )
        return len(np.unique(changed)) + self.passages.tombstones


def _rows_fit(owner: np.ndarray, paragraphs: int) -> bool:
    """Vector rows name existing paragraphs, in order (each paragraph's rows are contiguous)."""
    return not len(owner) or (
        owner[0] >= 0 and owner[-1] < paragraphs and not np.any(np.diff(owner) < 0)
    )


def _save_segments(segments: Segments, folder: Path, table: Path, kind: str) -> str | None:
    """Write the segments of `kind` into `folder`: the base hard-linked from the version it was
    read from or written to when that file is still there (returns its checksum then), else
    written; the delta and the rows' slots written."""
    base = folder / f"{kind}s.faiss"
    linked = None
    if segments.source is not None and segments.checksum is not None:
        try:
            os.link(segments.source, base)
            linked = segments.checksum
        except OSError:  # gone (cleaned), or a file system without hard links: write it
            pass
    if linked is None:
        write_vectors(segments.base, base)
    write_vectors(segments.delta, folder / f"{kind}s.delta.faiss")
    save_array(table, f"{kind}_slot", segments.slot.astype(np.int32))
    return linked
