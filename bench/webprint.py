"""Printed web pages: how many paragraphs does the PDF reader find where the author wrote N?

    .venv/bin/python bench/webprint.py [--articles 6] [--half odd] [--templates news,blog,wiki]

SQuAD dev articles (odd-numbered by default: the furniture rules were fitted on even ones with
the `news` and `blog` templates only; `wiki` was written after them, as held-out furniture) are
put into article pages of three site designs, each with its furniture printed once: a site
header with navigation, a cookie or consent banner, breadcrumbs or a table of contents, share
links, a related-links list or sidebar, a newsletter box, a footer with links and a copyright
line. Each page is printed by Debian's Chromium headless exactly as a user would print it
(`chromium --headless --print-to-pdf`, its own date/title/URL header and footer), read by the
product's PDF reader and split into paragraphs; it prints, per template, the paragraphs found
against the articles' own, the furniture strings left in them, and the articles' paragraphs
found whole (>= 90 % of words both ways, as bench/formats.py's para@1).
"""

from __future__ import annotations

import argparse
import html
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.formats import SQUAD, Article, load, same_paragraph, sections  # noqa: E402
from qa.documents import load_documents  # noqa: E402
from qa.paragraphs import split_paragraphs  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
OUT = ROOT / "bench" / "out" / "webprint"


def _links(words: list[str], href: str = "/topic/") -> str:
    return "".join(f"<a href='{href}{w.lower()}'>{html.escape(w)}</a> " for w in words)


def _list(items: list[str], href: str = "/story/") -> str:
    return "<ul>" + "".join(f"<li><a href='{href}{i}'>{html.escape(t)}</a></li>"
                            for i, t in enumerate(items)) + "</ul>"  # fmt: skip


def _article(a: Article, inline_links: bool) -> str:
    """The author's text: title, headings, paragraphs (a link on one word of some)."""
    out = []
    for n, (heading, p) in enumerate(sections(a)):
        out += [f"<h2>{html.escape(heading)}</h2>"] if heading else []
        text = html.escape(p)
        if inline_links and n % 3 == 1:
            text = re.sub(r"\b([A-Z][a-z]{6,})\b", r"<a href='/wiki/\1'>\1</a>", text, count=1)
        out.append(f"<p>{text}</p>")
    return "\n".join(out)


def news(a: Article, others: list[str]) -> str:
    sections_ = ["World", "Politics", "Business", "Science", "Culture", "Opinion", "Sport"]
    return f"""<header style="display:flex;gap:2em;align-items:center">
<a href="/" style="font:bold 22px serif">The Daily Ledger</a>
<nav style="display:flex;gap:1em">{_links(sections_)}</nav><a href="/subscribe">Subscribe</a>
</header>
<div style="border:1px solid #999;padding:8px;margin:8px 0;font-size:13px">This website uses
cookies to give you the best experience. By continuing to browse you accept our use of cookies.
<button>Accept</button> <button>Cookie settings</button></div>
<nav style="font-size:13px">{_links(["Home", "Science", "History"], "/section/")}</nav>
<main style="font:17px/1.6 Georgia, serif;max-width:680px"><h1>{html.escape(a.title)}</h1>
<p style="font-size:13px">By Maria Lopez · Updated 3 March 2024</p>
{_article(a, inline_links=True)}
<p style="font-size:13px">Share this article: {_links(["Facebook", "X", "Email"], "/share/")}</p>
</main>
<section><h2>Related stories</h2>{_list(others)}</section>
<footer style="font-size:12px">{
        _links(["About", "Contact", "Careers", "Advertise", "Privacy", "Terms"], "/info/")
    }<p>© 2025 The Daily Ledger Media Group. All rights reserved.</p></footer>"""


def blog(a: Article, others: list[str]) -> str:
    return f"""<header><a href="/" style="font-size:28px">Notes from the Field</a>
<div>Essays on history and science</div>
<nav>{_links(["Home", "Archive", "About", "Contact"], "/")}</nav></header>
<div style="display:grid;grid-template-columns:68% 28%;gap:4%;font:15px/1.5 sans-serif">
<main><h1>{html.escape(a.title)}</h1><div style="color:#666">Posted on June 2, 2023 by jdoe</div>
{_article(a, inline_links=False)}
<p>Tags: {_links(["history", "europe", "essays"], "/tag/")}</p></main>
<aside><form><input placeholder="Search this blog"><button>Search</button></form>
<h3>Recent posts</h3>{_list(others)}<h3>Categories</h3>{
        _list(["History", "Science", "Travel", "Books"], "/category/")
    }<h3>Newsletter</h3><p>Get new posts by email.</p>
<input placeholder="Your email"><button>Subscribe</button></aside></div>
<div style="background:#eee;padding:6px">We use cookies for analytics.
<a href="/cookies">Learn more</a> <button>OK</button></div>
<footer><p>Copyright © 2024 Jane Doe · Powered by WordPress</p></footer>"""


