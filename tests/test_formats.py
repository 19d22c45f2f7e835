"""Real documents: every format read into its paragraphs, sections, title and pages, without its
furniture, and quoted as faithfully as plain text (every character a quote shows is source text).

The fixtures (tests/formats.py) are made in the test: the Word file by python-docx, the PDF by
pypdf. The PDF checks hold for any reader of PDFs (pages, title, one paragraph per page here);
running headers and columns are the PDF reader's own tests.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from qa import workers
from qa.answer import SECTION_SEPARATOR
from qa.documents import load_documents
from qa.paragraphs import split_paragraphs
from tests.formats import EXPECTED, FURNITURE, PDF_PAGES, PDF_TITLE, TITLES, files, make_pdf
from web.app import create_app

QUESTIONS = {
    "otters.txt": "Why do otters hold hands while they sleep?",
    "lighthouse.md": "What did the early lighthouse lamps burn?",
    "bees.html": "How many eggs does a queen bee lay a day?",
    "glacier.docx": "How far did the glacier retreat last summer?",
    "volcano.pdf": "What did the lava flows build along the coast?",
}
BEST = {  # the paragraph that answers each question (1-based)
    "otters.txt": 1,
    "lighthouse.md": 2,
    "bees.html": 1,
    "glacier.docx": 1,
    "volcano.pdf": 2,
}


def squeeze(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("formats")
    for name, content in files().items():
        data = content.encode("utf-8") if isinstance(content, str) else content
        (folder / name).write_bytes(data)
    return folder


@pytest.fixture
def engine(make_engine):
    engine = make_engine(files())
    engine.build()
    return engine


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_format_reads_into_paragraphs_sections_title_and_pages(corpus, name) -> None:
    docs, skipped = load_documents(corpus)
    assert skipped == []
    (document,) = [d for d in docs if d.id == name]
    assert document.title == TITLES[name]
    paragraphs = split_paragraphs(document)
    assert [(p.section, p.text, p.page) for p in paragraphs] == EXPECTED[name]
    shown = document.text + " ".join(p.section for p in paragraphs)
    for furniture in FURNITURE.get(name, []):
        assert furniture not in shown, f"{furniture!r} of {name} was indexed"


def test_markdown_front_matter_gives_the_title_else_the_first_heading() -> None:
    from qa.readers import markdown

    assert markdown.read(b"---\ntitle: Front\n---\n# Heading\n\nText.").title == "Front"
    assert markdown.read(b"Intro text.\n\n# Heading\n\nText.").title == "Heading"
    # A rule that opens the file, not YAML front matter: text, kept.
    plain = markdown.read(b"---\nJust a line, after a rule.\n---\n\nMore.")
    assert "Just a line, after a rule." in [b.text for b in plain.blocks]


def test_a_page_without_main_content_is_still_read_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    import trafilatura

    from qa.readers import html

    parsed = html.read(b"<p>One line of text.</p>")
    assert [b.text for b in parsed.blocks] == ["One line of text."]

    def crash(*args, **kwargs):
        raise RecursionError("an extractor's bug")

    monkeypatch.setattr(trafilatura, "bare_extraction", crash)
    parsed = html.read(b"<title>T</title><p>First.</p><script>x()</script><p>Second.</p>")
    assert (parsed.title, [b.text for b in parsed.blocks]) == ("T", ["First.", "Second."])


def test_a_broken_word_file_is_skipped_with_a_reason(tmp_path: Path) -> None:
    (tmp_path / "broken.docx").write_bytes(b"PK\x03\x04 not really a zip")
    (tmp_path / "ok.txt").write_text("Fine.", "utf-8")
    docs, skipped = load_documents(tmp_path)
    assert [d.id for d in docs] == ["ok.txt"]
    assert [s.id for s in skipped] == ["broken.docx"] and "Word" in skipped[0].reason


def test_quotes_of_every_format_are_source_text_with_title_section_and_page(engine) -> None:
    paragraphs = {name: [squeeze(text) for _, text, _ in rows] for name, rows in EXPECTED.items()}
    for name, question in QUESTIONS.items():
        answer = engine.ask(question)
        best = answer.passages[0]
        assert (best.document, best.paragraph) == (name, BEST[name]), question
        for p in answer.passages:
            data = p.as_dict()
            # Every character shown is text of the source: the paragraph as a reader sees it.
            assert squeeze(data["text"]) in paragraphs[data["document"]]
            start, end = data["highlight"]["start"], data["highlight"]["end"]
            assert 0 <= start < end <= len(data["text"])
            section, _, page = EXPECTED[data["document"]][data["paragraph"] - 1]
            assert data["title"] == TITLES[data["document"]]
            assert (data["section"], data["page"]) == (section or None, page)
            # The citation is made of the title, the section's headings, the page and number.
            parts = re.split(r" › | · ", data["citation"])
            known = {data["title"], *section.split(SECTION_SEPARATOR), f"¶{data['paragraph']}"}
            assert set(parts) <= known | ({f"p. {page}"} if page else set()), data["citation"]
    pdf = engine.ask(QUESTIONS["volcano.pdf"]).passages[0]
    assert pdf.citation == f"{PDF_TITLE} · p. 2 · ¶2"
    word = engine.ask(QUESTIONS["glacier.docx"]).passages[0]
    assert word.citation == "Glacier field report › Retreat · ¶1"  # the title said once


def test_documents_are_listed_and_shown_by_title_with_headings_and_pages(engine) -> None:
    client = TestClient(create_app(engine))
    listing = client.get("/documents").text
    for title in TITLES.values():
        assert title.replace("'", "&#39;") in listing
    page = client.get("/documents/volcano.pdf", params={"p": 2, "s": 0, "e": 10})
    assert [m for m in re.findall(r'class="page-marker" id="page(\d)"', page.text)] == list("123")
    assert '<a class="original" href="/files/volcano.pdf#page=2">' in page.text
    assert "<mark>Lava flows</mark>" in page.text
    word = client.get("/documents/glacier.docx").text
    assert re.search(r'<h2 class="section">Glacier field report</h2>\s*<h3 class="section">'
                     r"Retreat</h3>", word)  # fmt: skip


def test_an_indexed_pdf_is_served_and_nothing_else(engine, tmp_path: Path) -> None:
    client = TestClient(create_app(engine))
    response = client.get("/files/volcano.pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.content == (engine.settings.docs / "volcano.pdf").read_bytes()
    (tmp_path / "outside.pdf").write_bytes(make_pdf([["Secret text outside."]]))
    (engine.settings.docs / "linked.pdf").symlink_to(tmp_path / "outside.pdf")
    (engine.settings.docs / "later.pdf").write_bytes(make_pdf([["Not indexed yet."]]))
    for path in ["/files/otters.txt", "/files/later.pdf", "/files/../outside.pdf",
                 "/files/%2e%2e/outside.pdf", "/files/nope.pdf"]:  # fmt: skip
        assert client.get(path).status_code == 404, path
    plan = engine.build()  # a link that leaves the folder is neither read nor served
    assert "linked.pdf" not in engine.index.by_document
    assert any(s.id == "linked.pdf" for s in plan.skipped)
    assert client.get("/files/linked.pdf").status_code == 404
    assert client.get("/files/later.pdf").status_code == 200


def test_unchanged_files_are_not_parsed_and_an_edited_pdf_page_reembeds_one_paragraph(
    engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(pool, files: list):
        raise AssertionError("an unchanged document was parsed again")

    monkeypatch.setattr(workers.Pool, "parse_all", refuse)
    plan = engine.build()
    assert plan.texts_to_embed == 0 and len(plan.unchanged) == len(EXPECTED)
    monkeypatch.undo()

    pages = [lines.copy() for lines in PDF_PAGES]
    pages[1] = [  # a full line then a short one: the paragraph visibly ends on its page
        "Lava flows reached the sea after eleven days and built three hectares of new land along",
        "the southern coast.",
    ]
    (engine.settings.docs / "volcano.pdf").write_bytes(make_pdf(pages, PDF_TITLE))
    plan = engine.build()
    assert plan.changed == ["volcano.pdf"] and plan.paragraphs_to_embed == 1
    assert [p.page for p in engine.document("volcano.pdf")] == [1, 2, 3]
    assert engine.index.titles["glacier.docx"] == TITLES["glacier.docx"]  # kept, not re-read
