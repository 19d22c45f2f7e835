"""Explanation: why an answer was given or refused, in a few plain lines.

It says what the verifier read (qa/verifier.py): which of the question's words the best
sentence of the first passage holds and which it misses, what kind of thing the question asks
for and whether that sentence holds one, and the signals the confidence was computed from,
each with its share of the score. Every line is a fixed phrase filled with the question's own
words, names of signals and numbers: nothing is said about the documents that they don't say.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from qa.lexical import terms
from qa.verifier import (
    ANSWER_BIAS,
    ANSWER_FEATURES,
    ANSWER_WEIGHTS,
    FEATURES,
    Question,
    matched_terms,
)

_WORD = re.compile(r"\w+")
# What each signal of the confidence measures, in the words the explanation uses.
SIGNALS = {
    "cosine": "meaning of the question and the passage (cosine)",
    "coverage": "question words in the passage, weighted by rarity",
    "sentence_coverage": "question words in its best sentence, as the ranking measured",
    "score": "the best sentence's score as the one that answers",
    "context": "question words in the best sentence and its neighbours",
    "missing": "weight of the rarest question word it misses",
    "match": "holds the kind of thing asked for",
    "novel": "words the sentence adds to the question",
    "cosine_of_sentence": "meaning of the question and the best sentence (cosine)",
    "overlap": "question words in the best sentence",
    "unknown": "share of question words found in no document",
}
KIND_WORDS = {
    "number": "a number",
    "date": "a date or time",
    "person": "a person",
    "place": "a place",
    "reason": "a reason",
    "other": "no particular kind",
}


@dataclass(frozen=True)
class Signal:
    name: str
    meaning: str
    value: float
    contribution: float  # weight x value: its part of the confidence's log-odds


@dataclass(frozen=True)
class Explanation:
    """What the verifier read of the question against the first passage's best sentence."""

    kind: str  # what the question asks for (verifier KINDS)
    kind_found: bool  # whether the best sentence holds one the question does not already say
    matched: list[str]  # the question's words found in the best sentence or its neighbours
    missing: list[str]  # the question's words not found there
    signals: list[Signal]
    confidence: float
    min_confidence: float

    def lines(self) -> list[str]:
        """The explanation in a few plain lines (fixed phrases, the question's own words)."""
        verdict = "answered" if self.confidence >= self.min_confidence else "not answered"
        asks = KIND_WORDS[self.kind]
        found = "found" if self.kind_found else "not found"
        ranked = sorted(
            (s for s in self.signals if s.name != "bias"),
            key=lambda s: abs(s.contribution),
            reverse=True,
        )
        strongest = "; ".join(
            f"{s.meaning} {'+' if s.contribution >= 0 else '−'}{abs(s.contribution):.1f}"
            for s in ranked[:4]
        )
        return [
            f"Confidence {self.confidence:.2f} (answers from {self.min_confidence:.2f}): "
            f"{verdict}.",
            "Words of the question found: " + (", ".join(self.matched) or "none") + ".",
            "Words of the question missing: " + (", ".join(self.missing) or "none") + ".",
            f"The question asks for {asks}"
            + (f": {found} in the best sentence." if self.kind != "other" else "."),
            f"Strongest signals: {strongest}.",
        ]

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "kind_found": self.kind_found,
            "matched": self.matched,
            "missing": self.missing,
            "signals": [
                {
                    "name": s.name,
                    "value": round(s.value, 4),
                    "contribution": round(s.contribution, 4),
                }
                for s in self.signals
            ],  # fmt: skip
            "lines": self.lines(),
        }


def explain(
    question: Question,
    asked: str,
    sentence_terms: set[str] | None,
    features: np.ndarray | None,
    answer_values: np.ndarray | None,
    confidence: float,
    min_confidence: float,
) -> Explanation:
    """The explanation of an answer to `asked` (the user's words): `sentence_terms` are the terms
    of the best sentence and its neighbours, `features` its row of verifier FEATURES and
    `answer_values` the answer features the confidence read (all None when nothing was found)."""
    held = matched_terms(sentence_terms or set(), question.weights)
    matched, missing = [], []
    for word in dict.fromkeys(_WORD.findall(asked)):
        stems = [t for t in terms(word) if t in question.weights]
        if stems:
            (matched if all(t in held for t in stems) else missing).append(word)
    signals = []
    if answer_values is not None:
        signals = [
            Signal(name, SIGNALS[name], float(v), float(w * v))
            for name, v, w in zip(ANSWER_FEATURES, answer_values, ANSWER_WEIGHTS)
        ]
        signals.append(Signal("bias", "the starting point", 1.0, ANSWER_BIAS))
    kind_found = bool(features is not None and features[FEATURES.index("match")])
    return Explanation(
        question.kind, kind_found, matched, missing, signals, confidence, min_confidence
    )
