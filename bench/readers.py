"""Reader fidelity: odd SQuAD dev articles rendered into .txt, .md, .html and .docx, read back.

    PYTHONPATH=. .venv/bin/python bench/readers.py      (no model: ~15 s)

Each article becomes one document with furniture of its format: Markdown front matter, a `#`
title, `##` headings every four paragraphs, a link and bold in every paragraph; a web page with
navigation, a cookie banner, a sidebar and a footer around the article; a Word file with a title,
headings and core properties. Printed per format: paragraphs found against the true count, how
many are exactly a context (whitespace aside), and how many hold a furniture string (a context
may hold one of the common words naturally: .txt, which has no furniture, shows that floor).
The retrieval benchmark over the same formats (and PDF) is bench/formats.py.
"""

from __future__ import annotations

import html
import io
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qa.documents import make_document  # noqa: E402
from qa.paragraphs import split_paragraphs  # noqa: E402
from qa.readers import READERS  # noqa: E402

SQUAD = Path("/work/shared/eval/squad-dev-v1.1.json")
FURNITURE = ("cookies", "Home |", "Copyright", "Related", "Bench", "example.org", "**", "](")


def squeeze(text: str) -> str:
    return " ".join(text.split())


def as_txt(title: str, contexts: list[str]) -> bytes:
    return (title + "\n\n" + "\n\n".join(contexts)).encode()


def as_md(title: str, contexts: list[str]) -> bytes:
    out = [f"---\ntitle: {json.dumps(title)}\nauthor: Bench\n---\n# {title}\n"]
    for i, context in enumerate(contexts):
        if i % 4 == 0:
            out.append(f"## Part {i // 4 + 1}\n")
        words = context.split(" ")
        if len(words) > 6:
            words[3] = f"[{words[3]}](https://example.org/x)"
            words[5] = f"**{words[5]}**"
        out.append(" ".join(words) + "\n")
    return "\n".join(out).encode()


def as_html(title: str, contexts: list[str]) -> bytes:
    body = []
    for i, context in enumerate(contexts):
        if i % 4 == 0:
            body.append(f"<h2>Part {i // 4 + 1}</h2>")
        body.append(f"<p>{html.escape(context)}</p>")
    t = html.escape(title)
    return f"""<html><head><title>{t} - Wiki Site</title></head><body>
<nav><a href=/>Home</a> | <a href=/about>About</a> | <a href=/random>Random article</a></nav>
<div class="cookie-banner">We use cookies to give you the best experience. Accept cookies?</div>
<aside class="sidebar"><h3>Related</h3><ul><li><a href=/a>Some other page</a></li>
<li><a href=/b>Another page</a></li></ul></aside>
<main><article><h1>{t}</h1>{"".join(body)}</article></main>
<footer>Copyright 2024 Wiki Site. <a href=/privacy>Privacy</a></footer></body></html>""".encode()


def as_docx(title: str, contexts: list[str]) -> bytes:
    import docx

    document = docx.Document()
    document.core_properties.title = title
    document.add_heading(title, 0)
    for i, context in enumerate(contexts):
        if i % 4 == 0:
            document.add_heading(f"Part {i // 4 + 1}", 1)
        document.add_paragraph(context)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def main() -> None:
    articles = json.loads(SQUAD.read_text("utf-8"))["data"][1::2]
    print("| format | paragraphs (true) | found | exactly a context | with furniture | seconds |")
    print("|---|---|---|---|---|---|")
    for suffix, render in ((".txt", as_txt), (".md", as_md), (".html", as_html),
                           (".docx", as_docx)):  # fmt: skip
        true = found = exact = furniture = 0
        started = time.perf_counter()
        for article in articles:
            title = article["title"].replace("_", " ")
            contexts = [p["context"] for p in article["paragraphs"]]
            parsed = READERS[suffix](render(title, contexts))
            paragraphs = split_paragraphs(make_document("x" + suffix, Path("x"), parsed))
            gold = {squeeze(c) for c in contexts}
            true += len(contexts)
            found += len(paragraphs)
            exact += sum(squeeze(p.text) in gold for p in paragraphs)
            furniture += sum(any(f in p.text for f in FURNITURE) for p in paragraphs)
        seconds = time.perf_counter() - started
        print(f"| {suffix} | {true} | {found} | {exact} | {furniture} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