def wiki(a: Article, others: list[str]) -> str:
    """Written after the rules were fitted: held-out furniture."""
    contents = [h for h, _ in sections(a) if h]
    return f"""<div style="display:flex;justify-content:space-between;font-size:13px">
<span><a href="/menu">Menu</a> <a href="/">Free Knowledge Base</a></span>
<span><a href="/donate">Donate</a> <a href="/login">Log in</a> <a href="/join">Create account</a>
</span></div>
<div role="dialog" style="border:2px solid #36c;padding:10px;font-size:14px"><b>We value your
privacy</b><p>We and our partners store and access information on your device to measure how the
site is used.</p><button>Agree</button> <button>Disagree</button> <button>More options</button>
</div>
<div style="display:flex;gap:24px;font:14px/1.5 sans-serif">
<nav style="width:160px;flex:none">{
        _list(
            [
                "Main page",
                "Contents",
                "Current events",
                "Random page",
                "Help",
                "Community portal",
                "Recent changes",
            ],
            "/special/",
        )
    }</nav>
<main><h1>{html.escape(a.title)}</h1><div style="font-size:12px">From the Free Knowledge Base</div>
<div style="border:1px solid #aaa;padding:6px;display:inline-block"><b>Contents</b>
{_list(contents, "#")}</div>
{_article(a, inline_links=True)}
<h2>See also</h2>{_list(others)}
<div style="border:1px solid #aaa;font-size:12px">Categories: {
        _links(["History", "Europe", "Medieval studies"], "/category/")
    }</div></main></div>
<footer style="font-size:12px"><p>This page was last edited on 3 May 2024, at 10:12.</p>
<p>Text is available under the Creative Commons Attribution-ShareAlike License; additional
terms may apply.</p>{_links(["Privacy policy", "About", "Disclaimers", "Mobile view"], "/")}
</footer>"""


TEMPLATES = {"news": news, "blog": blog, "wiki": wiki}
# Strings of each template's furniture: a paragraph holding one is furniture left in.
FURNITURE = {
    "news": ["Daily Ledger", "Subscribe", "uses cookies", "Cookie settings", "Science History",
             "Maria Lopez", "Share this", "Related stories", "Careers", "All rights reserved"],
    "blog": ["Notes from the Field", "Essays on", "Archive", "Posted on", "Tags:",
             "Search this", "Recent posts", "Categories", "Get new posts", "Your email",
             "We use cookies", "Powered by"],
    "wiki": ["Free Knowledge", "Donate", "Create account", "We value", "our partners",
             "Disagree", "Main page", "Current events", "Contents", "See also", "Categories:",
             "last edited", "Creative Commons", "Mobile view"],
}  # fmt: skip


def page(a: Article, template: str, others: list[str]) -> str:
    body = TEMPLATES[template](a, others)
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>"
            f"{html.escape(a.title)}</title></head><body>{body}</body></html>")  # fmt: skip


def print_pdf(source: Path, target: Path) -> None:
    """Chromium's own print to PDF, as `chromium --headless --print-to-pdf` does it."""
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--print-to-pdf={target}",
         source.as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip


def measure(articles: list[Article], template: str, folder: Path) -> dict:
    docs = folder / template
    docs.mkdir(parents=True, exist_ok=True)
    titles = [a.title for a in articles]
    with tempfile.TemporaryDirectory() as tmp:
        for a in articles:
            target = docs / f"{a.slug}.pdf"
            if not target.exists():
                source = Path(tmp) / f"{a.slug}.html"
                source.write_text(page(a, template, [t for t in titles if t != a.title]), "utf-8")
                print_pdf(source, target)
    documents, _ = load_documents(docs)
    found = whole = dirty = 0
    for document in documents:
        a = next(a for a in articles if document.id == f"{a.slug}.pdf")
        paragraphs = [p.text for p in split_paragraphs(document)]
        found += len(paragraphs)
        whole += sum(any(same_paragraph(q, p) for q in paragraphs) for p in a.paragraphs)
        dirty += sum(any(s in q for s in FURNITURE[template]) for q in paragraphs)
    true = sum(len(a.paragraphs) for a in articles)
    return {"template": template, "paragraphs": found, "true": true,
            "ratio": round(found / true, 3), "furniture_paragraphs": dirty,
            "whole": round(whole / true, 3)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--squad", type=Path, default=SQUAD)
    parser.add_argument("--articles", type=int, default=6)
    parser.add_argument("--half", choices=("odd", "even"), default="odd")
    parser.add_argument("--templates", default=",".join(TEMPLATES))
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    articles = load(args.squad, args.half, args.articles)
    results = [measure(articles, t, args.out / args.half) for t in args.templates.split(",") if t]
    for r in results:
        print(json.dumps(r), flush=True)
    found, true = sum(r["paragraphs"] for r in results), sum(r["true"] for r in results)
    print(f"all: {found} paragraphs for {true} ({100 * (found / true - 1):+.1f} %)")


if __name__ == "__main__":
    main()
