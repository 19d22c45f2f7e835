"""qa/places.py through the page view's routes: a cited slide shown with its text and notes, a
cited spreadsheet or CSV row shown among the rows around it, the cited paragraph marked.

The deck, the workbook and the CSV file are made here (python-pptx, openpyxl, text)."""

from __future__ import annotations

import html
import io
import re

import pytest
from fastapi.testclient import TestClient

from qa.engine import Engine
from tests.office import NOTES, TIMELINE, make_deck
from web.app import create_app

SHEETS = {"North": "Alder", "South": "Birch"}  # sheet: the tree planted on every of its rows


def make_plantings() -> bytes:
    """Two sheets with the same row numbers: a header, then rows 2..31."""
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.remove(workbook.active)
    for name, tree in SHEETS.items():
        sheet = workbook.create_sheet(name)
        sheet.append(["Plot", "Tree", "Saplings"])
        for n in range(2, 32):
            sheet.append([f"{name} plot {n}", tree, n * 3])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


CSV = "Station,Reading\n" + "".join(f"Gauge {n},{n}.5 mm\n" for n in range(2, 14))


@pytest.fixture
def client(make_engine) -> TestClient:
    engine: Engine = make_engine(
        {"plan.pptx": make_deck(), "plantings.xlsx": make_plantings(), "rain.csv": CSV}
    )
    engine.build()
    return TestClient(create_app(engine))


def paragraph(client: TestClient, doc_id: str, starts: str) -> dict:
    paragraphs = client.get(f"/documents/{doc_id}.json").json()["paragraphs"]
    return next(p for p in paragraphs if p["text"].startswith(starts))


def marked(page: str) -> str:
    """The text of the page's one <mark>, as a user reads it."""
    (found,) = re.findall(r'<mark id="mark">(.*?)</mark>', page, re.S)
    return html.unescape(found)


def path(url: str) -> str:
    return url.removeprefix("http://testserver")


def test_a_slide_citation_opens_the_slide_with_its_notes_the_passage_marked(
    client: TestClient,
) -> None:
    question = "Do the ferries keep running during the works?"
    best = client.get("/api/ask", params={"q": question}).json()["passages"][0]
    assert (best["unit"], best["page"], best["text"]) == ("notes", 3, NOTES[0])
    number = best["paragraph"]
    assert best["page_url"] == f"http://testserver/documents/plan.pptx/pages/3?p={number}#mark"
    assert best["original_url"] is None
    chat = client.get("/", params={"q": question}).text
    assert f'class="source" href="{path(best["page_url"])}"' in chat

    response = client.get(path(best["page_url"]))
    assert response.status_code == 200
    page = response.text
    assert marked(page) == NOTES[0]  # the cited paragraph, verbatim
    assert "<h2>Timeline</h2>" in page and "<h3>Notes</h3>" in page
    for text in [*(cell for row in TIMELINE for cell in row), NOTES[1]]:
        assert html.escape(text, quote=False) in page  # the rest of the slide and its notes
    assert "slide 3 of 5" in page and "Budget" not in page  # only this slide
    assert f'rel="prev" href="/documents/plan.pptx/pages/2?p={number}#mark"' in page
    assert f'rel="next" href="/documents/plan.pptx/pages/4?p={number}#mark"' in page
    assert f'href="/documents/plan.pptx?p={number}#p{number}"' in page  # As text
    assert "/files/" not in page  # no original to open: /files serves PDFs only
    assert "<script" not in page and "style=" not in page
    assert "script-src 'self'" in response.headers["content-security-policy"]

    following = client.get(f"/documents/plan.pptx/pages/4?p={number}").text
    assert "<mark" not in following and "Fishermen keep their moorings" in following
    back = f'is on <a href="/documents/plan.pptx/pages/3?p={number}#mark">notes of slide 3</a>'
    assert back in following
    first = client.get("/documents/plan.pptx/pages/1").text
    assert 'rel="prev"' not in first and 'rel="next"' in first

    data = client.get(f"/documents/plan.pptx/pages/3.json?p={number}").json()
    assert (data["unit"], data["page"], data["pages"], data["section"]) == (
        "slide", 3, 5, "Timeline")  # fmt: skip
    assert [p["text"] for p in data["paragraphs"] if p["marked"]] == [NOTES[0]]
    assert [p["unit"] for p in data["paragraphs"]] == ["slide", "notes", "notes"]
    assert (data["original_url"], data["paragraph"]["number"]) == (None, number)
    assert data["next_url"] == f"http://testserver/documents/plan.pptx/pages/4?p={number}#mark"


