"""PDF reader: the text layer's glyphs with their positions, laid out into blocks.

pypdfium2 (Apache-2.0/BSD-3, PDFium's bindings) gives each character's box and font. Our whole
read of the bench's PDFs is ~18x faster than pdfminer.six's layout analysis alone (what
pdfplumber builds on), so a PDF costs about what its text as .txt does to index; PyMuPDF
would be as fast but is AGPL. Words are boxed by their first and last characters; the
geometry is turned into blocks by qa/readers/layout.py.
"""

from __future__ import annotations

import ctypes
import math
import re
import threading
from collections import Counter

import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from qa.readers.blocks import Parsed, UnreadableError
from qa.readers.layout import Run, blocks, body_size
from qa.readers.outline import MAX_LEVEL, Bookmark

OCR_DPI = 200  # a scanned page is read at this resolution (what OCR reads best: 150-300 dpi)
OCR_MAX_SIDE = 4000  # pixels: a larger page (a poster) is read at a lower resolution
# A page with less text than this over a scan (a page number stamped on it) is read by OCR.
OCR_MAX_TEXT = 20
# A gap between two glyphs of one printed line wider than this share of their height ends a
# run: a column gutter (or a table cell) lies between them. Word spaces, even stretched ones of
# justified text, stay below it; runs of one column are put back together by the layout.
RUN_GAP = 0.8
# Links and bookmarks read at most (a file with millions of them costs no more than this).
MAX_LINKS = 5000  # per page
MAX_BOOKMARKS = 10000
# A gap without a space character wider than this share of the glyph height is a word space.
WORD_GAP = 0.15
_LIGATURES = str.maketrans(
    {"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl",
     "\ufb05": "st", "\ufb06": "st", "\ufffe": "-"}
)  # fmt: skip  # PDFium marks a hyphen it takes for a line-end one as U+FFFE
# A word (or a character) with its box: index of its first character, text, left, right, top,
# bottom (top-down), and whether a space came before it.
Piece = tuple[int, str, float, float, float, float, bool]
# Words as PDFium's text has them; its line-end hyphen mark (U+FFFE) ends one.
_PIECE = re.compile("[^\\s\\x00\\ufffe]+\\ufffe?|\\ufffe")
# PDFium is not thread-safe and pypdfium2 does not serialize calls: one document at a time.
_PDFIUM = threading.Lock()
_BOLD = re.compile(r"(?i)bold|black|heavy|semibold|demi")
_NOT_A_TITLE = re.compile(
    r"(?i)^(untitled|microsoft (word|powerpoint) - .*|.*\.(pdf|docx?|odt|rtf|html?|txt|md|tex)|"
    r"[a-z][\w+.-]*:\S*|[/\\].*|[^a-z]*)$"
)


def read(data: bytes) -> Parsed:
    """The blocks and title of a PDF; UnreadableError if it has no text to read."""
    with _PDFIUM:
        pages, title, outline, note = _extract(data)
    if not any(pages):
        found_none = "OCR found no text on its scanned pages" if note else "no scanned page"
        raise UnreadableError(f"PDF has no text layer, and {found_none}: nothing to quote")
    found = blocks(pages, outline)
    if not _NOT_A_TITLE.match(title):
        return Parsed(found, title, note)
    first = next((b for b in found if b.kind == "heading"), None)
    top = min((b.level for b in found if b.kind == "heading"), default=0)
    first_page = found[0].page if found else None
    large = first is not None and first.level == top and first.page == first_page
    return Parsed(found, first.text if large and first else None, note)


def _extract(data: bytes) -> tuple[list[list[Run]], str, list[Bookmark], str]:
    """Each page's runs (read by OCR on a scanned page), the metadata title, the outline, and a
    note on the pages read by OCR."""
    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as e:
        if e.err_code == pdfium_c.FPDF_ERR_PASSWORD:
            raise UnreadableError("PDF is encrypted (password-protected)") from e
        raise UnreadableError(f"not a readable PDF ({e})") from e
    try:
        heights = [pdf.get_page_size(i)[1] for i in range(len(pdf))]
        pages = [_runs(pdf[i], i + 1) for i in range(len(pdf))]
        title = " ".join((pdf.get_metadata_value("Title") or "").split())
        outline = _outline(pdf, heights)
        scanned = [
            i
            for i, runs in enumerate(pages)
            if sum(len(r.text) for r in runs) < OCR_MAX_TEXT and _scanned(pdf[i])
        ]
        if not scanned:
            return pages, title, outline, ""
        from qa.readers import ocr

        printed = [r for i, runs in enumerate(pages) if i not in scanned for r in runs]
        body = body_size(printed) if printed else None  # the text layer's type, if any
        rendered = (_render(pdf[i], i + 1) for i in scanned)
        read, note = ocr.read_pages(rendered, len(scanned), body)
        return [read.get(i + 1, runs) for i, runs in enumerate(pages)], title, outline, note
    finally:
        pdf.close()


