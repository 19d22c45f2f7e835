"""Cells: a spreadsheet cell's value as its number format shows it ("9.4%", "2024-03-12").

A quote of a row shows what the sheet shows, not the stored float: 0.094 formatted `0.0%` is
"9.4%", 45363 formatted `yyyy-mm-dd` is "2024-03-12". This covers the formats people use
(General, fixed decimals, thousands separators, percentages, scientific, currency and other
literal text around the number, a section for negatives, dates and times); anything else falls
back to General, the number itself. No maintained Python library renders Excel number formats
(`ssf`, a 2020 port of SheetJS's, fails to import with today's Babel).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import cache

# Pieces of a format that are not placeholders: "quoted text", \x escapes, [$€-407] currency
# tags, colour and condition tags ([Red], [<100]), _x padding and *x fill.
_QUOTED = re.compile(r'"([^"]*)"|\\(.)|\[\$([^\]-]*)(?:-[^\]]*)?\]|\[[^\]]*\]|_.|\*.')
_NUMBER = re.compile(r"[#0?][#0?,]*(?:\.[#0?]*)?,*(?:[eE][+-][0-9]+)?|\.[#0?]+")
_DATE_TOKEN = re.compile(
    r"yyyy|yy|mmmmm|mmmm|mmm|mm|m|dddd|ddd|dd|d|hh|h|ss|s|AM/PM|A/P|\.0+", re.IGNORECASE
)


def shown(value: object, number_format: str | None) -> str:
    """The text a spreadsheet shows for `value` under `number_format` ('' for no value)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, str):
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return _date(value, number_format or "")
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, int | float):
        return _number(float(value), number_format or "General")
    return str(value)


def general(value: float) -> str:
    """A number as General shows it: an integer without decimals, else up to 10 significant
    digits (1234.5, 0.1 for 0.1 + 0.2 - 0.2)."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.10g}"


@cache
def _sections(number_format: str) -> list[str]:
    """The format's ;-separated sections (a ; inside quotes is text)."""
    parts, current, quoted = [], "", False
    for ch in number_format:
        if ch == '"':
            quoted = not quoted
        if ch == ";" and not quoted:
            parts.append(current)
            current = ""
        else:
            current += ch
    return [*parts, current]


def _literal(piece: str) -> str:
    """The literal text of a part of a format (quotes, escapes and tags resolved)."""

    def repl(m: re.Match) -> str:
        if m.group(1) is not None:
            return m.group(1)
        if m.group(2) is not None:
            return m.group(2)
        if m.group(3) is not None:
            return m.group(3)
        return " " if m.group().startswith("_") else ""

    return _QUOTED.sub(repl, piece)


@dataclass(frozen=True)
class _Layout:
    """A number format's section, read once: the text around the number and how to show it."""

    before: str = ""
    after: str = ""
    general: bool = False  # General (or text): the number itself
    text_only: bool = False  # no placeholder at all: `before` is all it shows
    factor: float = 1.0  # 100 per %, 1/1000 per trailing comma
    decimals: int = 0
    optional: int = 0  # trailing decimals that show only when not zero (0.0#)
    grouped: bool = False  # thousands separators
    scientific: bool = False


@cache
def _layout(section: str) -> _Layout:
    plain = _QUOTED.sub(lambda m: "\x00" * len(m.group()), section)  # placeholders only
    if section.strip().lower() in ("general", "") or "@" in plain:
        return _Layout(general=True)
    found = _NUMBER.search(plain)
    if not found:  # only text ("-" for zero): the text
        return _Layout(before=_literal(section), text_only=True)
    pattern = found.group()
    factor = 100.0 ** plain.count("%")
    if scale := re.search(r",+$", pattern):  # "0.0,," shows millions
        factor /= 1000 ** len(scale.group())
        pattern = pattern[: scale.start()]
    whole, _, fraction = pattern.partition(".")
    fraction = re.split(r"[eE]", fraction)[0]
    return _Layout(
        before=_literal(section[: found.start()]),
        after=_literal(section[found.end() :]),
        factor=factor,
        decimals=len(fraction),
        optional=fraction.count("#"),
        grouped="," in whole.strip(","),
        scientific="e" in pattern.lower(),
    )


