"""The answer phrase (qa/phrases.py): candidates typed by pattern and capitalisation, the one
the question's words point at, shown only when likely enough."""

from __future__ import annotations

import re

from qa.phrases import answer_phrase, candidates
from qa.verifier import Question, question_kind

SENTENCE = (
    "The number of defectors overall has plummeted in recent years, from 2,700 a decade ago "
    "to just 196 last year, thanks to crackdowns by the Chinese authorities in border areas."
)


def question(text: str) -> Question:
    words = frozenset(re.findall(r"\w+", text.lower()))  # as read_question reads them
    return Question(question_kind(text), {}, words, 0.0)


def texts(sentence: str, q: str) -> list[str]:
    read = question(q)
    return [c.text for c in candidates(sentence, read.kind, read.words)]


def test_candidates_are_typed_by_pattern_and_capitalisation() -> None:
    # A count with the word after it, as its unit may be part of the answer ("four days").
    assert texts(SENTENCE, "How many defectors were there?") == ["2,700", "196", "196 last"]
    assert texts(SENTENCE, "How many defected last year?") == ["2,700", "196"]
    assert texts("It cost $1.5 billion in 1999, up 9.4 %.", "How much did it cost?") == [
        "$1.5 billion",
        "9.4 %",
    ]  # 1999 is a date, not a count
    assert texts("The University of Chicago hired Enrico Fermi in 1946.", "Who was hired?") == [
        "University of Chicago",
        "Enrico Fermi",
    ]
    when = "Built in 1850, its new wing was finished on 14 July 1999."
    assert texts(when, "When was the new wing finished?") == ["1850", "14 July 1999"]


def test_words_of_the_question_are_not_an_answer() -> None:
    assert texts("Enrico Fermi came to Chicago.", "Where did Enrico Fermi go?") == ["Chicago"]
    assert texts("He left in 1999.", "What happened in 1999?") == []
    assert texts("Nobody came.", "When did they come?") == []


def test_a_why_question_has_no_phrase() -> None:
    assert answer_phrase(SENTENCE, question("Why did defections fall?"), 0.99) is None


def test_the_count_next_to_the_question_words_is_the_answer() -> None:
    q = question("How many North Koreans defected last year?")
    s, e = answer_phrase(SENTENCE, q, 0.98)
    assert SENTENCE[s:e] == "196"


def test_the_date_next_to_the_question_words_is_the_answer() -> None:
    sentence = "Built in 1850 as a depot, the building got its new wing, finished on 14 July 1999."
    s, e = answer_phrase(sentence, question("When was the new wing finished?"), 0.9)
    assert sentence[s:e] == "14 July 1999"


def test_shown_only_when_likely_enough() -> None:
    # Two counts, neither beside a word of the question, in an unsure answer: nothing marked.
    sentence = "The survey counted 120 in the north and 340 in the south."
    assert answer_phrase(sentence, question("How many owls nest there?"), 0.36) is None
