"""Layout: a PDF's positioned runs of text back into the blocks an author wrote.

A PDF only says where glyphs go. The reader (qa/readers/pdf.py) hands over `Run`s: pieces of
one printed line with their box, glyph height and boldness. From them, using only geometry and
statistics of the document itself (no rule knows any particular generator's strings):

- page furniture is dropped: rows at the top or bottom edge of a page that recur at about
  the same height on other pages (digits ignored, so "3/9" and "4/9" are one), and edge rows
  made of a page number, a date or a URL with only smaller type beside them;
- columns are found per page as vertical gutters that (almost) no run crosses; the runs that
  do cross (a title or abstract over two columns) cut the page into bands read top to bottom,
  each band column by column; a narrow column of a few lines beside full lines of text is a
  sidebar, read after the page's text, which runs on past it;
- lines become paragraphs: a new paragraph starts where the line gap grows, the type changes,
  the line is indented, or the previous line stopped short although the next word would have
  fitted on it (so a paragraph continues across columns and pages); wrapped lines are joined
  with a space, and a line-end hyphen is dropped only where it splits a word;
- short lines in a larger or bold type are headings, levelled by type size; a paragraph that
  starts with a bullet glyph is a list item;
- a printed web page's navigation, banners, link lists and footer are dropped
  (qa/readers/boilerplate.py), and the PDF's outline, if it has one, gives the sections
  (qa/readers/outline.py).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field, replace

from qa.readers.blocks import Block
from qa.readers.blocks import place as place_lines
from qa.readers.boilerplate import Piece, boilerplate
from qa.readers.outline import Bookmark, Spot, place

EDGE_ROWS = 3  # rows at the top and at the bottom of a page that may be page furniture
HEADING_RATIO = 1.12  # glyph height over the body's from which a short line is a heading
HEADING_MAX_WORDS = 20
SPANNING = 0.6  # a run wider than this share of the page's text width spans its columns
FLUSH = 0.1  # a line ending this close to the column's right edge (over glyph height) is flush
SOFT_HYPHENS = "\u00ad\u2010"  # a discretionary hyphen (U+00AD; Chromium prints it as U+2010)
_PAGE_NUMBER = re.compile(
    r"(?i)^[\s\-–—|\[(]*(page|p\.|pg\.?)?\s*([0-9]{1,4}|[ivxlcdm]{1,7})"
    r"(\s*(/|of|von|de|sur)\s*[0-9]{1,4})?[\s\-–—|\])]*$"
)
_URL = re.compile(r"(?i)^\s*((https?|file|ftp)://|www\.)\S+\s*$")
_DATE = re.compile(
    r"(?i)^\s*\d{1,4}[./-]\d{1,2}[./-]\d{1,4}(,?\s+\d{1,2}:\d{2}(:\d{2})?\s*([ap]\.?m\.?)?)?\s*$"
    r"|^\s*\d{1,2}:\d{2}(:\d{2})?\s*([ap]\.?m\.?)?\s*$"
)
_BULLET = re.compile(r"[\u2022\u25e6\u25aa\u25cf\u25cb\u25a0\u2023\u2043\u00b7*]\s+")
_WORD = re.compile(r"[^\W\d_]+(?:[-\u2010][^\W\d_]+)*")


@dataclass
class Run:
    """Glyphs printed side by side on one line: all or part of a printed line."""

    page: int  # 1-based
    x0: float
    y0: float  # top, measured downwards from the top of the page
    x1: float
    y1: float
    size: float  # glyph height (font ascent to descent): the type size as printed
    bold: bool
    text: str
    first_word: float  # width of the run's first word
    link: float = 0.0  # share of its width under a link to a web address
    key: str = field(init=False)  # text with digits folded, to compare across pages

    def __post_init__(self) -> None:
        self.key = re.sub(r"\d+", "#", " ".join(self.text.lower().split()))

    @property
    def middle(self) -> float:
        return (self.y0 + self.y1) / 2


class Line:
    """A printed line of one column, in reading order, with its column's edges."""

    def __init__(self, runs: list[Run]) -> None:
        self.runs = sorted(runs, key=lambda r: r.x0)
        first = self.runs[0]
        self.page, self.x0, self.first_word = first.page, first.x0, first.first_word
        self.y0, self.y1 = min(r.y0 for r in runs), max(r.y1 for r in runs)
        self.x1 = max(r.x1 for r in runs)
        widest = max(runs, key=lambda r: len(r.text))
        self.size, self.bold = widest.size, all(r.bold for r in runs)
        self.text = " ".join(r.text for r in self.runs)
        self.left = self.right = 0.0  # the column's usual left edge and its right edge
        self.justified = False  # most lines of the column end flush right
        self.fresh = False  # first line of a column (or band, or page): no line above it
        self.aside = False  # in a sidebar beside the page's main column


