"""Answers: quoted passages with a highlighted sentence, or an explicit "no answer".

Nothing here writes text of its own: a passage is a verbatim paragraph of a document, the
highlight is a character span inside it, and the only other words are the fixed phrases below.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from qa.paragraphs import SECTION_SEPARATOR
from qa.retriever import Hit
from qa.store import Index

NO_ANSWER = "The documents don't answer this."

# Highlight: share of the sentence cosine in the mix with stemmed, idf-weighted word overlap,
# and how close (as a fraction of the best) an adjacent sentence must score to be marked too.
# Fitted on even-numbered SQuAD articles (bench/highlight.py): a pair is marked for about one
# question in ten, typically when the answer follows the sentence that names the topic.
HIGHLIGHT_DENSE_SHARE = 0.4
HIGHLIGHT_PAIR_RATIO = 0.85
# Confidence: logistic calibration of confidence_features(), fitted by bench/confidence.py.
CONFIDENCE_BIAS = -14.2
CONFIDENCE_WEIGHTS = (22.3, 4.27, 3.25)


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
    page: int | None = None  # PDF page where the paragraph starts

    @property
    def citation(self) -> str:
        return citation(self.title or self.document, self.section, self.page, self.paragraph)

    def as_dict(self) -> dict:
        return {
            "text": self.text,
            "document": self.document,
            "path": self.document,
            "paragraph": self.paragraph,
            "title": self.title or self.document,
            "section": self.section or None,
            "page": self.page,
            "citation": self.citation,
            "score": round(self.score, 4),
            "highlight": {"start": self.highlight[0], "end": self.highlight[1]},
        }


def citation(title: str, section: str, page: int | None, paragraph: int) -> str:
    """ "Title › Section · p. 4 · ¶12": the source of a quote, in words of the document (a
    section that starts with the title, as a first heading often repeats it, says it once)."""
    if section == title:
        section = ""
    elif section.startswith(title + SECTION_SEPARATOR):
        section = section[len(title + SECTION_SEPARATOR) :]
    where = SECTION_SEPARATOR.join(part for part in (title, section) if part)
    return " · ".join([where, *([f"p. {page}"] if page else []), f"¶{paragraph}"])


@dataclass(frozen=True)
class Answer:
    """The reply to a question: passages that answer it, or NO_ANSWER and the closest ones."""

    question: str
    answered: bool
    confidence: float
    passages: list[Passage] = field(default_factory=list)
    ranked: list[str] = field(default_factory=list)  # paragraph keys of the whole ranking

    @property
    def message(self) -> str | None:
        return None if self.answered else NO_ANSWER

    def as_dict(self) -> dict:
        return {
            "question": self.question,
            "answered": self.answered,
            "message": self.message,
            "confidence": round(self.confidence, 4),
            "passages": [p.as_dict() for p in self.passages],
        }


def highlight(index: Index, hit: Hit) -> tuple[int, int]:
    """Span of the sentence of the hit's paragraph that best matches the query, by the cosine
    and term overlap of each sentence that the ranking already computed."""
    row = hit.row
    first, last = int(index.sentence_first[row]), int(index.sentence_first[row + 1])
    if last <= first:
        return 0, len(index.paragraphs[row].text)
    spans = index.sentence_span[first:last]
    dense, overlap = hit.sentence_cosines, hit.sentence_overlaps
    mix = HIGHLIGHT_DENSE_SHARE * dense + (1 - HIGHLIGHT_DENSE_SHARE) * overlap
    first_best = last_best = int(np.argmax(mix))
    neighbours = [i for i in (first_best - 1, first_best + 1) if 0 <= i < len(mix)]
    if neighbours and mix[first_best] > 0:
        near = max(neighbours, key=lambda i: mix[i])
        if mix[near] >= HIGHLIGHT_PAIR_RATIO * mix[first_best]:
            first_best, last_best = min(first_best, near), max(first_best, near)
    return int(spans[first_best][0]), int(spans[last_best][1])


def confidence_features(hits: list[Hit]) -> list[float]:
    """What the confidence is computed from: how close the best paragraph is to the question,
    and how much of the question's terms it (and its best sentence) contains. All three are
    absolute, so they mean the same in a corpus of six paragraphs or of a million. (The margin
    over the runner-up was tried too: its fitted weight was ~0.)"""
    top = hits[0]
    return [top.cosine, top.signals["coverage"], top.signals["sentence_coverage"]]


def confidence(hits: list[Hit]) -> float:
    """Probability-like confidence (0..1) that the top hit answers the question."""
    if not hits:
        return 0.0
    x = CONFIDENCE_BIAS + float(np.dot(CONFIDENCE_WEIGHTS, confidence_features(hits)))
    return 1.0 / (1.0 + math.exp(-x))


def passage(index: Index, hit: Hit) -> Passage:
    p = index.paragraphs[hit.row]
    return Passage(
        p.document,
        p.number,
        p.text,
        hit.score,
        highlight(index, hit),
        index.titles.get(p.document, p.document),
        p.section,
        p.page,
    )


def make_answer(
    question: str, index: Index, hits: list[Hit], shown: int, min_confidence: float
) -> Answer:
    conf = confidence(hits)
    return Answer(
        question=question,
        answered=bool(hits) and conf >= min_confidence,
        confidence=conf,
        passages=[passage(index, h) for h in hits[:shown]],
        ranked=[index.paragraphs[h.row].key for h in hits],
    )
