"""Feedback: unanswered and unhelpful questions kept in SQLite beside the index, grouped by
meaning for `qa report` and /admin; off with QA_FEEDBACK=off; nothing about the asker stored."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from qa import cli
from qa.engine import Engine
from qa.feedback import FILE_NAME, SCHEMA, Feedback, Record, Wording, group
from qa.settings import Settings
from tests.conftest import ROOT
from tests.test_live import serve_in_thread
from web.app import create_app

DEFECTED = "How many North Koreans defected last year?"
MERCURY = "What is the boiling point of mercury?"
MERCURY_AGAIN = "what is the boiling point of mercury"
PASSWORD = "How do I reset my password?"
CLIENTS = 8


@pytest.fixture
def engine(seed_settings: Settings, embedder, tmp_path: Path) -> Engine:
    """The seed index, with a feedback file of this test's own (a copy of the index folder)."""
    import shutil

    # (without the seed index's own feedback, which other tests' questions may have made)
    ignore = shutil.ignore_patterns(f"{FILE_NAME}*")
    shutil.copytree(seed_settings.index, tmp_path / "index", ignore=ignore)
    # (all clients of a test are 127.0.0.1: the rate limit has a test of its own)
    settings = replace(seed_settings, index=tmp_path / "index", feedback_per_minute=10_000)
    return Engine(settings, embedder)


def kinds(engine: Engine) -> list[tuple[str, str]]:
    return [
        (r.kind, r.question)
        for r in engine.feedback.records(("unanswered", "unhelpful", "helpful"))
    ]


def test_records_are_kept_in_wal_mode_with_nothing_about_the_asker(tmp_path: Path) -> None:
    feedback = Feedback(tmp_path)
    assert feedback.records() == []
    assert feedback.record(Record(MERCURY, "unanswered", document="a.txt", version="v1"))
    assert feedback.record(Record(DEFECTED, "helpful"))
    got = feedback.records()
    assert [(r.question, r.kind, r.document, r.version) for r in got] == [
        (MERCURY, "unanswered", "a.txt", "v1")
    ]
    assert got[0].at.endswith("+00:00")
    with sqlite3.connect(tmp_path / FILE_NAME) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        columns = {row[1] for row in db.execute("PRAGMA table_info(feedback)")}
    assert columns == {"id", "at", "kind", "question", "document", "version"}


def test_feedback_off_records_nothing_and_creates_no_file(tmp_path: Path) -> None:
    feedback = Feedback(tmp_path, enabled=False)
    assert feedback.record(Record(MERCURY, "unanswered")) is False
    assert not (tmp_path / FILE_NAME).exists()


WRITER = """
import sys
from pathlib import Path
from qa.feedback import Feedback, Record
feedback = Feedback(Path(sys.argv[1]))
for n in range(int(sys.argv[3])):
    feedback.record(Record(f"client {sys.argv[2]} question {n}", "unanswered"))
"""


def test_no_record_is_lost_with_8_concurrent_writer_processes(tmp_path: Path) -> None:
    per_client = 50
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), str(who), str(per_client)],
                         env=env)
        for who in range(CLIENTS)
    ]  # fmt: skip
    assert [w.wait(120) for w in writers] == [0] * CLIENTS
    questions = [r.question for r in Feedback(tmp_path).records()]
    assert len(questions) == CLIENTS * per_client  # 0 lost
    assert len(set(questions)) == CLIENTS * per_client


