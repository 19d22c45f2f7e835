"""Lexical side: stemmed terms and BM25 indexes (bm25s) over paragraphs or sentences."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import bm25s
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN

_WORD = re.compile(r"(?u)\b\w\w+\b")
_STOPWORDS = frozenset(STOPWORDS_EN)
_stemmer = Stemmer.Stemmer("english")
_EMPTY = "\x00"  # bm25s needs a token in every text; this one matches no query


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return _stemmer.stemWord(word)


def terms(text: str) -> list[str]:
    """Lower-cased, stop-word-free, Snowball-stemmed words of `text`."""
    return [_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOPWORDS]


def bigrams(words: list[str]) -> list[str]:
    """Adjacent pairs of terms: phrase evidence ("prison camp" rather than "prison", "camp")."""
    return [f"{a} {b}" for a, b in zip(words, words[1:])]


class Lexical:
    """BM25 over a list of token lists; scores and term matches for every text at once."""

    def __init__(self, bm25: bm25s.BM25, size: int) -> None:
        self._bm25 = bm25
        self.size = size
        self._indptr = bm25.scores["indptr"]
        self._indices = bm25.scores["indices"]

    @classmethod
    def build(cls, token_lists: list[list[str]]) -> Lexical:
        bm25 = bm25s.BM25()
        bm25.index([tokens or [_EMPTY] for tokens in token_lists], show_progress=False)
        return cls(bm25, len(token_lists))

    def save(self, folder: Path) -> None:
        self._bm25.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path, size: int) -> Lexical:
        return cls(bm25s.BM25.load(str(folder), show_progress=False), size)

    def scores(self, tokens: list[str]) -> np.ndarray:
        """BM25 score of every text for the query tokens (zeros when none is known)."""
        known = [t for t in tokens if t in self._bm25.vocab_dict]
        if not known or self.size == 0:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(known), dtype=np.float32)

    def idf(self, token: str) -> float:
        """Inverse document frequency of a token (0 for unknown tokens)."""
        tid = self._bm25.vocab_dict.get(token)
        if tid is None or self.size == 0:
            return 0.0
        df = int(self._indptr[tid + 1] - self._indptr[tid])
        return float(np.log(1 + (self.size - df + 0.5) / (df + 0.5)))

    def matches(self, weights: dict[str, float]) -> np.ndarray:
        """For every text, the summed weight of the given tokens it contains (once each)."""
        out = np.zeros(self.size, dtype=np.float32)
        for token, weight in weights.items():
            tid = self._bm25.vocab_dict.get(token)
            if tid is not None:
                out[self._indices[self._indptr[tid] : self._indptr[tid + 1]]] += weight
        return out
