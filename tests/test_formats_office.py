"""A deck and a workbook indexed with the real model: a question answered from a slide, from
speaker notes and from a sheet's row, each cited as the user sees it in the CLI, the chat page,
the JSON API and the exported conversation."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from qa import cli
from tests.office import BUDGET, NOTES, ROWS, make_deck, make_workbook
from web.app import create_app

CASES = [  # question, citation, the quote, its unit and number
    ("How much does the new breakwater cost?", "Harbour renovation plan › Budget · slide 2",
     "\n".join(BUDGET), "slide", 2),
    ("Do the ferries keep running during the works?",
     "Harbour renovation plan › Timeline · notes of slide 3", NOTES[0], "notes", 3),
    ("When were the Conference pears picked?", "Orchard harvest › Harvest 2024 · row 5",
     "Variety: Conference pears; Orchard: Long Meadow; Tonnes: 310.25; Share: 9.4%; "
     "Picked: 2024-09-14", "row", ROWS[1][0]),
]  # fmt: skip


@pytest.fixture
def docs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, embedder) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "plan.pptx").write_bytes(make_deck())
    (folder / "harvest.xlsx").write_bytes(make_workbook())
    monkeypatch.chdir(tmp_path)
    for key in [k for k in os.environ if k.startswith("QA_")]:
        monkeypatch.delenv(key)
    monkeypatch.setattr("qa.engine.Embedder", lambda *a, **k: embedder)  # the loaded model
    return folder


def test_slides_notes_and_rows_are_cited_where_the_user_sees_quotes(
    docs: Path, make_engine, capsys
) -> None:
    assert cli.main(["index", "--docs", str(docs), "--index", "index"]) == 0
    _, err = capsys.readouterr()
    # What the reader could not show is said: the hidden sheet, the formula without a result.
    assert "note: harvest.xlsx: hidden sheets not read: Prices" in err
    assert "1 formula without a saved result (Harvest 2024!C8)" in err
    for question, citation, text, unit, number in CASES:
        assert cli.main(["ask", question, "--json", "--index", "index"]) == 0
        best = json.loads(capsys.readouterr().out)["passages"][0]
        assert (best["citation"], best["text"], best["unit"], best["page"]) == (
            citation, text, unit, number), question  # fmt: skip
        assert best["original_url"] is None  # only a PDF has an original to open at a page
        # ... but the slide or the rows around the row open in the page view, the quote marked
        assert best["page_url"].endswith(f"/pages/{number}?p={best['paragraph']}#mark")
        assert cli.main(["ask", question, "--index", "index"]) == 0
        assert f"] {citation}  [" in capsys.readouterr().out  # "[1] citation  [plan.pptx]"

    engine = make_engine({}, index=docs.parent / "index")
    client = TestClient(create_app(engine))
    for question, citation, *_ in CASES:
        page = client.get("/", params={"q": question}).text
        first = page.index('<a class="source"')
        assert html.escape(citation, quote=False) in page[first : page.index("</a>", first)]
        api = client.get("/api/ask", params={"q": question}).json()
        assert api["passages"][0]["citation"] == citation
        markdown = client.get("/conversation.md", params={"q": question}).text
        assert citation in markdown
    deck = client.get("/documents/plan.pptx").text
    markers = [m for m in deck.split('class="page-marker"')[1:]]
    assert [m.split(">")[1].split("<")[0] for m in markers] == [
        "slide 1", "slide 2", "slide 3", "notes of slide 3", "slide 4", "slide 5"]  # fmt: skip
    listed = {d["id"]: d for d in client.get("/documents.json").json()["documents"]}
    assert "hidden sheets not read: Prices" in listed["harvest.xlsx"]["note"]
    assert listed["plan.pptx"]["title"] == "Harbour renovation plan"
