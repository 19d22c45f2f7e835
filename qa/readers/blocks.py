"""Blocks: what every format's reader yields, so paragraphs are made the same way for all.

A reader turns a file's bytes into a `Parsed` document: its title (if the format says one) and
its blocks in reading order. A block's `text` is the text a reader of the document sees (no
markup syntax, wrapped lines joined with a space); headings are blocks of their own, and the
paragraphs that follow them carry their heading path as their section.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["heading", "paragraph", "item", "row", "code"]
# What `page` counts: a PDF page, a slide, the speaker notes of a slide, a spreadsheet row.
Unit = Literal["page", "slide", "notes", "row"]


@dataclass(frozen=True)
class Line:
    """Where one printed line of a block is on its page (PDF and scanned pages): `box` is
    (x0, top, x1, bottom) in PDF points from the page's top-left corner, and
    block.text[start:end] is the text printed on it (offsets within the block's text)."""

    page: int  # 1-based
    box: tuple[float, float, float, float]
    start: int
    end: int


@dataclass(frozen=True)
class Block:
    """One structural piece of a document, in reading order."""

    kind: Kind
    text: str
    level: int = 0  # 1..6 for a heading, else 0
    page: int | None = None  # 1-based page of a PDF (where the block starts), else None
    unit: Unit = "page"  # what `page` numbers: slide 4, notes of slide 4, row 12 of a sheet
    # Its printed lines with their boxes, where the reader knows them (PDF, OCR). Not compared:
    # a block is its text and structure wherever it is printed.
    lines: tuple[Line, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class Parsed:
    """A document as a reader understood it."""

    blocks: list[Block] = field(default_factory=list)
    title: str | None = None  # from metadata / <title> / front matter / first heading
    note: str = ""  # e.g. how it was decoded, when that was not plain UTF-8


Printed = tuple[int, tuple[float, float, float, float], str]  # page, box, text as printed


def place(printed: list[Printed], text: str) -> tuple[Line, ...]:
    """The printed lines (page, box, text as printed) of a block whose text is `text` (the
    lines joined, a line-end hyphen, a soft hyphen or a bullet perhaps dropped, spaces put
    between them), each with the span of `text` it holds; () if they do not spell `text`."""
    lines = []
    at = 0
    for page, box, printed_text in printed:
        while at < len(text) and text[at].isspace():
            at += 1
        start = at
        for char in printed_text:
            if at < len(text) and text[at] == char:
                at += 1
            # else a character the block's text does not have (a hyphen dropped): skipped
        if at > start:
            lines.append(Line(page, box, start, at))
    return tuple(lines) if at == len(text) else ()


class UnreadableError(Exception):
    """Raised by a reader for a file that cannot be turned into text (the message says why)."""
