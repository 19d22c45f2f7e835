"""Clean: whitespace of extracted text, and decoding bytes that should be text."""

from __future__ import annotations

import re

from qa.readers.blocks import UnreadableError

# Decoded text with more control characters than this share (in its first 8,192 characters) is
# binary that happened to have no NUL byte (a compressed file, an image renamed .txt).
MAX_CONTROL_SHARE = 0.05
# Unicode's control characters (category Cc: U+0000-U+001F, U+007F-U+009F) but the whitespace
# ones; a regex counts them ~10x faster than unicodedata per character (every build reads all).
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f]")


def squeeze(text: str) -> str:
    """`text` with each line's runs of whitespace made one space, blank lines dropped: wrapped
    lines of one line become one; an explicit line break (a newline in `text`) stays."""
    lines = (" ".join(line.split()) for line in normalize_newlines(text).split("\n"))
    return "\n".join(line for line in lines if line)


def normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def decode(data: bytes) -> tuple[str, str]:
    """Text of `data` and a note on the encoding used ('' for UTF-8)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace"), ""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace"), "decoded as UTF-16"
    if b"\x00" in data[:8192]:
        raise UnreadableError("binary content (NUL bytes), not text")
    try:
        return _text(data.decode("utf-8")), ""
    except UnicodeDecodeError:
        pass
    # Not UTF-8: Windows-1252 is what such files almost always are; Latin-1 decodes any byte.
    try:
        return _text(data.decode("cp1252")), "not valid UTF-8, decoded as Windows-1252"
    except UnicodeDecodeError:
        return _text(data.decode("latin-1")), "not valid UTF-8, decoded as Latin-1"


def _text(text: str) -> str:
    """`text`, unless it is mostly control characters: then UnreadableError (binary)."""
    sample = text[:8192]
    controls = len(_CONTROL.findall(sample))
    if sample and controls > MAX_CONTROL_SHARE * len(sample):
        raise UnreadableError(
            f"binary content ({controls:,} control characters in the first "
            f"{len(sample):,}), not text"
        )
    return text
