"""Sheets: the rows of a spreadsheet or CSV file as paragraphs `Header: value; Header: value`.

Each data row is one paragraph, located by the sheet's own row number (`unit` "row"). Its text
is made only of the file's words: the column's header text, ": ", the cell's text as the sheet
shows it, and "; " between cells (empty cells left out). The header is the first of the first
few rows made only of text (no numbers or dates) that fills at least half as many columns as
the widest of them; rows above it (a title) are paragraphs of their own, cells joined by "; ".
A sheet without such a row has no header: its rows are their cells joined by "; ".
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from qa.readers.blocks import Block

LABEL = ": "  # between a header and its cell
SEPARATOR = "; "  # between the cells of a row
# Rows looked at (before the first data row) to find the header row.
HEADER_LOOKAHEAD = 10


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
        filled = _filled(cells)
        if filled >= 2 and filled * 2 >= widest and all(c.label for c in cells if c.text):
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


def sheet_blocks(rows: Iterable[tuple[int, list[Cell]]]) -> Iterator[Block]:
    """The paragraphs of one sheet's (row number, cells), made as the rows stream in."""
    rows = ((n, cells) for n, cells in rows if _filled(cells))
    first: list[tuple[int, list[Cell]]] = []
    for n, cells in rows:
        first.append((n, cells))
        if len(first) >= HEADER_LOOKAHEAD:
            break
    at = _header(first)
    header = [c.text for c in first[at][1]] if at is not None else []
    for i, (n, cells) in enumerate(_chain(first, rows)):
        if i != at:
            text = row_text(cells, header if at is not None and i > at else [])
            yield Block("paragraph", text, page=n, unit="row")


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


def _chain(first: list, rest: Iterator) -> Iterator:
    yield from first
    yield from rest
