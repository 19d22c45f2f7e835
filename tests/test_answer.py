"""Answers quote sources only: every shown word is verbatim source text or a fixed phrase."""

from __future__ import annotations

import pytest

from qa.answer import NO_ANSWER
from qa.errors import DocumentNotFoundError, QuestionError
from tests.conftest import SEEDS

SEED_TEXT = (SEEDS / "defectors.txt").read_text("utf-8")
QUESTIONS = [
    "How many North Koreans defected last year?",
    "Where was Ri Il-kyu posted?",
    "What happened to Kim Jong-un's brother?",
    "What is the boiling point of mercury?",
    "asdf qwerty zxcv",
]


@pytest.mark.parametrize("question", QUESTIONS)
def test_every_word_shown_is_source_text_or_a_fixed_phrase(seed_engine, question) -> None:
    answer = seed_engine.ask(question)
    data = answer.as_dict()
    assert data["message"] in (None, NO_ANSWER)
    assert (data["message"] is None) == answer.answered
    assert data["passages"], "even a refusal offers the closest passages"
    for p in data["passages"]:
        paragraphs = seed_engine.document(p["document"])
        source = paragraphs[p["paragraph"] - 1]
        assert p["text"] == source.text  # verbatim, whole paragraph
        assert SEED_TEXT.split("\n")[p["paragraph"] - 1] == p["text"]  # one line per paragraph
        assert (p["title"], p["section"], p["page"]) == ("defectors.txt", None, None)
        assert p["citation"] == f"defectors.txt · ¶{p['paragraph']}"
        start, end = p["highlight"]["start"], p["highlight"]["end"]
        assert 0 <= start < end <= len(p["text"])


def test_no_answer_uses_the_fixed_phrase(seed_engine) -> None:
    answer = seed_engine.ask("What is the boiling point of mercury?")
    assert not answer.answered and answer.message == NO_ANSWER == "The documents don't answer this."


@pytest.mark.parametrize("bad", ["", "   \n\t ", "\x00\x01"])
def test_empty_questions_are_refused(seed_engine, bad) -> None:
    with pytest.raises(QuestionError, match="empty"):
        seed_engine.ask(bad)


def test_huge_question_is_refused(seed_engine) -> None:
    with pytest.raises(QuestionError, match="too long"):
        seed_engine.ask("why " * 1000)


def test_search_filters_by_document(make_engine) -> None:
    engine = make_engine({"cats.txt": "Cats purr and sleep.", "dogs.txt": "Dogs bark and fetch."})
    engine.build()
    assert [p.document for p in engine.search("animals", k=5, document="dogs.txt")] == ["dogs.txt"]
    with pytest.raises(DocumentNotFoundError, match="missing.txt"):
        engine.search("animals", k=5, document="missing.txt")


def test_lone_surrogates_and_bad_history_are_harmless(seed_engine) -> None:
    with pytest.raises(QuestionError, match="empty"):
        seed_engine.ask("\ud800")
    answer = seed_engine.ask("Why did he leave?", history=["\udfff", "", "Who is Ri Il-kyu?"])
    assert "disillusionment" in answer.passages[0].text
