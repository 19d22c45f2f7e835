"""Example questions: verbatim phrases from the start of the documents, one per document."""

from __future__ import annotations

from pathlib import Path

from qa.documents import make_document
from qa.examples import MAX_WORDS, pick
from qa.paragraphs import split_paragraphs
from qa.readers import READERS


def paragraphs(doc_id: str, text: str):
    """The paragraphs of `text` read as its file type would be."""
    parsed = READERS[Path(doc_id).suffix](text.encode("utf-8"))
    return doc_id, split_paragraphs(make_document(doc_id, Path(doc_id), parsed))


def test_a_question_the_document_asks_comes_first() -> None:
    doc = paragraphs(
        "a.md",
        "# Caring for bees\n\nBees need water in the summer. Why do bees swarm in spring?\n",
    )
    assert [e.text for e in pick([doc])] == ["Why do bees swarm in spring?"]


def test_then_a_heading_without_its_marks_then_a_short_sentence() -> None:
    heading = paragraphs("h.md", "## How lava becomes basalt\n\nLava cools into a dark rock.\n")
    sentence = paragraphs(
        "s.txt",
        "This very first sentence is far too long to be shown as an example question to anyone "
        "at all today. Owls hunt mice at night.\n",
    )
    examples = pick([heading, sentence])
    assert [(e.text, e.document) for e in examples] == [
        ("How lava becomes basalt", "h.md"),
        ("Owls hunt mice at night.", "s.txt"),
    ]


def test_examples_are_verbatim_short_and_one_per_document() -> None:
    docs = [
        paragraphs(f"d{n}.txt", f"Document {n} says cats sleep a lot.\n\nThey purr loudly.\n")
        for n in range(6)
    ]
    docs.append(paragraphs("same.txt", "Document 0 says cats sleep a lot.\n"))
    examples = pick(docs, count=4)
    assert [e.document for e in examples] == ["d0.txt", "d1.txt", "d2.txt", "d3.txt"]
    for example in examples:
        text = dict(docs)[example.document][0].text
        assert example.text in text and len(example.text.split()) <= MAX_WORDS
    assert pick([docs[0], docs[-1]]) == pick([docs[0]])  # no example twice


def test_nothing_fits_nothing_shown() -> None:
    long = paragraphs("long.txt", " ".join(["word"] * 40) + ".\n")
    assert pick([long]) == []
    assert pick([]) == []
