"""The PDF reader on real PDFs printed by Chromium (via Playwright) inside the tests.

Each PDF is printed from HTML whose paragraphs are known, with page furniture of the test's own
design (running headers, footers, page numbers, the browser's date and URL), so the blocks can
be checked word for word: paragraphs, pages, headings, and that no furniture is left.
"""

from __future__ import annotations

import html
import io
import random
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from playwright.sync_api import Browser

from qa.documents import UnreadableError, load_documents
from qa.paragraphs import split_paragraphs
from qa.readers.blocks import Block
from qa.readers.pdf import read
from tests import test_browser
from tests.conftest import write
from tests.formats import PDF_PAGES, make_pdf
from tests.test_browser import CHROMIUM

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")

SENTENCES = [
    "Otters spend most of their waking hours hunting for fish, crabs and frogs along the shore.",
    "A river otter can hold its breath for up to eight minutes while it searches the riverbed.",
    "Their dense underfur traps a layer of air that keeps the skin dry in freezing water.",
    "Sea otters often float on their backs and use stones as tools to crack open shellfish.",
    "Young otters stay with their mothers for about a year before they leave to find territory.",
    "Biologists count otters by their spraints, the scented droppings left on prominent rocks.",
    "In the nineteenth century the fur trade reduced several populations to a few hundred animals.",
    "Cleaner rivers and legal protection have since allowed otters to return to many regions.",
    "Each animal eats roughly a quarter of its body weight every day to stay warm.",
    "Holts, the dens of river otters, are dug into banks among the roots of old trees.",
    "A well-known colony near the estuary has been watched by volunteers for thirty-two years.",
    "Whiskers sensitive to water movement let otters find prey in murky, fast-flowing streams.",
]
HEADER = (
    '<div style="font-size:8px;width:100%;margin:0 40px;display:flex;'
    'justify-content:space-between"><span>Wetland Survey Bulletin</span>'
    '<span>Field notes, volume <span class="pageNumber"></span>0</span></div>'
)
FOOTER = (
    '<div style="font-size:8px;width:100%;text-align:center">'
    'Page <span class="pageNumber"></span> of <span class="totalPages"></span></div>'
)
FURNITURE = ["Wetland", "Bulletin", "Field notes", "volume", "Page 1 of", "Page 2 of", "Page 3"]


def paragraphs(n: int, seed: int) -> list[str]:
    """`n` paragraphs of 5-7 sentences each (the first one telling them apart), the same for
    the same seed."""
    rng = random.Random(seed)
    return [
        " ".join([f"Record {i + 1} was taken on day {seed * 100 + i}."] + rng.sample(SENTENCES, 5))
        for i in range(n)
    ]


browser = test_browser.browser  # the shared Chromium fixture (one launch per module)


@pytest.fixture(scope="module")
def pdf(browser: Browser):  # noqa: ANN201
    """Print HTML to PDF bytes: pdf(body, title=..., css=..., header=..., footer=...)."""
    page = browser.new_page()

    def render(body: str, title: str = "", css: str = "", header: str = "", footer: str = "",
               margin: str = "0.8in", default_furniture: bool = False,
               outline: bool = False) -> bytes:  # fmt: skip
        style = f"body{{font:12pt serif;margin:0}} p{{text-align:justify}} {css}"
        page.set_content(f"<title>{html.escape(title)}</title><style>{style}</style>{body}")
        if default_furniture:  # Chromium's own header and footer: date, title, URL, n/N
            page.goto("about:blank")  # a URL to print
            page.set_content(f"<title>{html.escape(title)}</title><style>{style}</style>{body}")
        furniture = default_furniture or bool(header or footer)
        options: dict = {"format": "Letter", "print_background": True}
        if outline:  # bookmarks from the headings, as Chromium's --generate-pdf-document-outline
            options |= {"outline": True, "tagged": True}
        options["margin"] = dict.fromkeys(("top", "bottom", "left", "right"), margin)
        if furniture:
            options["display_header_footer"] = True
            if not default_furniture:
                options["header_template"] = header or "<span></span>"
                options["footer_template"] = footer or "<span></span>"
        return page.pdf(**options)

    yield render
    page.close()


def text_blocks(blocks: list[Block]) -> list[str]:
    return [b.text for b in blocks if b.kind == "paragraph"]


def page_of(data: bytes, words: str) -> int:
    """The first page whose text layer holds `words` (PDFium's own text, no layout)."""
    document = pdfium.PdfDocument(data)
    try:
        for i in range(len(document)):
            text = " ".join(document[i].get_textpage().get_text_range().split())
            if words in text:
                return i + 1
    finally:
        document.close()
    raise AssertionError(f"{words!r} is on no page")


def assert_no_furniture(blocks: list[Block], furniture: list[str]) -> None:
    for block in blocks:
        for string in furniture:
            assert string not in block.text, (string, block)


