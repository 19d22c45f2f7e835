"""The web app through HTTP (TestClient): API shapes, errors, pages, escaping, the no-JS chat."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from qa.answer import NO_ANSWER
from qa.embedder import Embedder
from qa.engine import Engine
from qa.settings import Settings
from web.app import create_app
from web.chat import CHAT_TURNS, URL_QUESTION_CHARS
from web.schemas import MAX_HISTORY

DEFECTED = "How many North Koreans defected last year?"
MERCURY = "What is the boiling point of mercury?"
WHO = "Who is Ri Il-kyu?"
WHY = "Why did he leave?"
PASSAGE_KEYS = {"text", "document", "path", "paragraph", "score", "highlight", "url",
                "title", "section", "page", "unit", "citation", "original_url",
                "page_url"}  # fmt: skip

# A tiny corpus with markup in the text, a subfolder, and ids that need escaping and quoting.
TINY = {
    "evil.txt": "The cat sat on the mat and purred <script>alert(1)</script> all afternoon.\n\n"
    "Dogs bark at the mailman every single morning without fail.\n",
    "sub/notes.md": "Volcanoes erupt when pressure in the magma chamber grows too large.\n\n"
    "Lava cools into basalt, a dark and fine-grained rock.\n",
    "my notes #1.txt": "Bees make honey from the nectar of flowers in the summer.\n",
    "a<b>.txt": "Owls hunt mice at night with silent feathers and sharp eyes.\n",
}


@pytest.fixture(scope="module")
def client(seed_settings: Settings, embedder: Embedder) -> TestClient:
    return TestClient(create_app(Engine(seed_settings, embedder)))


@pytest.fixture
def tiny(make_engine) -> TestClient:
    engine = make_engine(TINY)
    engine.build()
    return TestClient(create_app(engine))


def soup(response) -> BeautifulSoup:
    assert response.headers["content-type"].startswith("text/html")
    return BeautifulSoup(response.text, "html.parser")


def marked(card) -> str:
    return card.select_one("blockquote mark").get_text()


# --- /api/search -------------------------------------------------------------------------------


def test_search_returns_verbatim_paragraphs_with_highlight_and_url(client: TestClient) -> None:
    response = client.get("/api/search", params={"q": DEFECTED})
    assert response.status_code == 200
    body = response.json()
    assert body["query"] == DEFECTED
    assert len(body["results"]) == 5  # k defaults to 5
    best = body["results"][0]
    assert set(best) == PASSAGE_KEYS
    assert (best["document"], best["path"], best["paragraph"]) == (
        "defectors.txt",
        "defectors.txt",
        5,
    )
    start, end = best["highlight"]["start"], best["highlight"]["end"]
    assert 0 <= start < end <= len(best["text"])
    assert "196" in best["text"][start:end]
    assert best["url"] == f"http://testserver/documents/defectors.txt?p=5&s={start}&e={end}#p5"
    scores = [r["score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True)
    # The url opens the document with that paragraph marked, and the text is verbatim.
    page = soup(client.get(best["url"]))
    assert page.select_one("#p5.selected .text").get_text() == best["text"]
    # ... and in it, the best sentence (only that).
    assert page.select_one("#p5.selected mark").get_text() == best["text"][start:end]
    assert len(page.select(".document mark")) == 1


def test_the_readme_curl_quotes_the_196_paragraph_first(client: TestClient) -> None:
    """`curl 'http://127.0.0.1:8000/api/search?q=defectors+last+year'` from the issue."""
    results = client.get("/api/search?q=defectors+last+year").json()["results"]
    assert "196" in results[0]["text"] and results[0]["paragraph"] == 5


@pytest.mark.parametrize(("k", "count"), [(1, 1), (3, 3), (50, 6)])
def test_search_k_limits_the_results(client: TestClient, k: int, count: int) -> None:
    response = client.get("/api/search", params={"q": "defectors", "k": k})
    assert response.status_code == 200
    assert len(response.json()["results"]) == count  # the seed has 6 paragraphs


@pytest.mark.parametrize("k", ["0", "51", "-1", "abc", "2.5", ""])
def test_search_k_out_of_bounds_is_422(client: TestClient, k: str) -> None:
    response = client.get("/api/search", params={"q": "defectors", "k": k})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("k: ")


@pytest.mark.parametrize(
    ("params", "message"),
    [({}, "q: Field required"), ({"q": ""}, "empty"), ({"q": " \t\n "}, "empty")],
)
def test_search_needs_a_query(client: TestClient, params: dict, message: str) -> None:
    response = client.get("/api/search", params=params)
    assert response.status_code == 422
    assert message in response.json()["detail"]


def test_search_document_filter(tiny: TestClient) -> None:
    every = tiny.get("/api/search", params={"q": "animals", "k": 50}).json()["results"]
    assert {r["document"] for r in every} == set(TINY)
    only = tiny.get("/api/search", params={"q": "animals", "k": 50, "document": "sub/notes.md"})
    assert only.status_code == 200
    results = only.json()["results"]
    assert [r["document"] for r in results] == ["sub/notes.md", "sub/notes.md"]
    assert {r["url"].split("?")[0] for r in results} == {"http://testserver/documents/sub/notes.md"}
    for r in results:  # at the paragraph, its best sentence marked
        start, end, p = r["highlight"]["start"], r["highlight"]["end"], r["paragraph"]
        assert r["url"].endswith(f"?p={p}&s={start}&e={end}#p{p}")
    assert {r["paragraph"] for r in results} == {1, 2}


# --- /api/ask ----------------------------------------------------------------------------------


def test_ask_answers_with_quotes(client: TestClient) -> None:
    response = client.post("/api/ask", json={"question": DEFECTED})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"question", "answered", "message", "confidence", "strength", "passages"}
    assert body["question"] == DEFECTED
    assert body["strength"] == "strong match"
    assert body["answered"] is True
    assert body["message"] is None
    assert 0.5 <= body["confidence"] <= 1
    assert 1 <= len(body["passages"]) <= 3
    best = body["passages"][0]
    assert set(best) == PASSAGE_KEYS | {"answer"}  # the count that answers, marked
    assert best["text"][best["answer"]["start"] : best["answer"]["end"]] == "196"
    assert best["paragraph"] == 5
    assert "196" in best["text"][best["highlight"]["start"] : best["highlight"]["end"]]
    start, end = best["highlight"]["start"], best["highlight"]["end"]
    assert best["url"].endswith(f"/documents/defectors.txt?p=5&s={start}&e={end}#p5")
    assert (best["title"], best["section"], best["page"], best["original_url"]) == (
        "defectors.txt",
        None,
        None,
        None,
    )
    assert best["citation"] == "defectors.txt · ¶5"


def test_ask_marks_the_answer_phrase_when_sure(client: TestClient) -> None:
    body = client.post("/api/ask", json={"question": "When is Defectors' Day celebrated?"}).json()
    best = body["passages"][0]
    assert set(best) == PASSAGE_KEYS | {"answer"}
    assert best["text"][best["answer"]["start"] : best["answer"]["end"]] == "14 July"
    assert all(set(p) == PASSAGE_KEYS for p in body["passages"][1:])
    page = client.post("/", data={"question": "When is Defectors' Day celebrated?"}).text
    assert '<mark class="answer">14 July</mark>' in page and "strong match" in page
    assert 'class="quote secondary"' in page


def test_ask_says_when_the_documents_do_not_answer(client: TestClient) -> None:
    body = client.post("/api/ask", json={"question": MERCURY}).json()
    assert body["answered"] is False
    assert body["message"] == NO_ANSWER
    assert body["passages"]  # the closest ones, for the reader to judge
    assert all(set(p) == PASSAGE_KEYS for p in body["passages"])


def test_ask_history_makes_a_follow_up_understood(client: TestClient) -> None:
    alone = client.post("/api/ask", json={"question": WHY}).json()
    follow_up = client.post("/api/ask", json={"question": WHY, "history": [WHO]}).json()
    assert alone["answered"] is False  # "he" alone is nobody
    assert follow_up["answered"] is True
    assert follow_up["passages"][0]["paragraph"] == 1
    assert "Ri Il-kyu" in follow_up["passages"][0]["text"]


def test_get_ask_is_post_ask_for_scripts_that_cannot_post(client: TestClient) -> None:
    for question in (DEFECTED, MERCURY):
        posted = client.post("/api/ask", json={"question": question}).json()
        assert client.get("/api/ask", params={"q": question}).json() == posted
    missing = client.get("/api/ask")
    assert missing.status_code == 422 and "q: Field required" in missing.json()["detail"]
    empty = client.get("/api/ask", params={"q": " "})
    assert empty.status_code == 422 and "empty" in empty.json()["detail"]


def test_ask_within_one_document(tiny: TestClient) -> None:
    question = "Which rock does lava cool into?"
    everywhere = tiny.post("/api/ask", json={"question": question}).json()
    assert everywhere["passages"][0]["document"] == "sub/notes.md"
    for document in ("evil.txt", "sub/notes.md"):
        body = {"question": question, "document": document}
        posted = tiny.post("/api/ask", json=body).json()
        assert {p["document"] for p in posted["passages"]} == {document}
        got = tiny.get("/api/ask", params={"q": question, "document": document}).json()
        assert got == posted
    for response in (
        tiny.post("/api/ask", json={"question": question, "document": "nope.txt"}),
        tiny.get("/api/ask", params={"q": question, "document": "../evil.txt"}),
    ):
        assert response.status_code == 404
        assert "no indexed document" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "question: Field required"),
        ({"question": ""}, "the question is empty"),
        ({"question": "  \n\t "}, "the question is empty"),
        ({"question": "\x00\u200b"}, "the question is empty"),
        ({"question": 5}, "question: Input should be a valid string"),
        ({"question": None}, "question: Input should be a valid string"),
        ({"question": ["a"]}, "question: Input should be a valid string"),
        ({"question": "x", "history": "abc"}, "history: Input should be a valid list"),
        ({"question": "x", "history": [1]}, "history.0: Input should be a valid string"),
        ({"question": "x", "history": ["a"] * (MAX_HISTORY + 1)}, "history: "),
        ({"question": "x", "questions": "y"}, "questions: Extra inputs are not permitted"),
        (["How many?"], "body: Input should be a valid dictionary"),
        ({"question": "a" * 2001}, "too long"),
    ],
)
def test_ask_invalid_bodies_are_422_with_a_readable_message(
    client: TestClient, body: object, message: str
) -> None:
    response = client.post("/api/ask", json=body)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    assert message in detail


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"question": ', "not valid JSON"),
        (b"", "body: Field required"),
        (b'{"question": "\\ud800 defectors"}', "lone surrogate"),
        (b'{"question": "defectors", "history": ["\\udfff"]}', "lone surrogate"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_ask_malformed_json_is_422(client: TestClient, raw: bytes, message: str) -> None:
    response = client.post("/api/ask", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert message in response.json()["detail"]


DOCUMENTS = st.one_of(st.none(), st.sampled_from(["defectors.txt", "nope.txt", "", "../x"]))


@hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    question=st.text(max_size=60),
    history=st.lists(st.text(max_size=30), max_size=3),
    document=DOCUMENTS,
)
def test_no_user_input_gives_a_500(
    client: TestClient, question: str, history: list[str], document: str | None
) -> None:
    asked = client.post("/api/ask", json={"question": question, "history": history})
    searched = client.get("/api/search", params={"q": question, "k": 3})
    conversation = {"q": [*history, question], "document": document}
    posted = client.post("/", data={"question": question, **conversation})  # (redirect followed)
    shown = client.get("/", params=conversation)
    exported = client.get("/conversation.md", params=conversation)
    by_get = client.get("/api/ask", params={"q": question, "history": history})
    marked = client.post("/feedback", data={"question": question, "helpful": "no"})
    assert asked.status_code in (200, 422)
    assert searched.status_code in (200, 422)
    assert by_get.status_code in (200, 422)
    for response in (posted, shown, exported):
        assert response.status_code in (200, 404, 422), response.url
    assert marked.status_code in (200, 404, 422, 429)  # (429: QA_FEEDBACK_PER_MINUTE)


# --- /health and a missing index ---------------------------------------------------------------


def test_health(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "status", "documents", "paragraphs", "model", "index_version", "index_built_at", "refused",
    }  # fmt: skip
    assert (body["status"], body["documents"], body["paragraphs"]) == ("ok", 1, 6)
    assert body["refused"] == []  # files that broke a reading limit (tests/test_refusals.py)
    assert body["model"] == "all-MiniLM-L6-v2"
    assert re.match(r"\d{4}-\d\d-\d\dT", body["index_built_at"])


def test_footer_shows_the_index_version(client: TestClient) -> None:
    health = client.get("/health").json()
    footer = soup(client.get("/")).select_one("footer").get_text(" ", strip=True)
    assert health["index_version"] in footer
    assert health["index_built_at"][:10] in footer


@pytest.mark.parametrize(
    ("method", "path", "kind"),
    [
        ("GET", "/health", "json"),
        ("GET", "/api/search?q=cats", "json"),
        ("POST", "/api/ask", "json"),
        ("GET", "/", "html"),
        ("POST", "/", "html"),
        ("GET", "/documents", "html"),
    ],
)
def test_a_missing_index_is_503(make_engine, method: str, path: str, kind: str) -> None:
    client = TestClient(create_app(make_engine({"a.txt": "Cats sleep a lot during the day."})))
    response = client.request(
        method, path, json={"question": "cats"} if kind == "json" else None,
        data={"question": "cats"} if kind == "html" and method == "POST" else None,
    )  # fmt: skip
    assert response.status_code == 503
    if kind == "json":
        assert "index" in response.json()["detail"]
    else:
        assert "index" in soup(response).select_one(".error-message").get_text()


# --- Pages -------------------------------------------------------------------------------------


def test_chat_page(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    page = soup(response)
    form = page.select_one("form#ask")
    assert (form["method"], form["action"].split("#")[0]) == ("post", "/")
    assert form.select_one("textarea[name=question]") is not None
    assert page.select_one("#conversation")["aria-live"] == "polite"
    assert [s["src"] for s in page.select("script")] == ["/static/app.js"]
    assert page.select_one("link[rel=stylesheet]")["href"] == "/static/style.css"


@pytest.mark.parametrize("path", ["/", "/documents", "/documents/defectors.txt", "/docs", "/nope"])
def test_pages_have_no_inline_script_and_nothing_from_elsewhere(
    client: TestClient, path: str
) -> None:
    page = soup(client.get(path))
    for script in page.select("script"):
        assert script.get("src", "").startswith("/static/") and not script.string
    assert not page.select("[style], [onclick], [onload], [onerror]")
    for tag in page.select("[src], link[href]"):
        assert (tag.get("src") or tag.get("href")).startswith("/"), tag


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/static/app.js", "javascript"),
        ("/static/style.css", "text/css"),
        ("/static/favicon.svg", "svg"),
    ],
)
def test_static_files_are_served(client: TestClient, path: str, kind: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert kind in response.headers["content-type"]


def test_documents_list(client: TestClient) -> None:
    page = soup(client.get("/documents"))
    rows = [[td.get_text(strip=True) for td in tr.select("td")] for tr in page.select("tbody tr")]
    assert rows == [["defectors.txt", "6"]]
    assert page.select_one("tbody a")["href"] == "/documents/defectors.txt"


def test_document_page_anchors_every_paragraph_and_marks_the_linked_one(
    client: TestClient,
) -> None:
    page = soup(client.get("/documents/defectors.txt", params={"p": 5}))
    paragraphs = page.select(".document .paragraph")
    assert [p["id"] for p in paragraphs] == [f"p{n}" for n in range(1, 7)]
    assert [p["id"] for p in page.select(".paragraph.selected")] == ["p5"]
    assert "196 last year" in page.select_one("#p5").get_text()
    assert page.select_one("#p5 a.pnum")["href"] == "#p5"
    plain = soup(client.get("/documents/defectors.txt"))
    assert plain.select(".paragraph.selected") == []


def test_documents_json_lists_what_the_page_lists(tiny: TestClient) -> None:
    body = tiny.get("/documents.json").json()
    ids = [d["id"] for d in body["documents"]]
    assert sorted(ids) == sorted(TINY)
    page = soup(tiny.get("/documents"))
    assert [a.get_text() for a in page.select("table.documents a")] == ids
    assert page.select_one("a[type='application/json']")["href"] == "/documents.json"
    notes = next(d for d in body["documents"] if d["id"] == "sub/notes.md")
    assert notes["paragraphs"] == 2
    assert notes["url"] == "http://testserver/documents/sub/notes.md"
    odd = next(d for d in body["documents"] if d["id"] == "my notes #1.txt")
    assert tiny.get(odd["url"]).status_code == 200  # the url is quoted: "#" is not a fragment


def test_document_json_has_every_paragraph_field(tiny: TestClient, client: TestClient) -> None:
    response = client.get("/documents/defectors.txt.json")
    assert response.status_code == 200
    body = response.json()
    assert body["document"]["id"] == "defectors.txt" and body["document"]["paragraphs"] == 6
    engine = client.app.state.engine
    paragraphs = engine.document("defectors.txt")
    assert len(body["paragraphs"]) == 6
    for got, p in zip(body["paragraphs"], paragraphs):
        fields = {f: getattr(p, f) for f in p.__dataclass_fields__}
        assert set(got) == {*fields, "url"}  # whatever a Paragraph has
        assert got["text"] == p.text and got["number"] == p.number
        assert [tuple(s) for s in got["sentences"]] == list(p.sentences)
        assert got["url"] == f"http://testserver/documents/defectors.txt?p={p.number}#p{p.number}"
    page = soup(client.get("/documents/defectors.txt"))
    json_link = page.select_one("a[type='application/json']")["href"]
    assert json_link == "/documents/defectors.txt.json"
    # Ids that need quoting, in subfolders; anything else is a 404 like the page.
    quoted = tiny.get("/documents/my%20notes%20%231.txt.json")
    assert quoted.status_code == 200 and quoted.json()["document"]["id"] == "my notes #1.txt"
    assert tiny.get("/documents/sub/notes.md.json").json()["paragraphs"][1]["number"] == 2
    for path in ["/documents/nope.txt.json", "/documents/../evil.txt.json", "/documents/.json"]:
        response = tiny.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/json"


def test_document_page_with_a_bad_paragraph_parameter_is_422(client: TestClient) -> None:
    response = client.get("/documents/defectors.txt", params={"p": "five"})
    assert response.status_code == 422
    assert "p: " in soup(response).select_one(".error-message").get_text()


@pytest.mark.parametrize(
    "path",
    [
        "/documents/nope.txt",
        "/documents/",
        "/documents/DEFECTORS.TXT",
        "/documents/defectors.txt/",
        "/documents/../../etc/passwd",
        "/documents/%2e%2e/%2e%2e/etc/passwd",
        "/documents/..%2f..%2fetc%2fpasswd",
        "/documents/%2Fetc%2Fpasswd",
        "/documents//etc/passwd",
        "/documents/./defectors.txt/../../../etc/passwd",
    ],
)
def test_unknown_documents_and_traversal_are_404(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert "root:" not in response.text


def test_traversal_cannot_reach_a_file_beside_the_documents(make_engine, tmp_path) -> None:
    engine = make_engine({"a.txt": "Cats sleep a lot during the day."})
    engine.build()
    (tmp_path / "secret.txt").write_text("TOPSECRET words", "utf-8")  # next to docs/
    client = TestClient(create_app(engine))
    for path in [
        "/documents/%2e%2e/secret.txt",
        "/documents/..%2fsecret.txt",
        "/documents/../secret.txt",
    ]:
        response = client.get(path)
        assert response.status_code == 404
        assert "TOPSECRET" not in response.text
    assert client.get("/documents/a.txt").status_code == 200


def test_unknown_api_path_is_json_404(client: TestClient) -> None:
    response = client.get("/api/nope")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


# --- Security headers --------------------------------------------------------------------------

SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/", 200),
        ("POST", "/", 422),
        ("GET", "/documents/defectors.txt", 200),
        ("GET", "/documents/nope", 404),
        ("GET", "/docs", 200),
        ("GET", "/openapi.json", 200),
        ("GET", "/static/app.js", 200),
        ("GET", "/static/nope.css", 404),
        ("GET", "/health", 200),
        ("GET", "/api/search?q=defectors&k=1", 200),
        ("GET", "/api/search?k=0", 422),
        ("POST", "/api/ask", 422),
        ("GET", "/api/nope", 404),
        ("POST", "/api/index", 403),
        ("DELETE", "/api/search", 405),
    ],
)
def test_every_response_has_the_security_headers(
    client: TestClient, method: str, path: str, status: int
) -> None:
    response = client.request(method, path)
    assert response.status_code == status
    assert {k: response.headers.get(k) for k in SECURITY_HEADERS} == SECURITY_HEADERS
    assert len(response.headers.get_list("content-security-policy")) == 1


# --- Escaping ----------------------------------------------------------------------------------


def test_document_text_and_ids_are_escaped(tiny: TestClient) -> None:
    page = tiny.get("/documents/evil.txt")
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<script>alert(1)</script>" in soup(page).select_one("#p1").get_text()  # shown as text
    listing = tiny.get("/documents")
    assert "a<b>.txt" not in listing.text and "a&lt;b&gt;.txt" in listing.text
    hrefs = [a["href"] for a in soup(listing).select("tbody a")]
    assert "/documents/a%3Cb%3E.txt" in hrefs and "/documents/my%20notes%20%231.txt" in hrefs
    for href in hrefs:  # every listed document opens, whatever its name
        assert tiny.get(href).status_code == 200


def test_quotes_of_markup_are_escaped_in_the_chat(tiny: TestClient) -> None:
    response = tiny.post("/", data={"question": "Where did the cat sit? <b>bold</b>"})
    assert response.status_code == 200
    assert "<script>alert(1)</script>" not in response.text
    assert "<b>bold</b>" not in response.text
    page = soup(response)
    assert "<b>bold</b>" in page.select_one(".question").get_text()
    assert "<script>alert(1)</script>" in page.select_one("blockquote").get_text()
    assert page.select_one(".source")["href"].startswith("/documents/evil.txt?p=1&s=")


def test_api_returns_markup_as_plain_json_text(tiny: TestClient) -> None:
    results = tiny.get("/api/search", params={"q": "cat on the mat", "k": 1}).json()["results"]
    assert "<script>alert(1)</script>" in results[0]["text"]


# --- The chat as a URL, with and without JavaScript --------------------------------------------


def question_fields(page: BeautifulSoup) -> list[str]:
    """The hidden fields that carry the earlier questions."""
    return [i["value"] for i in page.select("form#ask input[type=hidden][name=q]")]


def questions_shown(page: BeautifulSoup) -> list[str]:
    return [
        t.select_one(".question").get_text(" ", strip=True).removeprefix("You asked ")
        for t in page.select("#conversation > li.turn")
    ]


def shown_passages(turn) -> list[tuple[str, int, str, str]]:
    """(document, paragraph, text, marked sentence) of each card of a rendered turn."""
    found = []
    for card in turn.select("figure.quote"):
        document, number = card.select_one("a.source").get_text(strip=True).rsplit(" · ¶", 1)
        text = card.select_one("blockquote").get_text()
        found.append((document, int(number), text, marked(card)))
    return found


def api_passages(body: dict) -> list[tuple[str, int, str, str]]:
    return [
        (
            p["document"],
            p["paragraph"],
            p["text"],
            p["text"][p["highlight"]["start"] : p["highlight"]["end"]],
        )
        for p in body["passages"]
    ]


def test_form_post_redirects_to_the_conversation_url(client: TestClient) -> None:
    """POST-redirect-GET: the post answers with a 303 to /?q=…, so a reload never posts again."""
    response = client.post("/", data={"question": DEFECTED}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/?" + urlencode({"q": DEFECTED}) + "#latest"
    response = client.get(response.headers["location"])
    assert response.status_code == 200
    page = soup(response)
    turns = page.select("#conversation > li.turn")
    assert len(turns) == 1
    assert turns[0]["id"] == "latest"
    cards = turns[0].select("figure.quote")
    assert 1 <= len(cards) <= 3
    assert "196" in marked(cards[0])
    assert cards[0].select_one("a.source").get_text(strip=True) == "defectors.txt · ¶5"
    assert cards[0].select_one("a.source")["href"].startswith("/documents/defectors.txt?p=5&s=")
    assert cards[0].select_one("button.copy").has_attr("hidden")  # needs JavaScript
    assert re.fullmatch(r"score -?\d+\.\d\d", cards[0].select_one(".score").get_text())
    assert question_fields(page) == [DEFECTED]
    assert page.select_one("textarea").get_text() == ""


def test_a_conversation_url_answers_as_the_api_does(client: TestClient) -> None:
    """/?q=a&q=b shows for b what POST /api/ask answers with history [a], and GET /api/ask too."""
    page = soup(client.get("/", params={"q": [WHO, WHY]}))
    assert questions_shown(page) == [WHO, WHY]
    turns = page.select("#conversation > li.turn")
    first = client.post("/api/ask", json={"question": WHO}).json()
    follow_up = client.post("/api/ask", json={"question": WHY, "history": [WHO]}).json()
    assert shown_passages(turns[0]) == api_passages(first)
    assert shown_passages(turns[1]) == api_passages(follow_up)
    assert NO_ANSWER not in turns[1].get_text()  # understood thanks to the earlier question
    by_get = client.get("/api/ask", params={"q": WHY, "history": [WHO]})
    assert by_get.status_code == 200 and by_get.json() == follow_up
    alone = soup(client.get("/", params={"q": WHY}))
    assert alone.select_one(".no-answer").get_text() == NO_ANSWER


def test_each_answer_links_to_the_conversation_up_to_it(client: TestClient) -> None:
    page = soup(client.get("/", params={"q": [WHO, WHY]}))
    links = [a["href"] for a in page.select("#conversation > li.turn a.permalink")]
    assert links == ["/?" + urlencode({"q": WHO}), "/?" + urlencode([("q", WHO), ("q", WHY)])]
    assert all(b.has_attr("hidden") for b in page.select("button.copy-link"))  # needs JS
    tools = page.select_one("#conversation-tools")
    assert not tools.has_attr("hidden")
    assert tools.select_one("#new-conversation")["href"] == "/"
    assert tools.select_one("#export")["href"] == "/conversation.md?" + urlencode(
        [("q", WHO), ("q", WHY)]
    )
    assert soup(client.get("/")).select_one("#conversation-tools").has_attr("hidden")


def test_a_form_post_carries_the_conversation_as_its_questions(client: TestClient) -> None:
    response = client.post("/", data={"question": WHY, "q": [WHO]}, follow_redirects=False)
    assert response.headers["location"] == "/?" + urlencode([("q", WHO), ("q", WHY)]) + "#latest"
    page = soup(client.get(response.headers["location"]))
    assert questions_shown(page) == [WHO, WHY]
    assert question_fields(page) == [WHO, WHY]


def test_a_conversation_is_answered_with_one_model_pass_per_question(
    client: TestClient, embedder: Embedder
) -> None:
    questions = [WHO, DEFECTED, MERCURY, WHY]
    before = embedder.texts_embedded
    page = soup(client.get("/", params={"q": questions}))
    assert embedder.texts_embedded - before == len(questions)
    assert questions_shown(page) == questions
    before = embedder.texts_embedded
    client.post("/", data={"question": WHY, "q": questions}, follow_redirects=False)
    assert embedder.texts_embedded - before <= 1  # a post only redirects (and records)


def test_a_url_puts_no_words_on_the_page_but_its_questions(client: TestClient) -> None:
    """Whatever a URL says, the page shows its questions as text and the index's paragraphs."""
    hostile = "Who <b>defected</b>? <script>alert(1)</script>"
    response = client.get("/", params={"q": ["", "  ", hostile, "a" * 5000, DEFECTED]})
    assert response.status_code == 200
    assert "<b>defected</b>" not in response.text and "<script>alert(1)" not in response.text
    page = soup(response)
    assert questions_shown(page) == [hostile, DEFECTED]  # unusable ones dropped
    paragraphs = {p.text for p in client.app.state.engine.document("defectors.txt")}
    assert {b.get_text() for b in page.select("blockquote")} <= paragraphs


