"""Verifier: does a sentence state the answer to the question, or only talk about its topic?

Retrieval finds the paragraphs about the question's subject; that is not the same as one that
answers it ("How many defectors returned?" matches a paragraph about defectors that counts
those who left). For each sentence of the top passages the verifier reads the question against
it: how much of the question the sentence (and its neighbours) covers, which of the question's
important terms are missing, what the sentence adds beyond the question (an answer must add
something), and whether it holds the kind of thing the question asks for (a number for "how
many", a date for "when", a name for "who"/"where", a cause for "why"). A logistic model of
these features, fitted on even-numbered SQuAD dev articles (bench/verifier.py), gives the
probability that the sentence answers. Every feature is absolute (no comparison with the other
candidates of the question), so a score means the same in a folder of six paragraphs or of a
million.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from qa.lexical import terms
from qa.retriever import Hit
from qa.store import Index

KINDS = ("number", "date", "person", "place", "reason", "other")

# The wh-phrase of a question decides what kind of thing answers it (first match wins).
_KIND_PATTERNS = [
    ("date", r"\b(when|what (year|date|day|month|century|decade|time|period|era)|which "
             r"(year|date|day|month|century|decade)|how long ago|since when)\b"),
    ("number", r"\bhow (many|much|long|far|old|big|large|tall|high|deep|wide|heavy|fast|often)"
               r"\b|\bwhat (percentage|percent|proportion|number|amount|size|length|age|"
               r"population|temperature|speed|distance|rate)\b"),
    ("person", r"\b(who|whom|whose)\b|\bwhat (person|people|name)\b|\bwhich (person|people)\b"),
    ("place", r"\b(where|what (country|city|state|region|town|place|continent|location)|which "
              r"(country|city|state|region|town|place|continent|location))\b"),
    ("reason", r"\b(why|what (caused|causes|led|made|motivated)|for what reason)\b"),
]  # fmt: skip
_KIND_RE = [(kind, re.compile(p, re.IGNORECASE)) for kind, p in _KIND_PATTERNS]

_NUMBER_WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|"
    "forty|fifty|hundred|hundreds|thousand|thousands|million|millions|billion|billions|dozen|"
    "half|percent"
)
_NUMBER = re.compile(rf"\b(\d[\d,.]*|{_NUMBER_WORDS})\b", re.IGNORECASE)
MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_DATE = re.compile(
    rf"\b(1\d{{3}}|20\d{{2}}|\d{{1,4}}s|{MONTHS}|century|centuries|decade|BC|AD|BCE|CE|"
    r"Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|spring|summer|autumn|winter|"
    r"yesterday|today|ago)\b"
)
_NAME = re.compile(r"\b[A-Z][\w'’.-]*(?:\s+(?:of|de|the|von|van|al|[A-Z][\w'’.-]*))*")
_REASON = re.compile(
    r"\b(because|due to|since|so that|in order to|as a result|reason|caused|motivated|"
    r"thanks to|owing to|led to|result of|for fear|to avoid|to prevent|to protect)\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"\w+")

FEATURES = (
    "cosine", "overlap", "context", "paragraph", "passage", "overlap_gap", "cosine_gap",
    "missing", "novel", "length", "match",
    *(f"kind_{k}" for k in KINDS), *(f"match_{k}" for k in KINDS),
)  # fmt: skip

# Which sentence states the answer: a conditional logit over the sentences of a paragraph
# (weights over FEATURES), fitted on the gold paragraphs of even articles (bench/verifier.py).
SENTENCE_WEIGHTS = np.array([
    1.0649, 1.9347, 1.7589, 0.0, 0.0, 1.7281, 1.0986, 0.2947, 0.1394, 0.0024, 0.6252,
    0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.592, 1.6877, 0.9235, 0.8939, 0.2604, -0.4737,
])  # fmt: skip
# Does the passage answer at all: logistic over answer_features(), same fit.
ANSWER_BIAS = -8.8032
ANSWER_WEIGHTS = np.array([
    8.4826, 2.7768, 0.7095, -0.2189, 2.9628, -2.737, -0.0336, 0.1186, 3.4217, 1.2503, -1.8827,
])  # fmt: skip


@dataclass(frozen=True)
class Question:
    """What the verifier reads of a question: its kind, terms with their share of its weight
    (idf), and its lower-cased words (a candidate answer must not be one of them)."""

    kind: str
    weights: dict[str, float]
    words: frozenset[str]
    unknown: float  # share of its terms found nowhere in the index
    own: frozenset[str] = frozenset()  # a follow-up's own terms (empty: all of them)


def question_kind(text: str) -> str:
    for kind, pattern in _KIND_RE:
        if pattern.search(text):
            return kind
    return "other"


# Terms of the wh-phrase itself ("how many", "what"): they ask, they are not asked about.
_ASKING = frozenset(terms("how many much what which when where who whom whose why did does do"))


def read_question(index: Index, text: str, asked: str | None = None) -> Question:
    """The question as the verifier reads it (idf from the index, shares summing to 1). A
    term the documents never use weighs the most a term can (BM25's idf of a term in no
    paragraph), not nothing: it is the part of the question they are least likely to answer.

    `text` is what was retrieved with; `asked` the user's own words when they differ (a
    follow-up read with the question before it): its kind and own terms come from `asked`,
    the earlier question's terms only name the topic."""
    asked = asked or text
    idf = {t: index.lexical.idf(t) for t in set(terms(text)) - _ASKING}
    rarest = float(np.log(1 + (index.lexical.size + 0.5) / 0.5))
    unknown = sum(w == 0 for w in idf.values()) / max(len(idf), 1)
    idf = {t: w or rarest for t, w in idf.items()}
    total = sum(idf.values()) or 1.0
    words = frozenset(w.lower() for w in _WORD.findall(text))
    own = frozenset(terms(asked)) & idf.keys() if asked != text else frozenset()
    return Question(
        question_kind(asked), {t: w / total for t, w in idf.items()}, words, unknown, own
    )


