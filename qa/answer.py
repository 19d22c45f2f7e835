"""Answers: quoted passages with a highlighted sentence, or an explicit "no answer".

Nothing here writes text of its own: a passage is a verbatim paragraph of a document, the
highlight (and the answer phrase, when there is one) is a character span inside it, and the
only other words are the fixed phrases below.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qa.explanation import Explanation, explain
from qa.lexical import terms
from qa.paragraphs import SECTION_SEPARATOR
from qa.phrases import answer_phrase
from qa.readers.blocks import Unit
from qa.retriever import Hit
from qa.store import Index
from qa.verifier import (
    Question,
    answer_features,
    answer_probability,
    read_question,
    sentence_features,
    sentence_scores,
)

NO_ANSWER = "The documents don't answer this."
STRONG = "strong match"
PARTIAL = "partial match"

# An adjacent sentence is marked too when the verifier weighs it at least this fraction of the
# best one (typically the answer follows the sentence that names the topic). Picked on even
# SQuAD articles (bench/verifier.py).
HIGHLIGHT_PAIR_RATIO = 0.5
# Confidence at or above which an answer is a "strong match" (below it, down to the
# min_confidence setting, a "partial match"); see bench/verifier.py for what each means.
STRONG_CONFIDENCE = 0.75


@dataclass(frozen=True)
class Passage:
    """A verbatim paragraph with its source and the span of its best sentence."""

    document: str
    paragraph: int
    text: str
    score: float
    highlight: tuple[int, int]
    title: str = ""  # the document's title (its file name if it has none)
    section: str = ""  # heading path of the paragraph, "" if none
    page: int | None = None  # PDF page where the paragraph starts (or slide, or row: `unit`)
    answer: tuple[int, int] | None = None  # the answer phrase, inside the highlight, when sure
    unit: Unit = "page"

    @property
    def citation(self) -> str:
        return citation(
            self.title or self.document, self.section, self.page, self.paragraph, self.unit
        )

    def as_dict(self) -> dict:
        out = {
            "text": self.text,
            "document": self.document,
            "path": self.document,
            "paragraph": self.paragraph,
            "title": self.title or self.document,
            "section": self.section or None,
            "page": self.page,
            "unit": self.unit if self.page is not None else None,
            "citation": self.citation,
            "score": round(self.score, 4),
            "highlight": {"start": self.highlight[0], "end": self.highlight[1]},
        }
        if self.answer is not None:
            out["answer"] = {"start": self.answer[0], "end": self.answer[1]}
        return out


def citation(
    title: str, section: str, page: int | None, paragraph: int, unit: Unit = "page"
) -> str:
    """ "Title › Section · p. 4 · ¶12": the source of a quote, in words of the document (a
    section that starts with the title, as a first heading often repeats it, says it once).
    A slide or a sheet's row is its own place: "Deck › Slide title · slide 4", "Workbook ›
    Sheet · row 12", without the paragraph number."""
    if section == title:
        section = ""
    elif section.startswith(title + SECTION_SEPARATOR):
        section = section[len(title + SECTION_SEPARATOR) :]
    where = SECTION_SEPARATOR.join(part for part in (title, section) if part)
    located = [place(unit, page)] if page else []
    numbered = [] if page and unit != "page" else [f"¶{paragraph}"]
    return " · ".join([where, *located, *numbered])


def place(unit: Unit, number: int) -> str:
    """ "p. 4", "slide 4", "notes of slide 4", "row 12": where in its document a paragraph is."""
    return {"page": "p. {}", "slide": "slide {}", "notes": "notes of slide {}", "row": "row {}"}[
        unit
    ].format(number)


@dataclass(frozen=True)
class Answer:
    """The reply to a question: passages that answer it, or NO_ANSWER and the closest ones."""

    question: str
    answered: bool
    confidence: float
    passages: list[Passage] = field(default_factory=list)
    ranked: list[str] = field(default_factory=list)  # paragraph keys of the whole ranking
    strength: str | None = None  # STRONG or PARTIAL when answered
    explanation: Explanation | None = None  # why, when asked for

    @property
    def message(self) -> str | None:
        return None if self.answered else NO_ANSWER

    def as_dict(self) -> dict:
        return {
            "question": self.question,
            "answered": self.answered,
            "message": self.message,
            "confidence": round(self.confidence, 4),
            "strength": self.strength,
            "passages": [p.as_dict() for p in self.passages],
            **({"explanation": self.explanation.as_dict()} if self.explanation else {}),
        }