def _outline(pdf: pdfium.PdfDocument, heights: list[float]) -> list[Bookmark]:
    """The bookmarks that lead to a page of the document, with the top of their view."""
    found: list[Bookmark] = []
    for mark in pdf.get_toc(max_depth=MAX_LEVEL):
        if len(found) >= MAX_BOOKMARKS:
            break
        title = " ".join(mark.get_title().split())
        dest = mark.get_dest()
        index = dest.get_index() if dest else None
        if not title or index is None or not 0 <= index < len(heights):
            continue
        mode, view = dest.get_view()
        top = {pdfium_c.PDFDEST_VIEW_XYZ: 1, pdfium_c.PDFDEST_VIEW_FITH: 0,
               pdfium_c.PDFDEST_VIEW_FITBH: 0}.get(mode)  # fmt: skip
        y = view[top] if top is not None and len(view) > top else None
        y = heights[index] - y if y is not None and math.isfinite(y) else None
        found.append(Bookmark(mark.level + 1, title, index + 1, y))
    return found


def _scanned(page: pdfium.PdfPage) -> bool:
    """Whether a page (without text) holds a picture over a quarter of it: a scan to read by
    OCR (a blank page or a small figure is not one)."""
    try:
        area = page.get_width() * page.get_height()
        for image in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=2):
            left, bottom, right, top = image.get_bounds()
            if (right - left) * (top - bottom) >= 0.25 * area:
                return True
        return False
    finally:
        page.close()


def _render(page: pdfium.PdfPage, number: int) -> tuple[int, np.ndarray, float]:
    """The page as 8-bit grey pixels at OCR_DPI (less for a page over OCR_MAX_SIDE pixels),
    and the points per pixel."""
    try:
        scale = min(OCR_DPI / 72, OCR_MAX_SIDE / max(page.get_width(), page.get_height(), 1))
        bitmap = page.render(scale=scale, grayscale=True)
        gray = np.array(bitmap.to_numpy()).reshape(bitmap.height, bitmap.width, -1)[:, :, 0]
        return number, gray, 1 / scale
    finally:
        page.close()


def _runs(page: pdfium.PdfPage, number: int) -> list[Run]:
    """The page's glyphs as runs, in the order the page draws them."""
    textpage = page.get_textpage()
    try:
        # Boxes from the top-left corner of the page as shown (its crop box, if it has one).
        left, bottom, _, _ = page.get_cropbox()
        height = page.get_height() + bottom
        runs = _page_runs(textpage, number, height)
        for run in runs if left else ():
            run.x0, run.x1 = run.x0 - left, run.x1 - left
        links = [(x0 - left, x1 - left, top, end) for x0, x1, top, end in _links(page, height)]
        if links:
            for run in runs:
                run.link = _covered(run, links)
        return runs
    finally:
        textpage.close()
        page.close()


def _links(page: pdfium.PdfPage, height: float) -> list[tuple[float, float, float, float]]:
    """(left, right, top, bottom) of the page's links to web addresses (a printed web page's
    navigation, related links and footer are made of them; links within the document, as a
    LaTeX table of contents has, are not), top-down."""
    found = []
    position, link, rect = ctypes.c_int(0), pdfium_c.FPDF_LINK(), pdfium_c.FS_RECTF()
    while len(found) < MAX_LINKS and pdfium_c.FPDFLink_Enumerate(
        page.raw, ctypes.byref(position), ctypes.byref(link)
    ):
        action = pdfium_c.FPDFLink_GetAction(link)
        if not action or pdfium_c.FPDFAction_GetType(action) != pdfium_c.PDFACTION_URI:
            continue
        if pdfium_c.FPDFLink_GetAnnotRect(link, rect):
            top, bottom = sorted((height - rect.top, height - rect.bottom))
            found.append((min(rect.left, rect.right), max(rect.left, rect.right), top, bottom))
    return found


def _covered(run: Run, links: list[tuple[float, float, float, float]]) -> float:
    """The share of the run's width under links (at the height of its middle)."""
    middle = run.middle
    spans = sorted(
        (max(left, run.x0), min(right, run.x1))
        for left, right, top, bottom in links
        if top <= middle <= bottom and left < run.x1 and right > run.x0
    )
    covered, reach = 0.0, run.x0
    for start, end in spans:
        if end > reach:
            covered += end - max(start, reach)
            reach = end
    return covered / max(run.x1 - run.x0, 1e-6)