def test_a_url_whose_last_question_is_unusable_says_why(client: TestClient) -> None:
    response = client.get("/", params={"q": [WHO, "   "]})
    assert response.status_code == 422
    page = soup(response)
    assert page.select_one("#status").get_text() == "the question is empty"
    assert questions_shown(page) == [WHO]


def test_form_post_without_an_answer_folds_the_closest_passages(client: TestClient) -> None:
    page = soup(client.post("/", data={"question": MERCURY}))
    reply = page.select_one("#latest .reply")
    assert reply.select_one(".no-answer").get_text() == NO_ANSWER
    details = reply.select_one("details.closest")
    assert details is not None and not details.has_attr("open")
    assert details.select_one("summary").get_text() == "Closest passages"
    assert len(details.select("figure.quote")) >= 1
    assert reply.select(":scope > figure.quote") == []


def test_form_post_of_an_empty_question_keeps_the_conversation(client: TestClient) -> None:
    response = client.post("/", data={"question": "   ", "q": [WHO]}, follow_redirects=False)
    assert response.status_code == 422
    page = soup(response)
    assert page.select_one("#status").get_text() == "the question is empty"
    assert questions_shown(page) == [WHO]
    assert question_fields(page) == [WHO]


def test_a_conversation_keeps_only_the_recent_questions(client: TestClient) -> None:
    earlier = [f"question number {n} about defectors" for n in range(30)]
    response = client.post("/", data={"question": DEFECTED, "q": earlier}, follow_redirects=False)
    kept = parse_qs(urlsplit(response.headers["location"]).query)["q"]
    assert kept == [*earlier[-(CHAT_TURNS - 1) :], DEFECTED]
    # Long questions: the oldest go first, so a link stays short enough for any server.
    long = [f"{n} " + "defectors " * 150 for n in range(8)]  # ~1,500 characters each
    response = client.post("/", data={"question": DEFECTED, "q": long}, follow_redirects=False)
    location = response.headers["location"]
    assert len(location) < 3 * URL_QUESTION_CHARS
    kept = parse_qs(urlsplit(location).query)["q"]
    assert kept[-1] == DEFECTED and kept[:-1] == [q.strip() for q in long[-len(kept) + 1 :]]
    assert client.get(location).status_code == 200


