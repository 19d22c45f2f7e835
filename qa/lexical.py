"""Lexical side: stemmed terms and a BM25 index over paragraphs (bm25s)."""

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


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return _stemmer.stemWord(word)


def terms(text: str) -> list[str]:
    """Lower-cased, stop-word-free, Snowball-stemmed words of `text`."""
    return [_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOPWORDS]


class Lexical:
    """BM25 over a list of texts; scores for every text at once."""

    def __init__(self, bm25: bm25s.BM25, size: int) -> None:
        self._bm25 = bm25
        self.size = size

    @classmethod
    def build(cls, texts: list[str]) -> Lexical:
        bm25 = bm25s.BM25()
        # An empty token list breaks bm25s; a placeholder term matches no query.
        corpus = [terms(t) or ["\x00"] for t in texts]
        bm25.index(corpus, show_progress=False)
        return cls(bm25, len(texts))

    def save(self, folder: Path) -> None:
        self._bm25.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path, size: int) -> Lexical:
        bm25 = bm25s.BM25.load(str(folder), show_progress=False)
        return cls(bm25, size)

    def scores(self, query_terms: list[str]) -> np.ndarray:
        """BM25 score of every text for the query terms (zeros when none is known)."""
        known = [t for t in query_terms if t in self._bm25.vocab_dict]
        if not known or self.size == 0:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(known), dtype=np.float32)

    def idf(self, term: str) -> float:
        """Inverse document frequency of a stemmed term (0 for unknown terms)."""
        tid = self._bm25.vocab_dict.get(term)
        if tid is None or self.size == 0:
            return 0.0
        indptr = self._bm25.scores["indptr"]
        df = int(indptr[tid + 1] - indptr[tid])
        return float(np.log(1 + (self.size - df + 0.5) / (df + 0.5)))
