"""Lexical segments: the lexical side of a version as a sealed base and a small delta.

Building the lexical side of 100k paragraphs (numbering their terms, two bm25s indexes) took
~44 s of every update, however small. Like the vectors (qa/store/segments.py), an update keeps
the lexical side of the base as it is (its file hard-linked into the new version) and puts the
paragraphs whose text is not in the base into a delta of their own terms; base paragraphs no row
names any more are masked. Row r of the version is base paragraph slot[r] below the base's size,
else delta paragraph slot[r] - base size (sentences likewise, by their own slots).

Scores are those of one BM25 over the live paragraphs (bm25s's Lucene variant, its k1 and b),
as a build of the version from scratch would give (to float rounding): every statistic is the
version's, computed at question time from the posting lists of the query's terms. A term's
document frequency counts the version's rows that contain it (base paragraphs once per row
naming them, plus the delta's), the average length is the live rows'. The base's stored scores
hold the base's idf and average length; its term frequencies are recovered from them exactly
(the score is a known function of tf, which is an integer), and rescored with the live ones.
The delta stores its term frequencies.
A merge folds the delta into a new base (`folded`), as it folds the vectors.
"""

from __future__ import annotations

import os
from pathlib import Path

import bm25s
import numpy as np

from qa.lexical import BM25, Lexical, TermIds, Text, _bigrams, number, positions

_DEFAULTS = bm25s.BM25()  # the k1 and b every BM25 of ours is built with
K1, B = float(_DEFAULTS.k1), float(_DEFAULTS.b)
BASE_FILE, DELTA_FILE = "lexical.npz", "lexical.delta.npz"
SLOTS = ("lexical_paragraph_slot", "lexical_sentence_slot")  # in table/

# A new paragraph of a version built over a previous one: its row in the previous version (its
# terms and its sentences' taken over), or (paragraph terms, [terms of each sentence]).
NewText = int | tuple[list[str], list[list[str]]]


def _idf(df: float, n: int) -> float:
    return float(np.log(1 + (n - df + 0.5) / (df + 0.5)))


def term_frequencies(texts: TermIds, terms: int) -> BM25:
    """How often each of `terms` term ids occurs in every text, stored like bm25s's scores
    (column by term), with the frequency in place of the score."""
    n = len(texts)
    lengths = np.diff(texts.indptr)
    keys = texts.ids.astype(np.int64) * max(n, 1) + np.repeat(np.arange(n), lengths)
    unique, tf = np.unique(keys, return_counts=True)
    term, row = np.divmod(unique, max(n, 1))
    indptr = np.zeros(terms + 2, dtype=np.int64)  # (+1: bm25s's token of empty texts)
    np.cumsum(np.bincount(term, minlength=terms + 1), out=indptr[1:])
    arrays = {"t_data": tf.astype(np.float32), "t_indices": row.astype(np.int32)}
    return BM25.from_arrays({**arrays, "t_indptr": indptr}, "t", n)


def lengths(lexical: Lexical) -> tuple[np.ndarray, np.ndarray]:
    """Every paragraph's length in terms and in term pairs, as bm25s counts them (an empty
    text gets one token)."""
    terms = np.diff(lexical.paragraphs.indptr)
    return np.maximum(terms, 1), np.maximum(terms - 1, 1)


def _part(tf: np.ndarray, length: np.ndarray, average: float) -> np.ndarray:
    """BM25's term-frequency part (Lucene)."""
    return tf / (K1 * ((1 - B) + B * length / average) + tf)