def test_the_empty_page_shows_the_documents_and_examples_from_them(tiny: TestClient) -> None:
    page = soup(tiny.get("/"))
    listed = {
        li.select_one("a").get_text(): li.select_one(".count").get_text()
        for li in page.select("#overview .indexed li")
    }
    assert listed == {
        "evil.txt": "2 paragraphs", "sub/notes.md": "2 paragraphs",
        "my notes #1.txt": "1 paragraph", "a<b>.txt": "1 paragraph",
    }  # fmt: skip
    examples = page.select("#overview .examples li")
    assert examples
    for example in examples:
        text = example.select_one("a").get_text()
        source = example.select_one(".from").get_text()
        assert text in TINY[source]  # verbatim from the document it names
        assert example.select_one("a")["href"] == "/?" + urlencode({"q": text})
    assert soup(tiny.get("/", params={"q": "cats"})).select("#overview") == []


def test_a_conversation_can_ask_within_one_document(tiny: TestClient) -> None:
    page = soup(tiny.get("/"))
    options = [(o["value"], o.get_text()) for o in page.select("select[name=document] option")]
    assert options[0] == ("", "all documents")
    assert sorted(v for v, _ in options[1:]) == sorted(TINY)
    question = "Which rock does lava cool into?"
    response = tiny.post(
        "/", data={"question": question, "document": "evil.txt"}, follow_redirects=False
    )
    location = response.headers["location"]
    assert location == "/?" + urlencode({"q": question, "document": "evil.txt"}) + "#latest"
    page = soup(tiny.get(location))
    assert {a.get_text().rsplit(" · ¶")[0] for a in page.select("a.source")} == {"evil.txt"}
    assert page.select_one("select[name=document] option[selected]")["value"] == "evil.txt"
    assert page.select_one("a.permalink")["href"] == location.removesuffix("#latest")
    assert "document=evil.txt" in page.select_one("#export")["href"]
    everywhere = soup(tiny.get("/", params={"q": question}))
    assert everywhere.select_one("a.source").get_text().startswith("sub/notes.md")
    missing = tiny.get("/", params={"q": question, "document": "nope.txt"})
    assert missing.status_code == 404


