"""qa/pages.py and its routes: a cited PDF paragraph shown on its page, its lines marked.

The PDFs are made here (two columns, the same paragraph printed in both, a paragraph going on
over a page break); a mark is checked against PDFium's own character boxes (bench/pages.py's
`exact`): every letter of the paragraph inside a marked box, nothing else in one.
"""

from __future__ import annotations

import io
import os
import re
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from bench.pages import characters, exact
from qa.drawing import DRAW_MEMORY, Drawer, page_sizes, render
from qa.engine import Engine
from qa.errors import PageDrawError
from qa.pages import CHANGED, LAYOUTS, MOVED, TURNED, Layout, Pages
from tests.conftest import write
from tests.formats import make_pdf
from web.app import create_app

REPEATED = [
    "Salt marshes store carbon in their deep peat,",
    "where roots and mud build up every year as",
    "the tide brings in silt.",
]
LEFT = ["Tidal creeks drain the marsh twice every day", "and carry larvae to sea."]
RIGHT = [
    "Cordgrass grows where the water is the saltiest",
    "and only the highest marsh stays dry for long,",
    "so the plants there differ.",
]
OVER = [  # the last lines of page 2's left column; page 3 goes on with the paragraph
    "Herons hunt in the shallow pools at dusk when",
    "the water is still and the small and silvery",
]
ON = ["fish are easy to see from the bank."]


def column(x: float, paragraphs: list[list[str]], top: float = 700) -> list[tuple]:
    """(x, y, text) of each line of `paragraphs` printed in one column, a blank line between."""
    lines, y = [], top
    for lines_of_paragraph in paragraphs:
        for text in lines_of_paragraph:
            lines.append((x, y, text))
            y -= 14
        y -= 14
    return lines


MARSH = make_pdf(
    [
        column(50, [REPEATED, LEFT, REPEATED]) + column(320, [RIGHT, REPEATED, RIGHT]),
        column(50, [LEFT, OVER], top=80 + 14 * 4),
        column(50, [ON, LEFT]),
    ]
)


@pytest.fixture
def engine(make_engine) -> Engine:
    engine = make_engine({"marsh.pdf": MARSH, "notes.txt": "Marsh notes.\n\nHerons hunt."})
    engine.build()
    return engine


def joined(lines: list[str]) -> str:
    return " ".join(lines)


def test_every_paragraph_is_marked_exactly_even_repeated_text_in_two_columns(
    engine: Engine,
) -> None:
    pages = Pages(engine)
    paragraphs = engine.document("marsh.pdf")
    texts = [p.text for p in paragraphs]
    assert texts.count(joined(REPEATED)) == 3  # twice in the left column, once in the right
    path = engine.original("marsh.pdf")
    layout = pages.layout("marsh.pdf", path, str(path.parent), MARSH)
    chars = characters(MARSH)
    assert all(exact(layout, chars, p.start, p.end) for p in paragraphs)
    # The check can fail: with one line's box swapped for another's, the first paragraph is
    # not marked exactly. And the three identical paragraphs are marked in three places.
    lines = list(layout.lines)
    (s0, e0, p0, b0), (s1, e1, p1, b1) = lines[0], lines[-1]
    lines[0], lines[-1] = (s0, e0, p1, b1), (s1, e1, p0, b0)
    swapped = Layout(layout.text, layout.sizes, tuple(lines))
    assert not exact(swapped, chars, paragraphs[0].start, paragraphs[0].end)
    repeated = [p for p in paragraphs if p.text == joined(REPEATED)]
    places = {pages.view("marsh.pdf", 1, p.number).marks for p in repeated}
    assert len(places) == 3
    lefts = sorted(min(box[0] for box in marks) for marks in places)
    assert lefts == [50, 50, 320]


def test_a_paragraph_over_a_page_break_is_marked_on_both_pages(engine: Engine) -> None:
    pages = Pages(engine)
    over = next(p for p in engine.document("marsh.pdf") if p.text.startswith("Herons"))
    assert over.text == joined(OVER + ON) and over.page == 2
    two, three = pages.view("marsh.pdf", 2, over.number), pages.view("marsh.pdf", 3, over.number)
    assert two.paragraph_pages == three.paragraph_pages == (2, 3)
    assert len(two.marks) == 2 and len(three.marks) == 1
    assert three.marks[0][1] < 100  # at the top of page 3
    assert pages.view("marsh.pdf", 1, over.number).marks == ()


