"""Lexical side: stemmed terms, the term ids of every paragraph and sentence, and BM25 (bm25s).

One vocabulary numbers the terms of a version. Paragraphs and sentences are kept as term ids
(`TermIds`), which serve three uses: the BM25 indexes are built from them (bm25s takes ids, no
string pass), the coverage signals look up only the candidates' terms at question time (a cost
proportional to the candidates, not the corpus), and the next build reuses the ids of every
unchanged paragraph instead of tokenizing it again.
"""

from __future__ import annotations

import io
import re
import warnings
import zipfile
from functools import lru_cache
from itertools import chain
from pathlib import Path

import bm25s
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN

_WORD = re.compile(r"(?u)\b\w\w+\b")
_STOPWORDS = frozenset(STOPWORDS_EN)
_stemmer = Stemmer.Stemmer("english")

# A text given to Lexical.build: its terms, if tokenized now, or its row in the previous version.
Text = list[str] | int


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return _stemmer.stemWord(word)


def terms(text: str) -> list[str]:
    """Lower-cased, stop-word-free, Snowball-stemmed words of `text`."""
    return [_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOPWORDS]


def bigrams(words: list[str]) -> list[str]:
    """Adjacent pairs of terms: phrase evidence ("prison camp" rather than "prison", "camp")."""
    return [f"{a} {b}" for a, b in zip(words, words[1:])]


class TermIds:
    """Term ids of many texts, in text order: text i has ids[indptr[i]:indptr[i + 1]]."""

    def __init__(self, indptr: np.ndarray, ids: np.ndarray) -> None:
        self.indptr = np.asarray(indptr, dtype=np.int64)
        self.ids = np.asarray(ids, dtype=np.int32)

    @classmethod
    def of(cls, id_lists: list[list[int]]) -> TermIds:
        indptr = np.zeros(len(id_lists) + 1, dtype=np.int64)
        np.cumsum([len(ids) for ids in id_lists], out=indptr[1:])
        ids = np.fromiter(chain.from_iterable(id_lists), dtype=np.int32, count=int(indptr[-1]))
        return cls(indptr, ids)

    def __len__(self) -> int:
        return len(self.indptr) - 1

    def lists(self) -> list[list[int]]:
        """The ids of every text, as Python lists."""
        flat, bounds = self.ids.tolist(), self.indptr.tolist()
        return [flat[a:b] for a, b in zip(bounds, bounds[1:])]

    def contains(self, rows: np.ndarray, wanted: np.ndarray) -> np.ndarray:
        """Booleans (len(wanted), len(rows)): does text rows[i] contain term wanted[j]? (The
        wanted ids are distinct.) Costs in proportion to the texts asked about, not all."""
        rows, wanted = np.asarray(rows, dtype=np.int64), np.asarray(wanted, dtype=np.int32)
        out = np.zeros((len(wanted), len(rows)), dtype=bool)
        if len(rows) == 0 or len(wanted) == 0:
            return out
        starts, lengths = self.indptr[rows], self.indptr[rows + 1] - self.indptr[rows]
        offsets = np.cumsum(lengths) - lengths  # where each text's ids begin in `ids`
        ids = self.ids[positions(starts, lengths)]
        # Column + 1 of every wanted id (0: not wanted). np.zeros maps fresh zero pages, so
        # the table costs next to nothing beyond the entries looked up.
        column = np.zeros(max(int(ids.max(initial=0)), int(wanted.max())) + 1, np.int32)
        column[wanted] = np.arange(1, len(wanted) + 1, dtype=np.int32)
        found = column[ids]
        hits = np.flatnonzero(found > 0)  # (on booleans: ~10x faster than on int32)
        # The text of a position: the last one starting at or before it (empty texts start
        # where the next one does, so they come first and are never picked).
        out[found[hits] - 1, np.searchsorted(offsets, hits, side="right") - 1] = True
        return out


class BM25:
    """bm25s over texts given as term ids below `terms`; scores of every text at once."""

    def __init__(self, bm25: bm25s.BM25) -> None:
        self._bm25 = bm25
        self.size = int(bm25.scores["num_docs"])
        self._indptr = bm25.scores["indptr"]

    @classmethod
    def build(cls, id_lists: list[list[int]], terms: int) -> BM25:
        bm25 = bm25s.BM25()
        # bm25s needs a token in every text: an empty one gets id `terms`, which no query has.
        corpus = [ids or [terms] for ids in id_lists]
        with warnings.catch_warnings():  # no texts (an emptied folder): bm25s averages nothing
            warnings.simplefilter("ignore", RuntimeWarning)
            bm25.scores = bm25.build_index_from_ids(
                list(range(terms + 1)), corpus, show_progress=False
            )
        bm25.vocab_dict = {}  # the vocabulary is ours (Lexical); bm25s only sees ids
        return cls(bm25)

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}_{k}": self._bm25.scores[k] for k in ("data", "indices", "indptr")}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str, size: int) -> BM25:
        bm25 = bm25s.BM25()
        bm25.scores = {k: arrays[f"{prefix}_{k}"] for k in ("data", "indices", "indptr")}
        bm25.scores["num_docs"] = size
        bm25.vocab_dict, bm25.nonoccurrence_array = {}, None
        return cls(bm25)

    def scores(self, ids: list[int]) -> np.ndarray:
        """BM25 score of every text for the query term ids (zeros when there are none)."""
        if not ids or self.size == 0:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._bm25.get_scores_from_ids(ids), dtype=np.float32)

    def frequency(self, tid: int) -> int:
        """How many texts contain term `tid`."""
        return int(self._indptr[tid + 1] - self._indptr[tid])

    def column(self, tid: int) -> tuple[np.ndarray, np.ndarray]:
        """The texts that contain term `tid`, and the score the term gives each."""
        a, b = self._indptr[tid], self._indptr[tid + 1]
        return self._bm25.scores["indices"][a:b], self._bm25.scores["data"][a:b]


