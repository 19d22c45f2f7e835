"""CSV files (.csv): each record a paragraph `Header: value; Header: value`, by the standard
library's csv module.

The text is decoded as qa/readers/clean.py decodes any text. The delimiter is the one of
`, ; tab |` that splits the first lines into the same number (above one) of fields most
consistently, parsed with quotes honoured: csv.Sniffer guesses from character counts and, on a
short file, takes a quoted comma for a delimiter. Rows are made as for a spreadsheet
(qa/readers/sheets.py); a cell is header-like text unless it reads as a number. A row is cited
by its record number (a quoted line break does not start a new row, as in a spreadsheet).
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Iterator

from qa.readers.blocks import Parsed, UnreadableError
from qa.readers.clean import decode
from qa.readers.sheets import Cell, capped, cell, max_rows, sheet_blocks

DELIMITERS = (",", ";", "\t", "|")
SAMPLE_LINES = 50
# A number as people write them in a table: 1,234.50  -3  9.4%  $12  1e6  (the % and currency
# signs too): such a cell is data, never a header.
_NUMBER = re.compile(r"[-+(]?[$€£¥]?\s?\d[\d,. ]*(?:[eE][-+]?\d+)?\s?[%$€£¥)]?")


def delimiter(text: str) -> str:
    """The delimiter that splits the first lines of `text` most consistently (else ',')."""
    sample = "\n".join(text[: 1 << 16].splitlines()[:SAMPLE_LINES])
    best, score = ",", (0.0, 0)
    for candidate in DELIMITERS:
        try:
            counts = [len(r) for r in csv.reader(io.StringIO(sample), delimiter=candidate) if r]
        except csv.Error:
            continue
        if not counts:
            continue
        fields, rows = Counter(counts).most_common(1)[0]
        if fields > 1 and (rows / len(counts), fields) > score:
            best, score = candidate, (rows / len(counts), fields)
    return best


def _rows(text: str, separator: str) -> Iterator[tuple[int, list[Cell]]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator)
    for number, record in enumerate(reader, 1):
        yield number, [cell(value, not _NUMBER.fullmatch(value.strip())) for value in record]


def read(data: bytes) -> Parsed:
    text, note = decode(data)
    text = text.lstrip("\ufeff")
    try:
        blocks, cut = capped([(None, sheet_blocks(_rows(text, delimiter(text))))], max_rows())
    except csv.Error as e:
        raise UnreadableError(f"not a readable CSV file ({e})") from e
    return Parsed(blocks=blocks, note="; ".join(n for n in (note, cut) if n))
