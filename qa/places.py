"""Places: a cited slide or spreadsheet row shown with what is around it, the passage marked.

A deck's and a sheet's paragraphs carry the place they are on (`Paragraph.page` numbers a slide,
its notes or a sheet's row, `unit` says which). A slide's view is every paragraph of that slide,
then of its speaker notes, in order; a row's view is the rows of the same sheet (the rows'
section) around it, ROWS_AROUND on each side. Nothing is drawn or read again: the text shown is
the index's own, so the marked paragraph is the cited one, verbatim.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from qa.errors import DocumentNotFoundError
from qa.paragraphs import Paragraph

ROWS_AROUND = 5  # rows shown before and after the one asked for
SLIDES = ("slide", "notes")


@dataclass(frozen=True)
class PlaceView:
    """A slide (with its notes), or the rows of a sheet around one, a paragraph marked."""

    document: str
    title: str
    unit: str  # "slide" or "row"
    number: int  # the slide, or the row in the middle of those shown
    last: int  # the last slide, or the last row of the sheet
    section: str  # the slide's title, or the sheet's name
    paragraphs: tuple[Paragraph, ...]  # in the document's order
    paragraph: Paragraph | None  # the one to mark (shown only if among `paragraphs`)
    previous: int | None  # the slide or row the previous view is at
    next: int | None


def placed(paragraphs: Sequence[Paragraph]) -> bool:
    """Whether these are a deck's or a sheet's paragraphs (viewed here, not as PDF pages)."""
    return any(p.page is not None and p.unit != "page" for p in paragraphs)


def place_view(
    doc_id: str, title: str, paragraphs: Sequence[Paragraph], number: int, chosen: Paragraph | None
) -> PlaceView:
    """Slide `number` of a deck, or the rows around row `number` of a sheet (the sheet of
    `chosen` if given, else the first holding that row), `chosen` marked."""
    if any(p.unit in SLIDES for p in paragraphs):
        slides = [p for p in paragraphs if p.unit in SLIDES and p.page is not None]
        last = max(p.page for p in slides)  # type: ignore[type-var]
        if not 1 <= number <= last:
            raise DocumentNotFoundError(f"{doc_id!r} has no slide {number}")
        here = tuple(p for p in slides if p.page == number)  # a slide without text has none
        return PlaceView(
            doc_id,
            title,
            "slide",
            number,
            last,
            here[0].section if here else "",
            here,
            chosen,
            number - 1 if number > 1 else None,
            number + 1 if number < last else None,
        )
    rows = [p for p in paragraphs if p.unit == "row"]
    at = next((p for p in rows if p.page == number), None) if chosen is None else chosen
    sheet = [p for p in rows if at is not None and p.section == at.section]
    i = next((k for k, p in enumerate(sheet) if p.page == number), None)
    if i is None:
        raise DocumentNotFoundError(f"{doc_id!r} has no row {number} there")
    # The previous (next) view ends (begins) where this one begins (ends), and shows as many
    # rows as it can: it is there only when rows are left out before (after) this one.
    width, last = 2 * ROWS_AROUND + 1, len(sheet) - 1
    return PlaceView(
        doc_id,
        title,
        "row",
        number,
        sheet[-1].page,  # type: ignore[arg-type]
        sheet[i].section,
        tuple(sheet[max(0, i - ROWS_AROUND) : i + ROWS_AROUND + 1]),
        chosen,
        sheet[max(ROWS_AROUND, i - width)].page if i > ROWS_AROUND else None,
        sheet[min(last - ROWS_AROUND, i + width)].page if i < last - ROWS_AROUND else None,
    )
