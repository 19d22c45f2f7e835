"""Plain text: blank lines separate blocks; a file without any blank line has one per line.

A short line that does not end like a sentence is a heading: the paragraphs after it carry it as
their section. Consecutive headings nest ("Part One", then "Chapter 2": "Part One › Chapter 2"),
as plain text says nothing about levels. A block's text is kept as written (its line breaks too).
"""

from __future__ import annotations

import re

from qa.readers.blocks import Block, Parsed
from qa.readers.clean import decode, normalize_newlines

BLANK_LINE = re.compile(r"\n[ \t\f\v]*\n\s*")
_LINE = re.compile(r"\n\s*")
HEADING_MAX_WORDS = 8
MAX_LEVEL = 6


def chunks(text: str) -> list[str]:
    """The non-blank chunks of `text`, stripped of surrounding whitespace."""
    separator = BLANK_LINE if BLANK_LINE.search(text.strip()) else _LINE
    return [chunk.strip() for chunk in separator.split(text) if chunk.strip()]


def is_heading(chunk: str) -> bool:
    """A markdown-style heading line, or a short chunk that does not end like a sentence."""
    if chunk.lstrip().startswith("#") and "\n" not in chunk.strip():
        return True
    words = chunk.split()
    return len(words) <= HEADING_MAX_WORDS and not chunk.rstrip().endswith(
        (".", "!", "?", '"', "”")
    )


def blocks(text: str) -> list[Block]:
    """The blocks of plain `text`: headings (nested by run) and paragraphs."""
    out: list[Block] = []
    run = 0  # headings in a row so far
    for chunk in chunks(normalize_newlines(text)):
        if is_heading(chunk):
            run += 1
            out.append(Block("heading", " ".join(chunk.split()), level=min(run, MAX_LEVEL)))
        else:
            run = 0
            out.append(Block("paragraph", chunk))
    return out


def read(data: bytes) -> Parsed:
    text, note = decode(data)
    found = blocks(text)
    # A text that starts with a heading is titled by it; else the file name stands in.
    title = found[0].text if len(found) > 1 and found[0].kind == "heading" else None
    return Parsed(blocks=found, title=title, note=note)
