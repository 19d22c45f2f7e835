"""Answer phrases: the number, date or name inside the highlighted sentence that answers.

Never generated: a phrase is a span of the sentence. Candidates are typed by pattern (numbers
and quantities, dates) and capitalisation (names of people, places, organisations); the
question's kind (qa/verifier.py) says which types may answer it. Each candidate is scored by a
logistic model of where it stands among the question's words (its context), whether it repeats
them, its type against the kind asked, and the answer's confidence; the best one is shown only
when its probability of being exactly the answer passes THRESHOLD. Weights and threshold are
fitted on even-numbered SQuAD dev articles (bench/phrases.py); the odd ones are reported.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from qa.lexical import terms
from qa.verifier import MONTHS, Question

_NUMBER_WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
    "sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|"
    "hundred|thousand|million|billion|dozen|half"
)
_SCALE = r"(?:\s(?:hundred|thousand|million|billion|trillion))"
# Dates whole ("14 July 2016", "July 14, 2016", "the 1990s", "18th century"), years alone.
DATE = re.compile(
    rf"\b(?:\d{{1,2}}(?:st|nd|rd|th)?\s+(?:{MONTHS})(?:,?\s+\d{{4}})?|(?:{MONTHS})\s+"
    rf"\d{{1,2}}(?:st|nd|rd|th)?(?:,\s*\d{{4}})?|(?:{MONTHS})\s+\d{{4}}|\d{{1,4}}s|"
    r"\d{1,2}(?:st|nd|rd|th)\s+century|1\d{3}|20\d{2})\b"
)
# Counts and quantities: "196", "2,700", "$1.5 billion", "9.4 %", "five million", "a dozen".
NUMBER = re.compile(
    rf"(?<![\w.,])(?:[$£€¥]\s?)?(?:\d(?:[\d,]*\d)?(?:\.\d+)?(?:\s?(?:%|percent|per cent))?{_SCALE}?"
    rf"|(?:{_NUMBER_WORDS})(?:[\s-](?:{_NUMBER_WORDS}))*{_SCALE}?)(?![\w])",
    re.IGNORECASE,
)
# Names: capitalised words, with the small words that join names ("University of Chicago").
_CAP = r"[A-Z][\w'’.&-]*"
NAME = re.compile(rf"\b{_CAP}(?:\s+(?:(?:of|de|du|da|van|von|der|al|the|for)\s+)*{_CAP})*")
# A unit after a number ("four days", "132 million tons", "90.20 K"): a word that is not a
# small word of the sentence.
_UNIT = re.compile(r"\s+([A-Za-z°%][A-Za-z°/]*)")
_WORD = re.compile(r"\w+")
# Capitalised only because they start a sentence or clause, never a name on their own.
_COMMON = frozenset(
    [
        "a",
        "an",
        "the",
        "in",
        "on",
        "at",
        "of",
        "for",
        "from",
        "to",
        "by",
        "with",
        "as",
        "but",
        "and",
        "or",
        "if",
        "when",
        "while",
        "after",
        "before",
        "during",
        "since",
        "this",
        "that",
        "these",
        "those",
        "it",
        "its",
        "he",
        "she",
        "they",
        "we",
        "his",
        "her",
        "their",
        "our",
        "there",
        "here",
        "however",
        "although",
        "though",
        "yet",
        "also",
        "then",
        "thus",
        "many",
        "some",
        "most",
        "several",
        "each",
        "every",
        "all",
        "both",
        "one",
        "such",
        "other",
        "another",
        "what",
        "which",
        "who",
        "where",
        "why",
        "how",
        "because",
        "despite",
        "following",
        "according",
    ]
)
_QUESTION_WORDS = frozenset({
    "how", "many", "much", "what", "which", "when", "who", "whom", "whose", "where", "why",
    "did", "do", "does", "was", "were", "is", "are", "the", "a", "an", "of", "in", "on", "at",
    "to", "for", "by", "year", "years", "name", "called",
})  # fmt: skip
_PLACE_BEFORE = frozenset({"in", "at", "from", "near", "to", "into", "across", "of"})
_AGENT_BEFORE = frozenset({"by", "and", "with", "under"})

# Which candidate types may answer each kind of question.
TYPES = {
    "number": ("number",),
    "date": ("date",),
    "person": ("name",),
    "place": ("name",),
    "other": ("name", "number"),
}
PAIRS = (
    ("number", "number"), ("date", "date"), ("person", "name"), ("place", "name"),
    ("other", "name"), ("other", "number"),
)  # fmt: skip
WINDOW = 4  # words either side of a candidate that count as its context

FEATURES = (
    *(f"{k}_{t}" for k, t in PAIRS),
    "context", "context_left", "context_right", "nearness", "best_context", "margin",
    "repeats", "words", "rivals", "start", "place_before", "agent_before", "confidence",
    "unit", "gap_left", "gap_right", "between", "bracketed",
)  # fmt: skip
KINDS = tuple(TYPES)
SHOW_FEATURES = (
    "probability", "margin", "confidence", "rivals", "context", "nearness",
    *(f"kind_{k}" for k in KINDS),
)  # fmt: skip
# Fitted by bench/phrases.py on even SQuAD dev articles: which candidate is the answer (a
# softmax over a sentence's candidates), then whether the chosen one is exactly right (logistic),
# shown when that probability is at least the kind's THRESHOLDS.
RANK_WEIGHTS = np.array([
    0.0, 0.0, 0.0, 0.0, 0.4398, -0.7257, 1.7733, -0.0711, -0.0926, 1.1821, 0.2368, -0.4058,
    -2.7113, 1.3357, 0.0, -0.4597, 0.3817, 0.0574, 0.0, -1.2691, -0.0258, -0.1233, -0.7012,
    -0.5227,
])  # fmt: skip
SHOW_BIAS = -5.7075
SHOW_WEIGHTS = np.array([
    4.2114, -0.6638, 1.7823, 0.4719, 1.1178, 0.2010, 0.6303, 1.1136, 0.1306, -0.4419, -0.6885,
])  # fmt: skip
# By the question's kind: the lowest that kept exact match >= .84 on the even half; names
# (person, place, other) never reached it, so they are not shown (1.0).
THRESHOLDS = {"number": 0.6478, "date": 0.6704, "person": 1.0, "place": 1.0, "other": 1.0}


@dataclass(frozen=True)
class Candidate:
    start: int
    end: int
    text: str
    type: str


def candidates(sentence: str, kind: str, words: frozenset[str]) -> list[Candidate]:
    """The spans of `sentence` that could answer a question of `kind` whose lower-cased words
    are `words`: of a type the kind takes, and not made of the question's own words."""
    found: dict[tuple[int, int], Candidate] = {}
    types = TYPES.get(kind, ())
    stems = set(terms(" ".join(words)))  # "Bowls" repeats "Bowl"
    dates = [(m.start(), m.end()) for m in DATE.finditer(sentence)]
    for ctype in types:
        pattern = {"date": DATE, "number": NUMBER, "name": NAME}[ctype]
        for m in pattern.finditer(sentence):
            start, end, text = m.start(), m.end(), m.group()
            if ctype == "name":
                # Leading small words ("The", "In") belong to the sentence, not the name.
                lead = re.match(r"(?:(?:The|A|An|In|On|At|Of|For|By|And)\s+)+", text)
                if lead:
                    start, text = start + lead.end(), text[lead.end() :]
                if not text or text.lower() in _COMMON:
                    continue
            if ctype == "number" and any(s <= start and end <= e for s, e in dates):
                continue  # a year or a date is not a count
            if ctype == "name":
                # Leading words the question says ("NFL Commissioner Roger Goodell" for "Who
                # was the commissioner of the NFL?") name the role, not the one asked for.
                while " " in text and text.split(" ", 1)[0].lower() in words:
                    cut = text.index(" ") + 1
                    start, text = start + cut, text[cut:]
                if text.endswith(".") and len(text.rsplit(" ", 1)[-1]) > 3:
                    end, text = end - 1, text[:-1]  # the sentence's full stop
            variants = [(start, end, text)]
            if ctype == "number":
                unit = _UNIT.match(sentence, end)
                # (not a word of the question: "196 last year" for "... last year?")
                if unit and unit.group(1).lower() not in _COMMON | words:
                    variants.append((start, unit.end(), sentence[start : unit.end()]))
            for start, end, text in variants:
                own = set(_WORD.findall(text.lower()))
                said = set(terms(text))  # (empty for a bare number)
                if own and not own <= words and not (said and said <= stems):
                    found.setdefault((start, end), Candidate(start, end, text, ctype))
    return sorted(found.values(), key=lambda c: (c.start, c.end))