def test_no_record_is_lost_with_8_concurrent_http_clients(engine: Engine) -> None:
    per_client = 15
    errors: list[str] = []

    def client(base: str, who: int) -> None:
        with httpx.Client(base_url=base, timeout=60) as http:
            for n in range(per_client):
                question = f"Client {who} asks about the price of tea, number {n}?"
                mark = http.post("/api/feedback", json={"question": question, "helpful": False})
                ask = http.get("/api/ask", params={"q": f"{question} (by GET)"})
                if mark.status_code != 200 or not mark.json()["recorded"] or ask.is_error:
                    errors.append(f"{mark.status_code} {ask.status_code}")

    with serve_in_thread(create_app(engine)) as base:
        threads = [threading.Thread(target=client, args=(base, w)) for w in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    assert errors == []
    recorded = kinds(engine)
    assert sum(kind == "unhelpful" for kind, _ in recorded) == CLIENTS * per_client
    assert sum(kind == "unanswered" for kind, _ in recorded) == CLIENTS * per_client
    assert b"127.0.0.1" not in (engine.settings.index / FILE_NAME).read_bytes()


def test_unanswered_questions_are_recorded_wherever_they_are_asked(engine: Engine) -> None:
    client = TestClient(create_app(engine))
    client.post("/api/ask", json={"question": DEFECTED})  # answered: not recorded
    client.post("/api/ask", json={"question": MERCURY})
    client.get("/api/ask", params={"q": MERCURY_AGAIN, "document": "defectors.txt"})
    client.post("/", data={"question": PASSWORD})  # the form: recorded once, not per view
    client.get("/", params={"q": [PASSWORD, MERCURY]})  # a link viewed: not recorded again
    assert kinds(engine) == [
        ("unanswered", MERCURY), ("unanswered", MERCURY_AGAIN), ("unanswered", PASSWORD),
    ]  # fmt: skip
    assert engine.feedback.records()[1].document == "defectors.txt"
    assert engine.feedback.records()[0].version == engine.index.version


def test_marks_are_recorded_from_the_api_and_the_form(engine: Engine) -> None:
    client = TestClient(create_app(engine))
    response = client.post("/api/feedback", json={"question": DEFECTED, "helpful": True})
    assert response.status_code == 200 and response.json() == {"recorded": True}
    client.post("/api/feedback", json={"question": f"  {DEFECTED}\n", "helpful": False})
    link = "/?q=How+many"
    response = client.post(
        "/feedback",
        data={"question": MERCURY, "helpful": "no", "next": link},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == link + "#latest"
    assert kinds(engine) == [("helpful", DEFECTED), ("unhelpful", DEFECTED), ("unhelpful", MERCURY)]
    for bad in [{}, {"question": " ", "helpful": True}, {"question": DEFECTED, "helpful": "?"}]:
        assert client.post("/api/feedback", json=bad).status_code == 422


@pytest.mark.parametrize("next_", ["//evil.example/x", "https://evil.example/", "/\\evil.example"])
def test_the_form_goes_back_to_this_site_only(engine: Engine, next_: str) -> None:
    client = TestClient(create_app(engine))
    data = {"question": MERCURY, "helpful": "no", "next": next_}
    response = client.post("/feedback", data=data, follow_redirects=False)
    assert response.headers["location"] == "/#latest"


@pytest.mark.parametrize("path", ["/feedback", "/"])
def test_a_cross_site_form_post_is_refused(engine: Engine, path: str) -> None:
    client = TestClient(create_app(engine))
    data = {"question": MERCURY, "helpful": "no"}
    for origin in (
        {"Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "cross-site", "Origin": "null"},
        {"Sec-Fetch-Site": "same-site"},
    ):
        response = client.post(path, data=data, headers=origin, follow_redirects=False)
        assert response.status_code == 403
    for here in ({"Origin": "http://testserver"}, {"Sec-Fetch-Site": "same-origin"}):
        same = client.post(path, data=data, headers=here, follow_redirects=False)
        assert same.status_code == 303
    assert kinds(engine) == [(("unhelpful" if path == "/feedback" else "unanswered"), MERCURY)] * 2


def test_feedback_off_records_nothing_from_the_app(engine: Engine) -> None:
    quiet = Engine(replace(engine.settings, feedback="off"), engine.embedder)
    client = TestClient(create_app(quiet))
    client.post("/api/ask", json={"question": MERCURY})
    response = client.post("/api/feedback", json={"question": MERCURY, "helpful": False})
    assert response.json() == {"recorded": False}
    assert not (engine.settings.index / FILE_NAME).exists()


def test_questions_are_grouped_by_meaning_most_frequent_first(engine: Engine) -> None:
    asked = [
        MERCURY,
        MERCURY_AGAIN,
        MERCURY,
        PASSWORD,
        "I forgot my password, how can I change it?",
    ]
    asked += [MERCURY_AGAIN, "When does the office open?"]
    for question in asked:
        engine.record(question, "unanswered")
    engine.record(PASSWORD, "unhelpful")
    groups = engine.report().groups
    assert [(g.question, g.count) for g in groups] == [
        (MERCURY, 4), (PASSWORD, 3), ("When does the office open?", 1),
    ]  # fmt: skip
    assert groups[0].variants == [(MERCURY, 2), (MERCURY_AGAIN, 2)]
    assert groups[1].kinds == {"unanswered": 2, "unhelpful": 1}
    assert all(1 <= len(g.passages) <= 3 for g in groups)  # the closest passages now
    assert groups[0].passages[0].document == "defectors.txt"
    # Viewed again (the admin page reports on every view): no wording is embedded again.
    before = engine.embedder.texts_embedded
    assert [(g.question, g.count) for g in engine.report(passages=0).groups] == [
        (g.question, g.count) for g in groups
    ]
    assert engine.embedder.texts_embedded == before


def test_grouping_is_deterministic_and_empty_when_nothing_was_recorded(embedder) -> None:
    assert group([], embedder.encode) == []
    wordings = [Wording(q, n, {"unanswered": n}, "2026-01-01") for q, n in [("b?", 2), ("a?", 1)]]
    assert group(wordings, embedder.encode) == group(list(reversed(wordings)), embedder.encode)


def test_qa_report_prints_the_groups(engine: Engine, capsys, monkeypatch) -> None:
    monkeypatch.setattr("qa.engine.Embedder", lambda *a, **k: engine.embedder)
    for key in [k for k in os.environ if k.startswith("QA_")]:
        monkeypatch.delenv(key)
    flags = ["--index", str(engine.settings.index)]
    assert cli.main(["report", *flags]) == 0
    assert "No question recorded yet" in capsys.readouterr().out
    for question in (MERCURY, MERCURY_AGAIN, PASSWORD):
        engine.record(question, "unanswered")
    assert cli.main(["report", *flags]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"2× {MERCURY}  (unanswered 2; last ")
    assert f"also asked: {MERCURY_AGAIN} (1×)" in out and "[1] defectors.txt · ¶" in out
    assert cli.main(["report", *flags, "--json", "--base-url", "http://qa.example"]) == 0
    groups = json.loads(capsys.readouterr().out)["groups"]
    assert [(g["question"], g["count"]) for g in groups] == [(MERCURY, 2), (PASSWORD, 1)]
    assert groups[0]["variants"] == [
        {"question": MERCURY, "count": 1}, {"question": MERCURY_AGAIN, "count": 1},
    ] or groups[0]["variants"][0]["count"] == 1  # fmt: skip
    assert groups[0]["passages"][0]["url"].startswith("http://qa.example/documents/")


def test_feedback_is_rate_limited_per_client(engine: Engine) -> None:
    limited = Engine(replace(engine.settings, feedback_per_minute=5), engine.embedder)
    client = TestClient(create_app(limited))
    mark = {"question": MERCURY, "helpful": False}
    assert [client.post("/api/feedback", json=mark).status_code for _ in range(5)] == [200] * 5
    refused = client.post("/api/feedback", json=mark)
    assert refused.status_code == 429
    assert "too much feedback from this client" in refused.json()["detail"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    form = {"question": MERCURY, "helpful": "no", "next": "/"}  # the chat's 👎 counts too
    assert client.post("/feedback", data=form, follow_redirects=False).status_code == 429
    assert len(kinds(engine)) == 5  # (the same feedback file) nothing past the limit kept


def test_feedback_names_an_indexed_document_or_none(engine: Engine) -> None:
    client = TestClient(create_app(engine))
    ok = {"question": DEFECTED, "helpful": True, "document": "defectors.txt"}
    assert client.post("/api/feedback", json=ok).json() == {"recorded": True}
    for document in ("nowhere.txt", "../../etc/passwd", "x" * 5000):
        bad = client.post("/api/feedback", json={**ok, "document": document})
        assert bad.status_code == 404 and "no indexed document" in bad.json()["detail"]
    form = {"question": DEFECTED, "helpful": "yes", "document": "nowhere.txt"}
    assert client.post("/feedback", data=form, follow_redirects=False).status_code == 404
    too_long = client.post("/api/feedback", json={"question": "x" * 2001, "helpful": False})
    assert too_long.status_code == 422 and "too long" in too_long.json()["detail"]
    assert [r.document for r in engine.feedback.records(("helpful",))] == ["defectors.txt"]


def test_the_oldest_records_are_dropped_past_the_cap(tmp_path: Path) -> None:
    feedback = Feedback(tmp_path, max_records=100)
    for n in range(130):
        feedback.record(Record(f"Question {n}?", "unanswered"))
    kept = [r.question for r in feedback.records()]
    assert kept == [f"Question {n}?" for n in range(30, 130)]
    assert feedback.dropped() == 30


def fill(index: Path, records: int, wordings: int) -> None:
    """`records` unanswered records of `wordings` distinct questions, written straight into a
    new feedback file (as months of a busy server would have; counted on first use)."""
    rows = [
        ("2026-01-01T00:00:00+00:00", "unanswered", f"Where is item {n % wordings} kept?")
        for n in range(records)
    ]
    with sqlite3.connect(index / FILE_NAME) as connection:
        connection.executescript(SCHEMA)
        connection.executemany("INSERT INTO feedback (at, kind, question) VALUES (?, ?, ?)", rows)


def test_admin_pages_the_report_quickly_with_100k_records(engine: Engine) -> None:
    import re
    import time

    from tests.test_live import TOKEN

    fill(engine.settings.index, 100_000, 100_000)
    admin = Engine(replace(engine.settings, admin_token=TOKEN), engine.embedder)
    client = TestClient(create_app(admin))
    admin.warm_report()  # as `qa serve` does in the background at start
    assert client.post("/admin/login", data={"token": TOKEN}, follow_redirects=False).is_redirect
    for _ in range(2):  # the first view after a start, and a later one
        started = time.perf_counter()
        page = client.get("/admin")
        took = time.perf_counter() - started
        assert page.status_code == 200 and took < 1.0, took
    assert len(re.findall(r'<li class="group">', page.text)) == 20
    # The 500 most frequent wordings are grouped by meaning; each rarer one is its own group.
    pages, total = re.search(r"Page 1 of ([\d,]+) \(([\d,]+) groups\)", page.text).groups()
    pages, total = int(pages.replace(",", "")), int(total.replace(",", ""))
    assert 99_500 < total <= 100_000 and pages == -(-total // 20)
    last = client.get(f"/admin?page={pages}")
    assert last.status_code == 200 and f"Page {pages:,} of {pages:,}" in last.text
    assert f'rel="prev" href="/admin?page={pages - 1}#report"' in last.text
    assert 'rel="next"' not in last.text
    assert "No more groups" in client.get(f"/admin?page={pages + 1}").text


def test_admin_shows_how_many_records_were_dropped(engine: Engine) -> None:
    from tests.test_admin import log_in
    from tests.test_live import TOKEN

    capped = Engine(
        replace(engine.settings, admin_token=TOKEN, feedback_records=100), engine.embedder
    )
    for n in range(103):
        capped.record(f"Question {n}?", "unanswered")
    client = TestClient(create_app(capped))
    log_in(client)
    page = client.get("/admin").text
    assert "3 older records dropped: at most 100 are kept (QA_FEEDBACK_RECORDS)." in page


def test_qa_report_shows_the_most_frequent_groups(engine: Engine, capsys, monkeypatch) -> None:
    monkeypatch.setattr("qa.engine.Embedder", lambda *a, **k: engine.embedder)
    for key in [k for k in os.environ if k.startswith("QA_")]:
        monkeypatch.delenv(key)
    for question in (MERCURY, MERCURY, PASSWORD, DEFECTED):
        engine.record(question, "unanswered")
    flags = ["--index", str(engine.settings.index), "-k", "1"]
    assert cli.main(["report", *flags, "--groups", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"2× {MERCURY}") and PASSWORD not in out
    assert "(2 rarer groups not shown: --groups N)" in out
    assert cli.main(["report", *flags, "--groups", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total"] == 3
