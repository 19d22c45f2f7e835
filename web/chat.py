"""The chat as a URL: a conversation is its questions, `/?q=first&q=second`, answered again on
the server at every view, so it can be bookmarked, shared, reloaded and returned to with Back,
with or without JavaScript.

Each question is answered with the questions before it as its history, exactly as `POST
/api/ask` answers it with that `history`, so a link shows what the API would. Nothing is
carried from an earlier view but the questions themselves: the words on the page are always
the index's own paragraphs (or fixed phrases), never something a URL or form put there.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

from qa.answer import NO_ANSWER
from qa.engine import Engine, clean_question
from qa.errors import QuestionError
from web.schemas import answer_dict

CHAT_TURNS = 20  # questions a conversation keeps (the oldest are dropped)
# Characters of questions a conversation's URL carries: the oldest questions are dropped past
# it, so a link stays well under what servers and browsers accept (h11: 16 KB per request line).
URL_QUESTION_CHARS = 4000
TITLE = "Ask the documents"
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


def _escape_link_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")


def _quote_markdown(p: dict[str, Any]) -> list[str]:
    """A passage as a Markdown block quote (its best sentence in bold) and its source link."""
    text, start, end = p["text"], p["highlight"]["start"], p["highlight"]["end"]
    marked = f"{text[:start]}**{text[start:end]}**{text[end:]}"
    lines = [f"> {line}".rstrip() for line in marked.split("\n")]
    source = _escape_link_text(p["citation"])
    return [*lines, "", f"— [{source}]({p['url']})", ""]


def markdown(turns: list[dict[str, Any]], base: str) -> str:
    """A conversation as Markdown: the questions, the quoted passages with links to their
    paragraphs, and fixed phrases; no other words."""
    lines = [f"# {TITLE}", ""]
    for turn in turns:
        lines += [f"## {turn['question']}", "", f"<{base}{turn['link']}>", ""]
        if not turn["answered"]:
            lines += [NO_ANSWER, ""]
            if turn["passages"]:
                lines += [f"{CLOSEST}:", ""]
        for p in turn["passages"]:
            lines += _quote_markdown(p)
    return "\n".join(lines).rstrip() + "\n"
