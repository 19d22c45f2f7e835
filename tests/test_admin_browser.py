"""The admin page in real Chromium, end to end: log in, upload a document, watch the rebuild,
ask what only the new document answers; the 👍/👎 marks and the report; the document filter;
a cross-site form refused. Screenshots of the upload and the report go to tests/artifacts/."""

from __future__ import annotations

import contextlib
import http.server
import re
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from qa.embedder import Embedder
from qa.engine import Engine
from qa.settings import Settings
from tests import test_browser
from tests.conftest import SEEDS
from tests.test_browser import ARTIFACTS, CHROMIUM, Tab, last_turn
from tests.test_live import free_socket, serve_in_thread
from web.app import create_app

TOKEN = "browser-admin-token"
# A one-page document (about 300 words) that nothing in the seeds answers.
OKAPI = """# The okapi of the Ituri forest

The okapi lives only in the Ituri rainforest of the Democratic Republic of the Congo. Although
its striped legs recall a zebra, its closest living relative is the giraffe.

An okapi eats leaves, buds, grasses, ferns and fungi, and it uses its long prehensile tongue,
which can be thirty centimetres long, to strip leaves from branches and to clean its own ears.

Okapis are solitary and shy. A female gives birth to a single calf after a pregnancy of about
fifteen months, and the calf spends most of its first two months hidden in a nest in the
undergrowth.

The species was unknown to European science until 1901, when the British governor of Uganda,
Sir Harry Johnston, sent pieces of striped skin to London. It is now the national animal of the
Democratic Republic of the Congo and is protected in the Okapi Wildlife Reserve, which covers
about a fifth of the Ituri forest.

Logging, mining and poaching have reduced its numbers; the IUCN lists the okapi as endangered,
with perhaps ten thousand animals left in the wild.
"""
OKAPI_QUESTION = "How long is the tongue of an okapi?"
MERCURY = "What is the boiling point of mercury?"
UPLOAD_TO_ANSWER_SECONDS = 5.0

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")
browser = test_browser.browser  # the shared Chromium fixture (one launch per module)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Engine:
    root = tmp_path_factory.mktemp("admin")
    shutil.copytree(SEEDS, root / "docs")
    settings = Settings.load({"docs": root / "docs", "index": root / "index"}, environ={})
    engine = Engine(replace(settings, admin_token=TOKEN), embedder)
    engine.build()
    return engine


@pytest.fixture(scope="module")
def server(engine: Engine) -> Iterator[str]:
    with serve_in_thread(create_app(engine)) as base:
        yield base


@pytest.fixture
def tab(browser: Browser, server: str) -> Iterator[Tab]:
    tab = Tab(browser, server)
    yield tab
    tab.context.close()


def log_in(tab: Tab) -> Page:
    page = tab.open("/admin")
    page.locator("#token").fill(TOKEN)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()
    expect(page.locator("h2", has_text="Add documents")).to_be_visible()
    # The login page itself is a 401, which Chromium logs as a failed load: nothing else may be.
    tab.problems[:] = [p for p in tab.problems if "status of 401" not in p]
    return page


def test_upload_watch_the_rebuild_and_ask(tab: Tab, engine: Engine, tmp_path: Path) -> None:
    page = log_in(tab)
    polled: list[dict] = []  # every build state the page was told while it followed the build

    def poll(response) -> None:
        if response.url.endswith("/admin/build.json"):
            with contextlib.suppress(Exception):  # (a body gone with a reload)
                polled.append(response.json()["status"])

    page.on("response", poll)
    okapi = tmp_path / "okapi.md"
    okapi.write_text(OKAPI, "utf-8")
    page.locator("#files").set_input_files(okapi)
    started = time.perf_counter()
    with page.expect_navigation():
        page.get_by_role("button", name="Upload").click()
    added = f"Added okapi.md ({okapi.stat().st_size:,} bytes)."
    expect(page.locator(".notices .ok")).to_have_text(added)
    # The page follows the build and reloads itself when it ends: the history shows it.
    history = page.locator("table.history tbody tr").first
    expect(history).to_contain_text("1 documents added", timeout=20_000)
    expect(page.locator("#build")).to_have_attribute("data-state", "idle")
    row = page.locator("table.files tr", has_text="okapi.md")
    expect(row.locator("td.num").last).to_have_text(str(len(engine.document("okapi.md"))))
    last = polled[-1]["progress"]
    assert last["documents_read"] == last["documents"] == 2
    assert last["texts_embedded"] == last["texts"] > 0
    chat = Tab(tab.context.browser, tab.base)
    try:
        answer = chat.open()
        chat.ask(OKAPI_QUESTION)
        card = last_turn(answer).locator("figure.quote").first
        expect(card.locator("a.source")).to_have_attribute(
            "href", re.compile(r"/documents/okapi\.md\?")
        )
        expect(card.locator("blockquote")).to_contain_text("thirty centimetres")
        elapsed = time.perf_counter() - started
        assert chat.problems == []
    finally:
        chat.context.close()
    print(f"\nupload to answerable: {elapsed:.2f} s")
    assert elapsed <= UPLOAD_TO_ANSWER_SECONDS
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "admin_upload.png", full_page=True)
    assert tab.problems == []