def test_one_column_with_headers_footers_and_page_numbers(pdf) -> None:  # noqa: ANN001
    paras = paragraphs(18, seed=1)
    body = "<h1>Otters of the Northern Rivers</h1>"
    for i, p in enumerate(paras):
        body += f"<h2>Site {i // 6 + 1}</h2>" * (i % 6 == 0) + f"<p>{html.escape(p)}</p>"
    data = pdf(body, title="Otter survey 2024", header=HEADER, footer=FOOTER)
    parsed = read(data)
    assert parsed.title == "Otter survey 2024"  # the PDF's metadata title
    assert text_blocks(parsed.blocks) == paras
    headings = [(b.text, b.level) for b in parsed.blocks if b.kind == "heading"]
    assert headings == [("Otters of the Northern Rivers", 1)] + [
        (f"Site {n}", 2) for n in (1, 2, 3)
    ]
    assert_no_furniture(parsed.blocks, FURNITURE)
    pages = {b.text: b.page for b in parsed.blocks}
    assert max(pages.values()) >= 3
    for p in paras:  # the page where each paragraph starts
        assert pages[p] == page_of(data, " ".join(p.split()[:8])), p


def test_a_paragraph_across_a_page_break_is_one_paragraph(pdf) -> None:  # noqa: ANN001
    paras = paragraphs(3, seed=2)
    long = " ".join(paragraphs(3, seed=3)) + " The long record ends here."
    # The spacer pushes the long paragraph to the foot of page 1: it must go on to page 2.
    body = (
        f"<p>{paras[0]}</p><div style='height:7in'></div><p>{long}</p>"
        f"<p>{paras[1]}</p><p>{paras[2]}</p>"
    )
    data = pdf(body, header=HEADER, footer=FOOTER)
    blocks = read(data).blocks
    assert text_blocks(blocks) == [paras[0], long, paras[1], paras[2]]
    assert [b.page for b in blocks] == [1, 1, 2, 2]
    assert page_of(data, "The long record ends here.") == 2  # it did cross the break
    assert_no_furniture(blocks, FURNITURE)


def test_two_columns_are_read_column_by_column(pdf) -> None:  # noqa: ANN001
    paras = paragraphs(24, seed=4)
    body = "<h1>Otters in Two Columns</h1><div>" + "".join(f"<p>{p}</p>" for p in paras) + "</div>"
    css = "div{column-count:2;column-gap:0.4in}"
    parsed = read(pdf(body, title="", css=css, header=HEADER, footer=FOOTER))
    assert parsed.title == "Otters in Two Columns"  # no metadata title: the first large line
    assert parsed.blocks[0] == Block("heading", "Otters in Two Columns", 1, 1)
    assert text_blocks(parsed.blocks) == paras
    assert max(b.page for b in parsed.blocks) >= 2
    assert_no_furniture(parsed.blocks, FURNITURE)


def test_line_end_hyphens_are_dropped_only_inside_split_words(pdf) -> None:  # noqa: ANN001
    # A narrow column, long words with soft hyphens and hyphenated compounds: both kinds of
    # hyphen end lines.
    words = [
        "extraordinarily", "comprehensive", "internationalization", "hydrological",
        "characteristics", "notwithstanding", "counterrevolutionary", "misunderstandings",
    ]  # fmt: skip
    compounds = ["well-known", "state-of-the-art", "long-established", "self-evident"]
    rng = random.Random(5)
    tokens = [
        rng.choice(words + compounds + ["otters", "and", "the", "rivers"]) for _ in range(160)
    ]
    text = " ".join(tokens) + "."
    shy = " ".join(
        "\u00ad".join([w[: len(w) // 2], w[len(w) // 2 :]]) if w in words else w for w in tokens
    )
    data = pdf(f"<p>{shy}.</p>", css="p{width:2.2in}")
    raw = pdfium.PdfDocument(data)[0].get_textpage().get_text_range()
    assert "\u2010\r\n" in raw  # a word split at its soft hyphen
    assert "\ufffe" in raw or "-\r\n" in raw  # a compound broken after its own hyphen
    assert text_blocks(read(data).blocks) == [text]


def test_the_browsers_own_header_and_footer_are_dropped_on_a_single_page(pdf) -> None:  # noqa: ANN001
    paras = paragraphs(2, seed=6)
    data = pdf("".join(f"<p>{p}</p>" for p in paras), title="Otter notes", default_furniture=True)
    parsed = read(data)
    assert text_blocks(parsed.blocks) == paras
    assert [b.kind for b in parsed.blocks] == ["paragraph", "paragraph"]  # not the header title
    raw = pdfium.PdfDocument(data)[0].get_textpage().get_text_range()
    assert "about:blank" in raw and "1/1" in raw  # the furniture was printed, and is gone


def test_a_pdf_without_text_is_skipped_with_a_clear_reason(pdf, tmp_path: Path) -> None:  # noqa: ANN001
    scanned = pdf("<div style='width:4in;height:3in;background:#345;border:4px solid #999'></div>")
    with pytest.raises(UnreadableError, match="no text layer"):
        read(scanned)
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf("<p>Secret otter sites.</p>"))))
    writer.encrypt("owner-and-user-password")
    locked = io.BytesIO()
    writer.write(locked)
    write(tmp_path, "scan.pdf", scanned)
    write(tmp_path, "locked.pdf", locked.getvalue())
    write(tmp_path, "broken.pdf", b"%PDF-1.7 not really")
    write(tmp_path, "fine.txt", "Otters sleep in holts.")
    documents, skipped = load_documents(tmp_path)
    assert [d.id for d in documents] == ["fine.txt"]
    reasons = {s.id: s.reason for s in skipped}
    assert reasons["scan.pdf"].startswith("PDF has no text layer")
    assert reasons["locked.pdf"] == "PDF is encrypted (password-protected)"
    assert reasons["broken.pdf"].startswith("not a readable PDF")


