"""The web app through HTTP (TestClient): API shapes, errors, pages, escaping, the no-JS chat."""

from __future__ import annotations

import json
import re

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
from web.schemas import MAX_HISTORY

DEFECTED = "How many North Koreans defected last year?"
MERCURY = "What is the boiling point of mercury?"
WHO = "Who is Ri Il-kyu?"
WHY = "Why did he leave?"
PASSAGE_KEYS = {"text", "document", "path", "paragraph", "score", "highlight", "url"}

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
    assert best["url"] == "http://testserver/documents/defectors.txt?p=5#p5"
    scores = [r["score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True)
    # The url opens the document with that paragraph marked, and the text is verbatim.
    page = soup(client.get(best["url"]))
    assert page.select_one("#p5.selected .text").get_text() == best["text"]


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
    assert {r["url"] for r in results} == {
        "http://testserver/documents/sub/notes.md?p=1#p1",
        "http://testserver/documents/sub/notes.md?p=2#p2",
    }


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
    assert set(best) == PASSAGE_KEYS  # no `answer`: counts are never marked
    assert best["paragraph"] == 5
    assert "196" in best["text"][best["highlight"]["start"] : best["highlight"]["end"]]
    assert best["url"].endswith("/documents/defectors.txt?p=5#p5")


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


# Hidden turn fields of the no-JavaScript chat: any text, or references in range and out of it.
TURN_FIELDS = st.one_of(
    st.text(max_size=30),
    st.builds(
        json.dumps,
        st.fixed_dictionaries(
            {
                "q": st.text(max_size=20),
                "a": st.booleans(),
                "p": st.lists(
                    st.tuples(
                        st.sampled_from(["defectors.txt", "nope.txt", ""]),
                        st.integers(-1, 8),
                        st.integers(-5, 900),
                        st.integers(-5, 900),
                    ),
                    max_size=3,
                ),
            }
        ),
    ),
)


@hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    question=st.text(max_size=60),
    history=st.lists(st.text(max_size=30), max_size=3),
    turns=st.lists(TURN_FIELDS, max_size=3),
)
def test_no_user_input_gives_a_500(
    client: TestClient, question: str, history: list[str], turns: list[str]
) -> None:
    asked = client.post("/api/ask", json={"question": question, "history": history})
    searched = client.get("/api/search", params={"q": question, "k": 3})
    posted = client.post("/", data={"question": question, "turn": turns})
    assert asked.status_code in (200, 422)
    assert searched.status_code in (200, 422)
    assert posted.status_code in (200, 422)


# --- /health and a missing index ---------------------------------------------------------------


def test_health(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "status", "documents", "paragraphs", "model", "index_version", "index_built_at",
    }  # fmt: skip
    assert (body["status"], body["documents"], body["paragraphs"]) == ("ok", 1, 6)
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
    assert page.select_one(".source")["href"] == "/documents/evil.txt?p=1#p1"


def test_api_returns_markup_as_plain_json_text(tiny: TestClient) -> None:
    results = tiny.get("/api/search", params={"q": "cat on the mat", "k": 1}).json()["results"]
    assert "<script>alert(1)</script>" in results[0]["text"]


# --- The chat without JavaScript ---------------------------------------------------------------


def turn_fields(page: BeautifulSoup) -> list[str]:
    """The hidden fields that carry the earlier turns, raw."""
    return [i["value"] for i in page.select("form#ask input[type=hidden][name=turn]")]


def turn_refs(page: BeautifulSoup) -> list[dict]:
    return [json.loads(value) for value in turn_fields(page)]


def ref(question: str, answered: bool = True, passages: list | None = None) -> str:
    """A hidden turn field as a page would carry it: passages are [document, n, start, end]."""
    return json.dumps({"q": question, "a": answered, "p": passages or []})


def card_refs(turn) -> list[list]:
    """[document, paragraph, start, end] of the cards of a rendered turn."""
    refs = []
    for card in turn.select("figure.quote"):
        document, number = card.select_one("a.source").get_text(strip=True).rsplit(" ¶", 1)
        text = card.select_one("blockquote").get_text()
        start = len(card.select_one("blockquote mark").previous_sibling or "")
        refs.append([document, int(number), start, start + len(marked(card))])
        assert text[start : start + len(marked(card))] == marked(card)
    return refs


def test_form_post_renders_the_answer(client: TestClient) -> None:
    response = client.post("/", data={"question": DEFECTED})
    assert response.status_code == 200
    page = soup(response)
    turns = page.select("#conversation > li.turn")
    assert len(turns) == 1
    assert turns[0]["id"] == "latest"
    cards = turns[0].select("figure.quote")
    assert 1 <= len(cards) <= 3
    assert "196" in marked(cards[0])
    assert cards[0].select_one("a.source").get_text(strip=True) == "defectors.txt ¶5"
    assert cards[0].select_one("a.source")["href"] == "/documents/defectors.txt?p=5#p5"
    assert cards[0].select_one("button.copy").has_attr("hidden")  # needs JavaScript
    assert re.fullmatch(r"score -?\d+\.\d\d", cards[0].select_one(".score").get_text())
    # The turn travels on as references only: question, answered flag, passage positions.
    assert turn_refs(page) == [{"q": DEFECTED, "a": True, "p": card_refs(turns[0])}]
    assert page.select_one("textarea").get_text() == ""


def test_form_post_carries_the_conversation_as_references(client: TestClient) -> None:
    first = soup(client.post("/", data={"question": WHO}))
    response = client.post("/", data={"question": WHY, "turn": turn_fields(first)})
    assert response.status_code == 200
    page = soup(response)
    turns = page.select("#conversation > li.turn")
    questions = [t.select_one(".question").get_text(" ", strip=True) for t in turns]
    assert questions == [f"You asked {WHO}", f"You asked {WHY}"]
    # The earlier turn is shown again exactly as it was (bar the score, which is not carried).
    before = first.select_one("#latest")
    assert card_refs(turns[0]) == card_refs(before)
    assert [b.get_text() for b in turns[0].select("blockquote")] == [
        b.get_text() for b in before.select("blockquote")
    ]
    assert turns[0].select(".score") == []
    assert [r["q"] for r in turn_refs(page)] == [WHO, WHY]
    assert turn_refs(page)[0] == turn_refs(first)[0]
    follow_up = turns[1]
    assert NO_ANSWER not in follow_up.get_text()  # understood thanks to the earlier question
    assert follow_up.select_one("a.source").get_text(strip=True) == "defectors.txt ¶1"
    alone = soup(client.post("/", data={"question": WHY}))
    assert alone.select_one(".no-answer").get_text() == NO_ANSWER


def test_form_post_runs_the_model_once_whatever_the_conversation(
    client: TestClient, embedder: Embedder
) -> None:
    page = soup(client.post("/", data={"question": WHO}))
    for question in [DEFECTED, MERCURY, WHY]:
        before = embedder.texts_embedded
        page = soup(client.post("/", data={"question": question, "turn": turn_fields(page)}))
        assert embedder.texts_embedded - before == 1, question  # the new question only
    assert len(page.select("#conversation > li.turn")) == 4


def test_earlier_turns_are_quoted_from_the_index_never_from_the_form(
    client: TestClient, seed_engine: Engine
) -> None:
    """A reference can only point at a real paragraph; a span must lie inside it."""
    third = seed_engine.document("defectors.txt")[2].text
    size = len(third)
    passages = [
        ["defectors.txt", 3, 4, 20],  # valid: shown, verbatim
        ["defectors.txt", 99, 0, 5],  # no such paragraph
        ["defectors.txt", 0, 0, 5],
        ["defectors.txt", 3, 5, 5],  # empty span
        ["defectors.txt", 3, 9, 4],  # reversed
        ["defectors.txt", 3, -1, 4],
        ["defectors.txt", 3, 0, size + 1],  # past the end
        ["nope.txt", 1, 0, 5],  # no such document
        ["../../etc/passwd", 1, 0, 5],
        ["defectors.txt", 3, 0, size],  # valid: the whole paragraph marked
    ]
    fields = [
        ref("Who <b>defected</b>?", True, passages),
        "not json",
        ref("", True, [["defectors.txt", 3, 0, 5]]),  # no question: the turn is dropped
        json.dumps({"q": "extra", "a": True, "p": [], "text": "injected words"}),
        json.dumps({"q": "five", "a": True, "p": [["defectors.txt", 3, 0, 5, "injected"]]}),
        json.dumps({"q": "typed", "a": "maybe", "p": []}),
        ref("gone", True, [["defectors.txt", 42, 0, 5]]),
        ref("unanswered", False, [["defectors.txt", 2, 0, 3]]),
    ]
    response = client.post("/", data={"question": DEFECTED, "turn": fields})
    assert response.status_code == 200
    assert "injected" not in response.text and "<b>defected</b>" not in response.text
    page = soup(response)
    turns = page.select("#conversation > li.turn")
    questions = [t.select_one(".question").get_text(" ", strip=True) for t in turns]
    assert questions == [
        "You asked Who <b>defected</b>?",
        "You asked gone",
        "You asked unanswered",
        f"You asked {DEFECTED}",
    ]
    kept = turns[0].select("figure.quote")
    assert card_refs(turns[0]) == [["defectors.txt", 3, 4, 20], ["defectors.txt", 3, 0, size]]
    assert [c.select_one("blockquote").get_text() for c in kept] == [third, third]
    assert marked(kept[0]) == third[4:20]
    assert kept[0].select_one("a.source")["href"] == "/documents/defectors.txt?p=3#p3"
    gone = turns[1].select_one(".no-answer").get_text()
    assert gone == "The quoted passages are no longer in the index."
    assert turns[2].select_one(".no-answer").get_text() == NO_ANSWER
    assert turns[2].select_one("details.closest a.source").get_text() == "defectors.txt ¶2"
    # What travels on is what was shown: the invalid parts are gone for good.
    assert turn_refs(page)[0]["p"] == card_refs(turns[0])
    assert len(turn_refs(page)) == 4


def test_form_post_without_an_answer_folds_the_closest_passages(client: TestClient) -> None:
    page = soup(client.post("/", data={"question": MERCURY}))
    reply = page.select_one("#latest .reply")
    assert reply.select_one(".no-answer").get_text() == NO_ANSWER
    details = reply.select_one("details.closest")
    assert details is not None and not details.has_attr("open")
    assert details.select_one("summary").get_text() == "Closest passages"
    assert len(details.select("figure.quote")) >= 1
    assert reply.select(":scope > figure.quote") == []
    assert turn_refs(page)[0]["a"] is False


def test_form_post_of_an_empty_question_keeps_the_conversation(client: TestClient) -> None:
    earlier = ref(WHO, True, [["defectors.txt", 1, 0, 10]])
    response = client.post("/", data={"question": "   ", "turn": [earlier]})
    assert response.status_code == 422
    page = soup(response)
    assert page.select_one("#status").get_text() == "the question is empty"
    assert len(page.select("#conversation > li.turn")) == 1
    assert turn_refs(page) == [json.loads(earlier)]


def test_form_post_keeps_only_the_recent_turns(client: TestClient) -> None:
    earlier = [ref(f"question number {n} about defectors", False) for n in range(30)]
    page = soup(client.post("/", data={"question": DEFECTED, "turn": earlier}))
    assert [r["q"] for r in turn_refs(page)] == [
        *[f"question number {n} about defectors" for n in range(10, 30)],
        DEFECTED,
    ]
    assert len(page.select("#conversation > li.turn")) == 21


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
        "GET /api/search", "POST /api/ask", "GET /health", "GET /api/index", "POST /api/index",
    ]  # fmt: skip
    needs_token = [
        s.select_one("h2 code").get_text()
        for s in page.select("section[id]")
        if "Authorization: Bearer <QA_ADMIN_TOKEN>" in s.get_text()
    ]
    assert needs_token == ["GET /api/index", "POST /api/index"]
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
