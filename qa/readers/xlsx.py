"""Excel workbooks (.xlsx): each visible sheet's rows as paragraphs, streamed by openpyxl.

openpyxl (MIT, maintained) reads the workbook in read-only mode: rows stream from the sheet's
XML, so a 100k-row sheet never becomes 100k cell objects at once. Each row is a paragraph
`Header: value; Header: value` (qa/readers/sheets.py) cited by the sheet's own row number, the
sheet's name its section. Values are shown as the sheet shows them (qa/readers/cells.py: the
cached result of a formula, numbers and dates in their number format); merged cells give every
cell they cover the value of their first. Hidden sheets are skipped, a formula without a saved
result (a file written by a program that computes nothing) is shown empty and named in the
note, and at most QA_MAX_ROWS rows are read.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from typing import Any

from qa.readers.blocks import Parsed, UnreadableError
from qa.readers.cells import shown
from qa.readers.sheets import Cell, capped, cell, max_rows, sheet_blocks

# <mergeCell ref="A2:A4"/> elements come after all rows in a sheet's XML: found by scanning its
# bytes first (no parse), so rows can be filled as they stream.
_MERGE = re.compile(rb'<(?:\w+:)?mergeCell\b[^>]*?\bref="([A-Z]+[0-9]+:[A-Z]+[0-9]+)"')
_CHUNK = 1 << 20
MAX_MERGE_COLUMNS = 256  # a merged range wider than this fills only its first columns
NAMED = 3  # cells named in a note, at most


class _Missing:
    """The value of a formula cell whose file holds no saved result."""


MISSING = _Missing()


def _merges(archive: zipfile.ZipFile, path: str) -> dict[int, list[tuple[int, int, int]]]:
    """First row -> (last row, first column, last column) of each merged range of a sheet."""
    from openpyxl.utils.cell import range_boundaries

    found: dict[int, list[tuple[int, int, int]]] = {}
    tail = b""
    with archive.open(path) as f:
        while chunk := f.read(_CHUNK):
            text = tail + chunk
            end = 0
            for m in _MERGE.finditer(text):
                c1, r1, c2, r2 = range_boundaries(m.group(1).decode())
                found.setdefault(r1, []).append((r2, c1, min(c2, c1 + MAX_MERGE_COLUMNS - 1)))
                end = m.end()
            tail = text[max(end, len(text) - 200) :]  # an element cut at the chunk's end
    return found


def _rows(workbook: Any, sheet: Any, missing: list[str]) -> Iterator[tuple[int, list[Cell]]]:
    """(row number, cells) of a read-only sheet, merged ranges filled; cells of formulas
    without a saved result are appended to `missing` ("Sheet!B4")."""
    from openpyxl.styles.numbers import BUILTIN_FORMATS, BUILTIN_FORMATS_MAX_SIZE
    from openpyxl.utils.cell import get_column_letter
    from openpyxl.worksheet._reader import FORMULA_TAG, WorkSheetParser

    class Parser(WorkSheetParser):
        def parse_cell(self, element: Any) -> dict:
            found = super().parse_cell(element)
            if found["value"] is None and element.find(FORMULA_TAG) is not None:
                found["value"] = MISSING
            return found

    formats: dict[int, str] = {}

    def number_format(style: int) -> str:
        if style not in formats:
            fmt_id = workbook._cell_styles[style].numFmtId if style else 0
            formats[style] = (
                BUILTIN_FORMATS.get(fmt_id, "General")
                if fmt_id < BUILTIN_FORMATS_MAX_SIZE
                else workbook._number_formats[fmt_id - BUILTIN_FORMATS_MAX_SIZE]
            )
        return formats[style]

    merges = _merges(workbook._archive, sheet._worksheet_path)
    active: list[tuple[int, int, int, Cell]] = []  # last row, first and last column, value
    with sheet._get_source() as source:
        parser = Parser(
            source,
            sheet._shared_strings,
            data_only=True,
            epoch=workbook.epoch,
            date_formats=workbook._date_formats,
            timedelta_formats=workbook._timedelta_formats,
        )
        for number, found in parser.parse():
            row: list[Cell] = []
            for c in found:
                value, column = c["value"], c["column"]
                if value is MISSING:
                    missing.append(f"{sheet.title}!{get_column_letter(column)}{number}")
                    value = None
                row.extend([cell("", False)] * (column - len(row)))
                text = shown(value, number_format(c["style_id"]))
                row[column - 1] = cell(text, c["data_type"] == "s" and isinstance(value, str))
            active = [m for m in active if m[0] >= number]
            for last, first_column, last_column in merges.get(number, []):
                value = row[first_column - 1] if first_column <= len(row) else cell("", False)
                active.append((last, first_column, last_column, value))
            for _, first_column, last_column, value in active:
                row.extend([cell("", False)] * (last_column - len(row)))
                for column in range(first_column, last_column + 1):
                    if not row[column - 1].text:
                        row[column - 1] = value
            yield number, row


def read(data: bytes) -> Parsed:
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, OSError) as e:
        raise UnreadableError(f"not a readable Excel workbook ({type(e).__name__}: {e})") from e
    try:
        missing: list[str] = []
        visible = [s for s in workbook.worksheets if s.sheet_state == "visible"]
        hidden = [s.title for s in workbook.worksheets if s.sheet_state != "visible"]
        sheets = ((s.title, sheet_blocks(_rows(workbook, s, missing))) for s in visible)
        blocks, cut = capped(sheets, max_rows())
        title = " ".join((workbook.properties.title or "").split())
    except (KeyError, ValueError, TypeError, zipfile.BadZipFile) as e:
        raise UnreadableError(f"not a readable Excel workbook ({type(e).__name__}: {e})") from e
    finally:
        workbook.close()
    notes = [cut] if cut else []
    if hidden:
        notes.append(f"hidden sheets not read: {', '.join(hidden)}")
    if missing:
        named = ", ".join(missing[:NAMED]) + (", ..." if len(missing) > NAMED else "")
        notes.append(
            f"{len(missing):,} formula{'s' if len(missing) > 1 else ''} without a saved result "
            f"({named}) shown empty: open and save the file in a spreadsheet program"
        )
    return Parsed(blocks=blocks, title=title or None, note="; ".join(notes))
