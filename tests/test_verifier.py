"""The answer verifier's reading of questions and sentences (qa/verifier.py)."""

from __future__ import annotations

import re

import pytest

from qa.verifier import Question, has_kind, question_kind, read_question

SENTENCE = (
    "The number of defectors overall has plummeted in recent years, from 2,700 a decade ago "
    "to just 196 last year, thanks to crackdowns by the Chinese authorities in border areas."
)


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("How many North Koreans defected last year?", "number"),
        ("When is Defectors' Day celebrated?", "date"),
        ("In what year did the war end?", "date"),
        ("Who is Ri Il-kyu?", "person"),
        ("Where was Ri Il-kyu posted?", "place"),
        ("Who is Ri Il-kyu? Why did he leave?", "person"),
        ("Why did he leave?", "reason"),
        ("What did George Robertson warn about?", "other"),
    ],
)
def test_question_kind(question: str, kind: str) -> None:
    assert question_kind(question) == kind


def question(text: str, kind: str | None = None) -> Question:
    words = frozenset(re.findall(r"\w+", text.lower()))  # as read_question reads them
    return Question(kind or question_kind(text), {}, words, 0.0)


def test_a_sentence_must_add_something_of_the_kind_asked() -> None:
    q = question("How many defectors left in 2,700?")
    assert has_kind(SENTENCE, "number", q.words)  # 196 is new
    assert not has_kind("The defectors left in 2,700 boats.", "number", q.words)
    assert has_kind("He was motivated by disillusionment.", "reason", q.words)
    assert not has_kind("He was a counsellor in Cuba.", "reason", q.words)


def test_a_term_the_documents_never_use_weighs_the_most(seed_engine) -> None:
    read = read_question(seed_engine.index, "How many defectors returned to the North?")
    known = seed_engine.index.lexical.vocabulary
    assert "return" not in known and "defector" in known
    assert sorted(read.weights) == ["defector", "north", "return"]  # "how many" only asks
    assert read.unknown == pytest.approx(1 / 3)
    assert read.weights["return"] == max(read.weights.values())
    assert sum(read.weights.values()) == pytest.approx(1.0)
