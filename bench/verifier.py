"""Fit the answer verifier (qa/verifier.py) and the answer confidence on even SQuAD articles.

    .venv/bin/python bench/verifier.py      (caches bench/out/verifier.npz; --fresh redoes it)

Data: the `qa eval --abstain near` protocol on the even-numbered articles only (articles 0, 4,
8, ... indexed with every 4th paragraph left out; the questions of their indexed paragraphs,
of the left-out ones whose answer appears nowhere else in the article ("near"), and of articles
2, 6, 10, ... ("far")). For each question, every sentence of its top 3 passages is a row of the
verifier's features, labelled by whether it contains a gold answer. The odd half stays unseen:
`qa eval FILE --abstain near --half odd` reports it.

Prints grouped (by article) 4-fold cross-validated measures of the feature sets tried, then the
fitted weights to paste into qa/verifier.py and qa/answer.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.features import OUT, SQUAD, pooled_engine  # noqa: E402
from qa.evaluation import auroc, split  # noqa: E402
from qa.retriever import make_query, rank  # noqa: E402
from qa.verifier import (  # noqa: E402
    ANSWER_FEATURES,
    FEATURES,
    read_question,
    sentence_features,
)

CACHE = OUT / "verifier.npz"
TOP = 3


def norm(text: str) -> str:
    return " ".join(text.lower().split())


def collect() -> dict[str, np.ndarray]:
    parts = split(SQUAD, near=True, half="even")
    engine = pooled_engine(parts.contexts, "near-even")
    index = engine.index
    asked = [(q, 0) for q in parts.inside] + [(q, 1) for q in parts.near]
    asked += [(q, 2) for q in parts.far]
    rows: dict[str, list] = {k: [] for k in ("x", "label", "question", "hit", "sentence", "old")}
    per_q: dict[str, list] = {k: [] for k in ("kind", "article", "conf", "gold_rank", "unknown")}
    for qi, (q, kind) in enumerate(asked):
        query = make_query(q.text, engine.embedder.encode_query(q.text))
        hits = rank(index, query, TOP)
        question = read_question(index, q.text)
        golds = [norm(a) for a in q.answers]
        gold_rank = -1
        for h, hit in enumerate(hits):
            p = index.paragraphs[hit.row]
            if p.document == q.gold and gold_rank < 0:
                gold_rank = h
            x = sentence_features(index, question, hit)
            first, last = int(index.sentence_first[hit.row]), int(index.sentence_first[hit.row + 1])
            spans = [tuple(s) for s in index.sentence_span[first:last]] or [(0, len(p.text))]
            old = old_highlight(x)
            for s, (a, b) in enumerate(spans):
                rows["x"].append(x[s])
                rows["label"].append(kind == 0 and any(g in norm(p.text[a:b]) for g in golds))
                rows["question"].append(qi)
                rows["hit"].append(h)
                rows["sentence"].append(s)
                rows["old"].append(old[0] <= s <= old[1])
        per_q["kind"].append(kind)
        per_q["article"].append(q.article)
        top = hits[0].signals if hits else {"coverage": 0.0, "sentence_coverage": 0.0}
        cosine = hits[0].cosine if hits else 0.0
        per_q["conf"].append([cosine, top["coverage"], top["sentence_coverage"]])
        per_q["gold_rank"].append(gold_rank)
        per_q["unknown"].append(question.unknown)
    data = {k: np.array(v) for k, v in rows.items()} | {k: np.array(v) for k, v in per_q.items()}
    np.savez_compressed(CACHE, **data)
    return data


def old_highlight(x: np.ndarray) -> tuple[int, int]:
    """The sentences the highlight marked before the verifier: the best mix of 40% cosine and
    60% overlap, with the adjacent one when it scores within 85% of it."""
    mix = 0.4 * x[:, FEATURES.index("cosine")] + 0.6 * x[:, FEATURES.index("overlap")]
    best = int(np.argmax(mix))
    near = [i for i in (best - 1, best + 1) if 0 <= i < len(mix)]
    if near and mix[best] > 0:
        other = max(near, key=lambda i: mix[i])
        if mix[other] >= 0.85 * mix[best]:
            return min(best, other), max(best, other)
    return best, best


def logistic_fit(x: np.ndarray, y: np.ndarray, c: float = 1.0) -> tuple[float, np.ndarray]:
    """Bias and coefficients (on raw features) of an L2 logistic regression."""
    from sklearn.linear_model import LogisticRegression

    mean, std = x.mean(0), x.std(0) + 1e-9
    model = LogisticRegression(C=c, max_iter=3000).fit((x - mean) / std, y)
    coef = model.coef_[0] / std
    return float(model.intercept_[0] - (coef * mean).sum()), coef


def conditional_logit(groups: list[tuple[np.ndarray, np.ndarray]], steps: int = 300) -> np.ndarray:
    """Weights of a softmax over each group's rows (a paragraph's sentences) maximizing the
    likelihood of its labelled rows (Adam, light L2, features standardized inside)."""
    stacked = np.vstack([g for g, _ in groups])
    mean, std = stacked.mean(0), stacked.std(0) + 1e-9
    width = max(len(g) for g, _ in groups)
    x = np.zeros((len(groups), width, len(mean)))
    target = np.zeros((len(groups), width))
    mask = np.zeros((len(groups), width), dtype=bool)
    for i, (g, y) in enumerate(groups):
        x[i, : len(g)], target[i, : len(g)], mask[i, : len(g)] = (g - mean) / std, y / y.sum(), 1
    w = np.zeros(len(mean))
    m = v = np.zeros_like(w)
    for t in range(1, steps + 1):
        s = np.where(mask, x @ w, -np.inf)
        p = np.exp(s - s.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        grad = np.einsum("gn,gnk->k", p - target, x) / len(groups) + 1e-3 * w
        m, v = 0.9 * m + 0.1 * grad, 0.999 * v + 0.001 * grad**2
        w -= 0.05 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    return np.where(std > 1e-8, w / std, 0.0)


def pick(scores: np.ndarray, pair: float) -> tuple[int, int]:
    """First and last sentence marked: the best, and an adjacent one whose softmax weight is
    at least `pair` times the best's (as qa.answer marks them)."""
    best = int(np.argmax(scores))
    near = [i for i in (best - 1, best + 1) if 0 <= i < len(scores)]
    if near and pair < 1:
        other = max(near, key=lambda i: scores[i])
        if np.exp(scores[other] - scores[best]) >= pair:
            return min(best, other), max(best, other)
    return best, best


