"""Hostile document content in real Chromium: markup, scripts and javascript: links in a document
show as inert text in the chat (JS and no-JS) and in the document view; no dialog, no script."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from qa.embedder import Embedder
from qa.engine import Engine
from qa.settings import Settings
from tests import test_browser
from tests.conftest import TEST_HOSTS
from tests.test_browser import CHROMIUM, Tab
from tests.test_live import serve_in_thread
from web.app import create_app

PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<img src=x onerror="window.pwned=1">',
    "<svg onload=alert(1)>",
    '"><script>window.pwned=1</script>',
    '<a href="javascript:alert(1)">click</a>',
    "[click me](javascript:alert(1))",
    "javascript:alert(document.cookie)",
    "<iframe src=javascript:alert(1)></iframe>",
    "{{constructor.constructor('alert(1)')()}}",
    "**bold** _em_ # heading",
]
# One paragraph per payload, each findable by its own animal.
ANIMALS = ["zebra", "walrus", "heron", "lynx", "badger", "ibex", "marmot", "okapi", "tapir",
           "gecko", "narwhal"]  # fmt: skip
HOSTILE = "\n\n".join(
    f"The {animal} report quotes {payload} as the {animal} keeper wrote it."
    for animal, payload in zip(ANIMALS, PAYLOADS, strict=True)
)

# Markup and an entity in a file name; plain text, so the payloads are the text a reader sees
# (in a .md file, inline HTML is markup, which the Markdown reader leaves out).
NAME = 'hostile <b>notes &amp; "x".txt'

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[str]:
    root = tmp_path_factory.mktemp("hostile")
    (root / "docs").mkdir()
    (root / "docs" / NAME).write_text(HOSTILE, "utf-8")
    settings = Settings.load({"docs": root / "docs", "index": root / "index"}, environ=TEST_HOSTS)
    engine = Engine(settings, embedder)
    engine.build()
    with serve_in_thread(create_app(engine)) as base:
        yield base


browser = test_browser.browser  # the shared Chromium fixture (one launch per module)


class Watched(Tab):
    """A Tab that also records every dialog (alert, confirm, prompt) and dismisses it."""

    def __init__(self, browser: Browser, base: str, **options) -> None:
        super().__init__(browser, base, **options)
        self.dialogs: list[str] = []
        self.page.on("dialog", self._dialog)

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def assert_inert(self, page: Page) -> None:
        page.wait_for_timeout(300)  # time for any onerror/onload to have fired
        assert self.dialogs == []
        assert page.evaluate("typeof window.pwned") == "undefined"
        main = page.locator("main")
        for selector in ("img", "svg", "iframe", "script", "a[href^='javascript' i]"):
            assert main.locator(selector).count() == 0, selector
        assert page.locator("a[href^='javascript' i]").count() == 0
        # Only the site's own scripts, none inline (the CSP would block one anyway).
        sources = page.eval_on_selector_all("script", "s => s.map(x => x.src)")
        assert all(src.startswith(self.base + "/static/") for src in sources), sources
        blocked = [p for p in self.problems if "Content Security Policy" in p]
        assert blocked == [], "markup reached the page and was only stopped by the CSP"


@pytest.fixture
def tab(browser: Browser, server: str) -> Iterator[Watched]:
    tab = Watched(browser, server)
    yield tab
    tab.context.close()


def test_hostile_quotes_are_inert_text_in_the_chat(tab: Watched) -> None:
    page = tab.open()
    for animal, payload in list(zip(ANIMALS, PAYLOADS, strict=True))[:6]:
        tab.ask(f"What does the {animal} report quote?")
        quote = page.locator("#conversation > li.turn").last.locator("blockquote").first
        expect(quote).to_contain_text(f"quotes {payload} as the {animal} keeper")
    tab.assert_inert(page)
    assert tab.problems == []


def test_hostile_text_is_inert_in_the_document_view(tab: Watched) -> None:
    page = tab.open("/documents")
    with page.expect_navigation():
        page.get_by_role("link", name=NAME).click()
    paragraphs = page.locator("main [id^=p]")
    for number, payload in enumerate(PAYLOADS, 1):
        expect(page.locator(f"#p{number}")).to_contain_text(payload)
    assert paragraphs.count() >= len(PAYLOADS)
    tab.assert_inert(page)
    assert tab.problems == []


def test_hostile_quotes_are_inert_in_the_chat_without_javascript(browser: Browser, server) -> None:
    tab = Watched(browser, server, java_script_enabled=False)
    try:
        page = tab.open()
        for animal in ("zebra", "heron", "okapi"):
            tab.submit(f"What does the {animal} report quote?")
        cards = page.locator("blockquote")
        expect(cards.filter(has_text="<script>alert(1)</script>")).not_to_have_count(0)
        expect(cards.filter(has_text="window.pwned=1")).not_to_have_count(0)
        tab.assert_inert(page)
    finally:
        tab.context.close()


def test_a_hostile_question_is_shown_as_text(tab: Watched) -> None:
    page = tab.open()
    question = "<img src=x onerror=alert(1)> What does the zebra report quote?"
    tab.ask(question)
    expect(page.locator("#conversation > li.turn").last.locator(".question")).to_contain_text(
        question
    )
    tab.assert_inert(page)
