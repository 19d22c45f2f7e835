"""Workbooks: each row a paragraph `Header: value; …` cited by its sheet and row, values as the
sheet shows them, merged cells filled, hidden sheets and missing formula results reported."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from qa.answer import citation
from qa.documents import load_documents, make_document
from qa.paragraphs import split_paragraphs
from qa.readers import xlsx
from qa.readers.cells import shown
from qa.readers.sheets import LABEL, SEPARATOR
from tests.office import HEADER, ROWS, SHEET, WORKBOOK_TITLE, make_workbook

ROOT = Path(__file__).resolve().parent.parent


def workbook(rows: list[list], **sheets: list[list]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    book.active.title = "Sheet"
    for row in rows:
        book.active.append(row)
    for name, more in sheets.items():
        sheet = book.create_sheet(name)
        for row in more:
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_rows_are_paragraphs_cited_by_workbook_sheet_and_row() -> None:
    parsed = xlsx.read(make_workbook())
    document = make_document("harvest.xlsx", Path("harvest.xlsx"), parsed)
    cited = [
        (citation(document.title, p.section, p.page, p.number, p.unit), p.text)
        for p in split_paragraphs(document)
    ]
    where = f"{WORKBOOK_TITLE} › {SHEET}"
    assert cited == [
        (f"{where} · row 1", "Harvest by variety, autumn 2024"),  # a title row, as it is
        *[
            (f"{where} · row {row}", "; ".join(f"{h}: {v}" for h, v in zip(HEADER, shown_)))
            for row, _, shown_ in ROWS
        ],
        (f"{where} · row 8", "Variety: Total"),  # the formula without a result left empty
    ]
    # Reported, not silently empty; the hidden sheet is named, never read.
    assert "1 formula without a saved result (Harvest 2024!C8)" in parsed.note
    assert "hidden sheets not read: Prices" in parsed.note
    assert "wholesale" not in document.text


def test_every_word_of_a_row_is_a_header_or_a_cell_of_the_file() -> None:
    """Quotes only: a row splits back into (header, shown value) pairs, each from the file."""
    parsed = xlsx.read(make_workbook())
    values = {v for _, _, row in ROWS for v in row} | {"Total"}
    for block in parsed.blocks:
        if block.kind == "heading" or block.page == 1:
            continue
        for pair in block.text.split(SEPARATOR):
            header, value = pair.split(LABEL)
            assert header in HEADER and value in values, pair


def test_numbers_and_dates_are_shown_as_their_format_shows_them() -> None:
    import datetime as dt

    cases = [
        (0.094, "0.0%", "9.4%"), (1234567.891, "#,##0.00", "1,234,567.89"),
        (1234.5, '"$"#,##0.00', "$1,234.50"), (-5, "#,##0;(#,##0)", "(5)"),
        (1500000, '#,##0.0,," M"', "1.5 M"), (0, '0.00;-0.00;"-"', "-"),
        (12345.678, "0.00E+00", "1.23E+04"), (3.1, "0.0#", "3.1"), (3.14159, "0.0#", "3.14"),
        (0.1 + 0.2, "General", "0.3"), (42, "General", "42"), (True, "General", "TRUE"),
        (dt.datetime(2024, 3, 12), "d-mmm-yy", "12-Mar-24"),
        (dt.datetime(2024, 3, 12), "mmmm d, yyyy", "March 12, 2024"),
        (dt.datetime(2024, 3, 12, 14, 5), "m/d/yyyy h:mm", "3/12/2024 14:05"),
        (dt.time(14, 30), "h:mm AM/PM", "2:30 PM"),
        (dt.datetime(2024, 3, 12), "General", "2024-03-12"),
    ]  # fmt: skip
    assert [shown(v, f) for v, f, _ in cases] == [want for _, _, want in cases]


def test_the_header_is_found_below_title_rows_and_not_in_data() -> None:
    titled = xlsx.read(workbook([["Price list"], [], ["Item", "Price"], ["Tea", 3.5]]))
    assert [b.text for b in titled.blocks] == ["Sheet", "Price list", "Item: Tea; Price: 3.5"]
    numbers = xlsx.read(workbook([[2019, 3.5], [2020, 4.25]]))  # data from the first row
    assert [b.text for b in numbers.blocks[1:]] == ["2019; 3.5", "2020; 4.25"]
    assert [b.page for b in numbers.blocks[1:]] == [1, 2]
    # After a blank row: a second table under its own header; a blank row inside a table
    # keeps its header.
    two = xlsx.read(workbook([["Region", "Sales"], ["North", 10], [], ["Product", "Price"],
                              ["Tea", 3.5], [], ["Coffee", 4]]))  # fmt: skip
    assert [(b.page, b.text) for b in two.blocks[1:]] == [
        (2, "Region: North; Sales: 10"), (5, "Product: Tea; Price: 3.5"),
        (7, "Product: Coffee; Price: 4")]  # fmt: skip


def test_merged_cells_give_their_value_to_every_cell_they_cover() -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    for row in [["Region", "Quarter", "Sales"], ["North", "Q1", 10], [None, "Q2", 12],
                [None, "Q3", 9], ["South", "Q1", 7]]:  # fmt: skip
        sheet.append(row)
    sheet.merge_cells("A2:A4")
    out = io.BytesIO()
    book.save(out)
    texts = [b.text for b in xlsx.read(out.getvalue()).blocks[1:]]
    assert texts == [
        "Region: North; Quarter: Q1; Sales: 10",
        "Region: North; Quarter: Q2; Sales: 12",
        "Region: North; Quarter: Q3; Sales: 9",
        "Region: South; Quarter: Q1; Sales: 7",
    ]


def test_each_sheet_is_a_section_and_the_row_cap_is_a_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = workbook([["Name", "Age"], *[[f"P{i}", i] for i in range(5)]],
                    Second=[["Name", "Age"], ["Q", 1]])  # fmt: skip
    headings = [b.text for b in xlsx.read(data).blocks if b.kind == "heading"]
    assert headings == ["Sheet", "Second"]
    monkeypatch.setenv("QA_MAX_ROWS", "3")
    parsed = xlsx.read(data)
    assert [b.text for b in parsed.blocks if b.kind != "heading"] == [
        "Name: P0; Age: 0", "Name: P1; Age: 1", "Name: P2; Age: 2"]  # fmt: skip
    assert "only the first 3 rows read (QA_MAX_ROWS): Sheet, Second cut short" in parsed.note


def test_a_broken_workbook_is_skipped_with_a_reason(tmp_path: Path) -> None:
    (tmp_path / "broken.xlsx").write_bytes(b"PK\x03\x04 not a zip")
    (tmp_path / "empty.xlsx").write_bytes(workbook([]))
    _, skipped = load_documents(tmp_path)
    reasons = {s.id: s.reason for s in skipped}
    assert "Excel" in reasons["broken.xlsx"] and reasons["empty.xlsx"] == "empty (no text)"


BIG = """
import datetime as dt, io, json, resource, sys, time
from openpyxl import Workbook
book = Workbook(write_only=True)
sheet = book.create_sheet("Orders")
sheet.append(["Order", "Customer", "City", "Amount", "Date", "Comment"])
for i in range(100_000):
    sheet.append([i, f"Customer {i}", "Springfield", i * 1.5, dt.date(2024, 1, 1 + i % 28),
                  "A short comment on this order"])
out = io.BytesIO()
book.save(out)
data = out.getvalue()
del book, sheet, out
def peak_kb():
    # VmHWM, not ru_maxrss: the latter keeps the parent's peak when the child was forked
    # (a pytest process with the model loaded), whatever this process itself used.
    status = open("/proc/self/status").read()
    return int(status.split("VmHWM:")[1].split()[0])
before = resource.getrusage(resource.RUSAGE_SELF)
from qa.readers.xlsx import read
parsed = read(data)
after = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"blocks": len(parsed.blocks), "last": parsed.blocks[-1].page,
                  "cpu": after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime,
                  "peak_mb": peak_kb() / 1024}))
"""


def test_a_100k_row_sheet_is_streamed_within_30_cpu_seconds_and_150_mb() -> None:
    """In a process of its own, so the peak RSS is the reader's (and its Python's)."""
    run = subprocess.run(
        [sys.executable, "-c", BIG], capture_output=True, text=True, check=True, cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=300,
    )  # fmt: skip
    result = json.loads(run.stdout)
    assert (result["blocks"], result["last"]) == (100_001, 100_001)  # heading + rows 2..100001
    assert result["cpu"] <= 30, result
    assert result["peak_mb"] <= 150, result
