"""Example questions for an empty chat, taken word for word from the documents.

Nothing is generated: an example is a question the documents ask themselves, a heading, or a
short sentence near the start of a document, exactly as it stands there (a heading as a reader
sees it: the readers drop Markdown's '#' marks). Asking it finds its own document, so it shows a
newcomer what the documents are about and how an answer looks.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from qa.paragraphs import SECTION_SEPARATOR, Paragraph

MIN_WORDS = 3
MAX_WORDS = 16
PARAGRAPHS_LOOKED_AT = 5  # per document: examples come from its start


@dataclass(frozen=True)
class Example:
    text: str  # verbatim from the document
    document: str


def _fits(text: str) -> bool:
    return MIN_WORDS <= len(text.split()) <= MAX_WORDS and "\n" not in text


def candidates(paragraphs: Sequence[Paragraph]) -> Iterator[str]:
    """Phrases of a document's first paragraphs that could be asked, best kind first: its own
    questions, then its headings, then its sentences."""
    start = list(paragraphs[:PARAGRAPHS_LOOKED_AT])
    sentences = [p.text[s:e].strip() for p in start for s, e in p.sentences]
    yield from (s for s in sentences if s.endswith("?"))
    for p in start:  # a paragraph's section is the path of the headings above it
        yield from (p.section.split(SECTION_SEPARATOR) if p.section else [])
    yield from sentences


def pick(documents: Sequence[tuple[str, Sequence[Paragraph]]], count: int = 4) -> list[Example]:
    """Up to `count` examples, one per document while there are documents, in index order."""
    chosen: list[Example] = []
    seen: set[str] = set()
    for doc_id, paragraphs in documents:
        if len(chosen) == count:
            break
        for text in candidates(paragraphs):
            if _fits(text) and text.casefold() not in seen:
                chosen.append(Example(text, doc_id))
                seen.add(text.casefold())
                break
    return chosen
