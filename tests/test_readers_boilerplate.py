"""The printed web page's furniture rule on paragraphs described by hand."""

from __future__ import annotations

from qa.readers.boilerplate import Piece, boilerplate

LONG = (
    "Otters were hunted for their fur until the middle of the last century, when the rivers "
    "were cleaned and the animals protected by law. They have since come back to most of the "
    "country, and are seen by day again."
)


def page(navigation: float) -> list[Piece]:
    """A page whose menu and link list are `navigation` covered by links."""
    return [
        Piece("Home News Rivers Maps", False, link=navigation, page=1),
        Piece("We use cookies to count our readers. Accept", False, page=1),
        Piece("Otters Return", True, 1, page=1),
        Piece("By A. Writer, 3 May", False, page=1),
        Piece(LONG, False, page=1),
        Piece("They were seen at dawn.", False, page=1),  # the author's short paragraph
        Piece(LONG, False, page=2),
        Piece("More stories", True, 2, page=2),
        Piece("Otter story one", False, link=navigation, page=2),
        Piece("Otter story two", False, link=navigation, page=2),
        Piece("© 2025 Riverside Gazette Ltd. All rights reserved.", False, page=2),
    ]


def test_a_printed_web_pages_furniture_goes_and_its_article_stays() -> None:
    assert sorted(boilerplate(page(1.0))) == [0, 1, 3, 7, 8, 9, 10]


def test_a_document_without_navigation_keeps_everything() -> None:
    assert boilerplate(page(0.0)) == set()
    references = [Piece("Otters", True, 1), Piece(LONG, False), Piece("Otter 1", False)]
    references += [Piece(f"https://example.org/{n}", False, link=1.0) for n in range(3)]
    assert boilerplate(references) == set()  # web addresses below the text: not a menu
    assert boilerplate([Piece(text, False, link=1.0) for text in ("Home", "Maps")]) == set()


def test_a_long_paragraph_above_the_title_stays_unless_it_is_partly_links() -> None:
    pieces = page(1.0)
    for link, kept in ((0.0, True), (0.3, False)):
        intro = [Piece(LONG.replace("Otters", "Beavers"), False, link=link, page=1)]
        dropped = boilerplate(pieces[:1] + intro + pieces[1:])
        assert (1 not in dropped) is kept
