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
    ("Who heads the defence review?", "George Robertson, head of the new Labour government"),
    ("What happened to Han Song-ryol?", "executed for spying"),
    ("How many defectors were there a decade ago?", "from 2,700 a decade ago"),
    ("What do defectors face if caught?", "prison camps where beatings"),
    # Missed, strict (they fail loudly once they pass). A paraphrase on both sides: the
    # ranking's and the verifier's term coverage match stems exactly ("defections" is not
    # "defectors", "fall" is not "plummeted"), so the confidence is ~0 for a quote that answers.
    # Prefixes, the embedder's nearest words and sentence-vector agreement were measured and
    # do not carry it (the vector scores "rise" above "fall" here): bench/README.md.
    pytest.param(
        "Why did defections fall?",
        "thanks to crackdowns",
        marks=pytest.mark.xfail(strict=True, reason="paraphrase: refused at confidence ~0"),
    ),
    # The paragraph that says "34,000 North Koreans who have made their home there" loses to
    # the one that says "living in South Korea" (the words of the question, not its answer).
    pytest.param(
        "How many North Koreans live in South Korea?",
        "34,000 North Koreans",
        marks=pytest.mark.xfail(strict=True, reason="ranked below the paragraph with its words"),
    ),
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


# The answer verifier (qa/verifier.py): on-topic questions the article does not answer are
# refused, the sentence that answers is marked, and the answer phrase when it is sure.
ON_TOPIC_UNANSWERABLE = [
    "How many defectors returned to the North last year?",
]


# Missed: the verifier's lexical features see "returned" missing from the "196" sentence, but
# SQuAD questions paraphrase too often for a missing verb to weigh enough (confidence 0.62
# against the 0.35 bar). Strict: this test fails loudly once it is refused.
@pytest.mark.xfail(strict=True, reason="lexical verifier: a missing verb is not enough")
@pytest.mark.parametrize("question", ON_TOPIC_UNANSWERABLE)
def test_on_topic_question_the_article_does_not_answer_is_refused(seed_engine, question) -> None:
    answer = seed_engine.ask(question)
    assert not answer.answered, f"confidence {answer.confidence:.3f}"
    assert answer.strength is None and all(p.answer is None for p in answer.passages)


@pytest.mark.parametrize(
    ("question", "phrase"),
    [
        ("When is Defectors' Day celebrated?", "14 July"),
        ("How many North Koreans defected last year?", "196"),
    ],
)
def test_answer_phrase_is_marked_inside_the_highlight(seed_engine, question, phrase) -> None:
    top = seed_engine.ask(question).passages[0]
    assert top.answer is not None and top.text[slice(*top.answer)] == phrase
    assert top.highlight[0] <= top.answer[0] < top.answer[1] <= top.highlight[1]


def test_follow_up_highlights_the_sentence_that_answers_it(seed_engine) -> None:
    answer = seed_engine.ask("Why did he leave?", history=["Who is Ri Il-kyu?"])
    top = answer.passages[0]
    assert answer.answered
    assert "motivated by disillusionment" in top.text[top.highlight[0] : top.highlight[1]]


def test_confidence_in_words(seed_engine) -> None:
    strong = seed_engine.ask("How many North Koreans defected last year?")
    assert strong.strength == "strong match"
    assert seed_engine.ask("What is the boiling point of mercury?").strength is None
