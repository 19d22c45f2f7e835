"""The passage on its page: how exactly the page view marks a paragraph, and how fast.

    .venv/bin/python bench/pages.py [--articles 6] [--half odd] [--views 60]

SQuAD dev articles (odd-numbered: fit nothing on them) are printed as PDFs by Chromium as in
bench/formats.py: one column with Chromium's own header and footer, and two columns with ours.
Each PDF is read by the product's read path and split into its paragraphs, then:

- exact: share of paragraphs whose marked line boxes hold exactly the paragraph's characters.
  The characters are PDFium's, each placed by the centre of its own tight box, independently
  of the layout rules: every letter and digit of the paragraph must lie in a marked box, and
  no character of anything else (another paragraph, a heading, a header or footer) may;
- view ms: a citation opened as the server does it (file read and hashed, the paragraph's
  lines found, its page rendered at 150 dpi and PNG-encoded; no rendered page cached), p50 /
  p95 wall and CPU per view, for `--views` random paragraphs: with the document's lines in
  memory (a document looked at before), from the index folder (kept by the build: the first
  look), and read again from the file (an index built before the lines were kept).
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import random
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pypdfium2 as pdfium  # noqa: E402
import pypdfium2.raw as pdfium_c  # noqa: E402

from qa.documents import read_document  # noqa: E402
from qa.drawing import DPI, page_sizes, render  # noqa: E402
from qa.pages import Layout, lines_of, load_lines, read_again, save_lines  # noqa: E402
from qa.paragraphs import split_paragraphs  # noqa: E402

OUT = ROOT / "bench" / "out" / "pages"
Chars = list[list[tuple[str, float, float]]]  # per page: character, centre x, centre y


def characters(data: bytes) -> Chars:
    """Each page's letters and digits with the centre of their tight box (points, top-down)."""
    pdf = pdfium.PdfDocument(data)
    pages = []
    box = [ctypes.c_double() for _ in range(4)]
    for i in range(len(pdf)):
        page = pdf[i]
        height = page.get_height()
        text = page.get_textpage()
        found = []
        for c in range(text.count_chars()):
            char = chr(pdfium_c.FPDFText_GetUnicode(text.raw, c))
            if not char.isalnum():
                continue
            if pdfium_c.FPDFText_GetCharBox(text.raw, c, *(ctypes.byref(b) for b in box)):
                left, right, bottom, top = (b.value for b in box)
                found.append((char, (left + right) / 2, height - (top + bottom) / 2))
        text.close()
        page.close()
        pages.append(found)
    pdf.close()
    return pages


def inside(x: float, y: float, box: tuple[float, float, float, float]) -> bool:
    return box[0] <= x <= box[2] and box[1] <= y <= box[3]


def exact(layout: Layout, chars: Chars, start: int, end: int) -> bool:
    """Whether the marked boxes of text[start:end] hold exactly its letters and digits."""
    marks = layout.marks(start, end)
    held: Counter[str] = Counter()
    for page, box in marks:
        held.update(c for c, x, y in chars[page - 1] if inside(x, y, box))
    wanted = Counter(c for c in layout.text[start:end] if c.isalnum())
    return bool(marks) and held == wanted


def make_pdfs(articles: int, half: str, reuse: bool) -> list[Path]:
    from bench.formats import SQUAD, load
    from bench.formats import render as print_articles

    if not reuse:
        print_articles(load(SQUAD, half, articles), ["pdf", "pdf2"], OUT)
    return sorted(OUT.glob("pdf*/docs/*.pdf"))


def timed(sample: list, view) -> str:  # noqa: ANN001
    """p50 / p95 of wall and CPU milliseconds of view(pdf, paragraph) over the sample."""
    walls, cpus = [], []
    for pdf, p in sample:
        wall, cpu = time.perf_counter(), time.process_time()
        png = view(pdf, p)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        assert png.startswith(b"\x89PNG")

    def pct(xs: list[float], q: float) -> float:
        return 1000 * sorted(xs)[min(len(xs) - 1, int(q * len(xs)))]

    return (
        f"wall p50 {pct(walls, 0.5):4.0f} ms, p95 {pct(walls, 0.95):4.0f} ms; "
        f"CPU p50 {pct(cpus, 0.5):4.0f} ms, p95 {pct(cpus, 0.95):4.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=6)
    parser.add_argument("--half", choices=("odd", "even"), default="odd")
    parser.add_argument("--views", type=int, default=60)
    parser.add_argument("--reuse", action="store_true", help="the PDFs printed by the last run")
    args = parser.parse_args()
    pdfs = make_pdfs(args.articles, args.half, args.reuse)
    totals: Counter[str] = Counter()
    cited = []
    kept = OUT / "layouts"  # as a build keeps them in the index folder
    for pdf in pdfs:
        data = pdf.read_bytes()
        document = read_document(pdf, pdf.name)
        save_lines(kept, document.sha256, lines_of(document))
        layout = Layout(*lines_of(document)[:1], page_sizes(data), lines_of(document)[1])
        chars = characters(data)
        kind = pdf.parent.parent.name
        for p in split_paragraphs(document):
            ok = exact(layout, chars, p.start, p.end)
            totals[f"{kind} paragraphs"] += 1
            totals[f"{kind} exact"] += ok
            if not ok and totals[f"{kind} misses shown"] < 3:
                totals[f"{kind} misses shown"] += 1
                print(f"  not exact: {pdf.name} ¶{p.number} p.{p.page}: {p.text[:70]!r}")
            cited.append((pdf, p, layout))
    for kind in ("pdf", "pdf2", "all"):
        kinds = ("pdf", "pdf2") if kind == "all" else (kind,)
        n = sum(totals[f"{k} paragraphs"] for k in kinds)
        ok = sum(totals[f"{k} exact"] for k in kinds)
        print(f"{kind:5} exact {ok}/{n} = {ok / max(n, 1):.3f}")

    sample = random.Random(23).sample(cited, min(args.views, len(cited)))
    layouts = {pdf: layout for pdf, _, layout in sample}
    pairs = [(pdf, p) for pdf, p, _ in sample]

    def view(layout_of) -> object:  # noqa: ANN001
        """A view as the server makes it: the file read and hashed, the paragraph's lines
        found, its page rendered and PNG-encoded."""

        def one(pdf: Path, p: object) -> bytes:
            data = pdf.read_bytes()
            layout = layout_of(pdf, hashlib.sha256(data).hexdigest(), data)
            marks = layout.marks(p.start, p.end)  # type: ignore[attr-defined]
            return render(data, marks[0][0] if marks else 1, DPI)

        return one

    def from_file(pdf: Path, sha: str, data: bytes) -> Layout:
        text, lines = lines_of(read_again(pdf, pdf.name, str(pdf.parent)))
        return Layout(text, page_sizes(data), lines)

    def from_index(pdf: Path, sha: str, data: bytes) -> Layout:
        text, lines = load_lines(kept, sha)  # type: ignore[misc]
        return Layout(text, page_sizes(data), lines)

    print(f"{len(pairs)} views at {DPI} dpi (file read and hashed, lines found, page drawn):")
    for label, layout_of in (
        ("lines in memory (a document seen before)", lambda pdf, sha, data: layouts[pdf]),
        ("lines kept by the build (index folder)", from_index),
        ("file read again (no kept lines)", from_file),
    ):
        print(f"  {label:42} {timed(pairs, view(layout_of))}")


if __name__ == "__main__":
    main()
