"""Evaluation on any SQuAD-format file: retrieval, highlight and abstention quality.

Protocol: every context of the file becomes one document of ONE pooled, temporary index; each
question is asked against the whole index and its gold paragraph is its own context.

Abstention (`abstain`): of the file's articles (or one half of them, `half`), every second one
is indexed, the others are off-topic ("far": their questions should get no answer). "near"
also leaves every 4th paragraph of each indexed article out of the index and asks the questions
of those paragraphs whose gold answers appear in no indexed paragraph of their article: the
topic is there, the answer is not. `articles` indexes only the first N of them (small corpora).
"""

from __future__ import annotations

import json
import random
import re
import string
import tempfile
import time
from collections import Counter
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
    paragraph: int = 0


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
                questions.append(Question(qa["question"], doc_id, answers, a, p))
    return contexts, questions


LEFT_OUT = 4  # near protocol: every 4th paragraph of an indexed article is left out


@dataclass(frozen=True)
class Split:
    """What an abstention run indexes and asks: contexts, and the questions of each kind."""

    contexts: dict[str, str]
    inside: list[Question]  # their gold paragraph is indexed: should be answered
    near: list[Question]  # on-topic, answer in no indexed paragraph: should abstain
    far: list[Question]  # another, unindexed article's: should abstain


def split(
    path: Path,
    near: bool,
    half: str | None = None,
    articles: int | None = None,
) -> Split:
    """The abstention protocol's index and questions for a SQuAD-format file (see the top)."""
    all_contexts, questions = load_squad(path)
    numbers = sorted({q.article for q in questions} | {_article(d) for d in all_contexts})
    if half is not None:
        numbers = [a for a in numbers if a % 2 == (half == "odd")]
    indexed, unindexed = numbers[0::2], set(numbers[1::2])
    if articles is not None:
        indexed = indexed[:articles]
    indexed_set = set(indexed)
    left_out = {
        d for d in all_contexts if near and int(d.split("-p")[1][:3]) % LEFT_OUT == LEFT_OUT - 1
    }
    contexts = {
        d: c for d, c in all_contexts.items() if _article(d) in indexed_set and d not in left_out
    }
    by_article: dict[int, list[str]] = {}
    for d, c in contexts.items():
        by_article.setdefault(_article(d), []).append(_norm(c))
    inside, near_qs, far = [], [], []
    for q in questions:
        if q.article in unindexed:
            far.append(q)
        elif q.gold in contexts:
            inside.append(q)
        elif q.gold in left_out and q.article in indexed_set:
            texts = by_article.get(q.article, [])
            if not any(_norm(a) in t for a in q.answers for t in texts):
                near_qs.append(q)
    return Split(contexts, inside, near_qs, far)


def _article(doc_id: str) -> int:
    return int(doc_id[1:4])


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def squad_normalize(text: str) -> str:
    """SQuAD's answer normalization: lower case, no punctuation, articles or extra spaces."""
    text = "".join(c for c in text.lower() if c not in set(string.punctuation))
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def phrase_scores(phrase: str, answers: tuple[str, ...]) -> tuple[float, float]:
    """(exact match, F1) of a marked phrase against the gold answers, as SQuAD scores them."""
    guess = squad_normalize(phrase).split()
    em = f1 = 0.0
    for gold in answers:
        truth = squad_normalize(gold).split()
        em = max(em, float(guess == truth))
        common = sum((Counter(guess) & Counter(truth)).values())
        if common:
            precision, recall = common / len(guess), common / len(truth)
            f1 = max(f1, 2 * precision * recall / (precision + recall))
    return em, f1


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
    abstain: str | None = None,
    progress: bool = False,
    half: str | None = None,
    articles: int | None = None,
) -> dict:
    """Build a temporary pooled index of the file's contexts, ask its questions, measure.

    `abstain`: None (every context indexed), "far" or "near" (see the module docstring)."""
    if abstain not in (None, "far", "near"):
        raise QAError(f"abstain must be far or near, got {abstain!r}")
    if half not in (None, "even", "odd"):
        raise QAError(f"half must be even or odd, got {half!r}")
    if abstain is None:
        contexts, questions = load_squad(path)
        if half is not None:
            questions = [q for q in questions if q.article % 2 == (half == "odd")]
            contexts = {d: c for d, c in contexts.items() if _article(d) % 2 == (half == "odd")}
    else:
        parts = split(path, abstain == "near", half, articles)
        contexts, questions = parts.contexts, parts.inside + parts.near + parts.far
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
    near = set(map(id, parts.near)) if abstain == "near" else set()
    return _metrics(questions, contexts, answers, abstain, near) | {
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
    abstain: str | None,
    near: set[int],
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
    answered = [i for i in inside if answers[i].answered]
    marked = [(i, answers[i].passages[0]) for i in answered if answers[i].passages[0].answer]
    scores = [phrase_scores(p.text[slice(*p.answer)], questions[i].answers) for i, p in marked]
    result["phrase_coverage"] = len(marked) / max(len(answered), 1)
    result["phrase_exact_match"] = float(np.mean([em for em, _ in scores])) if scores else 0.0
    result["phrase_f1"] = float(np.mean([f1 for _, f1 in scores])) if scores else 0.0
    if abstain:
        outside = [i for i in range(len(questions)) if questions[i].gold not in contexts]
        near_ids = [i for i in outside if id(questions[i]) in near]
        far_ids = [i for i in outside if id(questions[i]) not in near]
        pos = [answers[i].confidence for i in inside]
        result["answered_in_corpus"] = float(np.mean([answers[i].answered for i in inside]))
        if abstain == "far":  # the names this protocol always had
            result["abstain_auroc"] = auroc(pos, [answers[i].confidence for i in far_ids])
            result["abstained_out_of_corpus"] = _abstained(answers, far_ids)
        else:
            for name, ids in (("near", near_ids), ("far", far_ids)):
                result[f"abstain_auroc_{name}"] = auroc(pos, [answers[i].confidence for i in ids])
                result[f"abstained_{name}"] = _abstained(answers, ids)
            result["near_questions"] = len(near_ids)
            result["far_questions"] = len(far_ids)
    return {k: round(v, 4) for k, v in result.items()}


def _abstained(answers: list[Answer], ids: list[int]) -> float:
    return float(np.mean([not answers[i].answered for i in ids])) if ids else float("nan")