class Lexical:
    """The lexical side of a version: vocabulary, the term ids of every paragraph and sentence,
    BM25 over paragraph terms and BM25 over their bigrams (adjacent pairs, as ids)."""

    def __init__(
        self,
        vocabulary: list[str],
        paragraphs: TermIds,
        sentences: TermIds,
        bm25: BM25,
        bigram_keys: np.ndarray,
        bigram_bm25: BM25,
    ) -> None:
        self.vocabulary = vocabulary
        self.paragraphs = paragraphs
        self.sentences = sentences
        self.bm25 = bm25
        self.bigram_keys = bigram_keys  # sorted: first * len(vocabulary) + second, id = position
        self.bigram_bm25 = bigram_bm25
        self.size = len(paragraphs)
        self._ids = {t: i for i, t in enumerate(vocabulary)}

    @classmethod
    def build(
        cls, paragraphs: list[Text], sentences: list[Text], previous: Lexical | None = None
    ) -> Lexical:
        """From every paragraph and sentence: its terms (text tokenized now), or its row in
        `previous` (text tokenized before, whose term ids are taken over as they are)."""
        words, par, sen = number(paragraphs, sentences, previous)
        keys, pairs = _bigrams(par, len(words))
        bm25 = BM25.build(par.lists(), len(words))
        return cls(words, par, sen, bm25, keys, BM25.build(pairs.lists(), len(keys)))

    def ids(self, words: list[str]) -> list[int]:
        """Ids of the known ones of `words`, in order (repeats kept)."""
        return [self._ids[w] for w in words if w in self._ids]

    def scores(self, words: list[str]) -> np.ndarray:
        """BM25 score of every paragraph for the query terms."""
        return self.bm25.scores(self.ids(words))

    def bigram_scores(self, words: list[str]) -> np.ndarray:
        """BM25 score of every paragraph for the query's adjacent term pairs."""
        return self.bigram_bm25.scores([i for i in self.bigram_ids(words) if i is not None])

    def bigram_ids(self, words: list[str]) -> list[int | None]:
        """The id of each adjacent pair of `words` (None: a pair no paragraph has)."""
        n, ids = len(self.vocabulary), self._ids
        keys = [
            ids[a] * n + ids[b] if a in ids and b in ids else -1 for a, b in zip(words, words[1:])
        ]
        at = np.searchsorted(self.bigram_keys, np.asarray(keys, dtype=np.int64)).tolist()
        found = len(self.bigram_keys)
        return [
            i if k >= 0 and i < found and self.bigram_keys[i] == k else None
            for k, i in zip(keys, at)
        ]

    def idf(self, word: str) -> float:
        """Inverse document frequency of a term among paragraphs (0 for unknown terms)."""
        tid = self._ids.get(word)
        df = self.bm25.frequency(tid) if tid is not None else 0
        if df == 0 or self.size == 0:  # (a term only of a sentence piece: as unknown)
            return 0.0
        return float(np.log(1 + (self.size - df + 0.5) / (df + 0.5)))

    def coverage(
        self, weights: dict[str, float], rows: np.ndarray, sentences: bool = False
    ) -> np.ndarray:
        """For paragraphs (or sentences) `rows`, the summed weight of the given terms each
        contains, once each. Summed in float32 in the order of `weights`, term by term: the
        values are exactly those of adding each term's weight to the texts that contain it."""
        texts = self.sentences if sentences else self.paragraphs
        known = [(self._ids[t], w) for t, w in weights.items() if t in self._ids]
        if not known or len(rows) == 0:
            return np.zeros(len(rows), dtype=np.float32)
        has = texts.contains(rows, np.array([tid for tid, _ in known]))
        out = np.zeros(len(rows), dtype=np.float32)
        for contains, (_, weight) in zip(has, known):
            out += contains * np.float32(weight)  # 0 where absent: adding it changes nothing
        return out

    def save(self, path: Path) -> None:
        """Everything in one uncompressed .npz (one file to write and flush)."""
        words = "\n".join(self.vocabulary).encode("utf-8")  # terms are \w runs: no newline
        buffer = io.BytesIO()
        np.savez(
            buffer,
            vocabulary=np.frombuffer(words, dtype=np.uint8),
            paragraph_indptr=self.paragraphs.indptr,
            paragraph_ids=self.paragraphs.ids,
            sentence_indptr=self.sentences.indptr,
            sentence_ids=self.sentences.ids,
            bigram_keys=self.bigram_keys,
            **self.bm25.arrays("bm25"),
            **self.bigram_bm25.arrays("bigram"),
        )
        path.write_bytes(buffer.getbuffer())

    @classmethod
    def load(cls, path: Path, paragraphs: int | None, sentences: int | None) -> Lexical:
        """The lexical side saved in `path`, checked to hold so many paragraphs and sentences
        (None: any number)."""
        try:
            with np.load(path, allow_pickle=False) as stored:
                arrays = {name: stored[name] for name in stored.files}
        except (zipfile.BadZipFile, EOFError) as e:  # a truncated file
            raise ValueError(f"{path.name} is damaged ({e})") from e
        text = arrays["vocabulary"].tobytes().decode("utf-8")
        par = TermIds(arrays["paragraph_indptr"], arrays["paragraph_ids"])
        sen = TermIds(arrays["sentence_indptr"], arrays["sentence_ids"])
        if (paragraphs, sentences) != (len(par), len(sen)) and None not in (paragraphs, sentences):
            raise ValueError(f"lexical index of {len(par)} paragraphs, {len(sen)} sentences")
        return cls(
            text.split("\n") if text else [],
            par,
            sen,
            BM25.from_arrays(arrays, "bm25", len(par)),
            arrays["bigram_keys"],
            BM25.from_arrays(arrays, "bigram", len(par)),
        )


