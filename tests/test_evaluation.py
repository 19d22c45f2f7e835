"""`qa eval` on a tiny SQuAD-format file written by the test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa.evaluation import auroc, evaluate
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
    result = evaluate(squad, engine_settings(), engine=seed_engine, abstain=True)
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
    result = evaluate(squad, strict, engine=seed_engine, abstain=True)
    assert result["answered_in_corpus"] == 0.0 and result["abstained_out_of_corpus"] == 1.0
    assert result["backend"] == seed_engine.embedder.backend
    # The backend too: `QA_BACKEND=torch qa eval` must measure torch (issue 6 compares the two).
    real, seen = qa.evaluation.Engine, []
    monkeypatch.setattr(qa.evaluation, "Engine", lambda s, e=None: seen.append(s) or real(s, e))
    evaluate(squad, replace(engine_settings(), backend="torch"), engine=seed_engine, limit=1)
    assert seen[0].backend == "torch" and seen[0].docs != engine_settings().docs