def _new(matches: list[str], words: frozenset[str]) -> bool:
    """Is one of the matches (a number, date, name...) not simply a word of the question?"""
    return any(not set(_WORD.findall(m.lower())) <= words for m in matches)


def has_kind(sentence: str, kind: str, words: frozenset[str]) -> bool:
    """Does the sentence hold something of `kind` that the question does not already say?"""
    if kind == "number":
        return _new([m.group() for m in _NUMBER.finditer(sentence)], words)
    if kind == "date":
        return _new([m.group() for m in _DATE.finditer(sentence)], words)
    if kind in ("person", "place"):
        names = [m.group() for m in _NAME.finditer(sentence) if m.start() > 0]
        return _new(names, words)
    if kind == "reason":
        return bool(_REASON.search(sentence))
    return _new([m.group() for m in _NAME.finditer(sentence) if m.start() > 0], words) or _new(
        [m.group() for m in _NUMBER.finditer(sentence)], words
    )


PREFIX = 5  # stems sharing their first 5 letters count as the same word ("defect", "defector")


def matched_terms(words: set[str], weights: dict[str, float]) -> set[str]:
    """The sentence's terms, plus each question term one of them shares a PREFIX with (the
    stemmer keeps "defected" and "defectors" apart)."""
    heads = {w[:PREFIX] for w in words if len(w) >= PREFIX}
    return words | {t for t in weights if len(t) >= PREFIX and t[:PREFIX] in heads}


def sentence_features(index: Index, question: Question, hit: Hit) -> np.ndarray:
    """One row of FEATURES per sentence of the hit's paragraph (one row if it has none)."""
    row = hit.row
    text = index.paragraphs[row].text
    first, last = int(index.sentence_first[row]), int(index.sentence_first[row + 1])
    spans = [tuple(s) for s in index.sentence_span[first:last]] or [(0, len(text))]
    n = len(spans)
    cosines = hit.sentence_cosines if len(hit.sentence_cosines) == n else np.full(n, hit.cosine)
    weights = question.weights
    sentence_terms = [matched_terms(set(terms(text[s:e])), weights) for s, e in spans]
    # The sentence's share of the question's terms (a follow-up's own terms: the earlier
    # question's name the topic, which the answering sentence need not repeat).
    own = {t: w for t, w in weights.items() if not question.own or t in question.own}
    own_total = sum(own.values()) or 1.0
    overlaps = np.array([sum(w for t, w in own.items() if t in st) / own_total
                         for st in sentence_terms])  # fmt: skip
    out = np.zeros((n, len(FEATURES)), dtype=np.float32)
    kind = KINDS.index(question.kind)
    for i, (s, e) in enumerate(spans):
        context = sentence_terms[i].union(*sentence_terms[max(i - 1, 0) : i + 2])
        missing = [w for t, w in weights.items() if t not in context]
        matched = has_kind(text[s:e], question.kind, question.words)
        out[i, :11] = (
            cosines[i],
            overlaps[i],
            sum(w for t, w in weights.items() if t in context),
            hit.signals["coverage"],
            hit.signals["passage"],
            overlaps[i] - overlaps.max(),
            cosines[i] - cosines.max(),
            max(missing, default=0.0),
            np.log1p(len(sentence_terms[i] - weights.keys())),
            np.log1p(len(sentence_terms[i])),
            matched,
        )
        out[i, 11 + kind] = 1.0
        out[i, 11 + len(KINDS) + kind] = matched
    return out


def sentence_scores(features: np.ndarray) -> np.ndarray:
    """How strongly each sentence (a row of sentence_features) states the answer; compare
    them within one paragraph."""
    return features @ SENTENCE_WEIGHTS


ANSWER_FEATURES = (
    "cosine", "coverage", "sentence_coverage",  # of the passage, as the ranking measured it
    "score", "context", "missing", "match", "novel", "cosine_of_sentence", "overlap",
    "unknown",  # a question term the documents never use: a sign they don't answer it
)  # fmt: skip


def answer_features(question: Question, hit: Hit, features: np.ndarray, best: int) -> np.ndarray:
    """What the confidence reads: the passage's closeness to the question, and what the
    verifier found in its best sentence (`best`, a row of `features`)."""
    f = features[best]
    column = FEATURES.index
    return np.array(
        [
            hit.cosine,
            hit.signals["coverage"],
            hit.signals["sentence_coverage"],
            float(f @ SENTENCE_WEIGHTS),
            f[column("context")],
            f[column("missing")],
            f[column("match")],
            f[column("novel")],
            f[column("cosine")],
            f[column("overlap")],
            question.unknown,
        ],
        dtype=np.float64,
    )


def answer_probability(values: np.ndarray) -> float:
    """Probability-like confidence (0..1) that the passage answers (absolute features only)."""
    return float(1.0 / (1.0 + np.exp(-(ANSWER_BIAS + values @ ANSWER_WEIGHTS))))