def test_two_columns_under_a_one_column_abstract_in_ragged_type(pdf) -> None:  # noqa: ANN001
    # A full-width title and abstract above two columns, ragged right: the columns are read one
    # after the other, and the abstract's lines are not taken for justified ones.
    abstract, *paras = paragraphs(13, seed=7)
    body = (
        f"<h1>Otters Above and Below</h1><p>{abstract} {abstract}</p>"
        "<div>" + "".join(f"<p>{p}</p>" for p in paras) + "</div>"
    )
    css = "p{text-align:left} div{column-count:2;column-gap:0.4in}"
    found = read(pdf(body, css=css, header=HEADER, footer=FOOTER)).blocks
    assert text_blocks(found) == [f"{abstract} {abstract}", *paras]
    assert_no_furniture(found, FURNITURE)


def test_a_printed_web_pages_navigation_banner_links_and_footer_are_not_paragraphs(pdf) -> None:  # noqa: ANN001
    # An article page as a browser prints it: a site header with its menu, a cookie banner,
    # breadcrumbs, related links and a footer, each printed once (nothing repeats on pages).
    paras = paragraphs(6, seed=8)
    links = "".join(
        f"<a href='https://example.org/{w}'>{w}</a> " for w in ("Home", "Rivers", "Maps")
    )
    related = "".join(
        f"<li><a href='https://example.org/r{i}'>Otter story number {i}</a></li>" for i in range(4)
    )
    body = (
        f"<header><a href='https://example.org/'>Riverside Gazette</a> <nav>{links}</nav></header>"
        "<div style='border:1px solid;font-size:11pt'>This site uses cookies to measure how it is"
        " read. <button>Accept</button> <button>Settings</button></div>"
        f"<nav>{links}</nav><h1>Otters Return</h1>"
        + "".join(f"<p>{p}</p>" for p in paras)
        + f"<h2>More stories</h2><ul>{related}</ul>"
        "<footer><p>© 2025 Riverside Gazette Ltd. All rights reserved.</p>" + links + "</footer>"
    )
    found = read(pdf(body, css="p{text-align:left}")).blocks
    assert [(b.kind, b.text) for b in found] == [("heading", "Otters Return")] + [
        ("paragraph", p) for p in paras
    ]


def test_the_outline_gives_the_sections(pdf, tmp_path: Path) -> None:  # noqa: ANN001
    # The h3 headings are printed like the body text: only the bookmarks say they are headings.
    paras = paragraphs(4, seed=9)
    body = "<h1>Otter Atlas</h1>" + "".join(
        (f"<h2>Region {i // 2}</h2>" if i % 2 == 0 else "<h3>Quiet reach</h3>") + f"<p>{p}</p>"
        for i, p in enumerate(paras)
    )
    css = "h3{font:12pt serif;margin:0}"
    plain = read(pdf(body, css=css)).blocks
    assert [b.text for b in plain if b.kind == "heading"] == ["Otter Atlas", "Region 0", "Region 1"]
    write(tmp_path, "atlas.pdf", pdf(body, css=css, outline=True))
    (document,), _ = load_documents(tmp_path)
    assert [(p.section, p.text) for p in split_paragraphs(document)] == [
        ("Otter Atlas › Region 0", paras[0]),
        ("Otter Atlas › Region 0 › Quiet reach", paras[1]),
        ("Otter Atlas › Region 1", paras[2]),
        ("Otter Atlas › Region 1 › Quiet reach", paras[3]),
    ]


def test_a_bookmark_printed_nowhere_is_the_section_of_what_follows_its_destination() -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(PDF_PAGES))))
    writer.add_outline_item(title="Eruption", page_number=0)
    writer.add_outline_item(title="Aftermath", page_number=1)
    out = io.BytesIO()
    writer.write(out)
    found = read(out.getvalue()).blocks
    lines = [" ".join(lines) for lines in PDF_PAGES]
    assert [(b.kind, b.text, b.page) for b in found] == [
        ("heading", "Eruption", 1), ("paragraph", lines[0], 1),
        ("heading", "Aftermath", 2), ("paragraph", lines[1], 2), ("paragraph", lines[2], 3),
    ]  # fmt: skip
