"""Paragraphs: split a document's text into numbered, verbatim paragraphs with offsets.

Blank lines separate paragraphs. A document with no blank line at all (one paragraph per line,
like the seed article) is split per line. A heading or very short line is not a paragraph of its
own: it is kept as context at the start of the paragraph that follows it. So the paragraphs of a
document, in order, reproduce its text up to whitespace.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qa.documents import Document
from qa.sentences import sentence_spans

_BLANK_LINE = re.compile(r"\n[ \t\f\v]*\n\s*")
_LINE = re.compile(r"\n\s*")
HEADING_MAX_WORDS = 8
# A paragraph is quoted whole in every hit and shown whole on its document's page, so one without
# any break (a 20 MB one-line file) is cut into pieces of at most this many characters: at the
# last sentence end in the piece's second half, else the last space, else at the limit. Far above
# what people write as one paragraph (the longest SQuAD dev context has 4,063 characters).
MAX_PARAGRAPH_CHARS = 20_000
_SPACE = re.compile(r"\s*")
_SENTENCE_END = re.compile(r"[.!?][\"”’')\]]*\s")


@dataclass(frozen=True)
class Paragraph:
    """A verbatim paragraph of a document: text == document.text[start:end]."""

    document: str  # document id (its path relative to the documents folder)
    number: int  # 1-based position in the document
    start: int
    end: int
    text: str
    sentences: tuple[tuple[int, int], ...]  # sentence spans, relative to `text`

    @property
    def key(self) -> str:
        return f"{self.document}#{self.number}"


def _blocks(text: str) -> list[tuple[int, int]]:
    """Spans of non-blank blocks, stripped of surrounding whitespace."""
    separator = _BLANK_LINE if _BLANK_LINE.search(text.strip()) else _LINE
    spans = []
    start = 0
    for match in separator.finditer(text):
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(text)))
    result = []
    for s, e in spans:
        chunk = text[s:e]
        if chunk.strip():
            lead = len(chunk) - len(chunk.lstrip())
            result.append((s + lead, s + lead + len(chunk.strip())))
    return result


def is_heading(block: str) -> bool:
    """A markdown heading, or a short line that does not end like a sentence."""
    if block.lstrip().startswith("#") and "\n" not in block.strip():
        return True
    words = block.split()
    return len(words) <= HEADING_MAX_WORDS and not block.rstrip().endswith(
        (".", "!", "?", '"', "”")
    )


def split_paragraphs(document: Document) -> list[Paragraph]:
    """The paragraphs of `document`, headings merged into the paragraph they introduce."""
    text = document.text
    merged: list[tuple[int, int]] = []
    pending: int | None = None  # start of headings waiting for their paragraph
    for start, end in _blocks(text):
        if is_heading(text[start:end]):
            pending = start if pending is None else pending
            continue
        merged.append((start if pending is None else pending, end))
        pending = None
    if pending is not None:  # trailing headings: attach to the last paragraph, or stand alone
        if merged:
            merged[-1] = (merged[-1][0], len(text.rstrip()))
        else:
            merged.append((pending, len(text.rstrip())))
    merged = [piece for span in merged for piece in _pieces(text, *span)]
    return [
        Paragraph(
            document=document.id,
            number=number,
            start=start,
            end=end,
            text=text[start:end],
            sentences=tuple(sentence_spans(text[start:end])),
        )
        for number, (start, end) in enumerate(merged, 1)
    ]


def _pieces(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The span (start, end) of `text`, cut into pieces of at most MAX_PARAGRAPH_CHARS (each
    stripped of surrounding whitespace, so together they still reproduce the text)."""
    pieces = []
    while end - start > MAX_PARAGRAPH_CHARS:
        window = text[start : start + MAX_PARAGRAPH_CHARS]
        half = len(window) // 2
        ends = [m.end() for m in _SENTENCE_END.finditer(window, half)]
        cut = ends[-1] if ends else max(window.rfind(" ", half), window.rfind("\n", half)) + 1
        cut = start + (cut if cut > half else len(window))
        pieces.append((start, start + len(text[start:cut].rstrip())))
        start = _SPACE.match(text, cut).end()  # type: ignore[union-attr]
    pieces.append((start, end))
    return pieces