def test_marks_and_unanswered_questions_reach_the_report(tab: Tab, browser: Browser) -> None:
    page = tab.open()
    tab.ask(MERCURY)
    tab.ask(MERCURY)
    tab.ask("Who is Ri Il-kyu?")
    first = page.locator("#conversation > li.turn").last
    with page.expect_response("**/api/feedback") as response:
        first.get_by_role("button", name="Not helpful", exact=True).click()
    assert response.value.json() == {"recorded": True}
    expect(first.locator(".voted")).to_have_text("Thanks for the feedback.")
    admin = Tab(browser, tab.base)
    try:
        report = log_in(admin).locator("#report")
        groups = report.locator("li.group")
        expect(groups.first.locator(".question")).to_have_text(f"2× {MERCURY}")
        expect(report).to_contain_text("Who is Ri Il-kyu?")
        expect(report).to_contain_text("unhelpful 1")
        groups.first.locator("summary").click()
        expect(groups.first.locator("figure.quote").first).to_be_visible()
        report.scroll_into_view_if_needed()
        ARTIFACTS.mkdir(exist_ok=True)
        admin.page.screenshot(path=ARTIFACTS / "report.png", full_page=True)
        assert admin.problems == []
    finally:
        admin.context.close()
    assert tab.problems == []


def test_marks_work_without_javascript(browser: Browser, server: str, engine: Engine) -> None:
    tab = Tab(browser, server, java_script_enabled=False)
    try:
        page = tab.open()
        tab.submit("Where does the okapi live?")
        before = len(engine.feedback.records(("helpful",)))
        with page.expect_navigation():
            last_turn(page).get_by_role("button", name="Helpful", exact=True).click()
        assert len(engine.feedback.records(("helpful",))) == before + 1
        expect(page.locator("#conversation > li.turn")).to_have_count(1)  # back where it was
        assert tab.problems == []
    finally:
        tab.context.close()


def test_ask_within_one_document(tab: Tab, engine: Engine) -> None:
    page = tab.open()
    if len(engine.documents()) < 2:
        pytest.skip("needs the uploaded document beside the seed")
    page.locator("select#document").select_option("defectors.txt")
    tab.ask(OKAPI_QUESTION)
    sources = last_turn(page).locator("a.source").all_text_contents()
    assert sources and all(s.startswith("defectors.txt") for s in sources)
    assert "document=defectors.txt" in page.url
    page.reload()
    expect(page.locator("select#document")).to_have_value("defectors.txt")
    assert tab.problems == []


class EvilPage(http.server.BaseHTTPRequestHandler):
    """Another site: a page whose form posts to the admin of the app (target set per test)."""

    target = ""

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        body = (
            f'<form method="post" action="{self.target}/admin/rebuild">'
            '<input name="csrf" value="guessed"><button id="go">go</button></form>'
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_a_cross_site_form_post_is_refused(tab: Tab, engine: Engine) -> None:
    log_in(tab)  # the browser holds a session: the other site still gets nowhere
    sock = free_socket()
    EvilPage.target = tab.base
    evil = http.server.HTTPServer(sock.getsockname(), EvilPage, bind_and_activate=False)
    evil.socket = sock
    evil.server_activate()
    thread = threading.Thread(target=evil.serve_forever, daemon=True)
    thread.start()
    try:
        page = tab.page
        page.goto(f"http://localhost:{sock.getsockname()[1]}/")  # another site than 127.0.0.1
        with page.expect_navigation() as navigation:
            page.locator("#go").click()
        assert navigation.value.status == 403
        expect(page.locator("body")).to_contain_text("another site")
    finally:
        evil.shutdown()
        sock.close()
    tab.problems.clear()  # the 403 is logged by Chromium as a failed load


def test_a_375px_screen_needs_no_horizontal_scroll(browser: Browser, server: str) -> None:
    tab = Tab(browser, server, viewport={"width": 375, "height": 740})
    try:
        widths = {"/ (empty, with the filter)": tab.open().evaluate(
            "document.documentElement.scrollWidth"
        )}  # fmt: skip
        widths["/admin"] = log_in(tab).evaluate("document.documentElement.scrollWidth")

        assert all(width <= 375 for width in widths.values()), widths
        assert tab.problems == []
    finally:
        tab.context.close()
