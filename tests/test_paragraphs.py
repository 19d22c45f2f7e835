"""Paragraph splitting: numbering, offsets, headings as context, and the round-trip property."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from qa import paragraphs as paragraphs_module
from qa.documents import Document, content_hash
from qa.paragraphs import split_paragraphs
from tests.conftest import SEEDS


def doc(text: str) -> Document:
    return Document(id="d.txt", path=SEEDS / "d.txt", text=text, sha256=content_hash(text))


def test_seed_is_one_paragraph_per_line() -> None:
    text = (SEEDS / "defectors.txt").read_text("utf-8")
    paragraphs = split_paragraphs(doc(text))
    assert [p.number for p in paragraphs] == [1, 2, 3, 4, 5, 6]
    assert [p.text for p in paragraphs] == text.split("\n")
    assert "196 last year" in paragraphs[4].text
    for p in paragraphs:
        assert text[p.start : p.end] == p.text
        assert p.sentences[0][0] == 0 and p.sentences[-1][1] == len(p.text)


def test_blank_lines_separate_paragraphs_and_keep_hard_wraps() -> None:
    text = "First paragraph line one,\nstill the first one.\n\n\nSecond paragraph here.\n"
    paragraphs = split_paragraphs(doc(text))
    assert [p.text for p in paragraphs] == [
        "First paragraph line one,\nstill the first one.",
        "Second paragraph here.",
    ]
    assert paragraphs[1].start == text.index("Second")


def test_headings_are_context_for_the_next_paragraph() -> None:
    text = "# Chapter One\n\nIntro\n\nThe body of the chapter is here.\n\nAnother body paragraph."
    paragraphs = split_paragraphs(doc(text))
    assert [p.text for p in paragraphs] == [
        "# Chapter One\n\nIntro\n\nThe body of the chapter is here.",
        "Another body paragraph.",
    ]


def test_lone_heading_is_still_a_paragraph() -> None:
    assert [p.text for p in split_paragraphs(doc("Only a title"))] == ["Only a title"]


words = st.text(alphabet="abcXYZ .,!?#\n\t", min_size=0, max_size=300)


@settings(max_examples=300, deadline=None)
@given(words)
def test_paragraphs_reproduce_the_document_up_to_whitespace(text: str) -> None:
    paragraphs = split_paragraphs(doc(text))
    assert "".join("".join(p.text.split()) for p in paragraphs) == "".join(text.split())
    for p in paragraphs:
        assert text[p.start : p.end] == p.text
        for s, e in p.sentences:
            assert p.text[s:e].strip() == p.text[s:e] != ""
        squeezed = "".join("".join(p.text[s:e].split()) for s, e in p.sentences)
        assert squeezed == "".join(p.text.split())  # sentences cover every word


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