def number(
    paragraphs: list[Text], sentences: list[Text], previous: Lexical | None = None
) -> tuple[list[str], TermIds, TermIds]:
    """One vocabulary for the texts (terms, or rows of `previous`), numbered afresh so that the
    terms no text uses any more drop out; the term ids of the paragraphs and the sentences."""
    known = list(previous.vocabulary) if previous else []
    number = {t: i for i, t in enumerate(known)}

    def assemble(texts: list[Text], old: TermIds | None) -> TermIds:
        base = len(old.ids) if old else 0  # new ids go after the old ones
        old_bounds = old.indptr.tolist() if old else []
        fresh: list[int] = []
        starts, lengths = [], []
        for text in texts:
            if isinstance(text, int):
                starts.append(old_bounds[text])
                lengths.append(old_bounds[text + 1] - old_bounds[text])
                continue
            starts.append(base + len(fresh))
            lengths.append(len(text))
            for term in text:
                tid = number.get(term)
                if tid is None:
                    tid = number[term] = len(known)
                    known.append(term)
                fresh.append(tid)
        pool = np.concatenate(
            [old.ids if old else np.zeros(0, np.int32), np.array(fresh, dtype=np.int32)]
        )
        length = np.array(lengths, dtype=np.int64)
        indptr = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(length, out=indptr[1:])
        return TermIds(indptr, pool[positions(np.array(starts, dtype=np.int64), length)])

    par = assemble(paragraphs, previous.paragraphs if previous else None)
    sen = assemble(sentences, previous.sentences if previous else None)
    counts = np.bincount(par.ids, minlength=len(known)) + np.bincount(sen.ids, minlength=len(known))
    used = np.flatnonzero(counts)  # (sorted, like np.unique, without sorting 300k ids)
    renumber = np.zeros(len(known), dtype=np.int32)
    renumber[used] = np.arange(len(used), dtype=np.int32)
    par, sen = TermIds(par.indptr, renumber[par.ids]), TermIds(sen.indptr, renumber[sen.ids])
    return [known[i] for i in used.tolist()], par, sen


def positions(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The positions starts[i] .. starts[i] + lengths[i] - 1 of every i, one after another."""
    offsets = np.cumsum(lengths) - lengths  # where each range begins in the output
    return np.repeat(starts - offsets, lengths) + np.arange(int(lengths.sum()), dtype=np.int64)


def _bigrams(paragraphs: TermIds, terms: int) -> tuple[np.ndarray, TermIds]:
    """The distinct adjacent pairs of paragraph terms (sorted keys first * terms + second), and
    each paragraph's pairs as ids into those keys."""
    ids = paragraphs.ids.astype(np.int64)
    lengths = np.diff(paragraphs.indptr)
    pairs = np.maximum(lengths - 1, 0)
    if len(ids) < 2:
        return np.zeros(0, dtype=np.int64), TermIds(np.zeros(len(lengths) + 1), np.zeros(0))
    # Pair (i, i + 1) belongs to one paragraph unless i + 1 starts the next.
    starts = np.zeros(len(ids), dtype=bool)
    starts[paragraphs.indptr[1:-1][paragraphs.indptr[1:-1] < len(ids)]] = True
    keys = (ids[:-1] * terms + ids[1:])[~starts[1:]]
    unique, inverse = np.unique(keys, return_inverse=True)
    indptr = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(pairs, out=indptr[1:])
    return unique, TermIds(indptr, inverse)
