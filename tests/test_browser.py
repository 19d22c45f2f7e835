"""The chat in a real browser: Debian's Chromium driven by Playwright, against the real app.

The app runs under uvicorn in a background thread with its own security headers, among them a
strict Content-Security-Policy (scripts and styles from the site only), so any inline script or
style would show up here as a console error, and every test fails on console errors.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from qa.answer import NO_ANSWER
from qa.embedder import Embedder
from qa.engine import Engine
from qa.settings import Settings
from tests.test_live import serve_in_thread
from web.app import create_app
from web.security import CSP

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

DEFECTED = "How many North Koreans defected last year?"
MERCURY = "What is the boiling point of mercury?"
WHO = "Who is Ri Il-kyu?"
WHY = "Why did he leave?"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")


@pytest.fixture(scope="module")
def server(seed_settings: Settings, embedder: Embedder) -> Iterator[str]:
    """Base URL of the real app, served by uvicorn on a free loopback port."""
    with serve_in_thread(create_app(Engine(seed_settings, embedder))) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


class Tab:
    """A page in a fresh browser context that records console errors and page errors."""

    def __init__(self, browser: Browser, base: str, **context_options) -> None:
        self.context = browser.new_context(**context_options)
        self.context.set_default_timeout(10_000)
        self.page: Page = self.context.new_page()
        self.base = base
        self.problems: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            self.problems.append(f"console {message.type}: {message.text}")

    def open(self, path: str = "/") -> Page:
        response = self.page.goto(self.base + path)
        assert response is not None and response.headers["content-security-policy"] == CSP
        return self.page

    def ask(self, question: str) -> None:
        """Type the question and press Enter; wait for its answer to be on the page."""
        turns = self.page.locator("#conversation > li.turn")
        before = turns.count()
        box = self.page.locator("textarea#question")
        box.fill(question)
        box.press("Enter")
        expect(turns).to_have_count(before + 1)

    def submit(self, question: str) -> None:
        """Without JavaScript: type the question and click the button (a form POST)."""
        self.page.locator("textarea#question").fill(question)
        with self.page.expect_navigation():
            self.page.get_by_role("button", name="Ask").click()


@pytest.fixture
def tab(browser: Browser, server: str) -> Iterator[Tab]:
    tab = Tab(browser, server)
    yield tab
    tab.context.close()


def last_turn(page: Page):
    return page.locator("#conversation > li.turn").last


def test_asking_shows_the_quote_with_its_best_sentence_marked(tab: Tab) -> None:
    page = tab.open()
    page.evaluate("window.stillTheSamePage = true")
    tab.ask(DEFECTED)
    turn = last_turn(page)
    expect(turn.locator(".question")).to_contain_text(DEFECTED)
    cards = turn.locator("figure.quote")
    assert 1 <= cards.count() <= 3
    first = cards.first
    expect(first.locator("blockquote")).to_contain_text("196 last year")
    expect(first.locator("blockquote > mark")).to_contain_text("just 196 last year")
    expect(first.locator("a.source")).to_have_text("defectors.txt · ¶5")
    expect(first.locator(".score")).to_have_text(re.compile(r"^score -?\d+\.\d\d$"))
    expect(first.locator("button.copy")).to_be_visible()
    # Inside the live region, so screen readers announce it; and the page never reloaded.
    expect(page.locator("#conversation[aria-live=polite] > li.turn")).to_have_count(1)
    assert page.evaluate("window.stillTheSamePage") is True
    expect(page.locator("textarea#question")).to_have_value("")
    expect(page.locator("textarea#question")).to_be_focused()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "chat.png", full_page=True)
    assert tab.problems == []


def test_the_source_link_lands_on_the_highlighted_paragraph(tab: Tab) -> None:
    page = tab.open()
    tab.ask(DEFECTED)
    with page.expect_navigation():
        last_turn(page).locator("a.source").first.click()
    assert re.fullmatch(rf"{tab.base}/documents/defectors.txt\?p=5&s=\d+&e=\d+#p5", page.url)
    target = page.locator("#p5")
    expect(target).to_contain_text("196 last year")
    expect(target.locator("mark")).to_contain_text("196 last year")  # the sentence, marked
    assert target.evaluate("p => p.matches(':target') && p.classList.contains('selected')")
    assert target.evaluate("p => getComputedStyle(p).backgroundColor") != "rgba(0, 0, 0, 0)"
    assert page.locator("#p4").evaluate("p => getComputedStyle(p).backgroundColor") == (
        "rgba(0, 0, 0, 0)"
    )
    expect(target).to_be_in_viewport()
    assert page.evaluate("window.scrollY") > 0  # it was scrolled to, not just on screen
    assert tab.problems == []


def test_a_question_the_documents_cannot_answer_gets_the_fixed_reply(tab: Tab) -> None:
    page = tab.open()
    tab.ask(MERCURY)
    turn = last_turn(page)
    expect(turn.locator(".no-answer")).to_have_text(NO_ANSWER)
    closest = turn.locator("details.closest")
    expect(closest).not_to_have_attribute("open", "")
    expect(closest.locator("figure.quote").first).to_be_hidden()
    closest.locator("summary").click()
    expect(closest.locator("figure.quote").first).to_be_visible()
    assert tab.problems == []


def test_the_content_security_policy_is_enforced_and_reported(tab: Tab) -> None:
    """An inline script is refused, and the refusal is a console error the tests would see."""
    page = tab.open()
    page.evaluate(
        """() => {
            const script = document.createElement("script");
            script.textContent = "window.inlineRan = true";
            document.body.append(script);
        }"""
    )
    assert page.evaluate("window.inlineRan") is None
    assert len(tab.problems) == 1 and "Content Security Policy" in tab.problems[0]


def test_a_follow_up_is_sent_with_the_earlier_question(tab: Tab) -> None:
    page = tab.open()
    tab.ask(WHO)
    # The question is kept in the form as the page without JavaScript would keep it.
    fields = page.locator("form#ask input[type=hidden][name=q]")
    expect(fields).to_have_count(1)
    assert fields.first.get_attribute("value") == WHO
    with page.expect_request("**/api/ask") as request:
        tab.ask(WHY)
    assert request.value.post_data_json == {"question": WHY, "history": [WHO], "explain": True}
    turn = last_turn(page)
    expect(turn.locator(".no-answer")).to_have_count(0)
    expect(turn.locator("a.source").first).to_have_text("defectors.txt · ¶1")
    assert tab.problems == []


def test_shift_enter_is_a_new_line_and_an_empty_question_is_explained(tab: Tab) -> None:
    page = tab.open()
    box = page.locator("textarea#question")
    box.fill("Who is")
    box.press("Shift+Enter")
    box.press_sequentially("Ri Il-kyu?")
    expect(box).to_have_value("Who is\nRi Il-kyu?")
    expect(page.locator("#conversation > li.turn")).to_have_count(0)
    box.fill("   ")
    box.press("Enter")
    expect(page.locator("#status")).to_have_text("the question is empty")
    expect(page.locator("#conversation > li.turn")).to_have_count(0)
    # The server's 422 is logged by Chromium as a failed resource load; nothing else may be.
    assert [p for p in tab.problems if "status of 422" not in p] == []


def test_copy_quote_puts_the_quote_and_its_source_on_the_clipboard(
    browser: Browser, server: str
) -> None:
    tab = Tab(browser, server, permissions=["clipboard-read", "clipboard-write"])
    try:
        page = tab.open()
        tab.ask(DEFECTED)
        card = last_turn(page).locator("figure.quote").first
        card.locator("button.copy").click()
        expect(card.locator("button.copy")).to_have_text("Copied")
        quote = card.locator("blockquote").text_content()
        source = card.locator("a.source").get_attribute("href") or ""
        assert source.startswith(f"{tab.base}/documents/defectors.txt?p=5&s=")
        copied = page.evaluate("navigator.clipboard.readText()")
        assert copied == f"{quote}\n— defectors.txt · ¶5 {source}"
        assert tab.problems == []
    finally:
        tab.context.close()


def test_the_chat_works_without_javascript(browser: Browser, server: str) -> None:
    tab = Tab(browser, server, java_script_enabled=False)
    try:
        page = tab.open()
        tab.submit(DEFECTED)
        first = last_turn(page).locator("figure.quote").first
        expect(first.locator("blockquote > mark")).to_contain_text("196")
        expect(first.locator("button.copy")).to_be_hidden()
        tab.submit(WHO)
        tab.submit(WHY)
        expect(page.locator("#conversation > li.turn .question")).to_have_text(
            [f"You asked {q}" for q in (DEFECTED, WHO, WHY)]
        )
        turn = last_turn(page)
        expect(turn.locator(".no-answer")).to_have_count(0)
        expect(turn).to_be_in_viewport()  # the form posts to /#latest
        with page.expect_navigation():
            turn.locator("a.source").first.click()
        assert re.search(r"/documents/defectors.txt\?p=1&s=\d+&e=\d+#p1$", page.url)
        expect(page.locator("#p1.selected")).to_be_visible()
        tab.open("/")
        tab.submit(MERCURY)
        expect(last_turn(page).locator(".no-answer")).to_have_text(NO_ANSWER)
        assert tab.problems == []
    finally:
        tab.context.close()


@pytest.mark.parametrize("javascript", [True, False])
def test_a_375px_screen_needs_no_horizontal_scroll(
    browser: Browser, server: str, javascript: bool
) -> None:
    tab = Tab(
        browser, server, viewport={"width": 375, "height": 740}, java_script_enabled=javascript
    )
    try:
        page = tab.open()
        for question in (DEFECTED, MERCURY):
            if javascript:
                tab.ask(question)
            else:
                tab.submit(question)
        last_turn(page).locator("details.closest summary").click()
        widths = {"/ (after two answers)": page.evaluate("document.documentElement.scrollWidth")}
        for path in ["/documents", "/documents/defectors.txt?p=5#p5", "/docs"]:
            tab.open(path)
            widths[path] = page.evaluate("document.documentElement.scrollWidth")
        assert all(width <= 375 for width in widths.values()), widths
        assert tab.problems == []
    finally:
        tab.context.close()


# --- The conversation as a URL -----------------------------------------------------------------


def conversation_url(base: str, *questions: str) -> str:
    return f"{base}/?" + urlencode([("q", q) for q in questions])


def questions_on(page: Page) -> list[str]:
    return [
        t.removeprefix("You asked ").strip()
        for t in page.locator("#conversation > li.turn .question").all_text_contents()
    ]


def test_a_conversation_survives_reload_and_back(tab: Tab) -> None:
    page = tab.open()
    tab.ask(WHO)
    tab.ask(WHY)
    assert page.url == conversation_url(tab.base, WHO, WHY)
    passages = last_turn(page).locator("blockquote").all_inner_texts()
    page.reload()
    assert questions_on(page) == [WHO, WHY]
    assert last_turn(page).locator("blockquote").all_inner_texts() == passages
    with page.expect_navigation():
        last_turn(page).locator("a.source").first.click()
    page.go_back()
    assert questions_on(page) == [WHO, WHY]
    # A later question continues the same conversation, with its history.
    with page.expect_request("**/api/ask") as request:
        tab.ask(DEFECTED)
    assert request.value.post_data_json["history"] == [WHO, WHY]
    assert page.url == conversation_url(tab.base, WHO, WHY, DEFECTED)
    assert tab.problems == []


def test_a_shared_link_shows_the_answer(tab: Tab) -> None:
    page = tab.open(f"/?{urlencode({'q': DEFECTED})}")
    first = last_turn(page).locator("figure.quote").first
    expect(first.locator("blockquote > mark")).to_contain_text("just 196 last year")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "answer.png", full_page=True)
    assert tab.problems == []


def test_copy_link_copies_the_conversation_up_to_that_answer(browser: Browser, server: str) -> None:
    tab = Tab(browser, server, permissions=["clipboard-read", "clipboard-write"])
    try:
        page = tab.open()
        tab.ask(WHO)
        tab.ask(WHY)
        turns = page.locator("#conversation > li.turn")
        turns.first.locator("button.copy-link").click()
        expect(turns.first.locator("button.copy-link")).to_have_text("Copied")
        assert page.evaluate("navigator.clipboard.readText()") == conversation_url(tab.base, WHO)
        turns.last.locator("button.copy-link").click()
        expected = conversation_url(tab.base, WHO, WHY)
        assert page.evaluate("navigator.clipboard.readText()") == expected
        # The copied link, opened afresh, shows the same conversation.
        other = Tab(browser, server)
        try:
            other.page.goto(expected)
            assert questions_on(other.page) == [WHO, WHY]
        finally:
            other.context.close()
        assert tab.problems == []
    finally:
        tab.context.close()


def test_new_conversation_and_export(tab: Tab) -> None:
    page = tab.open()
    expect(page.locator("#conversation-tools")).to_be_hidden()
    tab.ask(DEFECTED)
    expect(page.locator("#conversation-tools")).to_be_visible()
    with page.expect_download() as download:
        page.locator("#export").click()
    text = Path(download.value.path()).read_text("utf-8")
    assert f"## {DEFECTED}" in text
    assert f"— [defectors.txt · ¶5]({tab.base}/documents/defectors.txt?p=5&s=" in text
    with page.expect_navigation():
        page.locator("#new-conversation").click()
    assert page.url == f"{tab.base}/"
    expect(page.locator("#conversation > li.turn")).to_have_count(0)
    assert tab.problems == []


def test_without_javascript_a_reload_does_not_post_again(browser: Browser, server: str) -> None:
    tab = Tab(browser, server, java_script_enabled=False)
    try:
        page = tab.open()
        tab.submit(WHO)
        tab.submit(WHY)
        assert page.url == conversation_url(tab.base, WHO, WHY) + "#latest"
        with page.expect_response(lambda r: r.request.method == "GET" and "/?" in r.url):
            page.reload()  # no "resubmit the form?": the page was a GET
        assert questions_on(page) == [WHO, WHY]
        page.go_back()
        assert questions_on(page) == [WHO]
        assert tab.problems == []
    finally:
        tab.context.close()


# --- The empty page ----------------------------------------------------------------------------


def test_the_empty_page_shows_what_is_indexed_and_examples_that_answer(tab: Tab) -> None:
    page = tab.open()
    overview = page.locator("#overview")
    expect(overview.locator(".indexed li")).to_have_text(["defectors.txt 6 paragraphs"])
    examples = overview.locator(".examples a")
    expect(examples).not_to_have_count(0)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "empty.png", full_page=True)
    example = examples.first.text_content()
    seeds = (Path(__file__).resolve().parent.parent / "seeds" / "defectors.txt").read_text("utf-8")
    assert example in seeds  # verbatim
    with page.expect_navigation():
        examples.first.click()
    assert questions_on(page) == [example]
    expect(last_turn(page).locator(".no-answer")).to_have_count(0)
    expect(page.locator("#overview")).to_have_count(0)
    assert tab.problems == []
