"""Cache a pooled SQuAD index and every question's candidates with their raw signals.

    .venv/bin/python bench/features.py [SQUAD.json]      -> bench/out/features.npz

Builds (once) a persistent index of all contexts in bench/out/squad/ with the real pipeline,
encodes every question once, and stores, per question, the candidate rows and raw signals that
qa.retriever computes. bench/tune.py then fits the fusion weights in numpy in seconds.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qa.engine import Engine  # noqa: E402
from qa.evaluation import load_squad  # noqa: E402
from qa.retriever import SIGNALS, candidates, evidence, make_query  # noqa: E402
from qa.settings import Settings  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
# shared/ sits beside the repository (or beside the folder of its worktrees).
SQUAD = next(
    (
        found
        for parent in Path(__file__).resolve().parents[1:4]
        if (found := parent / "shared" / "eval" / "squad-dev-v1.1.json").is_file()
    ),
    Path(__file__).resolve().parents[2] / "shared" / "eval" / "squad-dev-v1.1.json",
)


def write_docs(contexts: dict[str, str], docs: Path) -> Path:
    """`docs`, a new folder holding each context as one document named by its id."""
    docs.mkdir(parents=True)
    for doc_id, context in contexts.items():
        (docs / doc_id).write_text(context, "utf-8")
    return docs


def pooled_engine(contexts: dict[str, str], name: str) -> Engine:
    """An engine over a persistent index (bench/out/NAME) of `contexts`, one document each."""
    root = OUT / name
    docs = root / "docs"
    if not docs.is_dir():
        write_docs(contexts, docs)
    engine = Engine(Settings.load({"docs": docs, "index": root / "index"}, environ={}))
    print(engine.build(progress=True).summary())
    return engine


def squad_engine(path: Path = SQUAD) -> tuple[Engine, list]:
    """An engine over a persistent index of all contexts of `path`, and its questions."""
    contexts, questions = load_squad(path)
    return pooled_engine(contexts, "squad"), questions


def question_vectors(engine: Engine, questions: list) -> np.ndarray:
    path = OUT / "questions.npy"
    if path.exists():
        return np.load(path)
    started = time.perf_counter()
    # One at a time, as questions are asked: with dynamic int8 quantization a vector depends on
    # the batch it is encoded in.
    vectors = np.array([engine.embedder.encode_query(q.text) for q in questions])
    print(f"encoded {len(questions)} questions in {time.perf_counter() - started:.1f}s")
    np.save(path, vectors)
    return vectors


def main() -> None:
    engine, questions = squad_engine(Path(sys.argv[1]) if len(sys.argv) > 1 else SQUAD)
    index = engine.index
    vectors = question_vectors(engine, questions)
    first_row: dict[str, int] = {}
    for row, p in enumerate(index.paragraphs):
        first_row.setdefault(p.document, row)
    rows, raw, offsets = [], {name: [] for name in SIGNALS}, [0]
    for q, vector in zip(questions, vectors, strict=True):
        query = make_query(q.text, vector)
        found = candidates(index, query, index.lexical.scores(query.terms), None)
        values = evidence(index, query, found).signals
        rows.append(found)
        for name in SIGNALS:
            raw[name].append(values[name])
        offsets.append(offsets[-1] + len(found))
    np.savez_compressed(
        OUT / "features.npz",
        rows=np.concatenate(rows),
        offsets=np.array(offsets),
        gold=np.array([first_row[q.gold] for q in questions]),
        article=np.array([q.article for q in questions]),
        **{name: np.concatenate(raw[name]) for name in SIGNALS},
    )
    print("saved", OUT / "features.npz", f"{offsets[-1]:,} candidate rows")


if __name__ == "__main__":
    main()