def _number(value: float, number_format: str) -> str:
    sections = _sections(number_format)
    section = sections[0]
    if value < 0 and len(sections) > 1 and sections[1].strip():
        section, value = sections[1], -value  # the negative section shows the sign itself
    elif value == 0 and len(sections) > 2 and sections[2].strip():
        section = sections[2]
    layout = _layout(section)
    if layout.general:
        return general(value)
    if layout.text_only:
        return layout.before.strip()
    value *= layout.factor
    if layout.scientific:
        mantissa, exponent = f"{value:.{layout.decimals}E}".split("E")
        text = f"{mantissa}E{int(exponent):+03d}"
    else:
        text = f"{value:,.{layout.decimals}f}" if layout.grouped else f"{value:.{layout.decimals}f}"
        if layout.optional:  # 0.0# drops trailing zeros
            cut = len(text) - layout.optional
            text = (text[:cut] + text[cut:].rstrip("0")).rstrip(".")
    return f"{layout.before}{text}{layout.after}".strip()


_STRFTIME = {
    "yyyy": "%Y", "yy": "%y", "mmmmm": "%b", "mmmm": "%B", "mmm": "%b", "mm": "%m", "m": "%-m",
    "dddd": "%A", "ddd": "%a", "dd": "%d", "d": "%-d", "hh": "%H", "h": "%-H", "ss": "%S",
    "s": "%-S",
}  # fmt: skip


@cache
def _date_parts(section: str) -> tuple[tuple[str, str], ...]:
    """A date format's section as ("text", literal) and ("token", strftime code or a role)."""
    twelve = re.search(r"AM/PM|A/P", section, re.IGNORECASE) is not None
    tokens = list(_DATE_TOKEN.finditer(section))
    parts, at = [], 0
    for i, m in enumerate(tokens):
        parts.append(("text", _literal(section[at : m.start()])))
        at = m.end()
        token = m.group().lower()
        if token in ("m", "mm"):  # minutes after an hour or before a second, else the month
            prev = tokens[i - 1].group().lower() if i else ""
            nxt = tokens[i + 1].group().lower() if i + 1 < len(tokens) else ""
            if prev.startswith("h") or nxt.startswith("s"):
                token = "minute" + token
        elif token in ("h", "hh") and twelve:
            token = "12" + token
        parts.append(("token", token))
    parts.append(("text", _literal(section[at:])))
    return tuple(parts)


def _date(value: dt.datetime | dt.date | dt.time, number_format: str) -> str:
    """A date or time under a date format; without one, ISO (2024-03-12, 14:30)."""
    section = _sections(number_format)[0]
    if not _DATE_TOKEN.search(_QUOTED.sub("", section)) or section.lower() == "general":
        if isinstance(value, dt.datetime):
            return value.strftime("%Y-%m-%d %H:%M" if value.time() != dt.time() else "%Y-%m-%d")
        return value.isoformat()
    if isinstance(value, dt.time):
        value = dt.datetime.combine(dt.date(1900, 1, 1), value)
    elif not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time())
    out = []
    for kind, token in _date_parts(section):
        if kind == "text":
            out.append(token)
        elif token in ("am/pm", "a/p"):
            out.append(value.strftime("%p")[: 2 if token == "am/pm" else 1])
        elif token.startswith("."):  # fractions of a second
            out.append(f"{value.microsecond / 1e6:.{len(token) - 1}f}"[1:])
        elif token.startswith("minute"):
            out.append(f"{value.minute:02d}" if token == "minutemm" else str(value.minute))
        elif token.startswith("12"):
            hour = value.hour % 12 or 12
            out.append(f"{hour:02d}" if token == "12hh" else str(hour))
        else:
            text = value.strftime(_STRFTIME[token])
            out.append(text[0] if token == "mmmmm" else text)
    return "".join(out)
