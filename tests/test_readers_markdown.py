"""The Markdown reader: what a reader of the page sees, without its navigation."""

from __future__ import annotations

import pytest

from qa.readers.markdown import read


@pytest.mark.parametrize(
    "line",
    [
        "[Home](https://example.org/) › [Articles](https://example.org/articles/)",
        "[Home](/) | [Docs](/docs) | [API](/api)",
        "[Previous](a.md) · [Next](b.md)",
    ],
)
def test_a_line_of_links_alone_is_navigation_not_text(line: str) -> None:
    parsed = read(f"# Otters\n\n{line}\n\nOtters hold hands while they sleep.\n".encode())
    assert [b.text for b in parsed.blocks] == ["Otters", "Otters hold hands while they sleep."]


@pytest.mark.parametrize(
    ("markdown", "text"),
    [
        (
            "See [the survey](s.md) and [the map](m.md) for more.",
            "See the survey and the map for more.",
        ),
        ("[A single link](x.md)", "A single link"),
    ],
)
def test_links_inside_a_sentence_are_its_text(markdown: str, text: str) -> None:
    assert [b.text for b in read(markdown.encode()).blocks] == [text]


def test_a_list_of_links_stays() -> None:
    parsed = read(b"- [River otters](r.md)\n- [Sea otters](s.md)\n")
    assert [(b.kind, b.text) for b in parsed.blocks] == [
        ("item", "River otters"),
        ("item", "Sea otters"),
    ]
