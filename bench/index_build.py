"""Index build from scratch: our full index against the naive peer's paragraph-only encode.

    .venv/bin/python bench/index_build.py [SQUAD.json] [--contexts N]

Ours: `qa index --full` of the 2,067 SQuAD dev contexts (one document each) into a scratch
index: paragraph split, passage windows, every sentence embedded too, three BM25 indexes, FAISS
indexes, written and fsynced. The peer (bench/naive_peer.py): sentence-transformers (torch)
encoding the same contexts, paragraphs only, batch 32, nothing written. Both with the model
already loaded; the two run one after the other in this process. Also leaves a persistent index
in bench/out/squad (used by search_load.py and ann_scale.py) if there is none yet.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.features import OUT, SQUAD, write_docs  # noqa: E402
from qa.embedder import Embedder, resolve_model  # noqa: E402
from qa.engine import Engine  # noqa: E402
from qa.evaluation import load_squad  # noqa: E402
from qa.settings import Settings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("squad", nargs="?", type=Path, default=SQUAD)
    parser.add_argument("--contexts", type=int, default=0, help="only the first N contexts")
    args = parser.parse_args()
    contexts, _ = load_squad(args.squad)
    if args.contexts:
        contexts = dict(list(contexts.items())[: args.contexts])
    scratch = OUT / "build-scratch"
    shutil.rmtree(scratch, ignore_errors=True)
    docs = write_docs(contexts, scratch / "docs")
    texts = list(contexts.values())

    embedder = Embedder()
    settings = Settings.load({"docs": docs, "index": scratch / "index"}, environ={})
    started = time.perf_counter()
    plan = Engine(settings, embedder).build(full=True)
    ours = time.perf_counter() - started
    print(f"ours ({embedder.backend}): {plan.summary()}")
    print(f"ours: full index build {ours:.1f}s ({plan.texts_to_embed:,} texts)", flush=True)

    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(resolve_model()[1]), device="cpu")
    model.encode(texts[:32], batch_size=32)  # warm-up, like ours' dimension probe
    started = time.perf_counter()
    model.encode(texts, batch_size=32, normalize_embeddings=True)
    peer = time.perf_counter() - started
    print(f"peer (torch): encode {len(texts):,} paragraphs {peer:.1f}s ({len(texts) / peer:.1f}/s)")
    print(f"ratio ours / peer: {ours / peer:.2f} (target <= 1.0)")
    if not args.contexts and not (OUT / "squad" / "index" / "current").exists():
        (OUT / "squad").mkdir(parents=True, exist_ok=True)
        shutil.move(docs, OUT / "squad" / "docs")
        shutil.move(scratch / "index", OUT / "squad" / "index")
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