class LexicalSegments:
    """A base Lexical, a delta Lexical (term-frequency parts only) and the rows' slots; asked
    like a Lexical (scores, bigram_scores, idf, coverage, size)."""

    def __init__(
        self,
        base: Lexical,
        delta: Lexical,
        paragraph_slot: np.ndarray,
        sentence_slot: np.ndarray,
        source: tuple[Path, str] | None = None,
    ) -> None:
        self.base, self.delta = base, delta
        self.paragraph_slot = np.asarray(paragraph_slot, dtype=np.int64)
        self.sentence_slot = np.asarray(sentence_slot, dtype=np.int64)
        self.source = source  # the base's file and checksum, to link it into the next version
        nb, ns = base.size, len(base.sentences)
        for slot, most in (
            (self.paragraph_slot, nb + delta.size),
            (self.sentence_slot, ns + len(delta.sentences)),
        ):
            if len(slot) and (slot.min() < 0 or slot.max() >= most):
                raise ValueError("a lexical row names no stored text")
        self.size = len(self.paragraph_slot)
        in_base = self.paragraph_slot < nb
        self._base_rows, self._base_of = np.flatnonzero(in_base), self.paragraph_slot[in_base]
        self._delta_rows = np.flatnonzero(~in_base)
        self._delta_of = self.paragraph_slot[~in_base] - nb
        # How many rows of the version name each base paragraph (0: deleted or changed since).
        self._uses = np.bincount(self._base_of, minlength=nb)
        self._delta_uses = np.bincount(self._delta_of, minlength=delta.size)
        self.vocabulary = base.vocabulary + [t for t in delta.vocabulary if t not in base._ids]
        self._cache: dict[tuple, _Term] = {}  # (_term)
        # The version rows of each base (delta) paragraph: order[first[p]:first[p + 1]].
        self._base_order, self._delta_order = (
            (rows[np.argsort(of, kind="stable")], np.searchsorted(np.sort(of), np.arange(m + 1)))
            for rows, of, m in (
                (self._base_rows, self._base_of, nb),
                (self._delta_rows, self._delta_of, delta.size),
            )
        )
        # Per kind (terms, pairs): base lengths, the base's average, delta lengths, live average.
        self._lengths = []
        for base_length, delta_length in zip(lengths(base), lengths(delta), strict=True):
            live = base_length @ self._uses + delta_length @ self._delta_uses
            self._lengths.append(
                (
                    base_length,
                    float(base_length.mean()) if nb else 1.0,
                    delta_length,
                    float(live) / self.size if self.size else 1.0,
                )
            )

    def _term(self, pairs: bool, b: int | None, d: int | None) -> _Term:
        """The live idf of a term (or pair) given by its ids in either segment (None: not
        there), and the live score of each base and delta paragraph holding it. Made when the
        term is first asked for (O(its postings)) and kept: a question then costs what it
        costs bm25s."""
        key = (pairs, b, d)
        if (found := self._cache.get(key)) is not None:
            return found
        base = self.base.bigram_bm25 if pairs else self.base.bm25
        delta = self.delta.bigram_bm25 if pairs else self.delta.bm25
        base_length, base_average, delta_length, average = self._lengths[pairs]
        bi, bs = base.column(b) if b is not None else _EMPTY
        di, tf = delta.column(d) if d is not None else _EMPTY
        df = int(self._uses[bi].sum()) + int(self._delta_uses[di].sum())
        # In bm25s's precisions (float32 idf and sums, float64 parts): the same floats.
        idf = _idf(df, self.size)
        weight = np.float32(idf)
        # The base's scores hold its own idf and average length: solved for tf (an integer).
        before = np.float32(_idf(len(bi), self.base.size))
        k = K1 * ((1 - B) + B * base_length[bi] / base_average)
        old = np.rint(bs * k / (before - bs))
        base_rows, base_scores = self._rows(
            False, bi, weight * _part(old, base_length[bi], average)
        )
        delta_rows, delta_scores = self._rows(
            True, di, weight * _part(tf, delta_length[di], average)
        )
        found = (
            idf if df else 0.0,
            np.concatenate([base_rows, delta_rows]),
            np.concatenate([base_scores, delta_scores]).astype(np.float32),
        )
        if len(self._cache) > CACHED_TERMS:
            self._cache.clear()
        self._cache[key] = found
        return found

    def _scores(self, pairs: bool, base_ids: list, delta_ids: list) -> np.ndarray:
        """Live BM25 of every row for the query terms (or pairs) given by their ids in either
        segment (None: not there), in query order, repeats kept (as bm25s sums them)."""
        out = np.zeros(self.size, dtype=np.float32)
        for b, d in zip(base_ids, delta_ids, strict=True):
            _, rows, scores = self._term(pairs, b, d)
            np.add.at(out, rows, scores)  # (a row is in one segment: summed as by bm25s)
        return out

    def _rows(self, delta: bool, ids: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, ...]:
        """The version rows naming base (or delta) paragraphs `ids`, with their `scores`: none
        for a deleted paragraph, several for one that several rows name."""
        order, first = self._delta_order if delta else self._base_order
        counts = first[ids + 1] - first[ids]
        return order[positions(first[ids], counts)], np.repeat(scores, counts)

    def scores(self, words: list[str]) -> np.ndarray:
        """BM25 score of every paragraph for the query terms."""
        b, d = self.base._ids, self.delta._ids
        known = [w for w in words if w in b or w in d]
        return self._scores(False, [b.get(w) for w in known], [d.get(w) for w in known])

    def bigram_scores(self, words: list[str]) -> np.ndarray:
        """BM25 score of every paragraph for the query's adjacent term pairs."""
        pairs = [
            (b, d)
            for b, d in zip(self.base.bigram_ids(words), self.delta.bigram_ids(words), strict=True)
            if b is not None or d is not None
        ]
        return self._scores(True, [b for b, _ in pairs], [d for _, d in pairs])

    def idf(self, word: str) -> float:
        """Inverse document frequency of a term among the version's paragraphs (0: unknown)."""
        b, d = self.base._ids.get(word), self.delta._ids.get(word)
        return self._term(False, b, d)[0] if b is not None or d is not None else 0.0

    def coverage(
        self, weights: dict[str, float], rows: np.ndarray, sentences: bool = False
    ) -> np.ndarray:
        """As Lexical.coverage: each segment answers for its own rows."""
        slot = (self.sentence_slot if sentences else self.paragraph_slot)[np.asarray(rows, int)]
        nb = len(self.base.sentences) if sentences else self.base.size
        in_base = slot < nb
        out = np.zeros(len(slot), dtype=np.float32)
        out[in_base] = self.base.coverage(weights, slot[in_base], sentences)
        out[~in_base] = self.delta.coverage(weights, slot[~in_base] - nb, sentences)
        return out

    def folded(self) -> Lexical:
        """One Lexical of the version's rows (what a merge makes the new base)."""
        nb, ns = self.base.size, len(self.base.sentences)
        delta_par = _words(self.delta.paragraphs, self.delta)
        delta_sen = _words(self.delta.sentences, self.delta)
        par: list[Text] = [s if s < nb else delta_par[s - nb] for s in self.paragraph_slot.tolist()]
        sen: list[Text] = [s if s < ns else delta_sen[s - ns] for s in self.sentence_slot.tolist()]
        return Lexical.build(par, sen, self.base)

    def save(self, folder: Path, table: Path) -> str | None:
        """Write into the version `folder`: the base linked from its file when that is still
        there (returns its checksum then), else written; the delta and the slots written."""
        linked = None
        if self.source is not None:
            try:
                os.link(self.source[0], folder / BASE_FILE)
                linked = self.source[1]
            except OSError:  # gone (cleaned), or a file system without hard links: write it
                pass
        if linked is None:
            self.base.save(folder / BASE_FILE)
        self.delta.save(folder / DELTA_FILE)
        for name, slot in zip(SLOTS, (self.paragraph_slot, self.sentence_slot), strict=True):
            np.save(table / f"{name}.npy", slot.astype(np.int32))
        return linked


