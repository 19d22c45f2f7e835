"""What verifying the checksums of every index file costs at load, at 100k paragraphs.

    .venv/bin/python bench/checksums.py [--paragraphs 100000] [--rounds 5] [--squad FILE]

The index: SYNTHETIC, written once to bench/out/checksum100k with qa.store (nothing is embedded):
the SQuAD dev paragraphs repeated to --paragraphs, one passage vector per paragraph and one per
sentence (random unit vectors, ~590k at 100k paragraphs, as the real 100k index has), HNSW
float16 graphs as the store makes them past ANN_THRESHOLD (built with efConstruction 16 to save
minutes: the file sizes and the load work are the same), the real BM25 indexes. Then, alternating
in one process, `Index.load` with verification (what ships) and with it switched off (what
start-up cost before), median of --rounds each; the files are in the page cache for both, as on
a server restart. Also the throughput of candidate hashes over the same files.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.evaluation import load_squad  # noqa: E402
from qa.lexical import Lexical, terms  # noqa: E402
from qa.paragraphs import Paragraph  # noqa: E402
from qa.sentences import sentence_spans  # noqa: E402
from qa.store import FORMAT_VERSION, Index, Store, vector_index  # noqa: E402
from qa.store import index as store_module  # noqa: E402
from qa.store import vectors as store_vectors  # noqa: E402
from qa.units import text_hash  # noqa: E402

OUT = ROOT / "bench" / "out" / "checksum100k"
SQUAD = ROOT.parent / "shared" / "eval" / "squad-dev-v1.1.json"
MODEL, D = "all-MiniLM-L6-v2", 384


def build(target: int, squad: Path) -> Store:
    store = Store(OUT / "index")
    if store.current() is not None:
        try:
            index = store.load(MODEL)
            if len(index.paragraphs) == target:
                return store
        except Exception as e:  # another format or size: build it again
            print(f"building again: {e}", flush=True)
    started = time.perf_counter()
    contexts, _ = load_squad(squad)
    base = list(contexts.items())
    paragraphs: list[Paragraph] = []
    documents = []
    i = 0
    while len(paragraphs) < target:
        doc_id, text = base[i % len(base)]
        doc_id = f"c{i // len(base):02d}/{doc_id}"
        spans = tuple(sentence_spans(text))
        paragraphs.append(Paragraph(doc_id, 1, 0, len(text), text, spans))
        documents.append({"id": doc_id, "sha256": text_hash(text), "paragraphs": 1, "note": ""})
        i += 1
    passage_rows = [(r, (0, len(p.text))) for r, p in enumerate(paragraphs)]
    sentence_rows = [(r, span) for r, p in enumerate(paragraphs) for span in p.sentences]
    rng = np.random.default_rng(0)

    def unit(n: int) -> np.ndarray:
        v = rng.standard_normal((n, D), dtype=np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    store_vectors.HNSW_EF_CONSTRUCTION = 16  # only to build faster; same sizes, same load
    passages = vector_index(unit(len(passage_rows)), D)
    sentences = vector_index(unit(len(sentence_rows)), D)
    print(f"  vectors: {time.perf_counter() - started:.0f} s", flush=True)
    lexical = Lexical.build(
        [terms(p.text) for p in paragraphs],
        [terms(paragraphs[r].text[s:e]) for r, (s, e) in sentence_rows],
    )
    created = datetime.now(UTC)
    index = Index(
        manifest={
            "format": FORMAT_VERSION,
            "version": created.strftime("%Y%m%dT%H%M%S") + "-synth",
            "created": created.isoformat(timespec="seconds"),
            "model": MODEL,
            "dimension": D,
            "documents": documents,
            "paragraphs": len(paragraphs),
            "passages": len(passage_rows),
            "sentences": len(sentence_rows),
            "skipped": [],
        },
        paragraphs=paragraphs,
        passages=passages,
        passage_paragraph=np.array([r for r, _ in passage_rows], dtype=np.int32),
        passage_span=np.array([s for _, s in passage_rows], dtype=np.int32).reshape(-1, 2),
        passage_hash=[f"{r:032x}" for r in range(len(passage_rows))],
        sentences=sentences,
        sentence_paragraph=np.array([r for r, _ in sentence_rows], dtype=np.int32),
        sentence_span=np.array([s for _, s in sentence_rows], dtype=np.int32).reshape(-1, 2),
        sentence_hash=[f"{r:032x}" for r in range(len(sentence_rows))],
        lexical=lexical,
    )
    store.publish(index)
    print(f"built the synthetic index in {time.perf_counter() - started:.0f} s", flush=True)
    return store


def throughput(folder: Path) -> None:
    """MB/s of each candidate hash over the version's files (read once into memory first)."""
    blobs = [p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()]
    size = sum(map(len, blobs)) / 2**20
    import xxhash

    candidates = {
        "xxh3_128 (shipped)": lambda b: xxhash.xxh3_128(b).digest(),
        "crc32 (zlib)": zlib.crc32,
        "sha256": lambda b: hashlib.sha256(b).digest(),
        "blake2b": lambda b: hashlib.blake2b(b).digest(),
    }
    print(f"hash throughput over the {size:,.0f} MB of index files:")
    for name, digest in candidates.items():
        started = time.perf_counter()
        for blob in blobs:
            digest(blob)
        seconds = time.perf_counter() - started
        print(f"  {name:<20} {size / seconds:8,.0f} MB/s  ({seconds:.2f} s)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--paragraphs", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--squad", type=Path, default=SQUAD)
    args = parser.parse_args()
    store = build(args.paragraphs, args.squad)
    folder = store.current_folder()
    files = [p for p in folder.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files) / 2**20
    index = store.load(MODEL)
    print(
        f"index: {len(index.paragraphs):,} paragraphs, {index.passages.ntotal:,} + "
        f"{index.sentences.ntotal:,} vectors, {len(files)} files, {size:,.0f} MB",
        flush=True,
    )
    del index
    verify = store_module.verify
    times: dict[str, list[float]] = {"with checksums": [], "without": [], "verify alone": []}
    for _ in range(args.rounds):
        for label in ("with checksums", "without"):
            store_module.verify = verify if label == "with checksums" else lambda *a: None
            started = time.perf_counter()
            store.load(MODEL)
            times[label].append(time.perf_counter() - started)
        store_module.verify = verify
        manifest = store_module.read_manifest(folder)
        started = time.perf_counter()
        verify(folder, manifest)
        times["verify alone"].append(time.perf_counter() - started)
    medians = {label: statistics.median(t) for label, t in times.items()}
    for label, seconds in medians.items():
        print(
            f"{label:<16} median {seconds:.3f} s  ({', '.join(f'{t:.2f}' for t in times[label])})"
        )
    print(f"ratio with / without checksums: {medians['with checksums'] / medians['without']:.3f}")
    throughput(folder)


if __name__ == "__main__":
    main()
