"""Boilerplate: the furniture of a printed web page (navigation, banners, link lists, footer).

A web page printed to PDF keeps, once each, what a browser showed around the article: the site
header and its menu, a cookie or consent banner, breadcrumbs, share buttons, related links, a
newsletter box, the footer's links and copyright line. Nothing repeats across pages, so the
page-furniture rule of qa/readers/layout.py cannot see it. This is a jusText-style classifier
(Pomikálek 2011) on the layout's paragraphs, in reading order:

- a paragraph mostly made of links, or a short one in a sidebar, is bad; one without a
  sentence in it (four words and a full stop) is short; one with a sentence is good from LONG
  characters up, else near-good;
- near-good ones between bad ones (short and near-good ones skipped, the document's ends
  counting as bad) are bad, others good; a short one takes its neighbours' class where they
  agree, and where they differ is good only beside a near-good one;
- everything but headings above the article's title (the first of the first page's highest
  headings) is bad, and so is a heading that is a link or all of whose paragraphs are.

It only applies where the document has navigation, at least two paragraphs that are links or
in a sidebar: a PDF that is not a printed web page keeps every paragraph.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LINKED = 0.5  # share of a paragraph's characters under links from which it is navigation
LONG = 200  # characters from which a paragraph with a sentence is the article's (jusText's)
_SENTENCE = re.compile(r"\w+[^\s.!?]*(\s+[^\s.!?]+){3,}[.!?][\"'”’)\]]*(\s|$)")


@dataclass(frozen=True)
class Piece:
    """What the classifier knows of a paragraph or heading."""

    text: str
    heading: bool
    level: int = 0  # a heading's level, 1 the highest
    link: float = 0.0  # share of its characters under links
    page: int | None = None
    aside: bool = False  # printed in a sidebar beside the main column


def boilerplate(pieces: list[Piece]) -> set[int]:
    """The indices of the pieces that are a printed web page's furniture."""
    linked = [p.link >= LINKED for p in pieces]
    if sum((link or p.aside) and not p.heading for link, p in zip(linked, pieces)) < 2:
        return set()  # no navigation: not a printed web page
    kinds = [_kind(p, link) for p, link in zip(pieces, linked)]
    first = next((i for i, k in enumerate(kinds) if k == "good"), None)
    if first is None:
        return set()  # no article found: keep it all
    headings = [i for i, p in enumerate(pieces) if p.heading and p.page == pieces[0].page]
    if headings:  # the title: the first of the first page's highest headings
        top = min(pieces[i].level for i in headings)
        title = next(i for i in headings if pieces[i].level == top)
        for i in range(title):
            if not pieces[i].heading:
                kinds[i] = "bad"
        first = next((i for i, k in enumerate(kinds) if k == "good"), None)
        if first is None:
            return set()
    final = list(kinds)
    for i, kind in enumerate(kinds):
        if kind == "near":
            sides = _neighbours(kinds, i, skip=("short", "near"))
            final[i] = "bad" if sides == ("bad", "bad") else "good"
    for i, kind in enumerate(kinds):
        if kind == "short":
            before_, after = _neighbours(final, i, skip=("short", "near"))
            if before_ == after:
                final[i] = before_
            else:
                near = _neighbours(kinds, i, skip=("short",))
                final[i] = "good" if "near" in near else "bad"
    dropped = {i for i, kind in enumerate(final) if kind == "bad"}
    for i, piece in enumerate(pieces):
        if piece.heading:
            under = _under(pieces, i)
            if linked[i] or (under and all(j in dropped for j in under)):
                dropped.add(i)
    return dropped


def _kind(piece: Piece, linked: bool) -> str:
    if piece.heading:
        return "heading"
    if linked:
        return "bad"
    if piece.aside and len(piece.text) < LONG:
        return "bad"
    if not _SENTENCE.search(piece.text):
        return "short"
    return "good" if len(piece.text) >= LONG else "near"


def _neighbours(kinds: list[str], i: int, skip: tuple[str, ...]) -> tuple[str, str]:
    """The nearest classes before and after `i` that are not headings or in `skip` ("bad" at
    the document's ends)."""
    ignored = ("heading", *skip)
    before = next((kinds[j] for j in range(i - 1, -1, -1) if kinds[j] not in ignored), "bad")
    after = next((kinds[j] for j in range(i + 1, len(kinds)) if kinds[j] not in ignored), "bad")
    return before, after


def _under(pieces: list[Piece], i: int) -> list[int]:
    """The paragraphs under heading `i`, up to the next heading of its level or higher."""
    found = []
    for j in range(i + 1, len(pieces)):
        if pieces[j].heading:
            if pieces[j].level <= pieces[i].level:
                break
            continue
        found.append(j)
    return found
