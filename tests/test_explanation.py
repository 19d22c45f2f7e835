"""`--explain` / `explain=true`: why an answer was given or refused, in a few plain lines made of
fixed phrases and the question's own words."""

from __future__ import annotations

import subprocess
import sys

from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from qa.engine import Engine
from qa.explanation import SIGNALS
from tests.conftest import ROOT
from web.app import create_app

DEFECTED = "How many North Koreans defected last year?"
MERCURY = "What is the boiling point of mercury?"


def test_an_answer_says_the_words_it_found_and_the_kind_it_holds(seed_engine: Engine) -> None:
    answer = seed_engine.ask(DEFECTED, explain=True)
    why = answer.explanation
    assert answer.answered and why is not None
    assert why.kind == "number" and why.kind_found
    assert why.matched == ["North", "Koreans", "defected", "last", "year"]
    assert why.missing == []
    lines = why.lines()
    assert lines[0].startswith(f"Confidence {answer.confidence:.2f}") and "answered" in lines[0]
    assert "a number: found in the best sentence" in lines[3]
    # the contributions add up to the confidence's log-odds
    logit = sum(s.contribution for s in why.signals)
    assert abs(1 / (1 + 2.718281828**-logit) - answer.confidence) < 1e-3


def test_a_refusal_says_which_words_the_documents_miss(seed_engine: Engine) -> None:
    answer = seed_engine.ask(MERCURY, explain=True)
    why = answer.explanation
    assert not answer.answered
    assert why.matched == [] and why.missing == ["boiling", "point", "mercury"]
    assert "not answered" in why.lines()[0]
    named = {s.name for s in why.signals}
    assert named == {*SIGNALS, "bias"}


def test_only_when_asked(seed_engine: Engine) -> None:
    assert seed_engine.ask(DEFECTED).explanation is None
    assert "explanation" not in seed_engine.ask(DEFECTED).as_dict()


def test_api(seed_engine: Engine) -> None:
    client = TestClient(create_app(seed_engine))
    posted = client.post("/api/ask", json={"question": MERCURY, "explain": True}).json()
    assert posted["explanation"]["missing"] == ["boiling", "point", "mercury"]
    assert posted["explanation"]["lines"][0].startswith("Confidence")
    got = client.get("/api/ask", params={"q": DEFECTED, "explain": "true"}).json()
    assert got["explanation"]["kind"] == "number" and got["explanation"]["kind_found"]
    assert "explanation" not in client.get("/api/ask", params={"q": DEFECTED}).json()


def test_page_shows_it_on_demand(seed_engine: Engine) -> None:
    page = TestClient(create_app(seed_engine)).get("/", params={"q": DEFECTED})
    why = BeautifulSoup(page.text, "html.parser").select_one("li.turn details.why")
    assert why.summary.get_text() == "Why this answer?"
    assert "open" not in why.attrs  # closed until asked for
    assert "Words of the question found: North, Koreans" in why.get_text()


def test_cli(seed_settings) -> None:
    args = ["-m", "qa", "ask", MERCURY, "--explain", "--index", str(seed_settings.index)]
    run = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert "The documents don't answer this." in run.stdout
    assert "Why:" in run.stdout and "missing: boiling, point, mercury." in run.stdout