_EMPTY = (np.zeros(0, np.int32), np.zeros(0, np.float32))
# (idf, the version rows holding a term, their scores)
_Term = tuple[float, np.ndarray, np.ndarray]
CACHED_TERMS = 200_000  # terms whose live scores are kept (~4 bytes per posting)


def _words(texts: TermIds, lexical: Lexical) -> list[list[str]]:
    vocabulary = lexical.vocabulary
    return [[vocabulary[i] for i in ids] for ids in texts.lists()]


def load(folder: Path, table: Path, paragraphs: int, sentences: int) -> Lexical | LexicalSegments:
    """The lexical side of the version in `folder`: a Lexical, or base and delta if it has one."""
    if not (folder / DELTA_FILE).exists():
        return Lexical.load(folder / BASE_FILE, paragraphs, sentences)
    from qa.table import load_array

    slots = [load_array(table, name, np.int32) for name in SLOTS]
    if (len(slots[0]), len(slots[1])) != (paragraphs, sentences):
        raise ValueError(f"lexical slots of {len(slots[0])} paragraphs, {len(slots[1])} sentences")
    base = Lexical.load(folder / BASE_FILE, None, None)
    return LexicalSegments(base, Lexical.load(folder / DELTA_FILE, None, None), *slots)


def over(
    previous: Lexical | LexicalSegments,
    first: np.ndarray,
    texts: list[NewText],
    source: tuple[Path, str] | None,
) -> LexicalSegments:
    """The lexical side of a new version over `previous`'s base: a paragraph given as a row of
    the previous version (`first`: its sentence rows begin there) keeps its base slot, or goes
    into the delta with the terms it had; new text goes into the delta. O(rows) in numpy, plus
    the delta's own terms."""
    if isinstance(previous, LexicalSegments):
        base, old_delta = previous.base, previous.delta
        old_pslot, old_sslot = previous.paragraph_slot, previous.sentence_slot
        source = previous.source or source
    else:
        base, old_delta = previous, None
        old_pslot = np.arange(previous.size, dtype=np.int64)
        old_sslot = np.arange(len(previous.sentences), dtype=np.int64)
    nb, ns = base.size, len(base.sentences)
    origin = np.fromiter((t if isinstance(t, int) else -1 for t in texts), np.int64, len(texts))
    old = origin >= 0
    slot = np.full(len(texts), -1, dtype=np.int64)
    slot[old] = old_pslot[origin[old]]
    keep = old & (slot >= 0) & (slot < nb)  # taken over from the base, sentences and all
    first = np.asarray(first, dtype=np.int64)
    counts = np.zeros(len(texts), dtype=np.int64)
    counts[old] = first[origin[old] + 1] - first[origin[old]]
    par_words: list[list[str]] = []
    sen_words: list[list[str]] = []
    old_par = _words(old_delta.paragraphs, old_delta) if old_delta is not None else []
    old_sen = _words(old_delta.sentences, old_delta) if old_delta is not None else []
    old_first = first.tolist()
    for row in np.flatnonzero(~keep).tolist():
        text = texts[row]
        if isinstance(text, int):  # in the previous delta: its terms as they were
            par_words.append(old_par[int(slot[row]) - nb])
            at = old_sslot[old_first[text] : old_first[text + 1]] - ns
            sen_words.extend(old_sen[s] for s in at.tolist())
        else:
            par_words.append(text[0])
            sen_words.extend(text[1])
            counts[row] = len(text[1])
    slot[~keep] = nb + np.arange(int((~keep).sum()))
    starts = np.cumsum(counts) - counts
    sentence_slot = np.empty(int(counts.sum()), dtype=np.int64)
    sentence_slot[positions(starts[keep], counts[keep])] = old_sslot[
        positions(first[origin[keep]], counts[keep])
    ]
    sentence_slot[positions(starts[~keep], counts[~keep])] = ns + np.arange(len(sen_words))
    words, par, sen = number(par_words, sen_words)
    keys, pairs = _bigrams(par, len(words))
    delta = Lexical(
        words, par, sen, term_frequencies(par, len(words)), keys, term_frequencies(pairs, len(keys))
    )
    return LexicalSegments(base, delta, slot, sentence_slot, source)