def features(
    sentence: str, question: Question, found: list[Candidate], confidence: float
) -> np.ndarray:
    """One row of FEATURES per candidate."""
    tokens = [(m.start(), m.end(), m.group().lower()) for m in _WORD.finditer(sentence)]
    # ("year" asks in "What year ...?", but is what was said in "... last year?")
    asking = _QUESTION_WORDS if question.kind == "date" else _QUESTION_WORDS - {"year", "years"}
    asked = question.words - asking
    where = [i for i, (_, _, w) in enumerate(tokens) if w in asked]
    spans = [[i for i, (s, e, _) in enumerate(tokens) if s < c.end and e > c.start] or [0]
             for c in found]  # fmt: skip
    rows = []
    for c, at in zip(found, spans):
        first, last = at[0], at[-1]
        # How far the nearest question word is on each side, and whether another candidate
        # stands between (the answer is usually the one next to what the question says).
        left_at = max((i for i in where if i < first), default=None)
        right_at = min((i for i in where if i > last), default=None)
        gap_left = first - left_at if left_at is not None else 20
        gap_right = right_at - last if right_at is not None else 20
        near_at = left_at if gap_left <= gap_right else right_at
        between = near_at is not None and any(
            o[0] != first and min(near_at, first) < o[0] < max(near_at, first) for o in spans
        )
        inside = sentence[: c.start].count("(") > sentence[: c.start].count(")")
        left = {w for _, _, w in tokens[max(first - WINDOW, 0) : first]} & asked
        right = {w for _, _, w in tokens[last + 1 : last + 1 + WINDOW]} & asked
        near = sum(1.0 / (min(abs(i - first), abs(i - last)) or 1) for i in where)
        own = set(_WORD.findall(c.text.lower()))
        before = tokens[first - 1][2] if first > 0 else ""
        pair = [float((question.kind, c.type) == p) for p in PAIRS]
        rows.append(
            [
                *pair,
                len(left | right) / max(len(asked), 1),
                len(left),
                len(right),
                near,
                0.0,  # best_context, margin: set below, against the other candidates
                0.0,
                len(own & question.words) / len(own),
                math.log1p(len(own)),
                math.log1p(len(found) - 1),
                float(first == 0),
                float(before in _PLACE_BEFORE),
                float(before in _AGENT_BEFORE),
                confidence,
                float(c.type == "number" and last > first and tokens[last][2].isalpha()),
                math.log(min(gap_left, 20)),
                math.log(min(gap_right, 20)),
                float(between),
                float(inside),
            ]
        )
    out = np.array(rows, dtype=np.float64).reshape(len(found), len(FEATURES))
    if len(found):
        near = out[:, FEATURES.index("nearness")]
        ordered = np.sort(near)[::-1]
        out[:, FEATURES.index("best_context")] = near == ordered[0]
        runner_up = ordered[1] if len(ordered) > 1 else 0.0
        out[:, FEATURES.index("margin")] = near - np.where(
            near == ordered[0], runner_up, ordered[0]
        )
    return out


