"""Fit the answer verifier (qa/verifier.py) and the answer confidence on even SQuAD articles.

    .venv/bin/python bench/verifier.py      (caches bench/out/verifier.npz; --fresh redoes it)
    .venv/bin/python bench/verifier.py --check   (and what bench/crossencoder.py's model adds)

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

from bench.crossencoder import CrossEncoder, fold_articles, norm, unseen_model  # noqa: E402
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
PAIR = 0.5  # qa.answer.HIGHLIGHT_PAIR_RATIO (measured: .5 beat .7, .85 and 1 for every set)


def collect(check: bool) -> dict[str, np.ndarray]:
    parts = split(SQUAD, near=True, half="even")
    engine = pooled_engine(parts.contexts, "near-even")
    index = engine.index
    asked = [(q, 0) for q in parts.inside] + [(q, 1) for q in parts.near]
    asked += [(q, 2) for q in parts.far]
    rows: dict[str, list] = {k: [] for k in ("x", "label", "question", "hit", "sentence", "cross")}
    # The cross-encoder trained on fold a's articles (bench/crossencoder.py): its scores of
    # fold b's questions are what the check is fitted on (it never saw them).
    model = CrossEncoder(unseen_model("a")) if check else None
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
            if model and (h == 0 or p.document == q.gold):  # it reads the first passage only
                rows["cross"] += model.scores(q.text, [p.text[a:b] for a, b in spans]).tolist()
            else:
                rows["cross"] += [np.nan] * len(spans)
            for s, (a, b) in enumerate(spans):
                rows["x"].append(x[s])
                rows["label"].append(kind == 0 and any(g in norm(p.text[a:b]) for g in golds))
                rows["question"].append(qi)
                rows["hit"].append(h)
                rows["sentence"].append(s)
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
    """(features, labels, cross-encoder scores) of the sentences of the gold paragraph of each
    answerable question whose gold paragraph is in its top 3 and has a sentence with the
    answer; their articles."""
    q, hit = d["question"], d["hit"]
    rows = np.flatnonzero((d["kind"][q] == 0) & (hit == d["gold_rank"][q]))
    groups: dict[int, list[int]] = {}
    for i in rows:
        groups.setdefault(int(q[i]), []).append(int(i))
    out = [
        (d["x"][r], d["label"][r].astype(float), d["cross"][r], q[r[0]]) for r in groups.values()
    ]
    out = [g for g in out if g[1].any()]
    return [g[:3] for g in out], d["article"][[g[3] for g in out]]


def combined(lexical: np.ndarray, cross: np.ndarray, k: int, w: float) -> np.ndarray:
    """Sentence scores as qa.answer.check makes them: the `k` best by the word features are
    re-read by the cross-encoder (+ w x its logit); the rest count as no better than the
    weakest of those."""
    if w == 0:  # (without --check the cross-encoder's scores are NaN)
        return lexical
    top = np.argsort(-lexical, kind="stable")[:k]
    out = lexical + w * cross[top].min()
    out[top] = lexical[top] + w * cross[top]
    return out


def highlight_accuracy(groups: list, weights: np.ndarray, pair: float, k: int, w: float) -> float:
    right = []
    for x, y, c in groups:
        a, b = pick(combined(x @ weights, c, k, w), pair)
        right.append(y[a : b + 1].any())
    return float(np.mean(right))


def question_rows(d: dict, weights: np.ndarray, k: int = 1, w: float = 0.0) -> np.ndarray:
    """answer_features() of every question's first passage, from the cached sentence rows, and
    the cross-encoder's logit for its best sentence once `k` are re-read with weight `w`."""
    q, hit, x = d["question"], d["hit"], d["x"]
    n = len(d["kind"])
    out = np.zeros((n, len(ANSWER_FEATURES) + 1))  # the last: the cross-encoder's logit
    col = [FEATURES.index(c) for c in ("context", "missing", "match", "novel", "cosine", "overlap")]
    by_q: dict[int, list[int]] = {}
    for i in np.flatnonzero(hit == 0):
        by_q.setdefault(int(q[i]), []).append(int(i))
    for qi, rows in by_q.items():
        lexical = x[rows] @ weights
        best = rows[int(np.argmax(lexical))]
        out[qi, 3] = float(x[best] @ weights)
        out[qi, 4:10] = x[best, col]
        cross = d["cross"][rows]
        if not np.isnan(cross).any():
            out[qi, -1] = cross[int(np.argmax(combined(lexical, cross, k, w)))]
    out[:, :3] = d["conf"]
    out[:, 10] = d["unknown"]
    return out


