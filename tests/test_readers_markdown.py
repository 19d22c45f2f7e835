"""The Markdown reader: what a reader of the page sees, without its navigation."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from qa.readers.blocks import UnreadableError
from qa.readers.markdown import MAX_MARKS, MAX_NESTING, MAX_TABLE_COLUMNS, read


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


# --- Hostile input: refused fast, with the reason, before markdown-it makes a token of each mark


def peak_mb(code: str) -> tuple[float, str]:
    """Peak memory (MB, the child's own VmHWM) and output of `code` run in a fresh Python."""
    probe = (
        f"{code}\nprint(next(int(l.split()[1]) // 1024 for l in open('/proc/self/status') "
        "if l.startswith('VmHWM')))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    *lines, peak = out.stdout.split("\n")[:-1]
    return float(peak), "\n".join(lines)


def test_ten_million_emphasis_marks_are_refused_at_once_in_little_memory() -> None:
    code = (
        "from qa.readers.markdown import read\n"
        "try:\n    read(b'*a' * 10_000_000)\nexcept Exception as e:\n    print(e)"
    )
    started = time.monotonic()
    peak, said = peak_mb(code)
    assert time.monotonic() - started < 20  # 30-70 s to a MemoryError before
    marks = "10,000,000 emphasis and table marks (*, _, ~, |)"
    assert said == f"the Markdown has {marks}; the limit is {MAX_MARKS:,}"
    assert peak < 200, f"{peak} MB"  # ~50 MB; 2.3+ GB before


def test_a_table_of_100000_columns_is_refused_with_its_width() -> None:
    table = "|" + "a|" * 100_000 + "\n|" + "-|" * 100_000 + "\n|" + "b|" * 100_000 + "\n"
    with pytest.raises(UnreadableError) as refused:
        read(table.encode())
    assert str(refused.value) == (
        f"the Markdown has a table of 100,000 columns; the limit is {MAX_TABLE_COLUMNS:,}"
    )


def test_a_table_as_wide_as_the_limit_is_read() -> None:
    n = MAX_TABLE_COLUMNS
    table = "|" + "".join(f"h{i}|" for i in range(n)) + "\n|" + ":-:|" * n + "\n|" + "b|" * n
    rows = [b.text for b in read(table.encode()).blocks]
    assert rows == ["\t".join(f"h{i}" for i in range(n)), "\t".join(["b"] * n)]


def test_quotes_nested_to_the_limit_are_read_deeper_ones_refused() -> None:
    def quoted(depth: int) -> bytes:
        return b"Before.\n\n" + b">" * depth + b" Deep text.\n\nAfter.\n"

    assert [b.text for b in read(quoted(MAX_NESTING)).blocks] == ["Before.", "Deep text.", "After."]
    with pytest.raises(UnreadableError, match=f"over {MAX_NESTING} levels deep"):
        read(quoted(MAX_NESTING + 1))  # markdown-it would drop "Deep text." silently
    started = time.process_time()
    with pytest.raises(UnreadableError):
        read(quoted(1_000_000))
    assert time.process_time() - started < 10


def test_a_long_ordinary_document_is_under_the_caps() -> None:
    paragraph = "Some **bold** and _italic_ words, a `snake_case` name and a ~~strike~~. "
    document = "\n\n".join(f"## Part {i}\n\n{paragraph * 5}" for i in range(2_000))
    assert len(read(document.encode()).blocks) == 4_000
