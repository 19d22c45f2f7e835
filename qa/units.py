"""Units: the pieces of a paragraph that get a vector.

A paragraph gets one passage vector when it fits the model window, else overlapping windows of
whole sentences (a sentence longer than the window is cut at word-piece boundaries). Each sentence
gets a vector too: sentence vectors sharpen retrieval and pick the highlight, with no model call
at question time. No text is ever dropped or silently truncated.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from qa.paragraphs import Paragraph

Span = tuple[int, int]


@dataclass(frozen=True)
class Units:
    passages: list[Span]  # spans of the paragraph's text embedded as passage vectors
    sentences: list[Span]  # spans embedded as sentence vectors


def text_hash(text: str) -> str:
    """Key of a vector: the same text always has the same vector, so it is embedded once."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def _fit(span: Span, text: str, limit: int, token_spans: Callable[[str], list[Span]]) -> list[Span]:
    """`span` cut into pieces of at most `limit` word pieces."""
    start, end = span
    tokens = token_spans(text[start:end])
    if len(tokens) <= limit:
        return [span]
    pieces = []
    for i in range(0, len(tokens), limit):
        chunk = tokens[i : i + limit]
        piece_end = end if i + limit >= len(tokens) else start + tokens[i + limit][0]
        pieces.append((start + chunk[0][0], piece_end))
    return [(s, e) for s, e in pieces if text[s:e].strip()]


def split_units(
    paragraph: Paragraph,
    count_tokens: Callable[[list[str]], list[int]],
    token_spans: Callable[[str], list[Span]],
    max_tokens: int,
) -> Units:
    """Passage and sentence spans of `paragraph` for a model window of `max_tokens`."""
    text = paragraph.text
    limit = max_tokens - 2  # [CLS] and [SEP]
    (total,) = count_tokens([text])
    sentences: list[Span] = []
    for span in paragraph.sentences or ((0, len(text)),):
        sentences.extend(_fit(span, text, limit, token_spans))
    if total <= max_tokens:
        return Units(passages=[(0, len(text))], sentences=sentences)
    # Windows of consecutive sentences, each overlapping the previous by one sentence.
    lengths = count_tokens([text[s:e] for s, e in sentences])
    passages: list[Span] = []
    i = 0
    while i < len(sentences):
        j, used = i, 0
        while j < len(sentences) and (j == i or used + lengths[j] - 2 <= limit):
            used += lengths[j] - 2
            j += 1
        passages.append((sentences[i][0], sentences[j - 1][1]))
        if j >= len(sentences):
            break
        i = max(j - 1, i + 1)
    return Units(passages=passages, sentences=sentences)