def cv_confidence(d: dict, xq: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Out-of-fold confidence logits (4 folds grouped by article)."""
    score = np.zeros(len(y))
    q_folds = np.unique(d["article"])
    for f in range(4):
        test = np.isin(d["article"], q_folds[f::4])
        bias, coef = logistic_fit(xq[~test], y[~test])
        score[test] = bias + xq[test] @ coef
    return score


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def measure(name: str, score: np.ndarray, kind: np.ndarray, threshold: float) -> None:
    near = auroc(score[kind == 0].tolist(), score[kind == 1].tolist())
    far = auroc(score[kind == 0].tolist(), score[kind == 2].tolist())
    print(f"{name}: auroc near {near:.4f} far {far:.4f}; at {threshold}: answered "
          f"{np.mean(score[kind == 0] >= threshold):.4f} abstained near "
          f"{np.mean(score[kind == 1] < threshold):.4f} far "
          f"{np.mean(score[kind == 2] < threshold):.4f}", flush=True)  # fmt: skip


def fit_check(d: dict, weights: np.ndarray, words: np.ndarray, threshold: float) -> None:
    """What the cross-encoder adds, on the even articles it never saw (fold b): the highlight
    when it re-reads the k best sentences (adding w x its logit), and the confidence as a
    logistic of the words' logit and its logit for the best sentence, for the questions whose
    words' confidence lies in a band (the others keep it), 4-fold cross-validated."""
    unseen = ~np.isin(d["article"], sorted(fold_articles("a")))
    groups, articles = gold_groups(d)
    keep = ~np.isin(articles, sorted(fold_articles("a")))
    groups = [g for g, k in zip(groups, keep, strict=True) if k]
    print(f"fold b: {unseen.sum()} questions, {len(groups)} gold paragraphs", flush=True)
    for k in (1, 2, 3):
        for w in (0.0, 0.5, 1.0, 2.0) if k > 1 else (0.0,):
            print(f"highlight, fold b, all re-read, {k} sentences, weight {w}: "
                  f"{highlight_accuracy(groups, weights, PAIR, k, w):.4f}")  # fmt: skip
    kind, y = d["kind"][unseen], (d["kind"][unseen] == 0).astype(float)
    measure("words only, fold b", words[unseen], kind, threshold)
    folds = np.unique(d["article"][unseen])
    for k, w in ((1, 0.0), (2, 0.5), (2, 1.0)):
        cross = question_rows(d, weights, k, w)[unseen, -1]
        for lo, hi in ((0.0, 1.0), (0.1, 0.98), (0.2, 0.95), (0.3, 0.9)):
            band = (words[unseen] >= lo) & (words[unseen] <= hi)
            x = np.column_stack([logit(words[unseen]), cross])
            score = words[unseen].copy()
            for f in range(4):
                test = np.isin(d["article"][unseen], folds[f::4])
                bias, coef = logistic_fit(x[~test & band], y[~test & band])
                fitted = 1 / (1 + np.exp(-(bias + x @ coef)))
                score[test & band] = fitted[test & band]
            measure(f"checked k={k} w={w} band {lo}-{hi} ({band.mean():.0%} read)", score, kind,
                    threshold)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fresh", action="store_true")
    parser.add_argument("--check", action="store_true", help="measure the cross-encoder too")
    args = parser.parse_args()
    fresh = args.fresh or args.check or not CACHE.exists()
    d = collect(args.check) if fresh else dict(np.load(CACHE))
    n = len(d["kind"])
    print(f"{n} questions (inside/near/far {np.bincount(d['kind']).tolist()}), "
          f"{len(d['label'])} sentences")  # fmt: skip
    groups, articles = gold_groups(d)
    # Grouped 4-fold cross-validation over the even articles (the words' weights).
    folds = np.unique(articles)
    right = []
    for f in range(4):
        test = np.isin(articles, folds[f::4])
        w = conditional_logit([(x, y) for (x, y, _), t in zip(groups, test, strict=True) if not t])
        right.append(highlight_accuracy([g for g, t in zip(groups, test) if t], w, PAIR, 1, 0.0))
    print(f"highlight cv, words: {np.mean(right):.4f}")
    weights = conditional_logit([(x, y) for x, y, _ in groups])
    print("SENTENCE_WEIGHTS =", np.round(weights, 4).tolist())
    xq, y = question_rows(d, weights)[:, :-1], (d["kind"] == 0).astype(float)
    s = cv_confidence(d, xq, y)
    near = auroc(s[d["kind"] == 0].tolist(), s[d["kind"] == 1].tolist())
    far = auroc(s[d["kind"] == 0].tolist(), s[d["kind"] == 2].tolist())
    print(f"confidence cv, words: auroc near {near:.4f} far {far:.4f}")
    bias, coef = logistic_fit(xq, y)
    print("ANSWER_BIAS =", round(bias, 4))
    print("ANSWER_WEIGHTS =", np.round(coef, 4).tolist())
    conf = 1 / (1 + np.exp(-(bias + xq @ coef)))
    for keep in (0.97, 0.95, 0.94, 0.93):
        t = float(np.quantile(conf[d["kind"] == 0], 1 - keep))
        print(f"threshold {t:.3f}: answered {np.mean(conf[d['kind'] == 0] >= t):.4f} "
              f"abstained near {np.mean(conf[d['kind'] == 1] < t):.4f} "
              f"far {np.mean(conf[d['kind'] == 2] < t):.4f}")  # fmt: skip
    if args.check:
        fit_check(d, weights, conf, 0.35)


if __name__ == "__main__":
    main()
