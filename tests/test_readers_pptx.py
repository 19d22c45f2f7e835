"""Slide decks: titles as sections, text frames, tables, groups and notes, without furniture."""

from __future__ import annotations

import io
from pathlib import Path

from qa.answer import citation
from qa.documents import make_document
from qa.paragraphs import split_paragraphs
from qa.readers import pptx
from tests.office import BUDGET, DECK_TITLE, FOOTER, GROUPED, NOTES, RISKS, TIMELINE, make_deck


def paragraphs(data: bytes) -> list[tuple[str, str, str]]:
    """(citation, text, unit) of each paragraph, as the index makes them."""
    document = make_document("deck.pptx", Path("deck.pptx"), pptx.read(data))
    return [
        (citation(document.title, p.section, p.page, p.number, p.unit), p.text, p.unit)
        for p in split_paragraphs(document)
    ]


def test_each_slide_is_cited_by_its_title_and_number_notes_as_notes() -> None:
    table = "\n".join("\t".join(row) for row in TIMELINE)
    assert paragraphs(make_deck()) == [
        (f"{DECK_TITLE} · slide 1", "Board meeting, spring session", "slide"),
        (f"{DECK_TITLE} › Budget · slide 2", "\n".join(BUDGET), "slide"),  # one bullet list
        (f"{DECK_TITLE} › Timeline · slide 3", table, "slide"),  # a table: one paragraph
        (f"{DECK_TITLE} › Timeline · notes of slide 3", NOTES[0], "notes"),
        (f"{DECK_TITLE} › Timeline · notes of slide 3", NOTES[1], "notes"),
        # untitled: not under the title of the slide before it; text inside a group found
        (f"{DECK_TITLE} · slide 4", GROUPED, "slide"),
        (f"{DECK_TITLE} › Risks · slide 5", RISKS, "slide"),
    ]


def test_every_word_quoted_is_text_of_the_deck_and_furniture_is_dropped() -> None:
    parsed = pptx.read(make_deck())
    written = {DECK_TITLE, "Board meeting, spring session", "Budget", "Timeline", "Risks",
               *BUDGET, *NOTES, GROUPED, RISKS, *("\t".join(r) for r in TIMELINE)}  # fmt: skip
    for block in parsed.blocks:
        for line in block.text.split("\n"):
            assert line in written, line
    texts = " ".join(b.text for b in parsed.blocks)
    assert FOOTER not in texts
    assert not any(b.text.isdigit() for b in parsed.blocks)  # slide numbers typed in boxes


def test_footer_placeholders_go_and_text_on_few_slides_stays() -> None:
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    for n in range(4):
        slide = deck.slides.add_slide(deck.slide_layouts[5])
        slide.shapes.title.text = f"Topic {n}"
        box = slide.shapes.add_textbox(Inches(1), Inches(2), Inches(6), Inches(1))
        # the same sentence on two slides of four: content, not furniture
        box.text_frame.text = "Costs are shown in euros." if n < 2 else f"Point {n} alone."
    out = io.BytesIO()
    deck.save(out)
    texts = [b.text for b in pptx.read(out.getvalue()).blocks if b.kind != "heading"]
    assert texts == ["Costs are shown in euros.", "Costs are shown in euros.", "Point 2 alone.",
                     "Point 3 alone."]  # fmt: skip
    assert pptx.read(out.getvalue()).title == "Topic 0"  # no core title: the first slide's


def test_a_broken_deck_is_unreadable_with_a_reason(tmp_path: Path) -> None:
    from qa.documents import load_documents

    (tmp_path / "broken.pptx").write_bytes(b"PK\x03\x04 not a zip")
    _, skipped = load_documents(tmp_path)
    assert [s.id for s in skipped] == ["broken.pptx"] and "PowerPoint" in skipped[0].reason


def test_a_paragraph_never_spans_two_slides() -> None:
    from qa.readers.blocks import Block, Parsed

    blocks = [
        Block("row", "Phase\tMonths", page=1, unit="slide"),
        Block("row", "Dredging\t5", page=1, unit="slide"),
        Block("row", "Team\tSize", page=2, unit="slide"),  # the next slide's table, untitled
    ]
    document = make_document("d.pptx", Path("d.pptx"), Parsed(blocks=blocks))
    assert [(p.text, p.page) for p in split_paragraphs(document)] == [
        ("Phase\tMonths\nDredging\t5", 1),
        ("Team\tSize", 2),
    ]