def body_size(runs: list[Run]) -> float:
    """The glyph height most of the text is printed in (by characters)."""
    sizes: Counter[float] = Counter()
    for r in runs:
        sizes[round(r.size * 2) / 2] += len(r.text)
    return sizes.most_common(1)[0][0] if sizes else 10.0


def _rows(runs: list[Run]) -> list[list[Run]]:
    """Runs grouped into rows across the whole page width, top to bottom."""
    rows: list[list[Run]] = []
    for run in sorted(runs, key=lambda r: r.middle):
        if rows and abs(run.middle - rows[-1][0].middle) < 0.5 * min(run.size, rows[-1][0].size):
            rows[-1].append(run)
        else:
            rows.append([run])
    return rows


def drop_furniture(pages: list[list[Run]], body: float) -> list[list[Run]]:
    """The pages without running headers, footers and page numbers.

    Only rows at a page's top or bottom edge can be furniture: a row (all runs at one height,
    across the page) printed on another page too at about the same height, digits aside; or
    a row at the very edge made only of page numbers, dates, URLs and small type, with at
    least one of the first three (a browser's "date · title" header, "URL · 3/9" footer).
    """
    rows_of = [_rows(runs) for runs in pages]
    seen: Counter[tuple[str, int]] = Counter()  # (row key, height in 4-point steps) -> pages
    for rows in rows_of:
        seen.update({(_key(row), round(row[0].middle / 4)) for row in _edge(rows, EDGE_ROWS)})
    kept = []
    for runs, rows in zip(pages, rows_of):
        furniture: set[int] = set()
        for row in _edge(rows, EDGE_ROWS):
            y = round(row[0].middle / 4)
            repeated = sum(seen[(_key(row), y + d)] for d in (-1, 0, 1)) >= 2
            if repeated or (row in _edge(rows, 2) and _printed_by_the_page(row, body)):
                furniture.update(id(r) for r in row)
        kept.append([r for r in runs if id(r) not in furniture])
    return kept


def _edge(rows: list[list[Run]], n: int) -> list[list[Run]]:
    return rows if len(rows) <= 2 * n else rows[:n] + rows[-n:]


def _key(row: list[Run]) -> str:
    return " ".join(r.key for r in sorted(row, key=lambda r: r.x0))


def _printed_by_the_page(row: list[Run], body: float) -> bool:
    """Page numbers, dates, URLs, and small type beside them; one number at most (a table's
    row of figures at the foot of a page is not a footer)."""
    numbers = [bool(_PAGE_NUMBER.match(r.text)) for r in row]
    marks = [n or bool(_URL.match(r.text) or _DATE.match(r.text)) for n, r in zip(numbers, row)]
    small = [r.size < 0.9 * body for r in row]
    return sum(numbers) <= 1 and any(marks) and all(m or s for m, s in zip(marks, small))


def columns(runs: list[Run], body: float) -> list[list[Line]]:
    """The page's lines in reading order, as columns (each a list of lines, top to bottom)."""
    gutters, asides = _gutters(runs, body) if runs else ([], set())
    if not gutters:
        return [_lines(runs)] if runs else []
    order: list[list[Line]] = []
    buffer: list[Run] = []
    spanning = False
    for run in sorted(runs, key=lambda r: r.y0):
        crosses = any(run.x0 < g < run.x1 for g in gutters)
        if crosses != spanning and buffer:  # a band ends: read it column by column
            order += _band(buffer, gutters, asides) if not spanning else [_lines(buffer)]
            buffer = []
        spanning = crosses
        buffer.append(run)
    order += _band(buffer, gutters, asides) if not spanning else [_lines(buffer)]
    return order


def _band(runs: list[Run], gutters: list[float], asides: set[int]) -> list[list[Line]]:
    cols: list[list[Run]] = [[] for _ in range(len(gutters) + 1)]
    for r in runs:
        cols[sum((r.x0 + r.x1) / 2 > g for g in gutters)].append(r)
    found = []
    for i, c in enumerate(cols):
        if c:
            found.append(_lines(c))
            for ln in found[-1]:
                ln.aside = i in asides
    return found