def test_a_conversation_exports_as_markdown_of_quotes_and_links(client: TestClient) -> None:
    response = client.get("/conversation.md", params={"q": [DEFECTED, MERCURY]})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/markdown; charset=utf-8"
    assert "attachment" in response.headers["content-disposition"]
    text = response.text
    assert text.startswith("# Ask the documents\n")
    assert f"\n## {DEFECTED}\n" in text and f"\n## {MERCURY}\n" in text
    assert re.search(
        r"— \[defectors\.txt · ¶5\]\(http://testserver/documents/defectors\.txt\?p=5&s=\d+&e=\d+#p5\)",
        text,
    )
    assert f"\n{NO_ANSWER}\n" in text
    # Only the questions, their links, quotes of whole paragraphs and fixed phrases.
    paragraphs = {p.text for p in client.app.state.engine.document("defectors.txt")}
    fixed = {"# Ask the documents", NO_ANSWER, "Closest passages:"}
    quote: list[str] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith(">"):
            quote.append(line[2:])
            continue
        if quote:  # (Markdown's backslash escapes undone: what a reader sees)
            shown = re.sub(r"\\(.)", r"\1", "\n".join(quote).replace("**", ""))
            assert shown in paragraphs
            quote = []
        assert (
            not line
            or line in fixed
            or line in (f"## {DEFECTED}", f"## {MERCURY}")
            or re.fullmatch(r"<http://testserver/\?q=[^>]+>", line)
            or re.fullmatch(r"— \[defectors\.txt · ¶\d\]\(http://testserver/documents/\S+\)", line)
        ), line
    assert text.count("**") >= 2  # the best sentence of each quote is marked


