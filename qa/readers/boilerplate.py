"""Boilerplate: the furniture of a printed web page (navigation, banners, link lists, footer).

A web page printed to PDF keeps, once each, what a browser showed around the article: the site
header and its menu, a cookie or consent banner, breadcrumbs, share buttons, related links, a
newsletter box, the footer's links and copyright line. Nothing repeats across pages, so the
page-furniture rule of qa/readers/layout.py cannot see it. This is a jusText-style classifier
(Pomikálek 2011) on the layout's paragraphs, in reading order:

- a paragraph mostly made of web links, or a short one in a sidebar, is bad; one without a
  sentence in it (four words and a full stop) is short; one with a sentence is good from LONG
  characters up, else near-good;
- near-good ones between bad ones (short and near-good ones skipped, the document's ends
  counting as bad) are bad, others good; a short one takes its neighbours' class where they
  agree, and where they differ is good only beside a near-good one;
- above the article's title (the first of the first page's highest headings) all but headings
  and long paragraphs with few links is bad, and so is a heading that is a link or all of
  whose paragraphs are.

It only applies where the document has navigation, a paragraph of links above its first good
paragraph and another one (or a sidebar) anywhere: a PDF that is not a printed web page (a
paper whose references are web addresses, say) keeps every paragraph.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LINKED = 0.5  # share of a paragraph's characters under web links from which it is navigation
DENSE = 0.2  # share of links from which a long paragraph above the title is furniture (jusText's)
LONG = 200  # characters from which a paragraph with a sentence is the article's (jusText's)
_SENTENCE = re.compile(r"\w+[^\s.!?]*(\s+[^\s.!?]+){3,}[.!?][\"'”’)\]]*(\s|$)")


@dataclass(frozen=True)
class Piece:
    """What the classifier knows of a paragraph or heading."""

    text: str
    heading: bool
    level: int = 0  # a heading's level, 1 the highest
    link: float = 0.0  # share of its characters under links to web addresses
    page: int | None = None
    aside: bool = False  # printed in a sidebar beside the main column


def boilerplate(pieces: list[Piece]) -> set[int]:
    """The indices of the pieces that are a printed web page's furniture."""
    linked = [p.link >= LINKED for p in pieces]
    if sum((link or p.aside) and not p.heading for link, p in zip(linked, pieces)) < 2:
        return set()  # no navigation: not a printed web page
    kinds = [_kind(p, link) for p, link in zip(pieces, linked)]
    first = next((i for i, k in enumerate(kinds) if k == "good"), None)
    if first is None or not any(linked[:first]):
        return set()  # no article found, or no menu above it (a paper's list of URLs): keep all
    headings = [i for i, p in enumerate(pieces) if p.heading and p.page == pieces[0].page]
    if headings:  # the title: the first of the first page's highest headings
        top = min(pieces[i].level for i in headings)
        title = next(i for i in headings if pieces[i].level == top)
        for i in range(title):  # above the title: a long paragraph stays unless part links
            if kinds[i] != "heading" and (kinds[i] != "good" or pieces[i].link >= DENSE):
                kinds[i] = "bad"
        first = next((i for i, k in enumerate(kinds) if k == "good"), None)
        if first is None:
            return set()
    final = list(kinds)
    sides = _sides(kinds, skip=("short", "near"))
    for i, kind in enumerate(kinds):
        if kind == "near":
            final[i] = "bad" if sides[i] == ("bad", "bad") else "good"
    sides, near = _sides(final, skip=("short", "near")), _sides(kinds, skip=("short",))
    for i, kind in enumerate(kinds):
        if kind == "short":
            before, after = sides[i]
            if before == after:
                final[i] = before
            else:
                final[i] = "good" if "near" in near[i] else "bad"
    dropped = {i for i, kind in enumerate(final) if kind == "bad"}
    return dropped | _empty_headings(pieces, linked, dropped)


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


def _sides(kinds: list[str], skip: tuple[str, ...]) -> list[tuple[str, str]]:
    """For each piece, the nearest classes before and after it that are not headings or in
    `skip` ("bad" at the document's ends)."""
    ignored = ("heading", *skip)
    before, after = [], []
    last = "bad"
    for kind in kinds:
        before.append(last)
        last = kind if kind not in ignored else last
    last = "bad"
    for kind in reversed(kinds):
        after.append(last)
        last = kind if kind not in ignored else last
    return list(zip(before, reversed(after)))


def _empty_headings(pieces: list[Piece], linked: list[bool], dropped: set[int]) -> set[int]:
    """Headings that are links, or all of whose paragraphs (up to the next heading of their
    level or higher) are dropped."""
    found = set()
    end = {level: len(pieces) for level in range(1, 8)}  # next heading at or above a level
    paragraphs = kept = 0  # paragraphs, and kept ones, from the end back to here
    counts_at: dict[int, tuple[int, int]] = {len(pieces): (0, 0)}
    for i in range(len(pieces) - 1, -1, -1):
        piece = pieces[i]
        if piece.heading:
            level = min(max(piece.level, 1), 7)
            stop_paragraphs, stop_kept = counts_at[end[level]]
            under, under_kept = paragraphs - stop_paragraphs, kept - stop_kept
            if linked[i] or (under and not under_kept):
                found.add(i)
            for at in range(level, 8):
                end[at] = i
        else:
            paragraphs += 1
            kept += i not in dropped
        counts_at[i] = (paragraphs, kept)
    return found
