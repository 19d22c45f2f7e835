"""Conversation: understand a follow-up question from the question before it.

"Why did he leave?" after "Who is Ri Il-kyu?" is retrieved as both questions together (one model
pass over the joined text). Only retrieval changes: the answer still quotes sources verbatim.
"""

from __future__ import annotations

import re

from qa.lexical import terms

_REFERRING = re.compile(
    r"\b(he|she|it|they|them|him|his|her|hers|its|their|theirs|this|that|these|those|there|then)\b",
    re.IGNORECASE,
)
SHORT_QUESTION_TERMS = 3


def is_follow_up(question: str) -> bool:
    """Does the question lean on an earlier one (a pronoun, or too few words of its own)?"""
    return bool(_REFERRING.search(question)) or len(terms(question)) < SHORT_QUESTION_TERMS


def contextualize(question: str, history: list[str] | tuple[str, ...] = ()) -> str:
    """The text to retrieve with: the question, preceded by the last earlier one if needed."""
    earlier = [h.strip() for h in history if h and h.strip()]
    if earlier and is_follow_up(question):
        return f"{earlier[-1]} {question}"
    return question
