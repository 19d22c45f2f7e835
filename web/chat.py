"""The chat as a URL: a conversation is its questions, `/?q=first&q=second`, answered again on
the server at every view, so it can be bookmarked, shared, reloaded and returned to with Back,
with or without JavaScript.

Each question is answered with the questions before it as its history, exactly as `POST
/api/ask` answers it with that `history`, so a link shows what the API would. Nothing is
carried from an earlier view but the questions themselves: the words on the page are always
the index's own paragraphs (or fixed phrases), never something a URL or form put there.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from qa.answer import NO_ANSWER
from qa.engine import Engine, clean_question
from qa.errors import QuestionError
from web.schemas import answer_dict

CHAT_TURNS = 20  # questions a conversation keeps (the oldest are dropped)
# Characters of questions a conversation's URL carries: the oldest questions are dropped past
# it, so a link stays well under what servers and browsers accept (h11: 16 KB per request line).
URL_QUESTION_CHARS = 4000
TITLE = "Ask the documents"
URL_SAFE = "/:?&=#%+,;@~"  # what our URLs hold besides letters and digits, kept as it is
CLOSEST = "Closest passages"


def conversation_path(questions: Iterable[str], document: str | None = None) -> str:
    """The page of a conversation: '/?q=first&q=second' (and '&document=…' if filtered)."""
    params = [("q", q) for q in questions]
    if document:
        params.append(("document", document))
    return "/?" + urlencode(params) if params else "/"


def export_path(questions: Iterable[str], document: str | None = None) -> str:
    """The Markdown export of a conversation: '/conversation.md?q=…'."""
    return "/conversation.md" + conversation_path(questions, document)[1:]


def shortened(questions: list[str]) -> list[str]:
    """The last CHAT_TURNS questions, fewer if they exceed URL_QUESTION_CHARS (the last one is
    always kept: it is at most QA_MAX_QUESTION_CHARS)."""
    kept: list[str] = []
    size = 0
    for question in reversed(questions[-CHAT_TURNS:]):
        size += len(question)
        if kept and size > URL_QUESTION_CHARS:
            break
        kept.append(question)
    return kept[::-1]


def usable(engine: Engine, raw: list[str]) -> tuple[list[str], str]:
    """The cleaned questions (the last ones: `shortened`), and the error of the last one if it
    is not usable ('' otherwise). Unusable earlier ones are dropped."""
    questions, error = [], ""
    for i, text in enumerate(raw):
        try:
            questions.append(clean_question(text, engine.settings.max_question_chars))
        except QuestionError as e:
            if i == len(raw) - 1:
                error = str(e)
    return shortened(questions), error


def converse(
    engine: Engine, questions: list[str], document: str | None = None, base: str = ""
) -> list[dict[str, Any]]:
    """Every turn of the conversation: its answer (as the API's answer dict, with `url`s
    relative to `base`) and the `link` of the conversation up to it."""
    turns = []
    for i, question in enumerate(questions):
        answer = engine.ask(question, questions[:i], document=document, explain=True)
        link = conversation_path(questions[: i + 1], document)
        turns.append({**answer_dict(answer, base), "link": link})
    return turns


# Markdown that could act: emphasis, code, links and images, raw HTML and entities, tables,
# strikethrough. Escaped wherever it is (a backslash makes each one a literal character).
_ACTIVE = re.compile(r"([\\`*_\[\]<>&~|])")
# What starts a heading, quote, list or rule at the start of a line ("1." a numbered list).
_LINE_START = re.compile(r"^(\s*)([#>+=-]|\d+(?=[.)]))", re.MULTILINE)


def escape_markdown(text: str) -> str:
    """`text` as Markdown that shows it verbatim and does nothing: no HTML, no link, no image,
    no emphasis or heading of its own."""
    text = _ACTIVE.sub(r"\\\1", text)
    # "#" becomes "\#"; "1." becomes "1\." (a backslash before a digit is no escape)
    return _LINE_START.sub(lambda m: m[0] + "\\" if m[2].isdigit() else f"{m[1]}\\{m[2]}", text)


def _link(text: str, url: str, base: str) -> str:
    """A link to a page of this site (`url` under `base`), or only its text for anything else:
    an export never links to a javascript: or data: URL, nor to another site."""
    if not (url.startswith(f"{base}/") and urlsplit(url).scheme in ("http", "https")):
        return escape_markdown(text)
    return f"[{escape_markdown(text)}]({quote(url, safe=URL_SAFE)})"  # (no space or paren)


def _quote_markdown(p: dict[str, Any], base: str) -> list[str]:
    """A passage as a Markdown block quote (its best sentence in bold) and its source link."""
    text, start, end = p["text"], p["highlight"]["start"], p["highlight"]["end"]
    before, best, after = (escape_markdown(t) for t in (text[:start], text[start:end], text[end:]))
    marked = f"{before}**{best}**{after}" if best.strip() else before + best + after
    lines = [f"> {line}".rstrip() for line in marked.split("\n")]
    return [*lines, "", f"— {_link(p['citation'], p['url'], base)}", ""]


def markdown(turns: list[dict[str, Any]], base: str) -> str:
    """A conversation as Markdown: the questions, the quoted passages with links to their
    paragraphs, and fixed phrases; no other words."""
    lines = [f"# {TITLE}", ""]
    for turn in turns:
        lines += [f"## {escape_markdown(turn['question'])}", "", f"<{base}{turn['link']}>", ""]
        if not turn["answered"]:
            lines += [NO_ANSWER, ""]
            if turn["passages"]:
                lines += [f"{CLOSEST}:", ""]
        for p in turn["passages"]:
            lines += _quote_markdown(p, base)
    return "\n".join(lines).rstrip() + "\n"
