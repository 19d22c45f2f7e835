"""Layout rules on hand-placed runs: what the PDF reader does, independent of any generator."""

from __future__ import annotations

from qa.readers.layout import Run, blocks

SIZE = 12.0
WIDTH = 500.0  # of the text column, from x=50


def line(page: int, y: float, text: str, x0: float = 50.0, x1: float | None = None,
         size: float = SIZE, bold: bool = False) -> Run:  # fmt: skip
    """A run for one printed line (flush right unless `x1` says where it stops)."""
    first = len(text.split()[0]) * size * 0.5 if text.split() else 0.0
    right = x1 if x1 is not None else 50.0 + WIDTH
    return Run(page, x0, y, right, y + size, size, bold, text, first)


def wrapped(page: int, y: float, lines: list[str]) -> list[Run]:
    """A paragraph's lines: all flush right but the last, which stops half way."""
    runs = [line(page, y + i * 14, t) for i, t in enumerate(lines[:-1])]
    return [*runs, line(page, y + (len(lines) - 1) * 14, lines[-1], x1=300.0)]


def furniture(page: int, total: int) -> list[Run]:
    return [
        line(page, 20, "Quarterly Otter Review", x1=200, size=8),
        line(page, 20, f"Issue {page}", x0=480, size=8),
        line(page, 770, f"{page} / {total}", x0=290, x1=310, size=8),
    ]


def test_repeated_edges_and_page_numbers_go_and_text_stays() -> None:
    pages = [
        furniture(1, 2) + wrapped(1, 60, ["Otters hunt at dusk along the", "river banks."]),
        furniture(2, 2) + wrapped(2, 60, ["Their holts have underwater", "entrances."]),
    ]
    found = blocks(pages)
    assert [(b.text, b.page) for b in found] == [
        ("Otters hunt at dusk along the river banks.", 1),
        ("Their holts have underwater entrances.", 2),
    ]


def test_a_paragraph_runs_on_across_a_page_break_unless_it_stopped_short() -> None:
    first = wrapped(1, 60, ["Holts are dug into banks among the", "roots of old trees."])
    # The last line of page 1 is full: the paragraph goes on at the top of page 2.
    on = [line(1, 88, "Each one has several")]
    pages = [first + on, wrapped(2, 60, ["entrances, some under water.", "A new one."])]
    assert [b.text for b in blocks(pages)] == [
        "Holts are dug into banks among the roots of old trees.",
        "Each one has several entrances, some under water. A new one.",
    ]


def test_line_end_hyphens() -> None:
    # The document spells "riverbank" whole elsewhere; "state-of-the-art" keeps its hyphens;
    # a soft hyphen (printed as U+2010) splits a word.
    lines = [
        "The riverbank otters and the river-",
        "bank voles share a state-of-the-",
        "art habitat of extra\u2010",
        "ordinary richness and well-",
        "known charm.",
    ]
    assert [b.text for b in blocks([wrapped(1, 60, lines)])] == [
        "The riverbank otters and the riverbank voles share a state-of-the-art habitat of "
        "extraordinary richness and well-known charm."
    ]


def test_columns_under_a_spanning_title_are_read_one_after_the_other() -> None:
    title = [line(1, 40, "Otters", x0=50, x1=150, size=20, bold=True)]
    left = [line(1, 80 + 14 * i, f"left {i} words here", x0=50, x1=290) for i in range(6)]
    right = [line(1, 80 + 14 * i, f"right {i} words here", x0=310, x1=550) for i in range(6)]
    found = blocks([title + right + left])  # drawn in any order
    assert found[0].kind == "heading" and found[0].text == "Otters" and found[0].level == 1
    text = " ".join(b.text for b in found[1:])
    assert text == " ".join(f"left {i} words here" for i in range(6)) + " " + " ".join(
        f"right {i} words here" for i in range(6)
    )


def test_a_row_of_figures_at_the_foot_of_a_page_is_not_a_page_number() -> None:
    text = wrapped(1, 60, ["Otters counted per year at the", "three sites:"])
    figures = [line(1, 770, n, x0=x, x1=x + 30) for n, x in (("12", 60), ("17", 200), ("23", 340))]
    folio = [line(1, 790, "7", x0=295, x1=305, size=8)]
    assert " ".join(b.text for b in blocks([text + figures + folio])).endswith("12 17 23")


def test_bulleted_lines_are_list_items_without_their_bullet() -> None:
    intro = wrapped(1, 60, ["Otters eat:"])
    items = [
        line(1, 74 + 14 * i, f"\u2022 {food}", x1=150) for i, food in enumerate(("fish", "crabs"))
    ]
    assert [(b.kind, b.text) for b in blocks([intro + items])] == [
        ("paragraph", "Otters eat:"),
        ("item", "fish"),
        ("item", "crabs"),
    ]


def test_columns_under_a_one_column_abstract_are_not_interleaved() -> None:
    # A full-width abstract of many lines above two columns: it crosses the gutter on every
    # line, which must not hide the gutter below it.
    abstract = wrapped(1, 60, [f"abstract line {i} runs the whole width" for i in range(10)])
    left = [line(1, 220 + 14 * i, f"left {i} words here", x0=50, x1=290) for i in range(20)]
    right = [line(1, 220 + 14 * i, f"right {i} words here", x0=310, x1=550) for i in range(20)]
    found = blocks([abstract + right + left])
    assert [b.text for b in found] == [
        " ".join(f"abstract line {i} runs the whole width" for i in range(10)),
        " ".join(f"left {i} words here" for i in range(20))
        + " "
        + " ".join(f"right {i} words here" for i in range(20)),
    ]


def test_a_ragged_paragraph_whose_longest_lines_end_alike_is_not_justified() -> None:
    # Ragged right: two lines happen to end at the edge and one goes past it. The fourth stops
    # short only because its next word ("considerable", ~72 wide) would not have fitted.
    ends = [548.0, 549.0, 552.0, 530.0]
    texts = ["A ragged paragraph of", "five lines whose ends", "vary with words", "it goes and a"]
    runs = [line(1, 60 + 14 * i, t, x1=x) for i, (t, x) in enumerate(zip(texts, ends))]
    runs.append(line(1, 60 + 14 * 4, "considerable last line.", x1=400))
    assert [b.text for b in blocks([runs])] == [" ".join(texts) + " considerable last line."]


def test_a_sidebar_beside_the_article_is_neither_interleaved_nor_kept() -> None:
    # A printed web page: the article's lines fill x 50-400, a sidebar of links and a
    # newsletter box stands at x 430-540 on the same line grid; the article's paragraph runs
    # on to page 2, past the sidebar.
    words = "the otters of the river came back to the old mill this spring and"
    article = [line(1, 60 + 14 * i, f"{words} {i}", x1=400) for i in range(30)]
    side = ["Recent posts", "Otter maps", "Holt guide", "Spraint survey", "Newsletter",
            "New posts by mail.", "Your email", "Subscribe"]  # fmt: skip
    sidebar = [line(1, 60 + 14 * i, t, x0=430, x1=540) for i, t in enumerate(side)]
    for run in sidebar[1:4]:
        run.link = 1.0
    nav = [line(1, 20, "Home Rivers", x1=150)]
    nav[0].link = 1.0
    title = [line(1, 40, "Otters", x1=120, size=20)]
    end = wrapped(2, 60, [f"{words} 30", "and so it ends."])
    found = blocks([nav + title + article + sidebar, end])
    text = " ".join(f"{words} {i}" for i in range(31)) + " and so it ends."
    assert [(b.kind, b.text) for b in found] == [("heading", "Otters"), ("paragraph", text)]
