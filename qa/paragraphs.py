"""Paragraphs: make a document's numbered, verbatim paragraphs from its blocks.

Each paragraph, list or table block makes a paragraph (the items of one list and the rows of one
table make one, up to GROUP_MAX_CHARS). Headings are not part of a paragraph's text: the path of
headings above it is its `section` ("Chapter › Part"). A run of headings that nothing follows
is a paragraph of its own, so no text of the document is left out of its paragraphs and
sections. A paragraph's text is document.text[start:end]; its page is its first block's.
Slides and spreadsheet rows (blocks whose `unit` is not "page") are places of their own: a
paragraph never spans two of them, and a slide's title is the section of that slide only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qa.documents import GROUPED, Document, join
from qa.readers.blocks import Block, Unit
from qa.sentences import sentence_spans

SECTION_SEPARATOR = " › "
# A list or table longer than this goes on in a new paragraph: a quote stays readable, and a
# long table does not become one passage diluted by all its rows. (~ a long SQuAD paragraph.)
GROUP_MAX_CHARS = 1000
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
    section: str = ""  # heading path, SECTION_SEPARATOR between the levels; "" if none
    page: int | None = None  # 1-based page of a PDF where the paragraph starts, else None
    unit: Unit = "page"  # what `page` numbers: a PDF page, a slide, its notes, a sheet's row

    @property
    def key(self) -> str:
        return f"{self.document}#{self.number}"


def _groups(blocks: tuple[Block, ...]) -> list[tuple[int, int, str]]:
    """(first block, last block, section) of each paragraph of `blocks`."""
    # (level, heading text, the slide it belongs to or None) from the top
    path: list[tuple[int, str, int | None]] = []
    groups: list[tuple[int, int, str]] = []
    headings: tuple[int, str] | None = None  # a run of headings waiting: first, section before
    size = 0  # characters of the group being made
    for i, block in enumerate(blocks):
        path = [h for h in path if h[2] is None or h[2] == block.page]  # another slide's title
        section = SECTION_SEPARATOR.join(text for _, text, _ in path)
        if block.kind == "heading":
            if headings is None:
                headings = (i, section)
            level = block.level or 1
            path = [h for h in path if h[0] < level]
            path.append((level, " ".join(block.text.split()), _place(block)))
            continue
        headings = None
        previous = blocks[i - 1] if i else None
        if (
            groups
            and previous is not None
            and block.kind in GROUPED
            and previous.kind == block.kind
            and size + len(block.text) <= GROUP_MAX_CHARS
            and _place(previous) == _place(block)
        ):
            groups[-1] = (groups[-1][0], i, groups[-1][2])
            size += len(block.text) + 1
            continue
        groups.append((i, i, section))
        size = len(block.text)
    if headings is not None:  # headings at the end: nothing to be the section of
        groups.append((headings[0], len(blocks) - 1, headings[1]))
    return groups


def _place(block: Block) -> int | None:
    """The slide (or row) a block belongs to; None for a PDF page, which paragraphs run across."""
    return None if block.unit == "page" else block.page


def split_paragraphs(document: Document) -> list[Paragraph]:
    """The paragraphs of `document`, made from its blocks."""
    text, spans = join(document.blocks)
    assert text == document.text, "a document's text is its blocks joined"
    paragraphs = []
    for first, last, section in _groups(document.blocks):
        for start, end in _pieces(text, spans[first][0], spans[last][1]):
            paragraphs.append(
                Paragraph(
                    document=document.id,
                    number=len(paragraphs) + 1,
                    start=start,
                    end=end,
                    text=text[start:end],
                    sentences=tuple(sentence_spans(text[start:end])),
                    section=section,
                    page=document.blocks[first].page,
                    unit=document.blocks[first].unit,
                )
            )
    return paragraphs


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
