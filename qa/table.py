"""Table: the paragraph table of an index version, stored as flat binary arrays.

A 100k-paragraph table as JSON took ~5 s to parse, with a transient peak of ~350 MB of Python
lists, and then held ~400 MB of Paragraph and str objects. As numpy arrays it reads in a fraction
of a second and stays about the size of its text: a paragraph (or a hash) becomes a Python object
only when asked for, which is a few hundred per question.

Files, in one folder (all `.npy`, loaded with numpy's checks, never with pickle):
    texts.npy, texts-offsets.npy         paragraph texts: one UTF-8 blob and n + 1 byte offsets
    documents.npy, documents-offsets.npy document ids, each once, in first-seen order
    sections.npy, sections-offsets.npy   section (heading path) texts, each once
    rows.npy                             int64 (n, 7): document (its position in documents.npy),
                                         paragraph number, start, end (in the document's text),
                                         page (0: none), section (its position in sections.npy),
                                         unit of the page (its position in UNITS)
    sentences.npy, sentences-first.npy   int32 (m, 2) sentence spans; n + 1 first rows
    <name>.npy, <name>-offsets.npy       any other list of strings (the vector hashes)
    <name>.npy                           any other array (vector rows and spans)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar, overload

import numpy as np

from qa.lexical import positions
from qa.paragraphs import Paragraph
from qa.readers.blocks import Unit

T = TypeVar("T")
COLUMNS = 7  # of rows.npy: document, number, start, end, page, section, unit
UNITS: tuple[Unit, ...] = ("page", "slide", "notes", "row")


class _Lazy(Sequence[T]):
    """A sequence whose items are made only when asked for (by `_item`)."""

    def _item(self, i: int) -> T:
        raise NotImplementedError

    @overload
    def __getitem__(self, i: int) -> T: ...
    @overload
    def __getitem__(self, i: slice) -> list[T]: ...
    def __getitem__(self, i: int | slice) -> T | list[T]:
        if isinstance(i, slice):
            return [self._item(j) for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"{type(self).__name__} index out of range")
        return self._item(i)


class Strings(_Lazy[str]):
    """Strings packed as one UTF-8 blob and byte offsets; each is decoded when asked for."""

    def __init__(self, blob: np.ndarray | bytes, offsets: np.ndarray) -> None:
        if (
            (isinstance(blob, np.ndarray) and blob.ndim != 1)
            or offsets.ndim != 1
            or not len(offsets)
        ):
            raise ValueError("packed strings have the wrong shape")
        if offsets[0] != 0 or offsets[-1] != len(blob) or np.any(np.diff(offsets) < 0):
            raise ValueError("packed string offsets do not fit their text")
        # bytes: slicing and decoding without numpy overhead (bytes given are kept, not copied:
        # at 100k paragraphs each copy of the texts is 70 MB)
        self._blob = blob if isinstance(blob, bytes) else blob.tobytes()
        self._offsets = offsets

    @classmethod
    def pack(cls, strings: Iterable[str]) -> Strings:
        encoded = [s.encode("utf-8") for s in strings]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(e) for e in encoded], out=offsets[1:])
        return cls(b"".join(encoded), offsets)

    @classmethod
    def join(cls, parts: Sequence[Strings]) -> Strings:
        """The strings of every part, one part after another."""
        if sum(1 for p in parts if len(p)) <= 1:  # (the others empty: no copy of the one)
            return next((p for p in parts if len(p)), parts[0])
        shift = np.cumsum([0] + [len(p._blob) for p in parts[:-1]])
        offsets = [parts[0]._offsets[:1]] + [p._offsets[1:] + k for p, k in zip(parts, shift)]
        return cls(b"".join(p._blob for p in parts), np.concatenate(offsets))

    def take(self, ids: np.ndarray) -> Strings:
        """The strings `ids`, in that order (copied as bytes: no str made)."""
        ids = np.asarray(ids, dtype=np.int64)
        starts, ends = self._offsets[ids], self._offsets[ids + 1]
        offsets = np.zeros(len(ids) + 1, dtype=np.int64)
        np.cumsum(ends - starts, out=offsets[1:])
        # Strings taken in their stored order follow each other in the blob: copied as runs
        # (a byte-by-byte gather of 70 MB of text took seconds).
        cut = np.flatnonzero(starts[1:] != ends[:-1]) + 1
        first, last = np.concatenate([[0], cut]), np.concatenate([cut, [len(ids)]]) - 1
        runs = zip(starts[first].tolist(), ends[last].tolist()) if len(ids) else ()
        view = memoryview(self._blob)  # (slices of a view are not copies)
        return Strings(b"".join(view[a:b] for a, b in runs), offsets)

    def find(self, wanted: Sequence[str]) -> np.ndarray:
        """The position of each of `wanted` among these strings (-1: not there), without making
        a str of each (a lookup of a few new hashes among 600k)."""
        out = np.full(len(wanted), -1, dtype=np.int64)
        if not len(wanted) or not len(self):
            return out
        width = int(self._offsets[1])
        if len(self._blob) != width * len(self) or width < 8 or len(wanted) > 1000:
            where = {text: i for i, text in enumerate(self)}  # (reversed: the first one wins)
            return np.array([where.get(w, -1) for w in wanted], dtype=np.int64)
        rows = np.frombuffer(self._blob, dtype=np.uint8).reshape(len(self), width)
        keys = np.ascontiguousarray(rows[:, :8]).view(np.uint64).ravel()
        for i, text in enumerate(wanted):
            data = text.encode("utf-8")
            if len(data) != width:
                continue
            for at in np.flatnonzero(keys == np.frombuffer(data[:8], dtype=np.uint64)[0]):
                if rows[at].tobytes() == data:
                    out[i] = at
                    break
        return out

    def save(self, folder: Path, name: str) -> None:
        np.save(folder / f"{name}.npy", np.frombuffer(self._blob, dtype=np.uint8))
        np.save(folder / f"{name}-offsets.npy", self._offsets)

    @classmethod
    def load(cls, folder: Path, name: str) -> Strings:
        return cls(
            load_array(folder, name, np.uint8), load_array(folder, f"{name}-offsets", np.int64)
        )

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def _item(self, i: int) -> str:
        return self._blob[self._offsets[i] : self._offsets[i + 1]].decode("utf-8")

    def __iter__(self) -> Iterator[str]:
        blob, offsets = self._blob, self._offsets.tolist()
        for a, b in zip(offsets, offsets[1:]):
            yield blob[a:b].decode("utf-8")


class Paragraphs(_Lazy[Paragraph]):
    """The paragraphs of a stored version; each Paragraph is made when asked for."""

    def __init__(
        self,
        texts: Strings,
        documents: Strings,
        sections: Strings,
        rows: np.ndarray,
        sentences: np.ndarray,
        sentence_first: np.ndarray,
    ) -> None:
        n = len(texts)
        if rows.shape != (n, COLUMNS) or sentences.ndim != 2 or sentences.shape[1:] != (2,):
            raise ValueError("the paragraph table parts have the wrong shape")
        if (
            len(sentence_first) != n + 1
            or sentence_first[0] != 0
            or sentence_first[-1] != len(sentences)
            or np.any(np.diff(sentence_first) < 0)
        ):
            raise ValueError("the paragraph table's sentence rows do not fit")
        if n and (rows[:, 0].min() < 0 or rows[:, 0].max() >= len(documents)):
            raise ValueError("the paragraph table names documents it does not have")
        if n and (rows[:, 5].min() < 0 or rows[:, 5].max() >= len(sections)):
            raise ValueError("the paragraph table names sections it does not have")
        if n and (rows[:, 6].min() < 0 or rows[:, 6].max() >= len(UNITS)):
            raise ValueError("the paragraph table names units it does not have")
        self.texts, self.documents, self.sections = texts, documents, sections
        # Arrays, not lists: 100k rows and ~500k spans as Python ints would take ~80 MB.
        self._rows = rows  # per row: document, number, start, end, page, section, unit
        self._sentences = sentences
        self._first = sentence_first

    @classmethod
    def pack(cls, paragraphs: Sequence[Paragraph]) -> Paragraphs:
        if isinstance(paragraphs, Paragraphs):
            return paragraphs
        documents: dict[str, int] = {}
        sections: dict[str, int] = {}
        rows = np.zeros((len(paragraphs), COLUMNS), dtype=np.int64)
        first = np.zeros(len(paragraphs) + 1, dtype=np.int64)
        for r, p in enumerate(paragraphs):
            rows[r] = (
                documents.setdefault(p.document, len(documents)),
                p.number,
                p.start,
                p.end,
                p.page or 0,
                sections.setdefault(p.section, len(sections)),
                UNITS.index(p.unit),
            )
            first[r + 1] = first[r] + len(p.sentences)
        spans = [s for p in paragraphs for s in p.sentences]
        return cls(
            Strings.pack(p.text for p in paragraphs),
            Strings.pack(documents),
            Strings.pack(sections),
            rows,
            np.asarray(spans, dtype=np.int32).reshape(-1, 2),
            first,
        )

    @classmethod
    def assemble(
        cls, previous: Paragraphs | None, origin: np.ndarray, new: Sequence[Paragraph]
    ) -> Paragraphs:
        """Rows in order: row r is previous row origin[r], or (origin[r] < 0) the next of `new`.
        The previous rows are gathered as arrays (no Paragraph made): O(rows) in numpy."""
        fresh = cls.pack(new)
        if previous is None or not len(previous):
            return fresh
        origin = np.asarray(origin, dtype=np.int64)
        old = origin >= 0
        source = np.where(old, origin, len(previous) + np.cumsum(~old) - 1)  # rows of both
        names = {}  # documents and sections, each once, in order of first use (as pack)
        remap = {}
        for column, attribute in ((0, "documents"), (5, "sections")):
            both = list(getattr(previous, attribute)) + list(getattr(fresh, attribute))
            first = {}
            canonical = np.array([first.setdefault(n, i) for i, n in enumerate(both)], np.int64)
            offset = np.array([0, len(getattr(previous, attribute))], dtype=np.int64)
            ids = np.concatenate([previous._rows[:, column], fresh._rows[:, column] + offset[1]])
            used = canonical[ids[source]]
            order, at = np.unique(used, return_index=True)
            order = order[np.argsort(at, kind="stable")]
            number = np.zeros(len(both), dtype=np.int64)
            number[order] = np.arange(len(order))
            names[attribute] = Strings.pack(both[i] for i in order.tolist())
            remap[column] = number[used]
        rows = np.concatenate([previous._rows, fresh._rows])[source]
        rows[:, 0], rows[:, 5] = remap[0], remap[5]
        firsts = np.concatenate(
            [previous._first[:-1], fresh._first[:-1] + len(previous._sentences)]
        )
        counts = np.concatenate([np.diff(previous._first), np.diff(fresh._first)])[source]
        spans = np.concatenate([previous._sentences, fresh._sentences])
        first = np.zeros(len(source) + 1, dtype=np.int64)
        np.cumsum(counts, out=first[1:])
        return cls(
            Strings.join([previous.texts, fresh.texts]).take(source),
            names["documents"],
            names["sections"],
            rows,
            spans[positions(firsts[source], counts)],
            first,
        )

    def save(self, folder: Path) -> None:
        self.texts.save(folder, "texts")
        self.documents.save(folder, "documents")
        self.sections.save(folder, "sections")
        np.save(folder / "rows.npy", self._rows)
        np.save(folder / "sentences.npy", self._sentences)
        np.save(folder / "sentences-first.npy", self._first)

    @classmethod
    def load(cls, folder: Path) -> Paragraphs:
        return cls(
            Strings.load(folder, "texts"),
            Strings.load(folder, "documents"),
            Strings.load(folder, "sections"),
            load_array(folder, "rows", np.int64, columns=COLUMNS),
            load_array(folder, "sentences", np.int32, columns=2),
            load_array(folder, "sentences-first", np.int64),
        )

    def by_document(self) -> dict[str, list[int]]:
        """Document id -> its paragraph rows, in order (without making any Paragraph)."""
        owner = self._rows[:, 0]
        counts = np.bincount(owner, minlength=len(self.documents)).tolist()
        order = np.argsort(owner, kind="stable").tolist()
        out, start = {}, 0
        for name, count in zip(self.documents, counts):
            if count:
                out[name] = order[start : start + count]
                start += count
        return out

    def __len__(self) -> int:
        return len(self._rows)

    def _item(self, i: int) -> Paragraph:
        document, number, start, end, page, section, unit = self._rows[i].tolist()
        spans = self._sentences[self._first[i] : self._first[i + 1]].tolist()
        sentences = tuple(tuple(s) for s in spans)
        return Paragraph(
            self.documents[document],
            number,
            start,
            end,
            self.texts[i],
            sentences,
            self.sections[section],
            page or None,
            UNITS[unit],
        )


def save_array(folder: Path, name: str, array: np.ndarray) -> None:
    np.save(folder / f"{name}.npy", array)


def load_array(folder: Path, name: str, dtype: type, columns: int = 0) -> np.ndarray:
    """A stored array, checked to have the expected type and number of columns."""
    array = np.load(folder / f"{name}.npy", allow_pickle=False)
    if array.dtype != dtype or (array.shape[1:] != (columns,) if columns else array.ndim != 1):
        raise ValueError(f"{name}.npy holds {array.dtype} {array.shape}, not what was expected")
    return array