def test_a_changed_file_or_text_read_differently_is_never_marked(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    number = engine.document("marsh.pdf")[0].number
    assert Pages(engine).view("marsh.pdf", 1, number).marks
    # A reader that now reads the file otherwise (one character more in front).
    real = Pages.layout
    moved = lambda self, *a: Layout("x" + (l := real(self, *a)).text, l.sizes, l.lines)  # noqa: E731, E741
    monkeypatch.setattr(Pages, "layout", moved)
    view = Pages(engine).view("marsh.pdf", 1, number)
    assert (view.marks, view.note) == ((), MOVED)
    monkeypatch.undo()
    # The file changed after indexing: its paragraphs are not where the index says.
    write(engine.settings.docs, "marsh.pdf", make_pdf([column(50, [LEFT, REPEATED])]))
    view = Pages(engine).view("marsh.pdf", 1, number)
    assert (view.marks, view.note, view.pages) == ((), CHANGED, 1)


@pytest.fixture
def client(engine: Engine) -> TestClient:
    return TestClient(create_app(engine))


def test_the_citation_of_a_pdf_passage_leads_to_its_page_view(client: TestClient) -> None:
    results = client.get("/api/search", params={"q": "herons hunting at dusk", "k": 5}).json()
    herons = next(r for r in results["results"] if r["document"] == "marsh.pdf")
    url = f"http://testserver/documents/marsh.pdf/pages/2?p={herons['paragraph']}#mark"
    assert herons["page_url"] == url
    notes = next(r for r in results["results"] if r["document"] == "notes.txt")
    assert notes["page_url"] is None
    chat = client.get("/", params={"q": "Where do herons hunt?"}).text
    assert f'class="source" href="{url.removeprefix("http://testserver")}"' in chat


def test_the_page_view_marks_the_lines_without_scripts_or_inline_styles(
    client: TestClient,
) -> None:
    over = next(p for p in client.get("/documents/marsh.pdf.json").json()["paragraphs"]
                if p["text"].startswith("Herons"))  # fmt: skip
    response = client.get(f"/documents/marsh.pdf/pages/2?p={over['number']}")
    assert response.status_code == 200
    assert "img-src 'self' data:" in response.headers["content-security-policy"]
    page = response.text
    assert len(re.findall(r'<rect class="mark"', page)) == 2
    assert 'id="mark"' in page and "<script" not in page and "style=" not in page
    assert 'href="/documents/marsh.pdf/pages/2.png"' in page
    assert 'rel="prev" href="/documents/marsh.pdf/pages/1?p=' in page
    assert 'rel="next" href="/documents/marsh.pdf/pages/3?p=' in page
    assert 'href="/files/marsh.pdf#page=2"' in page  # the original
    assert joined(OVER + ON) in page  # the quote itself, verbatim
    data = client.get(f"/documents/marsh.pdf/pages/2.json?p={over['number']}").json()
    assert (data["page"], data["pages"], data["width"], data["height"]) == (2, 3, 612, 792)
    assert [m["x0"] for m in data["marks"]] == [50, 50]
    assert [at["page"] for at in data["paragraph_pages"]] == [2, 3]
    assert data["next_url"].endswith(f"/pages/3?p={over['number']}#mark")
    assert data["previous_url"].endswith(f"/pages/1?p={over['number']}#mark")


def test_the_page_image_is_a_png_at_150_dpi_revalidated_by_its_tag(client: TestClient) -> None:
    response = client.get("/documents/marsh.pdf/pages/1.png")
    assert response.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    width, height = image.size  # 612 x 792 points at 150 dpi (PDFium may round up a pixel)
    assert (round(width, -1), round(height, -1)) == (1280, 1650)
    assert image.convert("L").getextrema()[0] < 80  # text is drawn
    again = client.get(
        "/documents/marsh.pdf/pages/1.png", headers={"If-None-Match": response.headers["etag"]}
    )
    assert again.status_code == 304 and not again.content


@pytest.mark.parametrize(
    "path",
    [
        "/documents/marsh.pdf/pages/4",
        "/documents/marsh.pdf/pages/0.png",
        "/documents/marsh.pdf/pages/1.json?p=99",
        "/documents/notes.txt/pages/1",
        "/documents/../marsh.pdf/pages/1.png",
        "/documents/other.pdf/pages/1",
    ],
)
def test_what_is_not_an_indexed_pdf_page_is_a_404(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 404


def test_a_pdf_in_the_folder_but_not_indexed_is_not_shown(
    client: TestClient, engine: Engine
) -> None:
    write(engine.settings.docs, "new.pdf", MARSH)  # not indexed yet
    assert client.get("/documents/new.pdf/pages/1.png").status_code == 404
    assert Path(engine.settings.docs, "new.pdf").exists()


def test_the_build_keeps_each_pdfs_lines_and_drops_those_of_removed_files(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = engine.store.root / LAYOUTS
    sha = next(d["sha256"] for d in engine.index.manifest["documents"] if d["id"] == "marsh.pdf")
    assert [f.name for f in kept.iterdir()] == [f"{sha}.json.gz"]  # none for notes.txt
    # A view uses them: it does not read the file again.
    monkeypatch.setattr("qa.pages.read_again", lambda *a: pytest.fail("read again"))
    over = next(p for p in engine.document("marsh.pdf") if p.text.startswith("Herons"))
    assert Pages(engine).view("marsh.pdf", 2, over.number).marks
    (engine.settings.docs / "marsh.pdf").unlink()
    engine.build()
    assert list(kept.iterdir()) == []


def test_a_page_that_breaks_the_drawing_limits_is_an_error_and_the_next_is_drawn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PDFium draws in a child process: a crash (PDFium aborts when memory runs out), memory
    over the limit or a call over the time limit is a PageDrawError, never the server's end."""
    drawer = Drawer()
    for function, args in ((os.abort, ()), (bytearray, (DRAW_MEMORY + 1,))):
        with pytest.raises(PageDrawError, match="cannot be drawn within 1,536 MB"):
            drawer.run(function, *args)
        assert drawer.run(render, MARSH, 1).startswith(b"\x89PNG")
    monkeypatch.setattr("qa.drawing.DRAW_SECONDS", 0.5)
    with pytest.raises(PageDrawError, match="took over 0.5 s"):
        drawer.run(time.sleep, 30)
    monkeypatch.undo()  # a new child starts within the usual limit
    assert drawer.run(page_sizes, MARSH) == ((612, 792, 0),) * 3


def test_a_cropped_page_is_marked_where_it_is_shown_and_a_turned_one_not_at_all(
    make_engine,
) -> None:
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import RectangleObject

    writer = PdfWriter()
    for page in PdfReader(io.BytesIO(make_pdf([column(100, [LEFT])] * 2))).pages:
        writer.add_page(page)
    writer.pages[0].cropbox = RectangleObject([50, 100, 562, 742])  # shown: 512 x 642
    writer.pages[1].rotate(90)
    out = io.BytesIO()
    writer.write(out)
    engine = make_engine({"cropped.pdf": out.getvalue()})
    engine.build()
    first, second = engine.document("cropped.pdf")
    cropped = Pages(engine).view("cropped.pdf", 1, first.number)
    assert (cropped.width, cropped.height) == (512, 642)
    assert cropped.marks[0][0] == 50  # printed at x = 100, the page shown from x = 50
    assert 742 - 700 - 11 < cropped.marks[0][1] < 742 - 700 - 8  # 10 pt glyphs on y = 700
    turned = Pages(engine).view("cropped.pdf", 2, second.number)
    assert (turned.marks, turned.note, turned.paragraph_pages) == ((), TURNED, (2,))


def test_a_black_and_white_page_is_a_grey_png_and_a_coloured_one_keeps_its_colours() -> None:
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, NameObject

    writer = PdfWriter()
    page = writer.add_blank_page(width=200, height=100)
    stream = DecodedStreamObject()
    stream.set_data(b"0.8 0.1 0.1 rg 20 20 60 60 re f")  # a red square
    page[NameObject("/Contents")] = writer._add_object(stream)
    out = io.BytesIO()
    writer.write(out)
    coloured = Image.open(io.BytesIO(render(out.getvalue(), 1)))
    assert coloured.mode == "RGB" and coloured.getpixel((100, 100))[:3] == (204, 26, 26)
    assert Image.open(io.BytesIO(render(MARSH, 1))).mode == "L"
