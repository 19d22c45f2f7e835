"""Paragraph making: numbering, offsets, headings as sections, and the round-trip property."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from qa import paragraphs as paragraphs_module
from qa.documents import Document, make_document, text_document
from qa.paragraphs import split_paragraphs
from qa.readers.blocks import Block, Parsed
from qa.readers.txt import blocks as text_blocks
from tests.conftest import SEEDS


def doc(text: str) -> Document:
    return text_document("d.txt", text)


def test_seed_is_one_paragraph_per_line() -> None:
    text = (SEEDS / "defectors.txt").read_text("utf-8")
    document = doc(text)
    paragraphs = split_paragraphs(document)
    assert [p.number for p in paragraphs] == [1, 2, 3, 4, 5, 6]
    assert [p.text for p in paragraphs] == text.split("\n")
    assert "196 last year" in paragraphs[4].text
    for p in paragraphs:
        assert document.text[p.start : p.end] == p.text
        assert p.sentences[0][0] == 0 and p.sentences[-1][1] == len(p.text)
        assert (p.section, p.page) == ("", None)
    assert document.title == "d.txt"  # no heading first: the file name


def test_blank_lines_separate_paragraphs_and_keep_hard_wraps() -> None:
    text = "First paragraph line one,\nstill the first one.\n\n\nSecond paragraph here.\n"
    document = doc(text)
    paragraphs = split_paragraphs(document)
    assert [p.text for p in paragraphs] == [
        "First paragraph line one,\nstill the first one.",
        "Second paragraph here.",
    ]
    assert document.text[paragraphs[1].start :] == "Second paragraph here."


def test_headings_are_the_section_of_the_paragraphs_after_them() -> None:
    text = "# Chapter One\n\nIntro\n\nThe body of the chapter is here.\n\nAnother body paragraph."
    paragraphs = split_paragraphs(doc(text))
    assert [(p.section, p.text) for p in paragraphs] == [
        ("# Chapter One › Intro", "The body of the chapter is here."),
        ("# Chapter One › Intro", "Another body paragraph."),
    ]
    assert doc(text).title == "# Chapter One"  # plain text starting with a heading: its title


def test_lone_heading_is_still_a_paragraph() -> None:
    assert [p.text for p in split_paragraphs(doc("Only a title"))] == ["Only a title"]
    *_, last = split_paragraphs(doc("Body text here.\n\nChapter Two\n\nThe End"))
    assert (last.section, last.text) == ("", "Chapter Two\n\nThe End")


def test_heading_levels_make_the_path_and_lists_and_tables_group() -> None:
    parsed = Parsed(
        blocks=[
            Block("heading", "Guide", level=1),
            Block("heading", "Diet", level=2),
            Block("item", "Fish."),
            Block("item", "Crabs."),
            Block("paragraph", "Otters eat a lot.", page=2),
            Block("heading", "Habitat", level=2),
            Block("row", "Sea\t45 kg"),
            Block("row", "River\t11 kg"),
        ],
        title="Otters",
    )
    document = make_document("o.pdf", SEEDS / "o.pdf", parsed)
    paragraphs = split_paragraphs(document)
    assert [(p.section, p.text, p.page) for p in paragraphs] == [
        ("Guide › Diet", "Fish.\nCrabs.", None),
        ("Guide › Diet", "Otters eat a lot.", 2),
        ("Guide › Habitat", "Sea\t45 kg\nRiver\t11 kg", None),
    ]
    assert document.title == "Otters"
    for p in paragraphs:
        assert document.text[p.start : p.end] == p.text
    first = paragraphs[0]
    assert [first.text[s:e] for s, e in first.sentences] == ["Fish.", "Crabs."]


words = st.text(alphabet="abcXYZ .,!?#\n\t", min_size=0, max_size=300)


@settings(max_examples=300, deadline=None)
@given(words)
def test_paragraphs_and_sections_reproduce_the_document_up_to_whitespace(text: str) -> None:
    if not text.strip():
        return
    document = doc(text)
    squeezed = "".join(text.split())
    blocks = text_blocks(text)
    assert "".join("".join(b.text.split()) for b in blocks) == squeezed  # no text lost
    paragraphs = split_paragraphs(document)
    body = [b.text for b in blocks if b.kind == "paragraph"]
    if body:  # every paragraph block is a paragraph, verbatim, in order
        assert [p.text for p in paragraphs][: len(body)] == body
    for p in paragraphs:
        assert document.text[p.start : p.end] == p.text
        for heading in p.section.split(" › ") if p.section else []:
            assert "".join(heading.split()) in squeezed  # sections are the document's words
        for s, e in p.sentences:
            assert p.text[s:e].strip() == p.text[s:e] != ""
        squeezed_p = "".join("".join(p.text[s:e].split()) for s, e in p.sentences)
        assert squeezed_p == "".join(p.text.split())  # sentences cover every word


def test_an_overlong_paragraph_is_cut_at_sentence_ends_then_spaces_then_the_limit(
    monkeypatch,
) -> None:
    monkeypatch.setattr(paragraphs_module, "MAX_PARAGRAPH_CHARS", 100)
    sentences = " ".join(f"Sentence number {i} is here." for i in range(30))
    words = " ".join(["word"] * 100)
    blob = "x" * 250
    for text in (sentences, words, blob, f"{sentences}\n\n{blob}"):
        paragraphs = split_paragraphs(doc(text))
        assert all(len(p.text) <= 100 for p in paragraphs)
        for p in paragraphs:  # verbatim, with offsets into the document
            assert text[p.start : p.end] == p.text and p.text == p.text.strip()
        assert "".join(p.text for p in paragraphs).replace(" ", "") == "".join(text.split())
        assert [p.number for p in paragraphs] == list(range(1, len(paragraphs) + 1))
    cut = split_paragraphs(doc(sentences))
    assert all(p.text.endswith("here.") for p in cut)  # at sentence ends
    assert [len(p.text) for p in split_paragraphs(doc(blob))] == [100, 100, 50]