def gold_groups(d: dict) -> tuple[list, np.ndarray]:
    """(features, labels) of the sentences of the gold paragraph of each answerable question
    whose gold paragraph is in its top 3 and has a sentence with the answer; their articles."""
    q, hit = d["question"], d["hit"]
    rows = np.flatnonzero((d["kind"][q] == 0) & (hit == d["gold_rank"][q]))
    groups: dict[int, list[int]] = {}
    for i in rows:
        groups.setdefault(int(q[i]), []).append(int(i))
    out = [(d["x"][r], d["label"][r].astype(float), q[r[0]]) for r in groups.values()]
    out = [g for g in out if g[1].any()]
    return [(x, y) for x, y, _ in out], d["article"][[qi for _, _, qi in out]]


def highlight_accuracy(groups: list, weights: np.ndarray, pair: float) -> float:
    right = []
    for x, y in groups:
        a, b = pick(x @ weights, pair)
        right.append(y[a : b + 1].any())
    return float(np.mean(right))


def question_rows(d: dict, weights: np.ndarray) -> np.ndarray:
    """answer_features() of every question's first passage, from the cached sentence rows."""
    q, hit, x = d["question"], d["hit"], d["x"]
    n = len(d["kind"])
    out = np.zeros((n, len(ANSWER_FEATURES)))
    best = np.full(n, -np.inf)
    col = [FEATURES.index(c) for c in ("context", "missing", "match", "novel", "cosine", "overlap")]
    for i in np.flatnonzero(hit == 0):
        score = float(x[i] @ weights)
        if score > best[q[i]]:
            best[q[i]] = score
            out[q[i], 3] = score
            out[q[i], 4:10] = x[i, col]
    out[:, :3] = d["conf"]
    out[:, -1] = d["unknown"]
    return out