def choose(rows: np.ndarray, kind: str, confidence: float) -> tuple[int, np.ndarray]:
    """The most likely candidate (a row of `rows`) and what decides whether to show it."""
    scores = rows @ RANK_WEIGHTS
    p = np.exp(scores - scores.max())
    p /= p.sum()
    best = int(np.argmax(p))
    runner_up = np.partition(p, -2)[-2] if len(p) > 1 else 0.0
    own = rows[best, [FEATURES.index("context"), FEATURES.index("nearness")]]
    show = [p[best], p[best] - runner_up, confidence, np.log(len(p)), *own]
    return best, np.array(show + [float(kind == k) for k in KINDS])


def show_probability(values: np.ndarray) -> float:
    return float(1.0 / (1.0 + np.exp(-(SHOW_BIAS + values @ SHOW_WEIGHTS))))


def answer_phrase(
    sentence: str, question: Question, confidence: float = 1.0
) -> tuple[int, int] | None:
    """Span in `sentence` of the answer phrase, or None when no candidate is likely enough."""
    found = candidates(sentence, question.kind, question.words)
    if not found:
        return None
    best, values = choose(
        features(sentence, question, found, confidence), question.kind, confidence
    )
    sure = show_probability(values) >= THRESHOLDS[question.kind]
    return (found[best].start, found[best].end) if sure else None
