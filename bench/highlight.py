"""Fit the highlight mix (sentence cosine vs idf-weighted word overlap) on even articles.

    .venv/bin/python bench/highlight.py     (needs bench/out/squad and questions.npy)

For each question, the sentences of its gold paragraph are scored; the highlight is right when
the chosen sentence contains a gold answer (case- and space-insensitive).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.features import OUT, SQUAD  # noqa: E402
from qa.evaluation import load_squad  # noqa: E402
from qa.lexical import terms  # noqa: E402
from qa.settings import Settings  # noqa: E402
from qa.store import Store  # noqa: E402


def norm(text: str) -> str:
    return " ".join(text.lower().split())


def main() -> None:
    _, questions = load_squad(SQUAD)
    qvec = np.load(OUT / "questions.npy")
    settings = Settings.load({"index": OUT / "squad" / "index"}, environ={})
    index = Store(settings.index).load("all-MiniLM-L6-v2")
    first_row = {}
    for r, p in enumerate(index.paragraphs):
        first_row.setdefault(p.document, r)
    S = index.sentences.reconstruct_n(0, index.sentences.ntotal)
    rows = []
    for i, q in enumerate(questions):
        r = first_row[q.gold]
        a, b = int(index.sentence_first[r]), int(index.sentence_first[r + 1])
        text = index.paragraphs[r].text
        spans = index.sentence_span[a:b]
        qt = set(terms(q.text))
        idf = {t: index.lexical.idf(t) for t in qt}
        total = sum(idf.values()) or 1.0
        dense = S[a:b] @ qvec[i]
        overlap = np.array([sum(idf[t] for t in set(terms(text[s:e])) & qt) / total
                            for s, e in spans])  # fmt: skip
        golds = [norm(x) for x in q.answers]
        label = np.array([any(g in norm(text[s:e]) for g in golds) for s, e in spans])
        rows.append((q.article % 2, dense, overlap, label))
    for share in np.linspace(0, 1, 11):
        acc = {0: [], 1: []}
        for half, dense, overlap, label in rows:
            acc[half].append(label[np.argmax(share * dense + (1 - share) * overlap)])
        print(f"dense share {share:.1f}: even {np.mean(acc[0]):.4f} odd {np.mean(acc[1]):.4f}")
    first = {0: [], 1: []}
    for half, _, _, label in rows:
        first[half].append(label[0])
    print(f"first sentence: even {np.mean(first[0]):.4f} odd {np.mean(first[1]):.4f}")


if __name__ == "__main__":
    main()
