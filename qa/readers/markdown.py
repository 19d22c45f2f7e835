"""Markdown: parsed by markdown-it-py (CommonMark, plus tables), read as a reader sees it.

Blocks carry the rendered text: no `#`, `**` or `[]()` syntax, a link is its text, an image its
alt text. YAML front matter gives the title and is not indexed; without it the first level-1
heading is the title.
"""

from __future__ import annotations

import re

from qa.readers.blocks import Block, Parsed, UnreadableError
from qa.readers.clean import decode, normalize_newlines, squeeze

# Front matter: a YAML block between `---` lines at the very start of the file.
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)?(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)

# Input caps, checked before parsing. markdown-it keeps a token (~1 KB) per emphasis mark and per
# table cell, so `*a` x 10 million took 30-70 s to end in a MemoryError; real documents stay far
# below these (a 7 MB Markdown manual peaks at ~140 MB).
MAX_MARKS = 300_000  # `*`, `_`, `~` and `|` in the whole file (at most ~0.4 GB of tokens)
MAX_TABLE_COLUMNS = 1_000  # cells of a table's delimiter row (`|---|---|`)
# Quotes and lists nested deeper than markdown-it's default (20 levels, a list counting two: the
# list and its item) are dropped by it, silently: up to this depth they are read, deeper the
# file is refused rather than read in part.
MAX_NESTING = 100
_CONTAINERS = ("blockquote_open", "bullet_list_open", "ordered_list_open", "list_item_open")
# A table's delimiter row: cells of dashes with optional colons, separated by pipes (written to
# backtrack at most once per line, so a line of a million spaces costs linear time).
_DELIMITER_ROW = re.compile(r"^[ \t]*(?:\|[ \t]*)?:?-[-: \t|]*$", re.MULTILINE)


def front_matter(text: str) -> tuple[dict, str]:
    """The front matter's fields (empty if none) and the text after it."""
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    import yaml

    try:
        fields = yaml.safe_load(match.group(1) or "")
    except yaml.YAMLError:
        return {}, text  # not YAML: a thematic break, part of the text
    if not isinstance(fields, dict):
        return {}, text
    return fields, text[match.end() :]


def inline(token) -> str:  # noqa: ANN001 (a markdown_it Token)
    """The text a reader sees of an inline token: markup dropped, line wraps made spaces."""
    parts = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type == "softbreak":
            parts.append(" ")
        elif child.type == "hardbreak":
            parts.append("\n")
        elif child.type == "image":
            parts.append(inline(child))  # its alt text
    return squeeze("".join(parts))


# What may stand between the links of a navigation line: separators, bullets, pipes, arrows.
_SEPARATORS = re.compile(r"[\s|/·•›»>→,;:\-–—]*")


def only_links(token) -> bool:  # noqa: ANN001 (a markdown_it Token)
    """Whether an inline token is nothing but two or more links and separators between them (a
    breadcrumb or a row of navigation, like "[Home](/) › [Docs](/docs)"): no statement of the
    document to quote."""
    links, depth, outside = 0, 0, []
    for child in token.children or []:
        if child.type == "link_open":
            links, depth = links + 1, depth + 1
        elif child.type == "link_close":
            depth -= 1
        elif depth == 0 and child.type in ("text", "code_inline"):
            outside.append(child.content)
    return links >= 2 and bool(_SEPARATORS.fullmatch("".join(outside)))


def html_text(markup: str) -> str:
    """Visible text of a raw HTML block inside Markdown (its tags and comments dropped)."""
    from bs4 import BeautifulSoup, Comment

    soup = BeautifulSoup(markup, "html.parser")
    for tag in soup.find_all(("script", "style", "template", "noscript")):
        tag.decompose()
    for comment in soup.find_all(string=lambda s: isinstance(s, Comment)):
        comment.extract()
    return squeeze(soup.get_text(" "))


def check_size(text: str) -> None:
    """UnreadableError if `text` has more emphasis and table marks or table columns than the
    caps (counted in linear time, before markdown-it makes a token of each)."""
    for row in _DELIMITER_ROW.finditer(text):
        columns = row.group().strip().strip("|").count("|") + 1
        if columns > MAX_TABLE_COLUMNS:
            raise UnreadableError(
                f"the Markdown has a table of {columns:,} columns; the limit is "
                f"{MAX_TABLE_COLUMNS:,}"
            )

    marks = sum(text.count(mark) for mark in "*_~|")
    if marks > MAX_MARKS:
        raise UnreadableError(
            f"the Markdown has {marks:,} emphasis and table marks (*, _, ~, |); the limit is "
            f"{MAX_MARKS:,}"
        )


def blocks(text: str) -> list[Block]:
    from markdown_it import MarkdownIt

    check_size(text)
    parser = MarkdownIt("commonmark", {"maxNesting": MAX_NESTING + 1})
    tokens = parser.enable(["table", "strikethrough"]).parse(text)
    if any(t.type in _CONTAINERS and t.level >= MAX_NESTING for t in tokens):
        # markdown-it stopped there: what lies deeper is not in the tokens
        raise UnreadableError(
            f"the Markdown nests quotes and lists over {MAX_NESTING} levels deep (a list "
            f"counts two); the limit is {MAX_NESTING}"
        )
    out: list[Block] = []
    items = 0  # depth of list items around the current token
    row: list[str] | None = None  # cells of the table row being read
    for i, token in enumerate(tokens):
        kind = token.type
        if kind == "list_item_open":
            items += 1
        elif kind == "list_item_close":
            items -= 1
        elif kind == "heading_open":
            out.append(Block("heading", inline(tokens[i + 1]), level=int(token.tag[1])))
        elif kind == "paragraph_open" and tokens[i + 1].type == "inline":
            if not items and only_links(tokens[i + 1]):
                continue  # navigation, not text (a list of links stays: it may be content)
            out.append(Block("item" if items else "paragraph", inline(tokens[i + 1])))
        elif kind in ("fence", "code_block"):
            out.append(Block("code", token.content.strip("\n")))
        elif kind == "html_block":
            out.append(Block("paragraph", html_text(token.content)))
        elif kind == "tr_open":
            row = []
        elif kind == "inline" and row is not None:
            row.append(inline(token))
        elif kind == "tr_close" and row is not None:
            out.append(Block("row", "\t".join(cell for cell in row if cell)))
            row = None
    return [b for b in out if b.text.strip()]


def read(data: bytes) -> Parsed:
    text, note = decode(data)
    fields, body = front_matter(normalize_newlines(text))
    found = blocks(body)
    title = fields.get("title")
    if not isinstance(title, str) or not squeeze(title):
        title = next((b.text for b in found if b.kind == "heading" and b.level == 1), None)
    return Parsed(blocks=found, title=squeeze(title) if title else None, note=note)
