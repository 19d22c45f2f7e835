"""Outline: a PDF's bookmarks as the sections of its paragraphs.

Where a PDF has an outline (bookmarks, the table of contents a viewer shows beside the pages),
its author said what the sections are, which type sizes can only guess. Each bookmark is matched
to the paragraph or heading on its destination page whose text is the bookmark's title (the
one nearest its destination): that becomes a heading at the bookmark's depth. A bookmark whose
title is printed nowhere on its page becomes a heading of its own, placed before the first
paragraph that follows its destination. Headings found by type that no bookmark names go below
the outline's deepest level.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_LEVEL = 6


@dataclass(frozen=True)
class Bookmark:
    """One entry of a PDF's outline."""

    level: int  # 1 for the outline's top entries
    title: str
    page: int  # 1-based page of its destination
    y: float | None = None  # top of its destination, downwards from the page's top, if given


@dataclass(frozen=True)
class Spot:
    """Where a paragraph or heading of the layout starts, and its text."""

    page: int
    y: float
    text: str


def _key(text: str) -> str:
    return re.sub(r"\W+", "", text.casefold())


def place(
    bookmarks: list[Bookmark], spots: list[Spot]
) -> tuple[dict[int, int], list[tuple[int, Bookmark]]]:
    """For each spot that is a bookmark's heading, its level; and the bookmarks printed nowhere
    on their page, each with the index of the spot it goes before (len(spots): at the end)."""
    on_page: dict[int, list[int]] = {}
    for i, spot in enumerate(spots):
        on_page.setdefault(spot.page, []).append(i)
    keys: dict[int, str] = {}
    levels: dict[int, int] = {}
    inserted: list[tuple[int, Bookmark]] = []
    for mark in bookmarks:
        key = _key(mark.title)
        if not key:
            continue
        here = on_page.get(mark.page, [])
        same = [
            i for i in here if i not in levels and keys.setdefault(i, _key(spots[i].text)) == key
        ]
        if same:
            y = mark.y
            best = min(same, key=lambda i: abs(spots[i].y - y) if y is not None else i)
            levels[best] = min(MAX_LEVEL, mark.level)
            continue
        top = (mark.y or 0.0) - 2.0
        after = next((i for i in here if spots[i].y >= top), None)
        if after is None:  # the first paragraph of a later page
            later = [on_page[p][0] for p in on_page if p > mark.page]
            after = min(later, default=len(spots))
        inserted.append((after, mark))
    return levels, inserted
