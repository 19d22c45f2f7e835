"""A PDF quote in real Chromium: the card cites its page, its source link opens the page view,
from there the document at the paragraph (under its page marker), and its PDF link opens the
original file at that page."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from qa.embedder import Embedder
from qa.engine import Engine
from qa.settings import Settings
from tests import test_browser
from tests.formats import PDF_TITLE, files
from tests.test_browser import CHROMIUM, Tab, last_turn
from tests.test_live import serve_in_thread
from web.app import create_app

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")
LAVA = "What did the lava flows build along the coast?"

browser = test_browser.browser  # the shared Chromium fixture (one launch per module)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[str]:
    root = tmp_path_factory.mktemp("formats-browser")
    (root / "docs").mkdir()
    for name, content in files().items():
        data = content.encode("utf-8") if isinstance(content, str) else content
        (root / "docs" / name).write_bytes(data)
    settings = Settings.load({"docs": root / "docs", "index": root / "index"}, environ={})
    engine = Engine(settings, embedder)
    engine.build()
    with serve_in_thread(create_app(engine)) as base:
        yield base


@pytest.fixture
def tab(browser, server: str) -> Iterator[Tab]:
    tab = Tab(browser, server)
    yield tab
    tab.context.close()


def test_a_pdf_quote_cites_its_page_and_opens_the_document_there(tab: Tab) -> None:
    page = tab.open()
    tab.ask(LAVA)
    card = last_turn(page).locator("figure.quote").first
    expect(card.locator("blockquote")).to_contain_text("Lava flows reached the sea")
    expect(card.locator("a.source")).to_have_text(f"{PDF_TITLE} · p. 2 · ¶2")
    original = card.locator("a.original")
    expect(original).to_have_text("PDF p. 2")
    href = original.get_attribute("href")
    assert href is not None and href.endswith("/files/volcano.pdf#page=2")
    # The original file is served, as a PDF, to be shown inline at that page.
    response = page.request.get(href)
    assert response.status == 200 and response.headers["content-type"] == "application/pdf"
    assert response.body().startswith(b"%PDF-")
    assert response.headers["content-disposition"].startswith("inline")

    with page.expect_navigation():
        card.locator("a.source").click()  # the page view (tests/test_pages_browser.py)
    assert page.url.endswith("/documents/volcano.pdf/pages/2?p=2#mark")
    with page.expect_navigation():
        page.locator("a.as-text").click()
    assert page.url.endswith("/documents/volcano.pdf?p=2#p2")
    expect(page.locator("h1")).to_have_text(PDF_TITLE)
    target = page.locator("#p2.selected")
    expect(target).to_be_in_viewport()
    # Its page marker stands right before it, with a link to the PDF at that page.
    marker = page.locator("#p2").locator("xpath=preceding-sibling::p[1]")
    expect(marker).to_have_class("page-marker")
    expect(marker).to_contain_text("p. 2")
    expect(marker.locator("a.original")).to_have_attribute("href", "/files/volcano.pdf#page=2")
    assert tab.problems == []


def test_without_javascript_the_pdf_quote_cites_its_page_too(browser, server: str) -> None:
    tab = Tab(browser, server, java_script_enabled=False)
    try:
        page = tab.open()
        tab.submit(LAVA)
        card = last_turn(page).locator("figure.quote").first
        expect(card.locator("a.source")).to_have_text(f"{PDF_TITLE} · p. 2 · ¶2")
        expect(card.locator("a.original")).to_have_attribute("href", "/files/volcano.pdf#page=2")
    finally:
        tab.context.close()
