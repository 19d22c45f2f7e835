"""Small documents of every format, made in the test run, and the text a reader sees in each.

Each format gets its own topic (so a question finds it) and its own furniture (what a reader
skips: a page's navigation and footer, Markdown syntax, front matter). `EXPECTED[name]` lists
the document's paragraphs as (section, text); `TITLES[name]` its title; `FURNITURE[name]`
strings that must not be indexed.
"""

from __future__ import annotations

import io

TXT = """Notes on river otters

River otters hold hands while they sleep so that they do not drift apart on the water.

Diet

A river otter eats fish, frogs and crayfish, about a fifth of its weight in food every day.
"""

MD = """---
title: "The lighthouse keeper's handbook"
author: Jane Keeper
tags: [sea, light]
---
# Lighthouses

A **lighthouse** warns ships of [dangerous rocks](https://example.org/rocks "rocks") with a
flashing light that sailors can *identify* by its rhythm. ![a tower](tower.png)

## Fuel

- Early lamps burned whale oil.
- Later lamps burned `kerosene` vapour.

| Lamp | Range |
|------|-------|
| Fresnel lens | 20 miles |
"""

HTML = """<!doctype html><html lang="en"><head><title>Beekeeping | Garden Site</title>
<meta property="og:title" content="Beekeeping for beginners">
<style>body { color: black }</style><script>var tracking = "cookie-id";</script></head><body>
<nav><a href="/">Home</a> | <a href="/about">About us</a> | <a href="/shop">Shop</a></nav>
<div class="cookie-banner" id="cookie-consent">We use cookies to improve your experience.
<button>Accept all cookies</button></div>
<aside class="sidebar"><h3>Popular posts</h3><ul><li><a href="/p1">Ten tomato tricks</a></li>
<li><a href="/p2">Compost in a week</a></li></ul></aside>
<main><article>
<h1>Beekeeping for beginners</h1>
<p>A honey bee colony has one queen, who lays up to two thousand eggs a day in the warm months
of summer.</p>
<h2>Swarming</h2>
<p>When a hive grows crowded, the old queen leaves with about half of the workers to found a new
colony elsewhere.</p>
<ul><li>Check the hive every nine days.</li><li>Give the colony more space in spring.</li></ul>
</article></main>
<footer><p>Copyright 2025 Garden Site. All rights reserved.</p><a href="/privacy">Privacy
policy</a></footer>
<form action="/subscribe"><label>Newsletter <input name="email"></label><button>Subscribe
</button></form>
</body></html>
"""

DOCX_TITLE = "Glacier field report"
DOCX_PARAGRAPHS = [
    ("title", DOCX_TITLE),
    ("heading", "Retreat"),
    (
        "paragraph",
        "The glacier retreated forty metres last summer, twice as far as a year before.",
    ),
    ("heading", "Measurements"),
    ("item", "Stakes were drilled into the ice every spring."),
    ("item", "Their height was read again each autumn."),
    ("table", [["Year", "Retreat"], ["2023", "20 m"], ["2024", "40 m"]]),
]

PDF_TITLE = "Volcano observatory bulletin"
PDF_PAGES = [
    ["The volcano erupted on the third of May, sending ash twelve kilometres into the sky",
     "above the island and closing the airport for a week."],
    ["Lava flows reached the sea after nine days and built two hectares of new land along",
     "the southern coast of the island."],
    ["Sulphur dioxide from the vent was measured every morning by the observatory staff from",
     "a boat anchored off the coast."],
]  # fmt: skip


