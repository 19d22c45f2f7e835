"""A slide deck and a workbook made in the test run (python-pptx and openpyxl write them), and
what a reader must find in each."""

from __future__ import annotations

import datetime as dt
import io

DECK_TITLE = "Harbour renovation plan"
FOOTER = "Port Authority · internal draft"  # a text box on every slide: furniture
BUDGET = [
    "The new breakwater costs 4.2 million euros and protects the inner basin from storms.",
    "Dredging the channel costs 800,000 euros.",
]
TIMELINE = [("Phase", "Months"), ("Breakwater", "14"), ("Dredging", "5")]
NOTES = [
    "Remind the board that the ferries keep running during the works.",
    "Questions about parking go to the town council.",
]
GROUPED = "Fishermen keep their moorings on the north quay throughout the renovation."
RISKS = "Winter storms may delay the breakwater by two months."


def make_deck() -> bytes:
    """Five slides: a title slide, bullets, a table with speaker notes, an untitled slide whose
    text is inside a group, a last slide; a footer box and a slide number on every slide."""
    from pptx import Presentation
    from pptx.util import Inches, Pt

    deck = Presentation()
    deck.core_properties.title = DECK_TITLE

    def slide(layout: int, title: str | None):
        s = deck.slides.add_slide(deck.slide_layouts[layout])
        if title is not None:
            s.shapes.title.text = title
        footer = s.shapes.add_textbox(Inches(0.5), Inches(7), Inches(5), Inches(0.3))
        footer.text_frame.text = FOOTER
        number = s.shapes.add_textbox(Inches(9), Inches(7), Inches(0.5), Inches(0.3))
        number.text_frame.text = str(len(deck.slides))
        number.text_frame.paragraphs[0].runs[0].font.size = Pt(10)
        return s

    first = slide(0, DECK_TITLE)
    first.placeholders[1].text_frame.text = "Board meeting, spring session"
    budget = slide(1, "Budget")
    frame = budget.placeholders[1].text_frame
    frame.text = BUDGET[0]
    frame.add_paragraph().text = BUDGET[1]
    timeline = slide(5, "Timeline")  # "Title Only"
    table = timeline.shapes.add_table(3, 2, Inches(1), Inches(2), Inches(6), Inches(1.5)).table
    for r, row in enumerate(TIMELINE):
        for c, text in enumerate(row):
            table.cell(r, c).text = text
    timeline.notes_slide.notes_text_frame.text = "\n".join(NOTES)
    untitled = slide(6, None)  # "Blank": no title
    group = untitled.shapes.add_group_shape()
    box = group.shapes.add_textbox(Inches(1), Inches(2), Inches(7), Inches(1))
    box.text_frame.text = GROUPED
    risks = slide(5, "Risks")
    box = risks.shapes.add_textbox(Inches(1), Inches(2), Inches(7), Inches(1))
    box.text_frame.text = RISKS
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


WORKBOOK_TITLE = "Orchard harvest"
SHEET = "Harvest 2024"
HEADER = ["Variety", "Orchard", "Tonnes", "Share", "Picked"]
# (row of the sheet, its cells as stored, the text each cell shows)
ROWS = [
    (4, ["Bramley apples", "Long Meadow", 1234.5, 0.42, dt.date(2024, 9, 2)],
     ["Bramley apples", "Long Meadow", "1,234.50", "42.0%", "2024-09-02"]),
    (5, ["Conference pears", None, 310.25, 0.094, dt.date(2024, 9, 14)],
     ["Conference pears", "Long Meadow", "310.25", "9.4%", "2024-09-14"]),
    (6, ["Victoria plums", "Hill Field", 88, 0.03, dt.date(2024, 8, 20)],
     ["Victoria plums", "Hill Field", "88.00", "3.0%", "2024-08-20"]),
]  # fmt: skip
FORMATS = [None, None, "#,##0.00", "0.0%", "yyyy-mm-dd"]


def make_workbook() -> bytes:
    """A visible sheet with a title row, a blank row, the header, three rows (the orchard of the
    first two merged), a formula without a saved result; and a hidden sheet."""
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.properties.title = WORKBOOK_TITLE
    sheet = workbook.active
    sheet.title = SHEET
    sheet["A1"] = "Harvest by variety, autumn 2024"
    for c, name in enumerate(HEADER, 1):
        sheet.cell(3, c, name)
    for row, values, _ in ROWS:
        for c, (value, fmt) in enumerate(zip(values, FORMATS), 1):
            if value is not None:
                sheet.cell(row, c, value)
            if fmt:
                sheet.cell(row, c).number_format = fmt
    sheet.merge_cells("B4:B5")
    sheet["A8"] = "Total"
    sheet["C8"] = "=SUM(C4:C6)"  # openpyxl computes nothing: no saved result
    hidden = workbook.create_sheet("Prices")
    hidden["A1"] = "Secret wholesale price list"
    hidden.sheet_state = "hidden"
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