# --- The API reference -------------------------------------------------------------------------


def test_openapi_schema_documents_fields_and_examples(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/api/search", "/api/ask", "/health", "/api/index"} <= set(spec["paths"])
    schemas = spec["components"]["schemas"]
    for name in [
        "PassageOut", "SearchResponse", "AskRequest", "AskResponse", "HealthResponse",
        "IndexStatus",
    ]:  # fmt: skip
        assert schemas[name]["properties"], name
        for field, definition in schemas[name]["properties"].items():
            assert definition.get("description"), f"{name}.{field} has no description"
        assert schemas[name].get("examples") or all(
            "examples" in d for d in schemas[name]["properties"].values()
        ), name
    params = {p["name"]: p for p in spec["paths"]["/api/search"]["get"]["parameters"]}
    assert (params["k"]["schema"]["minimum"], params["k"]["schema"]["maximum"]) == (1, 50)
    ask_errors = spec["paths"]["/api/ask"]["post"]["responses"]["422"]["content"]
    assert ask_errors["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")
    # The rebuild endpoints: bearer token, response model, every refusal documented.
    assert spec["components"]["securitySchemes"]["AdminToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "The value of QA_ADMIN_TOKEN: `Authorization: Bearer <QA_ADMIN_TOKEN>`.",
    }
    rebuild = spec["paths"]["/api/index"]
    assert set(rebuild) == {"get", "post"}
    assert set(rebuild["post"]["responses"]) == {"202", "401", "403", "409"}
    assert set(rebuild["get"]["responses"]) == {"200", "401", "403"}
    for operation, ok in [(rebuild["post"], "202"), (rebuild["get"], "200")]:
        assert operation["security"] == [{"AdminToken": []}]
        schema = operation["responses"][ok]["content"]["application/json"]["schema"]
        assert schema["$ref"].endswith("/IndexStatus")
    state = schemas["IndexStatus"]["properties"]["state"]
    assert state["enum"] == ["idle", "running", "failed"]


def test_docs_page_renders_the_reference_without_javascript(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    page = soup(response)
    headings = [h.get_text() for h in page.select("h2 code")]
    assert headings == [
        "GET /api/search", "POST /api/ask", "GET /api/ask", "POST /api/feedback", "GET /health",
        "GET /api/index", "POST /api/index", "GET /documents.json",
        "GET /documents/{doc_id}/pages/{n}.json", "GET /documents/{doc_id}.json",
        "PUT /api/documents/{name}", "DELETE /api/documents/{name}",
    ]  # fmt: skip
    needs_token = [
        s.select_one("h2 code").get_text()
        for s in page.select("section[id]")
        if "Authorization: Bearer <QA_ADMIN_TOKEN>" in s.get_text()
    ]
    assert needs_token == [
        "GET /api/index", "POST /api/index", "PUT /api/documents/{name}",
        "DELETE /api/documents/{name}",
    ]  # fmt: skip
    state = page.select_one("#schema-IndexStatus dt:-soup-contains('state')").get_text()
    assert '"idle" | "running" | "failed"' in state
    assert page.select_one("#schema-PassageOut") is not None
    example = json.loads(page.select_one("#schema-SearchResponse pre").get_text())
    assert example["results"][0]["paragraph"] == 5
    assert page.select("script") == []


def test_the_app_runs_no_more_request_threads_than_questions_at_once(seed_engine) -> None:
    from anyio import to_thread
    from fastapi.testclient import TestClient

    from qa.engine import CONCURRENT_QUESTIONS
    from web.app import create_app

    with TestClient(create_app(seed_engine)) as client:  # with its lifespan
        tokens = client.portal.call(lambda: to_thread.current_default_thread_limiter().total_tokens)
    assert tokens == CONCURRENT_QUESTIONS
