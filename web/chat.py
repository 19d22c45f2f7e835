"""The chat without JavaScript: each post answers one question; earlier turns come back as
references in hidden form fields and are quoted again from the index, not asked again.

A reference names a passage only: document id, paragraph number and highlight span. The text
shown is always the paragraph as indexed, so a tampered form can at worst drop a quote or point
at another real one; it cannot put words on the page. Anything that does not check out is
dropped.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from qa.answer import NO_ANSWER, Answer
from qa.engine import Engine, clean_question
from qa.errors import DocumentNotFoundError, QuestionError
from web.schemas import answer_dict, document_path

CHAT_TURNS = 20  # earlier turns a post carries and shows again
TURN_PASSAGES = 10  # passage references kept per turn


class TurnRef(BaseModel):
    """The hidden field of one turn: {"q": question, "a": answered, "p": [[doc, n, start, end]]}."""

    model_config = ConfigDict(extra="forbid")

    q: str
    a: bool
    p: list[tuple[str, int, int, int]] = Field(max_length=TURN_PASSAGES)


def reference(turn: dict[str, Any]) -> str:
    """The hidden field value of a turn (an answer dict)."""
    refs = [
        [p["document"], p["paragraph"], p["highlight"]["start"], p["highlight"]["end"]]
        for p in turn["passages"]
    ]
    ref = {"q": turn["question"], "a": turn["answered"], "p": refs}
    return json.dumps(ref, ensure_ascii=False, separators=(",", ":"))


def quote(engine: Engine, doc_id: str, number: int, start: int, end: int) -> dict[str, Any] | None:
    """The passage a reference names, verbatim from the index; None if it names nothing."""
    try:
        paragraphs = engine.document(doc_id)
    except DocumentNotFoundError:
        return None
    if not 1 <= number <= len(paragraphs) or paragraphs[number - 1].number != number:
        return None
    text = paragraphs[number - 1].text
    if not 0 <= start < end <= len(text):
        return None
    return {
        "text": text,
        "document": doc_id,
        "path": doc_id,
        "paragraph": number,
        "score": None,  # not carried: it belonged to that question's ranking
        "highlight": {"start": start, "end": end},
        "url": document_path(doc_id, number),
    }


def restore(engine: Engine, fields: list[str]) -> list[dict[str, Any]]:
    """The earlier turns (the last CHAT_TURNS) from their hidden fields; invalid ones dropped."""
    turns = []
    for field in fields[-CHAT_TURNS:]:
        try:
            ref = TurnRef.model_validate_json(field)
            question = clean_question(ref.q, engine.settings.max_question_chars)
        except (ValidationError, QuestionError):
            continue
        passages = [p for p in (quote(engine, *r) for r in ref.p) if p is not None]
        turns.append(turn(question, ref.a, passages))
    return turns


def turn(
    question: str, answered: bool, passages: list[dict[str, Any]], strength: str | None = None
) -> dict[str, Any]:
    """One exchange as the template shows it, with its hidden field (which does not carry
    the confidence in words: earlier turns show their quotes only)."""
    shown = {
        "question": question,
        "answered": answered,
        "message": None if answered else NO_ANSWER,
        "passages": passages,
        "strength": strength,
    }
    return {**shown, "ref": reference(shown)}


def converse(engine: Engine, question: str, fields: list[str]) -> tuple[dict[str, Any], int]:
    """The chat page context and status for a post: one model pass, for the new question."""
    earlier = restore(engine, fields)
    try:
        answer: Answer = engine.ask(question, [t["question"] for t in earlier])
    except QuestionError as e:
        return {"turns": earlier, "draft": question, "error": str(e)}, 422
    latest = answer_dict(answer)
    latest_turn = turn(
        latest["question"], latest["answered"], latest["passages"], latest["strength"]
    )
    return {"turns": [*earlier, latest_turn], "draft": "", "error": ""}, 200
