"""Does embedding a paragraph's section with it rank better? Measured on SQuAD, titles as sections.

    PYTHONPATH=. .venv/bin/python bench/sections.py [--questions 800]

Every SQuAD dev context is one paragraph of one pooled index (the `qa eval` protocol); its
section is its article's title (the heading a real document would have over it). The index is
built once as shipped (passage vectors of the paragraph text); then its passage vectors are
replaced by vectors of "section\\ntext" and the same questions asked again. The decision is taken
on EVEN articles' questions; ODD articles' are reported (a fixed-seed sample of each).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qa.engine import Engine  # noqa: E402
from qa.evaluation import _metrics, load_squad  # noqa: E402
from qa.settings import Settings  # noqa: E402
from qa.store import StoredVectors, flat_index  # noqa: E402

SQUAD = Path("/work/shared/eval/squad-dev-v1.1.json")


def ask_all(engine: Engine, questions: list) -> list:
    return [engine.ask(q.text, depth=20) for q in questions]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--squad", type=Path, default=SQUAD)
    parser.add_argument("--questions", type=int, default=800, help="per half (even, odd)")
    args = parser.parse_args()
    data = json.loads(args.squad.read_text("utf-8"))["data"]
    titles = {a: article["title"].replace("_", " ") for a, article in enumerate(data)}
    contexts, questions = load_squad(args.squad)
    rng = random.Random(0)
    halves = {
        name: rng.sample([q for q in questions if q.article % 2 == parity], args.questions)
        for name, parity in (("even", 0), ("odd", 1))
    }
    with tempfile.TemporaryDirectory(prefix="qa-sections-") as tmp:
        docs = Path(tmp) / "docs"
        docs.mkdir()
        for doc_id, context in contexts.items():
            (docs / doc_id).write_text(context, "utf-8")
        settings = replace(Settings.load(environ={}), docs=docs, index=Path(tmp) / "index")
        engine = Engine(replace(settings, passages=5))
        started = time.perf_counter()
        engine.build()
        print(f"built {len(contexts):,} paragraphs in {time.perf_counter() - started:.0f} s")
        index = engine.index
        results = {}
        for name, qs in halves.items():
            results[("text", name)] = _metrics(qs, contexts, ask_all(engine, qs), False)
        # The same index, its passage vectors now of "section\ntext".
        texts = []
        for row, (s, e) in zip(index.passage_paragraph.tolist(), index.passage_span.tolist()):
            p = index.paragraphs[row]
            article = int(p.document[1:4])
            texts.append(f"{titles[article]}\n{p.text[s:e]}")
        started = time.perf_counter()
        vectors = np.asarray(engine.embedder.encode(texts), dtype=np.float32)
        seconds = time.perf_counter() - started
        print(f"embedded {len(texts):,} section+text passages in {seconds:.0f} s")
        index.passages = flat_index(vectors, vectors.shape[1])
        index.passage_vectors = StoredVectors(index.passages)
        for name, qs in halves.items():
            results[("section+text", name)] = _metrics(qs, contexts, ask_all(engine, qs), False)
    keys = ["recall@1", "recall@5", "mrr@10", "answer_recall@5", "highlight_accuracy"]
    print("| passage vector | articles | " + " | ".join(keys) + " |")
    print("|---|---|" + "---|" * len(keys))
    for (variant, name), metrics in results.items():
        print(f"| {variant} | {name} | " + " | ".join(f"{metrics[k]:.3f}" for k in keys) + " |")


if __name__ == "__main__":
    main()