def make_docx() -> bytes:
    """The Word fixture, made with python-docx."""
    import docx

    document = docx.Document()
    document.core_properties.title = DOCX_TITLE
    for kind, content in DOCX_PARAGRAPHS:
        if kind == "title":
            document.add_heading(content, 0)
        elif kind == "heading":
            document.add_heading(content, 1)
        elif kind == "item":
            document.add_paragraph(content, style="List Bullet")
        elif kind == "table":
            table = document.add_table(rows=len(content), cols=len(content[0]))
            for r, row in enumerate(content):
                for c, cell in enumerate(row):
                    table.cell(r, c).text = cell
        else:
            document.add_paragraph(content)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_pdf(
    pages: list[list[str]] | list[list[tuple[float, float, str]]], title: str | None = None
) -> bytes:
    """A PDF with one paragraph per page (its lines as given, 14 points apart from the top
    left), or with each (x, y, text) line where it says; made with pypdf (a few KB)."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    for lines in pages:
        page = writer.add_blank_page(width=612, height=792)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}
        )
        placed = [
            ln if isinstance(ln, tuple) else (50, 700 - 14 * i, ln) for i, ln in enumerate(lines)
        ]
        shown = " ".join(f"1 0 0 1 {x} {y} Tm ({text})Tj" for x, y, text in placed)
        stream = DecodedStreamObject()
        stream.set_data(f"BT /F1 10 Tf {shown} ET".encode("latin-1"))
        page[NameObject("/Contents")] = writer._add_object(stream)
    if title:
        writer.add_metadata({"/Title": title})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


FILES: dict[str, str | bytes] = {
    "otters.txt": TXT,
    "lighthouse.md": MD,
    "bees.html": HTML,
    "glacier.docx": b"",  # made by files(): python-docx is not imported at collection time
    "volcano.pdf": b"",
}

TITLES = {
    "otters.txt": "Notes on river otters",
    "lighthouse.md": "The lighthouse keeper's handbook",
    "bees.html": "Beekeeping for beginners",
    "glacier.docx": DOCX_TITLE,
    "volcano.pdf": PDF_TITLE,
}

# (section, text, page) of every paragraph, in order.
EXPECTED: dict[str, list[tuple[str, str, int | None]]] = {
    "otters.txt": [
        (
            "Notes on river otters",
            "River otters hold hands while they sleep so that they do not drift apart on the "
            "water.",
            None,
        ),
        (
            "Diet",
            "A river otter eats fish, frogs and crayfish, about a fifth of its weight in food "
            "every day.",
            None,
        ),
    ],
    "lighthouse.md": [
        (
            "Lighthouses",
            "A lighthouse warns ships of dangerous rocks with a flashing light that sailors can "
            "identify by its rhythm. a tower",
            None,
        ),
        (
            "Lighthouses › Fuel",
            "Early lamps burned whale oil.\nLater lamps burned kerosene vapour.",
            None,
        ),  # fmt: skip
        ("Lighthouses › Fuel", "Lamp\tRange\nFresnel lens\t20 miles", None),
    ],
    "bees.html": [
        (
            "Beekeeping for beginners",
            "A honey bee colony has one queen, who lays up to two thousand eggs a day in the warm "
            "months of summer.",
            None,
        ),
        (
            "Beekeeping for beginners › Swarming",
            "When a hive grows crowded, the old queen leaves with about half of the workers to "
            "found a new colony elsewhere.",
            None,
        ),
        (
            "Beekeeping for beginners › Swarming",
            "Check the hive every nine days.\nGive the colony more space in spring.",
            None,
        ),
    ],
    "glacier.docx": [
        (
            f"{DOCX_TITLE} › Retreat",
            "The glacier retreated forty metres last summer, twice as far as a year before.",
            None,
        ),
        (
            f"{DOCX_TITLE} › Measurements",
            "Stakes were drilled into the ice every spring.\nTheir height was read again each "
            "autumn.",
            None,
        ),
        (f"{DOCX_TITLE} › Measurements", "Year\tRetreat\n2023\t20 m\n2024\t40 m", None),
    ],
    "volcano.pdf": [("", " ".join(lines), page) for page, lines in enumerate(PDF_PAGES, 1)],
}

FURNITURE = {
    "lighthouse.md": ["**", "](", "#", "Jane Keeper", "author", "tower.png", "example.org", "`"],
    "bees.html": [
        "Home",
        "About us",
        "cookies",
        "Popular posts",
        "tomato",
        "Copyright",
        "Privacy",
        "Newsletter",
        "Subscribe",
        "tracking",
        "color:",
    ],  # fmt: skip
}


def files() -> dict[str, str | bytes]:
    """Every fixture document by file name, the binary ones made now."""
    return {
        **FILES,
        "glacier.docx": make_docx(),
        "volcano.pdf": make_pdf(PDF_PAGES, PDF_TITLE),
    }
