"""`qa eval` on a tiny SQuAD-format file written by the test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa.evaluation import auroc, evaluate, phrase_scores, split
from qa.settings import Settings

ARTICLES = [
    ("Volcano", "Mount Etna is an active volcano on the east coast of Sicily. It erupts often.",
     "Where is Mount Etna?", "east coast of Sicily"),
    ("Bread", "Sourdough bread is leavened with a starter of wild yeast and lactobacilli.",
     "What leavens sourdough bread?", "a starter of wild yeast"),
    ("Chess", "The Sicilian Defence is a chess opening that begins with 1.e4 c5.",
     "How does the Sicilian Defence begin?", "1.e4 c5"),
    ("River", "The Danube flows through ten countries before reaching the Black Sea.",
     "Where does the Danube end?", "the Black Sea"),
]  # fmt: skip


@pytest.fixture
def squad(tmp_path: Path) -> Path:
    data = {"version": "1.1", "data": []}
    for i, (title, context, question, answer) in enumerate(ARTICLES):
        qas = [{"id": str(i), "question": question,
                "answers": [{"text": answer, "answer_start": context.index(answer)}]}]  # fmt: skip
        data["data"].append({"title": title, "paragraphs": [{"context": context, "qas": qas}]})
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(data))
    return path


def engine_settings() -> Settings:
    return Settings.load(environ={})


def test_eval_reports_every_metric(squad: Path, seed_engine) -> None:
    result = evaluate(squad, engine_settings(), engine=seed_engine)
    assert result["paragraphs"] == 4 and result["questions"] == 4
    for key in ("recall@1", "recall@5", "recall@20", "mrr@10", "answer_recall@5",
                "highlight_accuracy", "index_seconds", "questions_per_second"):  # fmt: skip
        assert key in result
    assert result["recall@1"] == 1.0 and result["mrr@10"] == 1.0
    assert result["answer_recall@5"] == 1.0 and result["highlight_accuracy"] == 1.0


def test_eval_abstain_and_limit(squad: Path, seed_engine) -> None:
    result = evaluate(squad, engine_settings(), engine=seed_engine, abstain="far")
    assert result["paragraphs"] == 2 and result["questions"] == 4
    assert {"abstain_auroc", "answered_in_corpus", "abstained_out_of_corpus"} <= set(result)
    assert result["abstain_auroc"] == 1.0
    limited = evaluate(squad, engine_settings(), engine=seed_engine, limit=2)
    assert limited["questions"] == 2


def test_auroc() -> None:
    assert auroc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert auroc([0.1], [0.9]) == 0.0
    assert auroc([0.5], [0.5]) == 0.5


def test_eval_uses_the_callers_settings(squad: Path, seed_engine, monkeypatch) -> None:
    from dataclasses import replace

    import qa.evaluation

    strict = replace(engine_settings(), min_confidence=1.0)  # nothing is ever confident enough
    result = evaluate(squad, strict, engine=seed_engine, abstain="far")
    assert result["answered_in_corpus"] == 0.0 and result["abstained_out_of_corpus"] == 1.0
    assert result["backend"] == seed_engine.embedder.backend
    # The backend too: `QA_BACKEND=torch qa eval` must measure torch (issue 6 compares the two).
    real, seen = qa.evaluation.Engine, []
    monkeypatch.setattr(qa.evaluation, "Engine", lambda s, e=None: seen.append(s) or real(s, e))
    evaluate(squad, replace(engine_settings(), backend="torch"), engine=seed_engine, limit=1)
    assert seen[0].backend == "torch" and seen[0].docs != engine_settings().docs


NEAR = [  # one article of four paragraphs (the 4th is left out of the index), one other
    ("Etna", [
        ("Mount Etna is an active volcano on the east coast of Sicily.",
         "Where is Mount Etna?", "east coast of Sicily"),
        ("Etna is the highest active volcano in Europe outside the Caucasus.",
         "Where is Etna the highest active volcano?", "Europe outside the Caucasus"),
        ("The volcano's fertile soils support vineyards and orchards on its slopes.",
         "What do Etna's soils support?", "vineyards and orchards"),
        ("Its most destructive eruption, in 1669, destroyed the town of Nicolosi.",
         "When was Etna's most destructive eruption?", "1669"),
    ]),
    ("Bread", [
        ("Sourdough bread is leavened with a starter of wild yeast and lactobacilli.",
         "What leavens sourdough bread?", "a starter of wild yeast"),
    ]),
]  # fmt: skip


@pytest.fixture
def near_squad(tmp_path: Path) -> Path:
    data = {"version": "1.1", "data": []}
    for title, paragraphs in NEAR:
        article = {"title": title, "paragraphs": []}
        for context, question, answer in paragraphs:
            gold = {"text": answer, "answer_start": context.index(answer)}
            qas = [{"id": question, "question": question, "answers": [gold]}]
            article["paragraphs"].append({"context": context, "qas": qas})
        data["data"].append(article)
    path = tmp_path / "near.json"
    path.write_text(json.dumps(data))
    return path


def test_near_split_leaves_every_4th_paragraph_out(near_squad: Path) -> None:
    parts = split(near_squad, near=True)
    assert sorted(parts.contexts) == ["a000-p000.txt", "a000-p001.txt", "a000-p002.txt"]
    assert [q.answers[0] for q in parts.inside] == [a for _, _, a in NEAR[0][1][:3]]
    assert [q.answers[0] for q in parts.near] == ["1669"]
    assert [q.answers[0] for q in parts.far] == ["a starter of wild yeast"]
    assert split(near_squad, near=True, half="odd").contexts == {"a001-p000.txt": NEAR[1][1][0][0]}


def test_eval_abstain_near_reports_both_kinds(near_squad: Path, seed_engine) -> None:
    result = evaluate(near_squad, engine_settings(), engine=seed_engine, abstain="near")
    assert result["paragraphs"] == 3 and result["questions"] == 5
    assert result["near_questions"] == 1 and result["far_questions"] == 1
    for key in ("answered_in_corpus", "abstained_near", "abstained_far", "abstain_auroc_near",
                "abstain_auroc_far", "highlight_accuracy", "phrase_coverage",
                "phrase_exact_match", "phrase_f1"):  # fmt: skip
        assert key in result
    assert result["abstain_auroc_far"] == 1.0


def test_phrase_scores_are_squads() -> None:
    assert phrase_scores("the 1669", ("1669",)) == (1.0, 1.0)
    em, f1 = phrase_scores("east coast", ("east coast of Sicily",))
    assert em == 0.0 and f1 == pytest.approx(2 * 1 * 0.5 / (1 + 0.5))  # 2 of 4 gold words
