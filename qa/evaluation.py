"""Evaluation on any SQuAD-format file: retrieval, highlight and abstention quality.

Protocol: every context of the file becomes one document of ONE pooled, temporary index; each
question is asked against the whole index and its gold paragraph is its own context.
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from qa.answer import Answer
from qa.engine import Engine
from qa.errors import QAError
from qa.settings import Settings


@dataclass(frozen=True)
class Question:
    text: str
    gold: str  # document id of its context
    answers: tuple[str, ...]
    article: int


def load_squad(
    path: Path, articles: set[int] | None = None
) -> tuple[dict[str, str], list[Question]]:
    """(document id -> context, questions) of a SQuAD-format file."""
    try:
        data = json.loads(Path(path).read_text("utf-8"))["data"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise QAError(f"{path} is not a readable SQuAD-format file ({e})") from e
    contexts: dict[str, str] = {}
    questions: list[Question] = []
    for a, article in enumerate(data):
        for p, para in enumerate(article["paragraphs"]):
            doc_id = f"a{a:03d}-p{p:03d}.txt"
            if articles is None or a in articles:
                contexts[doc_id] = para["context"]
            for qa in para["qas"]:
                answers = tuple(x["text"] for x in qa["answers"])
                questions.append(Question(qa["question"], doc_id, answers, a))
    return contexts, questions


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def auroc(positive: list[float], negative: list[float]) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    if not positive or not negative:
        return float("nan")
    scores = np.concatenate([positive, negative])
    order = scores.argsort(kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    # Average ranks for ties.
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    n_pos, n_neg = len(positive), len(negative)
    return float((ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def evaluate(
    path: Path,
    settings: Settings,
    engine: Engine | None = None,
    limit: int | None = None,
    abstain: bool = False,
    progress: bool = False,
) -> dict:
    """Build a temporary pooled index of the file's contexts, ask its questions, measure."""
    articles = None
    if abstain:
        n_articles = len(json.loads(Path(path).read_text("utf-8"))["data"])
        articles = set(range(0, n_articles, 2))
    contexts, questions = load_squad(path, articles)
    if limit is not None and limit < len(questions):
        questions = random.Random(0).sample(questions, limit)
    with tempfile.TemporaryDirectory(prefix="qa-eval-") as tmp:
        docs = Path(tmp) / "docs"
        docs.mkdir()
        for doc_id, context in contexts.items():
            (docs / doc_id).write_text(context, "utf-8")
        # The user's settings (model, backend, threshold...), on a temporary corpus and index.
        run_settings = replace(settings, docs=docs, index=Path(tmp) / "index", passages=5)
        embedder = engine.embedder if engine else None
        eval_engine = Engine(run_settings, embedder)
        started = time.perf_counter()
        plan = eval_engine.build(progress=progress)
        index_seconds = time.perf_counter() - started
        started = time.perf_counter()
        # One ask per question: the answer path a user takes, ranked 20 deep for recall@20.
        answers = [eval_engine.ask(q.text, depth=20) for q in questions]
        ask_seconds = time.perf_counter() - started
    return _metrics(questions, contexts, answers, abstain) | {
        "index_seconds": round(index_seconds, 1),
        "questions_per_second": round(len(questions) / ask_seconds, 1),
        "paragraphs": plan.paragraphs,
        "questions": len(questions),
        "backend": eval_engine.embedder.backend,
    }


def _metrics(
    questions: list[Question],
    contexts: dict[str, str],
    answers: list[Answer],
    abstain: bool,
) -> dict:
    inside = [i for i, q in enumerate(questions) if q.gold in contexts]
    r1 = r5 = r20 = mrr = ans5 = hl_hits = hl_total = 0.0
    for i in inside:
        q, docs = questions[i], [key.rsplit("#", 1)[0] for key in answers[i].ranked]
        rank = docs.index(q.gold) + 1 if q.gold in docs else None
        r1 += rank == 1
        r5 += rank is not None and rank <= 5
        r20 += rank is not None
        mrr += 1 / rank if rank is not None and rank <= 10 else 0
        golds = [_norm(a) for a in q.answers]
        top5 = [_norm(p.text) for p in answers[i].passages[:5]]
        ans5 += any(g in t for g in golds for t in top5)
        top = answers[i].passages[0] if answers[i].passages else None
        if top is not None and top.document == q.gold:
            hl_total += 1
            marked = _norm(top.text[top.highlight[0] : top.highlight[1]])
            hl_hits += any(g in marked for g in golds)
    n = max(len(inside), 1)
    result = {
        "recall@1": r1 / n,
        "recall@5": r5 / n,
        "recall@20": r20 / n,
        "mrr@10": mrr / n,
        "answer_recall@5": ans5 / n,
        "highlight_accuracy": hl_hits / max(hl_total, 1),
    }
    if abstain:
        outside = [i for i in range(len(questions)) if questions[i].gold not in contexts]
        pos = [answers[i].confidence for i in inside]
        neg = [answers[i].confidence for i in outside]
        result["abstain_auroc"] = auroc(pos, neg)
        result["answered_in_corpus"] = float(np.mean([answers[i].answered for i in inside]))
        result["abstained_out_of_corpus"] = float(
            np.mean([not answers[i].answered for i in outside])
        )
    return {k: round(v, 4) for k, v in result.items()}