@dataclass(frozen=True)
class Reading:
    """What the verifier found in one passage: the sentences to mark (first, last), the
    character spans of each sentence, its features and scores."""

    first: int
    last: int
    spans: list[tuple[int, int]]
    features: np.ndarray
    scores: np.ndarray


def read(index: Index, question: Question, hit: Hit) -> Reading:
    """The verifier's reading of the hit's paragraph: its sentences scored for stating the
    answer, the best one marked, with an adjacent one when it weighs nearly as much."""
    row = hit.row
    first, last = int(index.sentence_first[row]), int(index.sentence_first[row + 1])
    spans = [(int(s), int(e)) for s, e in index.sentence_span[first:last]]
    spans = spans or [(0, len(index.paragraphs[row].text))]
    features = sentence_features(index, question, hit)
    scores = sentence_scores(features)
    best = start = end = int(np.argmax(scores))
    neighbours = [i for i in (best - 1, best + 1) if 0 <= i < len(scores)]
    if neighbours:
        near = max(neighbours, key=lambda i: scores[i])
        if np.exp(scores[near] - scores[best]) >= HIGHLIGHT_PAIR_RATIO:
            start, end = min(best, near), max(best, near)
    return Reading(start, end, spans, features, scores)


def highlight(reading: Reading) -> tuple[int, int]:
    return reading.spans[reading.first][0], reading.spans[reading.last][1]


def confidence(question: Question, hit: Hit | None, reading: Reading | None) -> float:
    """Probability-like confidence (0..1) that the passage answers the question."""
    if hit is None or reading is None:
        return 0.0
    best = int(np.argmax(reading.scores))
    return answer_probability(answer_features(question, hit, reading.features, best))


def strength(confidence: float, min_confidence: float) -> str | None:
    """The answer's confidence in words: a fixed phrase, or None below the bar."""
    if confidence < min_confidence:
        return None
    return STRONG if confidence >= max(STRONG_CONFIDENCE, min_confidence) else PARTIAL


def passage(
    index: Index,
    hit: Hit,
    question: Question,
    reading: Reading | None = None,
    confidence: float | None = None,
) -> Passage:
    """The hit as a quoted passage; with the answer's `confidence`, the answer phrase inside its
    highlight is looked for too (qa/phrases.py)."""
    p = index.paragraphs[hit.row]
    reading = reading or read(index, question, hit)
    span = highlight(reading)
    phrase = None
    if confidence is not None:
        best = int(np.argmax(reading.scores))
        s, e = reading.spans[best]
        found = answer_phrase(p.text[s:e], question, confidence)
        phrase = (s + found[0], s + found[1]) if found else None
    return Passage(
        p.document,
        p.number,
        p.text,
        hit.score,
        span,
        index.titles.get(p.document, p.document),
        p.section,
        p.page,
        phrase,
        p.unit,
    )


def explanation(
    index: Index,
    question: Question,
    asked: str,
    hit: Hit | None,
    reading: Reading | None,
    conf: float,
    min_confidence: float,
) -> Explanation:
    """Why the answer from `hit` (the first passage; None: nothing found) was given or not."""
    if hit is None or reading is None:
        return explain(question, asked, None, None, None, conf, min_confidence)
    best = int(np.argmax(reading.scores))
    text = index.paragraphs[hit.row].text
    near = reading.spans[max(best - 1, 0) : best + 2]
    words = set().union(*(terms(text[s:e]) for s, e in near))
    values = answer_features(question, hit, reading.features, best)
    return explain(question, asked, words, reading.features[best], values, conf, min_confidence)


def make_answer(
    question: str,
    index: Index,
    hits: list[Hit],
    shown: int,
    min_confidence: float,
    text: str | None = None,
    explain: bool = False,
) -> Answer:
    """The answer to `question` from its ranked hits; `text` is what was retrieved with (the
    question read with the one before it, for a follow-up), which the verifier reads too;
    `explain`: say why (Answer.explanation)."""
    reader = read_question(index, text or question, question)
    readings = [read(index, reader, h) for h in hits[:shown]]
    first, reading = (hits[0], readings[0]) if hits else (None, None)
    conf = confidence(reader, first, reading)
    answered = bool(hits) and conf >= min_confidence
    return Answer(
        question=question,
        answered=answered,
        confidence=conf,
        passages=[
            passage(index, h, reader, r, conf if answered and i == 0 else None)
            for i, (h, r) in enumerate(zip(hits, readings))
        ],
        ranked=[index.paragraphs[h.row].key for h in hits],
        strength=strength(conf, min_confidence),
        explanation=(
            explanation(index, reader, question, first, reading, conf, min_confidence)
            if explain
            else None
        ),
    )
