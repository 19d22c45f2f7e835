"""The page view in real Chromium: clicking a PDF quote's citation shows its page, with the
quoted passage's lines marked where PDFium itself says the passage's words are printed.

The PDF is printed by Chromium too (two columns, the passage in the right-hand one), so the
page is laid out by a real engine, not by us.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import pypdfium2 as pdfium
import pytest
from PIL import Image
from playwright.sync_api import Browser, expect

from qa.embedder import Embedder
from qa.engine import Engine
from qa.settings import Settings
from tests import test_browser
from tests.test_browser import ARTIFACTS, CHROMIUM, Tab
from tests.test_live import serve_in_thread
from web.app import create_app

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")
browser = test_browser.browser  # the shared Chromium fixture (one launch per module)

FILLER = (
    "The survey of the coast began in spring, when the weather allowed the boats to reach "
    "the outer islands, and went on through the summer with two teams taking turns. "
)
PASSAGE = (
    "The keeper of the northern lighthouse counted four hundred and twelve puffins nesting "
    "on the cliffs below the tower in the last week of June."
)
QUESTION = "How many puffins did the lighthouse keeper count?"


def print_pdf(browser: Browser) -> bytes:
    """A two-column article printed by Chromium, the passage in the right-hand column."""
    paragraphs = [FILLER * 3, FILLER * 2, FILLER * 3, PASSAGE, FILLER * 2]
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    html = (
        "<!doctype html><html><head><style>body { font: 11pt serif; } "
        ".cols { column-count: 2; column-gap: 0.4in; } p { text-align: justify; }</style>"
        f"</head><body><h1>Coastal survey</h1><div class='cols'>{body}</div></body></html>"
    )
    page = browser.new_page()
    try:
        page.set_content(html)
        return page.pdf(
            format="Letter", margin=dict.fromkeys(("top", "bottom", "left", "right"), "0.75in")
        )
    finally:
        page.close()


def printed_at(pdf: bytes, page: int, words: str) -> tuple[float, float, float, float]:
    """Where PDFium finds `words` printed on `page`: (x0, top, x1, bottom) in points."""
    document = pdfium.PdfDocument(pdf)
    try:
        handle = document[page - 1]
        height = handle.get_height()
        text = handle.get_textpage()
        found = text.search(words).get_next()
        assert found is not None, f"{words!r} is not printed on page {page}"
        boxes = [text.get_charbox(i) for i in range(found[0], found[0] + found[1])]
        return (
            min(b[0] for b in boxes),
            height - max(b[3] for b in boxes),
            max(b[2] for b in boxes),
            height - min(b[1] for b in boxes),
        )
    finally:
        document.close()


@pytest.fixture(scope="module")
def served(
    browser: Browser, tmp_path_factory: pytest.TempPathFactory, embedder: Embedder
) -> Iterator[tuple[str, bytes]]:
    root = tmp_path_factory.mktemp("pages-browser")
    pdf = print_pdf(browser)
    (root / "docs").mkdir()
    (root / "docs" / "survey.pdf").write_bytes(pdf)
    settings = Settings.load({"docs": root / "docs", "index": root / "index"}, environ={})
    engine = Engine(settings, embedder)
    engine.build()
    with serve_in_thread(create_app(engine)) as base:
        yield base, pdf


@pytest.mark.parametrize("javascript", [True, False])
def test_clicking_a_citation_shows_the_passage_marked_on_its_page(
    browser: Browser, served: tuple[str, bytes], javascript: bool
) -> None:
    base, pdf = served
    tab = Tab(
        browser, base, java_script_enabled=javascript, viewport={"width": 1000, "height": 900}
    )
    try:
        if javascript:  # the card is made by app.js from the API's JSON
            page = tab.open()
            tab.ask(QUESTION)
        else:  # the card is the server's HTML
            page = tab.open("/?q=" + QUESTION.replace(" ", "+"))
        card = page.locator("figure.quote").first
        expect(card.locator("blockquote")).to_contain_text("four hundred and twelve puffins")
        with page.expect_navigation():
            card.locator("a.source").click()
        assert "/documents/survey.pdf/pages/1?p=" in page.url and page.url.endswith("#mark")
        marks = page.locator("svg.page-image rect.mark")
        expect(marks.first).to_be_in_viewport()
        svg = page.locator("svg.page-image").bounding_box()
        assert svg is not None
        scale = svg["width"] / 612  # a Letter page is 612 points wide
        boxes = [b for b in (marks.nth(i).bounding_box() for i in range(marks.count())) if b]
        # The words of the passage, where PDFium says they are printed, lie inside a mark.
        for words in ("The keeper of the northern", "last week of June"):
            x0, top, x1, bottom = printed_at(pdf, 1, words)
            x, y = svg["x"] + scale * (x0 + x1) / 2, svg["y"] + scale * (top + bottom) / 2
            assert any(
                b["x"] <= x <= b["x"] + b["width"] and b["y"] <= y <= b["y"] + b["height"]
                for b in boxes
            ), f"{words!r} at ({x:.0f}, {y:.0f}) is not marked: {boxes}"
        assert all(b["x"] > svg["x"] + svg["width"] / 2 - 10 for b in boxes)  # right column only
        # The page is drawn under the mark: the printed text shows through it.
        first = boxes[0]
        shot = Image.open(io.BytesIO(page.screenshot(clip=first))).convert("L")
        assert shot.getextrema()[0] < 100
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=ARTIFACTS / "page-view.png")
        # The way to the original file, at that page.
        expect(page.locator("a.original")).to_have_attribute("href", "/files/survey.pdf#page=1")
        assert tab.problems == []  # no CSP violation, no broken image
    finally:
        tab.context.close()
