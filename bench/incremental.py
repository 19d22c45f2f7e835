"""How much an incremental build costs next to embedding the new text alone, and a full build.

    .venv/bin/python bench/incremental.py [--squad FILE] [--articles N] [--article TITLE]

Writes the SQuAD dev contexts as one .txt document per article (contexts separated by blank
lines) into a temporary documents folder, holding one article back; builds the index with the
real Engine; then adds the held-back article and times
  - the incremental Engine.build() that indexes it,
  - embedding that article's texts alone (exactly the texts the build embeds: its passages and
    sentences, checked against the build's own dry-run count),
  - a full Engine.build(full=True) of the same corpus,
and prints the ratios incremental / embed-alone (target <= 1.3: the build adds little around the
model) and full / incremental (target >= 10: an added document does not cost a rebuild).
It takes several minutes (two full builds of ~2,000 paragraphs and ~10,000 sentences); run it
with nothing else heavy running.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qa.documents import read_document  # noqa: E402
from qa.engine import Engine  # noqa: E402
from qa.paragraphs import split_paragraphs  # noqa: E402
from qa.settings import Settings  # noqa: E402
from qa.units import split_units, text_hash  # noqa: E402

SQUAD = Path(__file__).resolve().parents[2] / "shared" / "eval" / "squad-dev-v1.1.json"
TARGET_OVERHEAD = 1.3  # incremental / embed-alone, at most
TARGET_SPEEDUP = 10.0  # full / incremental, at least


def file_name(number: int, title: str) -> str:
    return f"{number:02d}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', title)}.txt"


def held_back_index(articles: list[dict], title: str | None) -> int:
    """The article to add last: `title`, else the one closest to the median size."""
    if title is not None:
        titles = [a["title"] for a in articles]
        if title not in titles:
            raise SystemExit(f"no article {title!r}; some titles: {', '.join(titles[:5])}, …")
        return titles.index(title)
    sizes = [len(a["paragraphs"]) for a in articles]
    median = statistics.median(sizes)
    return min(range(len(articles)), key=lambda i: (abs(sizes[i] - median), i))


def texts_of(engine: Engine, path: Path, doc_id: str) -> list[str]:
    """The texts an index build embeds for this document and not already in the index."""
    embedder, index = engine.embedder, engine.index
    known = set(index.passage_hash) | set(index.sentence_hash)
    texts: dict[str, str] = {}
    for p in split_paragraphs(read_document(path, doc_id)):
        units = split_units(p, embedder.count_tokens, embedder.token_spans, embedder.max_tokens)
        for s, e in units.passages + units.sentences:
            h = text_hash(p.text[s:e])
            if h not in known:
                texts.setdefault(h, p.text[s:e])
    return list(texts.values())


def timed(action):
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--squad", type=Path, default=SQUAD, help="SQuAD v1.1 JSON file")
    parser.add_argument("--articles", type=int, help="use only the first N articles (a quick try)")
    parser.add_argument("--article", help="title of the article to hold back (default: median)")
    args = parser.parse_args()

    articles = json.loads(args.squad.read_text("utf-8"))["data"][: args.articles]
    late = held_back_index(articles, args.article)
    with tempfile.TemporaryDirectory(prefix="qa-bench-") as tmp:
        root = Path(tmp)
        docs = root / "docs"
        docs.mkdir()
        files = {}
        for n, article in enumerate(articles):
            text = "\n\n".join(p["context"].strip() for p in article["paragraphs"]) + "\n"
            files[n] = (file_name(n, article["title"]), text)
            if n != late:
                (docs / files[n][0]).write_text(text, "utf-8")
        settings = Settings.load({"docs": docs, "index": root / "index"})
        engine = Engine(settings)
        contexts = sum(len(a["paragraphs"]) for a in articles)
        title, count = articles[late]["title"], len(articles[late]["paragraphs"])
        print(f"corpus: {len(articles)} articles, {contexts:,} contexts; held back: {title} "
              f"({count} contexts); model {engine.model_name}", flush=True)  # fmt: skip

        seconds, plan = timed(engine.build)
        print(f"initial build:      {seconds:7.1f} s  ({plan.summary()})", flush=True)

        name, text = files[late]
        (docs / name).write_text(text, "utf-8")
        texts = texts_of(engine, docs / name, name)
        planned = engine.build(dry_run=True)
        assert planned.added == [name], planned.added
        assert len(texts) == planned.texts_to_embed, (len(texts), planned.texts_to_embed)

        incremental, plan = timed(engine.build)
        print(f"incremental build:  {incremental:7.1f} s  ({plan.summary()})", flush=True)
        alone, _ = timed(lambda: engine.embedder.encode(texts))
        print(f"embed alone:        {alone:7.1f} s  ({len(texts):,} texts of {title})", flush=True)
        full, plan = timed(lambda: engine.build(full=True))
        print(f"full build:         {full:7.1f} s  ({plan.summary()})", flush=True)

    overhead, speedup = incremental / alone, full / incremental
    ok = overhead <= TARGET_OVERHEAD and speedup >= TARGET_SPEEDUP
    print(f"incremental / embed-alone = {overhead:5.2f}  (target <= {TARGET_OVERHEAD}) "
          f"{'ok' if overhead <= TARGET_OVERHEAD else 'MISSED'}")  # fmt: skip
    print(f"full / incremental        = {speedup:5.1f}  (target >= {TARGET_SPEEDUP:g}) "
          f"{'ok' if speedup >= TARGET_SPEEDUP else 'MISSED'}")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