def _gutters(runs: list[Run], body: float) -> tuple[list[float], set[int]]:
    """x positions of gutters between columns: no more than a few runs cross them and each
    side holds a good share of the page's text (or the smaller side is a sidebar). Failing
    that, runs wider than SPANNING of the text's width are left out of the count, as long as
    those that cross the gutters lie in a few bands: a one-column title or abstract above the
    columns, however many lines it has, makes a band of its own. Also: which columns are
    sidebars."""
    left, right = min(r.x0 for r in runs), max(r.x1 for r in runs)
    width = right - left
    if width < 10 * body or len(runs) < 6:
        return [], set()
    gutters, asides = _scan(runs, runs, left, width, body)
    if gutters:
        return gutters, asides
    narrow = [r for r in runs if r.x1 - r.x0 < SPANNING * width]
    gutters, asides = _scan(runs, narrow, left, width, body)
    # Rows, not runs: a justified line may be cut into runs at its widest word spaces.
    crossing = [any(r.x0 < g < r.x1 for r in row for g in gutters) for row in _rows(runs)]
    bands = sum(c and not p for p, c in zip([False, *crossing], crossing))
    return (gutters, asides) if bands <= 2 else ([], set())


def _scan(
    runs: list[Run], counted: list[Run], left: float, width: float, body: float
) -> tuple[list[float], set[int]]:
    """Gutters that at most a twentieth of the `counted` runs cross."""
    step = max(1.0, body / 4)
    bins = int(width / step) + 1
    cover = [0] * bins
    for r in counted:
        for b in range(int((r.x0 - left) / step), min(bins, int((r.x1 - left) / step) + 1)):
            cover[b] += 1
    allowed = max(1, len(counted) // 20)
    total = sum(len(r.text) for r in runs)
    gutters: list[float] = []
    asides: set[int] = set()  # columns that are sidebars
    lo, hi = int(0.15 * bins), int(0.85 * bins)
    b = lo
    while b < hi:
        if cover[b] > allowed:
            b += 1
            continue
        end = b
        while end + 1 < hi and cover[end + 1] <= allowed:
            end += 1
        x = left + (b + end + 1) / 2 * step
        gap = (end - b + 1) * step
        start = gutters[-1] if gutters else left
        left_side = [r for r in runs if start <= r.x0 and r.x1 <= x]
        right_side = [r for r in runs if r.x0 >= x]
        before = sum(len(r.text) for r in left_side)
        after = sum(len(r.text) for r in right_side)
        if gap >= 0.5 * body:
            shared = min(before, after) >= 0.15 * total
            aside = None if shared else _sidebar(left_side, right_side, total)
            if aside is not None:
                asides.add(len(gutters) + aside)
            if shared or aside is not None:
                gutters.append(x)
        b = end + 1
    return gutters, asides


def _sidebar(left: list[Run], right: list[Run], total: int) -> int | None:
    """Whether the smaller side is a column of its own though it holds little of the page's
    text (a web page's sidebar or menu beside its article): a few lines, beside a column of
    full lines of text or at heights where the other side prints nothing (the cells of a
    table's rows, or dates set right of a line, share their rows with short pieces of text).
    0 if it is the left side, 1 if the right one, None if it is no column."""
    side = int(sum(len(r.text) for r in right) < sum(len(r.text) for r in left))
    small, large = (right, left) if side else (left, right)
    if len(small) < 5 or not large or sum(len(r.text) for r in small) < 0.03 * total:
        return None
    beside = sum(any(abs(r.middle - o.middle) < 0.3 * r.size for o in large) for r in small)
    if beside <= 0.3 * len(small):
        return side
    top, bottom = min(r.y0 for r in small), max(r.y1 for r in small)
    level = [r for r in large if r.y1 > top and r.y0 < bottom]
    extent = max(r.x1 for r in large) - min(r.x0 for r in large)
    full = sum(r.x1 - r.x0 >= 0.7 * extent for r in level)
    return side if len(level) >= 5 and full >= 0.75 * len(level) else None


def _lines(runs: list[Run]) -> list[Line]:
    """Runs of one column grouped into lines, top to bottom, with the column's edges."""
    lines: list[list[Run]] = []
    for run in sorted(runs, key=lambda r: (r.y0, r.x0)):
        last = lines[-1] if lines else None
        if last and _overlap(run, last) >= 0.5 * min(run.y1 - run.y0, last[0].y1 - last[0].y0):
            last.append(run)
        else:
            lines.append([run])
    result = [Line(ls) for ls in lines]
    if result:
        result[0].fresh = True
        left = Counter(round(ln.x0) for ln in result).most_common(1)[0][0]
        # The right edge most lines reach: one wider stray line does not move it.
        ends = sorted(ln.x1 for ln in result)
        right = ends[int(0.9 * (len(ends) - 1))] if len(ends) > 3 else ends[-1]
        # Flush: ending at that edge, not past it (lines past it are the widest of ragged
        # text, which would count as flush however ragged the rest is).
        flush = [ln for ln in result if abs(ln.x1 - right) <= FLUSH * ln.size]
        justified = len(result) >= 4 and len(flush) >= 0.6 * len(result)
        for ln in result:
            ln.left, ln.right, ln.justified = left, right, justified
    return result


def _overlap(run: Run, line: list[Run]) -> float:
    y0, y1 = min(r.y0 for r in line), max(r.y1 for r in line)
    return min(run.y1, y1) - max(run.y0, y0)


def blocks(pages: list[list[Run]], outline: list[Bookmark] | None = None) -> list[Block]:
    """The document's blocks in reading order, from each page's runs (and the sections of its
    outline, if it has one: qa/readers/outline.py)."""
    body = body_size([r for runs in pages for r in runs])
    lines = [ln for runs in drop_furniture(pages, body) for c in columns(runs, body) for ln in c]
    if not lines:
        return []
    body_bold = Counter(ln.bold for ln in lines).most_common(1)[0][0]
    leading = _leading(lines)
    groups: list[list[Line]] = []
    last: dict[bool, list[Line]] = {}  # the last group of the main text, and of the sidebars
    for line in lines:
        group = last.get(line.aside)
        if group and _continues(group[-1], line, leading):
            group.append(line)  # a paragraph goes on past a sidebar printed beside it
        else:
            groups.append([line])
            last[line.aside] = groups[-1]
    vocabulary = _vocabulary(lines)
    found: list[tuple[Line, str, tuple[float, bool] | None]] = []  # first line, text, style
    links: list[float] = []  # share of each group's characters under web links
    for group in groups:
        first, text = group[0], _join([ln.text for ln in group], vocabulary)
        large = first.size >= HEADING_RATIO * body or (first.bold and not body_bold)
        heading = large and len(text.split()) <= HEADING_MAX_WORDS and len(group) <= 3
        found.append((first, text, (round(first.size * 2) / 2, first.bold) if heading else None))
        runs = [r for ln in group for r in ln.runs]
        links.append(
            sum(r.link * len(r.text) for r in runs) / max(1, sum(len(r.text) for r in runs))
        )
    # Heading levels by type: the largest is 1, bold before regular at one size.
    styles = sorted({style for _, _, style in found if style}, reverse=True)
    level = {style: min(6, i + 1) for i, style in enumerate(styles)}
    pieces = [
        Piece(text, style is not None, level[style] if style else 0, link, first.page, first.aside)
        for (first, text, style), link in zip(found, links)
    ]
    furniture = boilerplate(pieces)
    marked, inserted = place(outline or [], [Spot(f.page, f.y0, text) for f, text, _ in found])
    if marked or inserted:  # headings by type that no bookmark names go below the outline
        deepest = max(m.level for m in outline or [])
        level = {style: min(6, deepest + n) for style, n in level.items()}
    before: dict[int, list[Block]] = {}  # headings of bookmarks printed nowhere, by position
    for i, mark in inserted:
        before.setdefault(i, []).append(Block("heading", mark.title, mark.level, mark.page))
    result = []
    for i, (first, text, style) in enumerate(found):
        result += before.get(i, [])
        if i in furniture:
            continue
        if i in marked:
            block = Block("heading", text, marked[i], first.page)
        elif style:
            block = Block("heading", text, level[style], first.page)
        elif bullet := _BULLET.match(text):  # a list item; its bullet glyph is not text
            block = Block("item", text[bullet.end() :], 0, first.page)
        else:
            block = Block("paragraph", text, 0, first.page)
        result.append(replace(block, lines=_printed(groups[i], block.text)))
    return result + before.get(len(found), [])


def _printed(group: list[Line], text: str) -> tuple:
    """The boxes of a block's lines, for marking it on its page (see blocks.place)."""
    return place_lines([(ln.page, (ln.x0, ln.y0, ln.x1, ln.y1), ln.text) for ln in group], text)


def _leading(lines: list[Line]) -> float:
    """The usual distance from one line to the next within a paragraph, over glyph height."""
    ratios: Counter[float] = Counter()
    for a, b in zip(lines, lines[1:]):
        if not b.fresh and abs(a.size - b.size) <= 0.05 * a.size and a.bold == b.bold:
            ratio = (b.y1 - a.y1) / b.size
            if 0.8 <= ratio <= 3.0:
                ratios[round(ratio * 20) / 20] += 1
    return ratios.most_common(1)[0][0] if ratios else 1.2


def _continues(a: Line, b: Line, leading: float) -> bool:
    """Whether line `b` goes on with the paragraph that line `a` is part of."""
    if abs(a.size - b.size) > 0.08 * max(a.size, b.size) or a.bold != b.bold:
        return False  # another type: a heading, a caption, a footnote
    if not b.fresh and b.y1 - a.y1 > (leading + 0.3) * b.size:
        return False  # a gap wider than the usual line spacing
    if _BULLET.match(b.text):
        return False  # the next item of a list
    indent = 0.8 * b.size
    if b.x0 > b.left + indent and a.x0 <= a.left + indent:
        return False  # a first-line indent
    if a.text.endswith(("-", *SOFT_HYPHENS)):
        return True
    slack = a.right - a.x1
    if slack > b.first_word + 0.3 * b.size:
        return False  # b's first word would have fitted on line a: a deliberate break
    # In justified type every wrapped line ends flush right: one that stops short ends its
    # paragraph (unless it could not be stretched, having no spaces).
    return not (a.justified and slack > FLUSH * a.size and a.text.count(" ") >= 2)


def _vocabulary(lines: list[Line]) -> Counter[str]:
    """How often each word (and hyphenated compound) is printed whole in the document: the
    words cut by a line-end hyphen are left out, they are what is being decided."""
    words: Counter[str] = Counter()
    cut = False
    for line in lines:
        tokens = _WORD.findall(line.text.lower().replace("\u2010", "-"))
        if cut and tokens:
            tokens = tokens[1:]
        cut = line.text.endswith(("-", *SOFT_HYPHENS))
        words.update(tokens[:-1] if cut else tokens)
    return words


def _join(texts: list[str], vocabulary: Counter[str]) -> str:
    """Wrapped lines as one paragraph: a space between lines, or none after a hyphen or dash
    (the hyphen itself dropped where it only split a word)."""
    text = texts[0]
    for nxt in texts[1:]:
        end = text[-1]
        if end in "-" + SOFT_HYPHENS and len(text) > 1 and not text[-2].isspace():
            head = _WORD.findall(text[:-1])
            tail = _WORD.findall(nxt)
            split = (
                text[-2].isalpha()
                and nxt[:1].islower()
                and bool(head)
                and bool(tail)
                and _split_word(head[-1], tail[0], end, vocabulary)
            )
            text = text[:-1] + ("" if split else "-") + nxt
        elif end in "\u2013\u2014/" and len(text) > 1 and not text[-2].isspace():
            text += nxt  # "1990–" "2000": a dash within a word group, no space
        elif nxt[:1] in "\u2013\u2014" and len(nxt) > 1 and not nxt[1].isspace():
            text += nxt  # "Colorado" "—or": the line broke before an unspaced dash
        else:
            text += " " + nxt
    return text.replace("\u00ad", "")


def _split_word(head: str, tail: str, hyphen: str, vocabulary: Counter[str]) -> bool:
    """Whether `head`-`tail` at a line end is one word cut in two (else a compound that keeps
    its hyphen). The document's own spelling of the word elsewhere decides; else the hyphen:
    a discretionary one (soft, or U+2010 as Chromium prints it) splits a word, a plain one
    belongs to a compound (generators print their discretionary hyphens apart; a word cut
    after a plain "-" is still one token-pair away from its whole form for the search)."""
    head, tail = head.lower().split("-")[-1], tail.lower().split("-")[0]
    whole, compound = vocabulary[head + tail], vocabulary[f"{head}-{tail}"]
    if whole != compound:
        return whole > compound
    return hyphen in SOFT_HYPHENS