def phrases() -> None:
    """Exact match of the answer phrase (qa.verifier.answer_phrase, every kind it can read)
    where one is found in the best sentence of the gold paragraph, by the question's kind: the
    kinds at or above 0.8 are the ones PHRASE_KINDS may show."""
    import qa.verifier as verifier
    from qa.answer import read
    from qa.evaluation import phrase_scores

    parts = split(SQUAD, near=True, half="even")
    engine = pooled_engine(parts.contexts, "near-even")
    index, shown = engine.index, verifier.PHRASE_KINDS
    verifier.PHRASE_KINDS = ("number", "date")  # every kind answer_phrase can read
    scores: dict[str, list[float]] = {}
    for q in parts.inside:
        query = make_query(q.text, engine.embedder.encode_query(q.text))
        hits = rank(index, query, 1)
        if not hits or index.paragraphs[hits[0].row].document != q.gold:
            continue
        question = read_question(index, q.text)
        reading = read(index, question, hits[0])
        s, e = reading.spans[int(np.argmax(reading.scores))]
        text = index.paragraphs[hits[0].row].text[s:e]
        found = verifier.answer_phrase(text, question)
        scores.setdefault(question.kind, [])
        if found:
            scores[question.kind].append(phrase_scores(text[slice(*found)], q.answers)[0])
    verifier.PHRASE_KINDS = shown
    for kind, em in sorted(scores.items()):
        print(f"phrase {kind}: shown for {len(em)}, exact match {np.mean(em or [0]):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fresh", action="store_true")
    parser.add_argument("--phrases", action="store_true", help="only measure the answer phrase")
    args = parser.parse_args()
    if args.phrases:
        phrases()
        return
    d = dict(np.load(CACHE)) if CACHE.exists() and not args.fresh else collect()
    n = len(d["kind"])
    print(f"{n} questions (inside/near/far {np.bincount(d['kind']).tolist()}), "
          f"{len(d['label'])} sentences")  # fmt: skip
    groups, articles = gold_groups(d)
    old = []
    q, hit = d["question"], d["hit"]
    for i in np.unique(q[(d["kind"][q] == 0) & (hit == d["gold_rank"][q])]):
        rows = np.flatnonzero((q == i) & (hit == d["gold_rank"][i]))
        if d["label"][rows].any():
            old.append(d["label"][rows][d["old"][rows]].any())
    print(f"highlight, today's (mix and pairs): {np.mean(old):.4f} on {len(old)} questions")
    # Grouped 4-fold cross-validation over the even articles.
    names = ("cosine+overlap", "all features")
    columns = ([FEATURES.index("cosine"), FEATURES.index("overlap")], list(range(len(FEATURES))))
    folds = np.unique(articles)
    for name, cols in zip(names, columns, strict=True):
        for pair in (1.0, 0.85, 0.7, 0.5):
            right = []
            for f in range(4):
                test = np.isin(articles, folds[f::4])
                train = [g for g, t in zip(groups, test, strict=True) if not t]
                w = np.zeros(len(FEATURES))
                w[cols] = conditional_logit([(x[:, cols], y) for x, y in train])
                right.append(highlight_accuracy([g for g, t in zip(groups, test) if t], w, pair))
            print(f"highlight cv, {name}, pair {pair}: {np.mean(right):.4f}")
    weights = conditional_logit(groups)
    print("SENTENCE_WEIGHTS =", np.round(weights, 4).tolist())
    xq, y = question_rows(d, weights), (d["kind"] == 0).astype(float)
    score = np.zeros(n)
    q_folds = np.unique(d["article"])
    for f in range(4):
        test = np.isin(d["article"], q_folds[f::4])
        bias, coef = logistic_fit(xq[~test], y[~test])
        score[test] = bias + xq[test] @ coef
    old_score = -14.2 + d["conf"] @ np.array([22.3, 4.27, 3.25])
    for name, s in (("today", old_score), ("verifier cv", score)):
        near = auroc(s[d["kind"] == 0].tolist(), s[d["kind"] == 1].tolist())
        far = auroc(s[d["kind"] == 0].tolist(), s[d["kind"] == 2].tolist())
        print(f"confidence {name}: auroc near {near:.4f} far {far:.4f}")
    bias, coef = logistic_fit(xq, y)
    print("ANSWER_BIAS =", round(bias, 4))
    print("ANSWER_WEIGHTS =", np.round(coef, 4).tolist())
    conf = 1 / (1 + np.exp(-(bias + xq @ coef)))
    for keep in (0.97, 0.95, 0.94, 0.93):
        t = float(np.quantile(conf[d["kind"] == 0], 1 - keep))
        print(f"threshold {t:.3f}: answered {np.mean(conf[d['kind'] == 0] >= t):.4f} "
              f"abstained near {np.mean(conf[d['kind'] == 1] < t):.4f} "
              f"far {np.mean(conf[d['kind'] == 2] < t):.4f}")  # fmt: skip


if __name__ == "__main__":
    main()
