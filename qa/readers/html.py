"""HTML: the page's main content by trafilatura, as headings, paragraphs, list items, rows.

trafilatura (Apache-2.0, maintained, the best-scoring open extractor in published boilerplate
benchmarks) drops navigation, cookie banners, sidebars, footers, forms and scripts. Its recall
mode is used: the precision mode dropped lists of short items from small pages. A page it finds
no main content in (a bare fragment, a few lines) is read whole by the rule set below instead,
so a small file is never lost. The title is the page's (og:title, <title>, <h1>, as trafilatura
picks it).
"""

from __future__ import annotations

import logging
from functools import cache

from qa.readers.blocks import Block, Parsed
from qa.readers.clean import decode, squeeze

# Elements whose text forms its own block in the fallback reading of a page.
HTML_BLOCKS = (
    "p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre", "td", "th", "dt", "dd",
    "figcaption", "caption", "div", "section", "article", "header", "footer", "aside", "tr",
    "address", "summary",
)  # fmt: skip
HTML_INVISIBLE = ("script", "style", "noscript", "template", "head", "svg", "iframe", "object")
BREAK = object()  # the end of a block, in the walk of _whole_page
# lxml (libxml2) stops parsing at 256 levels of nesting and drops the rest of the page: a page
# that deep is read whole by _whole_page, whose parser has no such limit. The path finds an
# element 250 levels below the root in time linear in the page (one step per level).
TOO_DEEP = "/".join(["*"] * 250)


@cache
def _config():  # noqa: ANN202 (a ConfigParser)
    from trafilatura.settings import use_config

    config = use_config()
    # trafilatura's size floors are for crawling (skip near-empty pages); here every file counts.
    for option in ("MIN_EXTRACTED_SIZE", "MIN_OUTPUT_SIZE"):
        config.set("DEFAULT", option, "1")
    return config


def _text(element) -> str:  # noqa: ANN001 (an lxml element)
    """An element's text as shown, its <lb/> line breaks kept, nested lists left out."""
    parts = [element.text or ""]
    for child in element:
        if child.tag == "lb":
            parts.append("\n")
        elif child.tag not in ("list", "table"):
            parts.append(_text(child))
        parts.append(child.tail or "")
    return squeeze("".join(parts))


def _walk(element, out: list[Block]) -> None:  # noqa: ANN001
    for child in element:
        tag = child.tag
        if tag == "head":
            rend = child.get("rend") or "h2"
            level = int(rend[1]) if rend[:1] == "h" and rend[1:].isdigit() else 2
            out.append(Block("heading", _text(child), level=min(max(level, 1), 6)))
        elif tag == "list":
            for item in child:
                if item.tag == "item":
                    out.append(Block("item", _text(item)))
                    _walk(item, out)  # nested lists and tables
        elif tag == "table":
            for row in child.iter("row"):
                cells = [_text(cell) for cell in row if cell.tag == "cell"]
                out.append(Block("row", "\t".join(c for c in cells if c)))
        elif tag == "code":
            out.append(Block("code", "".join(child.itertext()).strip("\n")))
        elif tag in ("p", "quote") and not any(c.tag in ("p", "list", "head") for c in child):
            out.append(Block("paragraph", _text(child)))
        else:
            _walk(child, out)


def _main_content(markup: str) -> tuple[list[Block], str | None]:
    import trafilatura

    logging.getLogger("trafilatura").setLevel(logging.ERROR)
    tree = trafilatura.load_html(markup)
    if tree is None or tree.find(TOO_DEEP) is not None:
        return [], None
    for element in tree.xpath("|".join(f"//{tag}" for tag in HTML_INVISIBLE if tag != "head")):
        element.drop_tree()  # never content, whatever an extractor thinks (e.g. <template>)
    found = trafilatura.bare_extraction(
        tree,
        config=_config(),
        favor_recall=True,
        include_tables=True,
        include_comments=False,
        include_links=False,
        include_images=False,
        include_formatting=False,
        with_metadata=True,
    )
    if found is None or found.body is None:
        return [], None
    out: list[Block] = []
    _walk(found.body, out)
    return [b for b in out if b.text.strip()], found.title


def _whole_page(markup: str) -> tuple[list[Block], str | None]:
    """Every visible block of the page (scripts, styles and the like dropped).

    The tree is walked once with a stack of its own, in time linear in its size whatever its
    depth (marking blocks by inserting strings into a bs4 tree took time quadratic in the
    nesting: 40,000 nested <div> took minutes).
    """
    from bs4 import BeautifulSoup, CData, NavigableString, Tag

    soup = BeautifulSoup(markup, "html.parser")
    title = soup.title.get_text() if soup.title else None
    parts: list[str] = []
    stack: list = [soup]  # nodes still to visit, and BREAK where a block ends
    while stack:
        node = stack.pop()
        if node is BREAK:
            parts.append("\n\n")
        elif isinstance(node, Tag):
            if node.name in HTML_INVISIBLE or node.name == "title":  # the document's title
                continue
            if node.name == "br":
                parts.append("\n")
            elif node.name in HTML_BLOCKS:
                parts.append("\n\n")
                stack.append(BREAK)
            stack.extend(reversed(node.contents))
        elif type(node) in (NavigableString, CData):  # not a comment, doctype or the like
            parts.append(node)
    out = []
    for chunk in "".join(parts).split("\n\n"):
        text = squeeze(chunk)
        if text:
            out.append(Block("paragraph", text))
    return out, title


def read(data: bytes) -> Parsed:
    markup, note = decode(data)
    try:
        found, title = _main_content(markup)
    except Exception:  # an extractor's bug on an odd page must not cost the page: read it whole
        found, title = [], None
    if not found:
        found, title = _whole_page(markup)
    title = squeeze(title) if title else ""
    return Parsed(blocks=found, title=title or None, note=note)
