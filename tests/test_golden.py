"""Golden questions on the seed article: a regression test of answer quality."""

from __future__ import annotations

import pytest

GOLDEN = [  # question, a phrase of the paragraph that must be quoted first
    ("How many North Koreans defected last year?", "just 196 last year"),
    ("Where was Ri Il-kyu posted?", "political counsellor in Cuba"),
    ("Who is Ri Il-kyu?", "Ri Il-kyu, who had been"),
    ("When is Defectors' Day celebrated?", "inaugural Defectors’ Day on 14 July"),
    ("What happened to the foreign minister Ri Yong-ho?", "sent to a prison camp"),
    ("Where was Kim Jong-un's brother killed?", "airport in Kuala Lumpur"),
    ("Which report described a general sense of terror?", "Human Rights Watch"),
    ("What did George Robertson warn about?", "deadly quartet"),
    ("How did Russia block the sanctions monitors?", "security council veto"),
]
HIGHLIGHT = [  # question, a phrase that must be inside the highlighted sentence
    ("How many North Koreans defected last year?", "196"),
    ("Where was Ri Il-kyu posted?", "Cuba"),
    ("Where was Kim Jong-un's brother killed?", "Kuala Lumpur"),
]
UNANSWERABLE = [
    "What is the boiling point of mercury?",
    "Who won the 2018 FIFA World Cup?",
    "How do I bake sourdough bread?",
    "What is the population of Brazil?",
]


@pytest.mark.parametrize(("question", "phrase"), GOLDEN)
def test_golden_question_quotes_the_right_paragraph_first(seed_engine, question, phrase) -> None:
    answer = seed_engine.ask(question)
    assert answer.answered, f"confidence {answer.confidence:.3f}"
    assert phrase in answer.passages[0].text


@pytest.mark.parametrize(("question", "phrase"), HIGHLIGHT)
def test_highlight_marks_the_answering_sentence(seed_engine, question, phrase) -> None:
    top = seed_engine.ask(question).passages[0]
    assert phrase in top.text[top.highlight[0] : top.highlight[1]]


@pytest.mark.parametrize("question", UNANSWERABLE)
def test_out_of_scope_question_gets_no_answer(seed_engine, question) -> None:
    answer = seed_engine.ask(question)
    assert not answer.answered, f"confidence {answer.confidence:.3f}"


def test_follow_up_uses_the_earlier_question(seed_engine) -> None:
    answer = seed_engine.ask("Why did he leave?", history=["Who is Ri Il-kyu?"])
    assert "disillusionment with the regime" in answer.passages[0].text
