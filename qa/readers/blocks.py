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
class Block:
    """One structural piece of a document, in reading order."""

    kind: Kind
    text: str
    level: int = 0  # 1..6 for a heading, else 0
    page: int | None = None  # 1-based page of a PDF (where the block starts), else None
    unit: Unit = "page"  # what `page` numbers: slide 4, notes of slide 4, row 12 of a sheet


@dataclass(frozen=True)
class Parsed:
    """A document as a reader understood it."""

    blocks: list[Block] = field(default_factory=list)
    title: str | None = None  # from metadata / <title> / front matter / first heading
    note: str = ""  # e.g. how it was decoded, when that was not plain UTF-8


class UnreadableError(Exception):
    """Raised by a reader for a file that cannot be turned into text (the message says why)."""
