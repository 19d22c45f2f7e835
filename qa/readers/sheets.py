"""Sheets: the rows of a spreadsheet or CSV file as paragraphs `Header: value; Header: value`.

Each data row is one paragraph, located by the sheet's own row number (`unit` "row"). Its text
is made only of the file's words: the column's header text, ": ", the cell's text as the sheet
shows it, and "; " between cells (empty cells left out). The header is the first of the first
few rows made only of text (no numbers or dates) that fills at least half as many columns as
the widest of them; rows above it (a title) are paragraphs of their own, cells joined by "; ".
A sheet without such a row has no header: its rows are their cells joined by "; ". After a
blank row, a row of text with a row of data right below it starts a new table: its header.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import chain, islice
from typing import TypeVar

from qa.readers.blocks import Block

LABEL = ": "  # between a header and its cell
SEPARATOR = "; "  # between the cells of a row
# Rows looked at (before the first data row) to find the header row.
HEADER_LOOKAHEAD = 10
T = TypeVar("T")


@dataclass(frozen=True)
class Cell:
    text: str  # as the sheet shows it, whitespace squeezed
    label: bool  # text that could be a column's name (not a number, date, boolean or error)


def max_rows() -> int:
    """The row cap (QA_MAX_ROWS), read here so it holds in a reading worker process too."""
    from qa.settings import Settings

    return Settings.load().max_rows


def cell(text: str, label: bool) -> Cell:
    return Cell(" ".join(text.split()), label and bool(text.strip()))


def _filled(cells: list[Cell]) -> int:
    return sum(1 for c in cells if c.text)


def _header(rows: list[tuple[int, list[Cell]]]) -> int | None:
    """Which of `rows` (the first non-empty ones) is the header, if any."""
    widest = max((_filled(cells) for _, cells in rows), default=0)
    for i, (_, cells) in enumerate(rows[:-1]):  # a header has a row below it
        if _names(cells) and _filled(cells) * 2 >= widest:
            return i
        if any(c.text and not c.label for c in cells):
            return None  # a row holding a number or a date: data has begun
    return None


def row_text(cells: list[Cell], header: list[str]) -> str:
    """`Header: value; Header: value` (a cell without a header: its value alone)."""
    parts = []
    for column, c in enumerate(cells):
        if not c.text:
            continue
        name = header[column] if column < len(header) else ""
        parts.append(f"{name}{LABEL}{c.text}" if name else c.text)
    return SEPARATOR.join(parts)


def _names(cells: list[Cell]) -> bool:
    """Could these cells be a header: two or more, all text."""
    return _filled(cells) >= 2 and all(c.label for c in cells if c.text)


def sheet_blocks(rows: Iterable[tuple[int, list[Cell]]]) -> Iterator[Block]:
    """The paragraphs of one sheet's (row number, cells), made as the rows stream in. After a
    blank row, a row that could be a header and has a row of data right below it is the
    header of a new table."""
    rows = ((n, cells) for n, cells in rows if _filled(cells))
    first = list(islice(rows, HEADER_LOOKAHEAD))
    at = _header(first)
    header = [c.text for c in first[at][1]] if at is not None else []
    last = 0  # the row number before this one
    for i, ((n, cells), below) in enumerate(_pairs(chain(first, rows))):
        gap, last = n > last + 1, n
        if i == at:
            continue
        under = at is None or i > at  # below the header (if any): not a title row
        if (
            under
            and gap
            and _names(cells)
            and below is not None
            and below[0] == n + 1
            and any(c.text and not c.label for c in below[1])
        ):
            header = [c.text for c in cells]
            continue
        text = row_text(cells, header if under else [])
        yield Block("paragraph", text, page=n, unit="row")


def _pairs(items: Iterator[T]) -> Iterator[tuple[T, T | None]]:
    """Each item with the one after it (None after the last)."""
    previous = next(items, None)
    for item in items:
        yield previous, item  # type: ignore[misc]
        previous = item
    if previous is not None:
        yield previous, None


def capped(
    sheets: Iterable[tuple[str | None, Iterator[Block]]], cap: int
) -> tuple[list[Block], str]:
    """The blocks of each (sheet name, its row blocks), each sheet's name a heading, at most
    `cap` rows in all; and a note naming the sheets cut short ('' if none was)."""
    blocks: list[Block] = []
    rows, cut = 0, []
    for name, sheet in sheets:
        for i, block in enumerate(sheet):
            if rows >= cap:
                cut.append(name or "the file")
                break
            if name and not i:  # (an empty sheet has no heading either)
                blocks.append(Block("heading", name, level=1))
            blocks.append(block)
            rows += 1
    note = f"only the first {cap:,} rows read (QA_MAX_ROWS): {', '.join(cut)} cut short"
    return blocks, note if cut else ""
