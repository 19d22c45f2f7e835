"""The HTML reader on hostile nesting: linear time, and no text lost below lxml's depth limit."""

from __future__ import annotations

import time

from qa.readers.html import read


def nested(depth: int, tag: str = "div") -> bytes:
    """`depth` nested elements, each starting with a word of its own ("w0 ", "w1 ", ...)."""
    opening = "".join(f"<{tag}>w{i} " for i in range(depth))
    return f"<html><body>{opening}bottom{f'</{tag}>' * depth}</body></html>".encode()


def test_forty_thousand_nested_divs_are_read_in_seconds_with_every_word() -> None:
    data = nested(40_000)
    started = time.process_time()
    parsed = read(data)
    seconds = time.process_time() - started
    assert seconds < 10, f"{seconds:.1f} CPU-seconds"  # 260 s before (quadratic); ~1 s now
    words = " ".join(b.text for b in parsed.blocks).split()
    assert words == [f"w{i}" for i in range(40_000)] + ["bottom"]


def test_time_grows_linearly_with_nesting() -> None:
    def cpu(depth: int) -> float:
        data = b"<div>" * depth + b"bottom" + b"</div>" * depth  # no text but at the bottom
        started = time.process_time()
        assert [b.text for b in read(data).blocks] == ["bottom"]
        return time.process_time() - started

    # The least of three runs each (a busy machine or a collection pauses one run, not three).
    small, large = (min(cpu(depth) for _ in range(3)) for depth in (4_000, 16_000))
    assert large < 8 * small + 0.3, (small, large)  # 4x the input; quadratic would be 16x


def test_text_deeper_than_lxml_parses_is_kept_in_order() -> None:
    # lxml stops at 256 levels and drops the rest of the page, the text after the deep part too.
    data = nested(300) + b"<p>After the deep part.</p>"
    text = " ".join(b.text for b in read(data).blocks)
    assert text.split()[:301] == [f"w{i}" for i in range(300)] + ["bottom"]
    assert text.endswith("After the deep part.")


def test_a_normal_page_is_still_read_by_its_main_content() -> None:
    page = (
        b"<html><head><title>Bees</title></head><body><nav><a href=/>Home</a> | "
        b"<a href=/about>About</a></nav><article><h1>Bees</h1>"
        + b"".join(
            b"<p>Paragraph %d of the article about bees and their hives, long enough.</p>" % i
            for i in range(6)
        )
        + b"</article><footer>Copyright 2024</footer></body></html>"
    )
    parsed = read(page)
    assert parsed.title == "Bees"
    texts = [b.text for b in parsed.blocks]
    assert "Paragraph 5 of the article about bees and their hives, long enough." in texts
    assert not any("Copyright" in t or "About" in t for t in texts)
