"""Sharding by simulation: K indexes over disjoint documents, each giving its top candidates,
ranked centrally with corpus-wide statistics. Does the top-5 stay the single index's?

    .venv/bin/python bench/shards.py [--shards 2 4 8] [--per-shard 25 50 75 100 150] [--limit N]

Corpus: the 2,067 SQuAD dev contexts (bench/out/squad/index, the pooled evaluation index), and
all 10,570 dev questions (--limit: a fixed-seed sample). Documents go to shards two ways:
  hash     each document to shard hash(id) mod K (documents of one article spread over shards)
  article  whole articles to one shard (a partition key per document group: topics cluster, so
           each shard's own statistics are furthest from the corpus's)
What one shard of a candidate store (docs/scaling.md) returns for a question, with c per shard:
  - its top c paragraphs by BM25 scored with the SHARD'S OWN statistics (idf, average length:
    a shard knows no others), only paragraphs that match at all;
  - its top 2c passage vectors and top 2c sentence vectors (exact inner product).
The central ranker then picks, from what was gathered, the candidates a single index picks:
the top 100 by BM25 with CORPUS-WIDE statistics, the top 200 of each vector kind, and ranks
their union exactly as qa/retriever.py does (corpus-wide idf for coverage, bigram BM25, each
signal z-normalized over the gathered candidates, fused). Reported: the share of questions whose
top-5 paragraphs, in order, equal rank() on the single index; even and odd articles apart.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.embedder import Embedder  # noqa: E402
from qa.evaluation import load_squad  # noqa: E402
from qa.lexical import BM25  # noqa: E402
from qa.retriever import (  # noqa: E402
    CANDIDATES,
    SIGNALS,
    WEIGHTS,
    _top,
    candidates,
    evidence,
    make_query,
    rank,
    sharpen,
)
from qa.store import Index, Store  # noqa: E402

OUT = ROOT / "bench" / "out"
SQUAD = Path("/work/shared/eval/squad-dev-v1.1.json")
TOP = 5


class Shard:
    """The rows of one shard, its own BM25, and its passage and sentence vector ids."""

    def __init__(self, index: Index, rows: np.ndarray) -> None:
        self.rows = rows
        lists = index.lexical.paragraphs.lists()
        self.bm25 = BM25.build([lists[r] for r in rows.tolist()], len(index.lexical.vocabulary))
        mine = np.zeros(len(index.paragraphs), dtype=bool)
        mine[rows] = True
        self.passages = np.flatnonzero(mine[index.passage_paragraph])
        self.sentences = np.flatnonzero(mine[index.sentence_paragraph])


def shards_of(index: Index, k: int, split: str) -> list[Shard]:
    def key(document: str) -> int:
        if split == "article":
            return int(document[1:4])  # a012-p003.txt: article 12
        return zlib.crc32(document.encode())

    owner = np.array([key(p.document) % k for p in index.paragraphs])
    return [Shard(index, np.flatnonzero(owner == s)) for s in range(k)]


def best(scores: np.ndarray, ids: np.ndarray, k: int) -> np.ndarray:
    """The ids of the k highest of scores[ids], best first."""
    if len(ids) > k:
        ids = ids[np.argpartition(-scores[ids], k)[:k]]
    return ids[np.argsort(-scores[ids], kind="stable")]


def shard_answers(
    shards: list[Shard], query_ids: list[int], passage_cos: np.ndarray,
    sentence_cos: np.ndarray, most: int,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:  # fmt: skip
    """What each shard returns with c = `most`, best first (smaller c: a prefix of it)."""
    answers = []
    for shard in shards:
        local = shard.bm25.scores(query_ids)  # the shard's own statistics
        paragraphs = shard.rows[best(local, np.flatnonzero(local), most)]
        passages = best(passage_cos, shard.passages, 2 * most)
        answers.append((paragraphs, passages, best(sentence_cos, shard.sentences, 2 * most)))
    return answers


def gathered_candidates(
    index: Index, answers: list[tuple[np.ndarray, np.ndarray, np.ndarray]], c: int,
    bm25: np.ndarray, passage_cos: np.ndarray, sentence_cos: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """The candidate rows the central ranker picks from what the shards return (c each)."""
    merged = np.zeros_like(bm25)
    hits = np.concatenate([a[0][:c] for a in answers])
    merged[hits] = bm25[hits]  # rescored with the corpus-wide statistics
    found = [_top(merged, CANDIDATES)]
    for kind, cos, owner in (
        (1, passage_cos, index.passage_paragraph),
        (2, sentence_cos, index.sentence_paragraph),
    ):
        ids = np.concatenate([a[kind][: 2 * c] for a in answers])
        found.append(owner[best(cos, ids, CANDIDATES * 2)])
    return np.unique(np.concatenate(found)).astype(np.int64)


def fused_top(index: Index, query, rows: np.ndarray) -> list[int]:
    raw = evidence(index, query, rows).signals
    fused = sum(getattr(WEIGHTS, name) * sharpen(raw[name]) for name in SIGNALS)
    return rows[np.argsort(-fused, kind="stable")[:TOP]].tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shards", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--per-shard", type=int, nargs="+", default=[25, 50, 75, 100, 150])
    parser.add_argument("--limit", type=int, default=0, help="a fixed-seed sample of questions")
    parser.add_argument("--squad", type=Path, default=SQUAD)
    args = parser.parse_args()
    index = Store(OUT / "squad" / "index").load("all-MiniLM-L6-v2")
    _, questions = load_squad(args.squad)
    if args.limit:
        questions = random.Random(0).sample(questions, args.limit)
    started = time.perf_counter()
    vectors = Embedder().encode([q.text for q in questions])
    print(f"{len(questions):,} questions embedded in {time.perf_counter() - started:.0f} s")
    passage_matrix = index.passage_vectors.rows(np.arange(index.passages.ntotal))
    sentence_matrix = index.sentence_vectors.rows(np.arange(index.sentences.ntotal))
    splits = {
        (split, k): shards_of(index, k, split) for split in ("hash", "article") for k in args.shards
    }
    same = {key: {c: [0, 0] for c in args.per_shard} for key in splits}  # [even, odd] agreements
    parity = [0, 0]
    most = max(args.per_shard)
    started = time.perf_counter()
    for question, vector in zip(questions, vectors):
        query = make_query(question.text, vector)
        hits = rank(index, query, TOP)
        single = [h.row for h in hits]
        side = question.article % 2
        parity[side] += 1
        bm25 = index.lexical.scores(query.terms)
        alone = candidates(index, query, bm25, None)  # the single index's candidates
        query_ids = index.lexical.ids(query.terms)
        passage_cos, sentence_cos = passage_matrix @ vector, sentence_matrix @ vector
        for key, shards in splits.items():
            answers = shard_answers(shards, query_ids, passage_cos, sentence_cos, most)
            for c in args.per_shard:
                rows = gathered_candidates(index, answers, c, bm25, passage_cos, sentence_cos)
                # The same candidates rank the same: only a different set needs ranking.
                if len(rows) == len(alone) and (rows == alone).all():
                    same[key][c][side] += 1
                else:
                    same[key][c][side] += fused_top(index, query, rows) == single
    print(f"ranked in {time.perf_counter() - started:.0f} s; even / odd questions: {parity}")
    print("top-5 equal to the single index's (all questions; even | odd articles):")
    for (split, k), by_c in same.items():
        cells = []
        for c, (even, odd) in by_c.items():
            share = (even + odd) / sum(parity)
            cells.append(
                f"c={c}: {100 * share:.2f}% ({100 * even / parity[0]:.2f}|"
                f"{100 * odd / parity[1]:.2f})"
            )
        print(f"  {split:7} K={k}: " + "  ".join(cells), flush=True)


if __name__ == "__main__":
    main()
