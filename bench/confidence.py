"""Fit the answer confidence (a logistic calibration) and its default threshold.

    .venv/bin/python bench/confidence.py    (reuses bench/out/questions.npy if present)

Uses even-numbered SQuAD articles only: articles 0, 4, 8, ... are indexed; their questions are
answerable, those of articles 2, 6, 10, ... are not. The odd-numbered articles stay unseen for
`qa eval --abstain`. Prints the fitted coefficients, AUROC, and the threshold that keeps 97.5%
of answerable questions answered.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.features import SQUAD, pooled_engine, question_vectors, squad_engine  # noqa: E402
from qa.answer import confidence_features  # noqa: E402
from qa.evaluation import auroc, load_squad  # noqa: E402
from qa.retriever import make_query, rank  # noqa: E402


def logistic(x: np.ndarray, y: np.ndarray, steps: int = 3000) -> np.ndarray:
    """Bias + coefficients maximizing the likelihood of y (standardized inside, returned raw)."""
    mean, std = x.mean(0), x.std(0) + 1e-9
    xs = np.hstack([np.ones((len(x), 1)), (x - mean) / std])
    w = np.zeros(xs.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-xs @ w))
        w -= 0.5 * (xs.T @ (p - y) / len(y) + 1e-4 * np.r_[0, w[1:]])
    coef = w[1:] / std
    return np.r_[w[0] - (coef * mean).sum(), coef]


def main() -> None:
    full_engine, questions = squad_engine(SQUAD)
    vectors = question_vectors(full_engine, questions)
    contexts, _ = load_squad(SQUAD, articles={a for a in range(0, 48, 4)})
    index = pooled_engine(contexts, "abstain").index
    x, y = [], []
    for q, vector in zip(questions, vectors, strict=True):
        if q.article % 4 not in (0, 2):
            continue
        hits = rank(index, make_query(q.text, vector), 2)
        x.append(confidence_features(hits))
        y.append(q.article % 4 == 0)
    x, y = np.array(x), np.array(y, dtype=float)
    w = logistic(x, y)
    conf = 1 / (1 + np.exp(-(w[0] + x @ w[1:])))
    print("coefficients (bias, then per feature):", np.round(w, 3).tolist())
    print(f"auroc {auroc(conf[y == 1].tolist(), conf[y == 0].tolist()):.4f}")
    for name, column in zip(("cosine only",), (x[:, 0],), strict=True):
        print(f"auroc {name}: {auroc(column[y == 1].tolist(), column[y == 0].tolist()):.4f}")
    threshold = float(np.quantile(conf[y == 1], 0.025))
    print(
        f"threshold {threshold:.3f}: answered_in_corpus {np.mean(conf[y == 1] >= threshold):.4f}"
        f" abstained_out_of_corpus {np.mean(conf[y == 0] < threshold):.4f}"
    )


if __name__ == "__main__":
    main()