def test_a_row_citation_opens_the_rows_around_it_in_its_own_sheet(client: TestClient) -> None:
    cited = paragraph(client, "plantings.xlsx", "Plot: South plot 15;")
    assert (cited["section"], cited["page"], cited["unit"]) == ("South", 15, "row")
    results = client.get("/api/search", params={"q": "South plot 15 Birch", "k": 10}).json()
    hit = next(r for r in results["results"] if r["paragraph"] == cited["number"])
    number = cited["number"]
    url = f"/documents/plantings.xlsx/pages/15?p={number}#mark"
    assert hit["page_url"] == "http://testserver" + url

    page = client.get(url).text
    assert marked(page) == cited["text"] == "Plot: South plot 15; Tree: Birch; Saplings: 45"
    shown = [int(n) for n in re.findall(r'<span class="place-number">row (\d+)</span>', page)]
    assert shown == list(range(10, 21))  # five rows each side
    assert "North plot" not in page and "<h2>South</h2>" in page  # the cited row's sheet only
    assert "rows 10–20 of 31" in page
    assert f'rel="prev" href="/documents/plantings.xlsx/pages/7?p={number}#mark"' in page
    assert f'rel="next" href="/documents/plantings.xlsx/pages/26?p={number}#mark"' in page
    assert "<script" not in page and "style=" not in page

    earlier = client.get(f"/documents/plantings.xlsx/pages/7?p={number}").text
    rows = re.findall(r"row (\d+)</span>", earlier)
    assert rows == [str(n) for n in range(2, 13)] and "<mark" not in earlier
    assert f'<a href="/documents/plantings.xlsx/pages/15?p={number}#mark">row 15</a>' in earlier
    assert "South plot 2;" in earlier and 'rel="prev"' not in earlier
    later = client.get(f"/documents/plantings.xlsx/pages/26?p={number}").text
    assert re.findall(r"row (\d+)</span>", later) == [str(n) for n in range(21, 32)]
    assert 'rel="next"' not in later

    data = client.get(f"/documents/plantings.xlsx/pages/15.json?p={number}").json()
    assert (data["unit"], data["section"], data["pages"]) == ("row", "South", 31)
    assert [p["page"] for p in data["paragraphs"]] == list(range(10, 21))
    assert [p["number"] for p in data["paragraphs"] if p["marked"]] == [number]
    assert data["elsewhere"] is None
    # Without a paragraph, the first sheet holding the row.
    north = client.get("/documents/plantings.xlsx/pages/15.json").json()
    assert north["section"] == "North" and not any(p["marked"] for p in north["paragraphs"])


def test_a_csv_row_is_shown_among_its_neighbours(client: TestClient) -> None:
    cited = paragraph(client, "rain.csv", "Station: Gauge 3;")
    page = client.get(f"/documents/rain.csv/pages/{cited['page']}?p={cited['number']}").text
    assert marked(page) == "Station: Gauge 3; Reading: 3.5 mm"
    assert "Gauge 2;" in page and "Gauge 8;" in page and "Gauge 9;" not in page


@pytest.mark.parametrize(
    "url",
    [
        "/documents/plan.pptx/pages/6",
        "/documents/plan.pptx/pages/0.json",
        "/documents/plantings.xlsx/pages/1",  # the header row is no paragraph
        "/documents/plantings.xlsx/pages/32",
        "/documents/rain.csv/pages/3?p=999",
    ],
)
def test_a_slide_or_row_that_is_not_there_is_a_404(client: TestClient, url: str) -> None:
    assert client.get(url).status_code == 404