def _page_runs(textpage: pdfium.PdfTextPage, number: int, height: float) -> list[Run]:
    tp = textpage.raw
    count = textpage.count_chars()
    text = textpage.get_text_range(0, count) if count > 0 else ""
    if len(text) != count:  # characters beyond the BMP: one call per character instead
        text = "".join(chr(pdfium_c.FPDFText_GetUnicode(tp, i)) for i in range(count))
    box = pdfium_c.FS_RECTF()
    runs: list[Run] = []
    pieces: list[Piece] = []
    previous = 0
    pright = ptop = pbottom = 0.0
    for match in _PIECE.finditer(text):
        start, stop = match.span()
        space = start > previous  # whitespace (or a NUL) came between
        previous = stop
        for piece in _boxes(tp, box, text, start, stop, height, space):
            _, _, left, right, top, bottom, _ = piece
            size = bottom - top
            # Same run: overlapping heights, not going back, no gutter-wide gap.
            if pieces and not (
                (bottom if bottom < pbottom else pbottom) - (top if top > ptop else ptop)
                >= 0.5 * (size if size < pbottom - ptop else pbottom - ptop)
                and pright - 0.5 * size <= left <= pright + RUN_GAP * size
            ):
                runs.append(_run(pieces, tp, number))
                pieces = []
            pieces.append(piece)
            pright, ptop, pbottom = right, top, bottom
    if pieces:
        runs.append(_run(pieces, tp, number))
    return runs


def _boxes(
    tp: object, box: pdfium_c.FS_RECTF, text: str, start: int, stop: int, height: float, space: bool
) -> list[Piece]:
    """The word text[start:stop] as one piece, boxed by its first and last characters; or, if
    those do not sit side by side on one line, as one piece per character."""
    first = _box(tp, box, start, height)
    last = first if stop - start == 1 else _box(tp, box, stop - 1, height)
    if first and last:
        size = min(first[3] - first[2], last[3] - last[2])
        if last[1] >= first[0] and min(first[3], last[3]) - max(first[2], last[2]) >= 0.5 * size:
            top, bottom = min(first[2], last[2]), max(first[3], last[3])
            return [(start, text[start:stop], first[0], last[1], top, bottom, space)]
    pieces = []
    for i in range(start, stop):
        found = _box(tp, box, i, height)
        if found:
            pieces.append((i, text[i], *found, space and not pieces))
    return pieces


def _box(
    tp: object, box: pdfium_c.FS_RECTF, index: int, height: float
) -> tuple[float, float, float, float] | None:
    """(left, right, top, bottom) of a character, top-down; None if it has no extent."""
    if not pdfium_c.FPDFText_GetLooseCharBox(tp, index, box) or box.top <= box.bottom:
        return None
    return box.left, box.right, height - box.top, height - box.bottom


def _run(pieces: list[Piece], tp: object, number: int) -> Run:
    parts: list[str] = []
    first_word = 0.0
    previous = None
    for _, word, left, right, top, bottom, space in pieces:
        if previous is not None and (space or left - previous > WORD_GAP * (bottom - top)):
            parts.append(" ")
            if not first_word:
                first_word = previous - pieces[0][2]
        parts.append(word)
        previous = right
    middle = pieces[len(pieces) // 2]
    sizes = Counter(round(g[5] - g[4], 1) for g in (pieces[0], middle, pieces[-1]))
    return Run(
        page=number,
        x0=min(g[2] for g in pieces),
        y0=min(g[4] for g in pieces),
        x1=max(g[3] for g in pieces),
        y1=max(g[5] for g in pieces),
        size=sizes.most_common(1)[0][0],
        bold=all(_bold(tp, i) for i in {pieces[0][0], middle[0]}),
        text="".join(parts).translate(_LIGATURES),
        first_word=first_word or (pieces[-1][3] - pieces[0][2]),
    )


_NAME = ctypes.create_string_buffer(256)
_FLAGS = ctypes.c_int()


def _bold(tp: object, index: int) -> bool:
    """Whether the character's font is bold, by its weight or its name."""
    if pdfium_c.FPDFText_GetFontWeight(tp, index) >= 600:
        return True
    length = pdfium_c.FPDFText_GetFontInfo(tp, index, _NAME, len(_NAME), _FLAGS)
    return bool(_BOLD.search(_NAME.raw[: max(0, min(length, len(_NAME)) - 1)].decode("latin-1")))
