"""The JSON shapes of the API: request and response models, their examples, the error responses.

They document the API in the OpenAPI schema (and so on /docs); the app in web/app.py uses them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import quote

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from qa.answer import Answer, Passage

MAX_HISTORY = 100  # earlier questions /api/ask accepts


def _unicode(value: str) -> str:
    """JSON may escape lone surrogates ("\\ud800"); they are not text, so refuse them."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (it holds a lone surrogate)") from None
    return value


Text = Annotated[str, AfterValidator(_unicode)]

# Real (abbreviated) output over the seed document, for the OpenAPI examples.
EXAMPLE_PASSAGE = {
    "text": "“Every North Korean thinks at least once about living in South Korea,” Mr Ri said. "
    "… The number of defectors overall has plummeted in recent years, from 2,700 a decade ago "
    "to just 196 last year, …",
    "document": "defectors.txt",
    "path": "defectors.txt",
    "paragraph": 5,
    "score": 3.0098,
    "highlight": {"start": 219, "end": 533},
    "url": "http://127.0.0.1:8000/documents/defectors.txt?p=5#p5",
}


class Highlight(BaseModel):
    start: int = Field(
        description="Offset in `text` where the best sentence starts.", examples=[219]
    )
    end: int = Field(description="Offset just past its end: `text[start:end]`.", examples=[533])


class PassageOut(BaseModel):
    """A verbatim paragraph of a document, its source and its best sentence."""

    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_PASSAGE]})

    text: str = Field(description="The paragraph, verbatim from the document.")
    document: str = Field(
        description="Document id: its path relative to the documents folder.",
        examples=["defectors.txt"],
    )
    path: str = Field(
        description="The document's path relative to the documents folder (same as `document`).",
        examples=["defectors.txt"],
    )
    paragraph: int = Field(
        description="1-based number of the paragraph in the document.", examples=[5]
    )
    score: float = Field(
        description="Retrieval score, higher is better; compare it only within one response.",
        examples=[3.0098],
    )
    highlight: Highlight = Field(description="Span of the sentence that best matches the query.")
    answer: Highlight | None = Field(
        default=None,
        description="Span of the answer phrase inside the highlight (`text[start:end]`), only "
        "in the first passage of an answer and only when the verifier is sure of it; absent "
        "otherwise.",
        examples=[{"start": 432, "end": 435}],
    )
    url: str = Field(
        description="Opens the document at this paragraph, highlighted.",
        examples=["http://127.0.0.1:8000/documents/defectors.txt?p=5#p5"],
    )


class SearchResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "query": "How many North Koreans defected last year?",
                    "results": [EXAMPLE_PASSAGE],
                }
            ]
        }
    )

    query: str = Field(description="The query, as sent.")
    results: list[PassageOut] = Field(description="The best paragraphs, best first.")


class AskRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"question": "Why did he leave?", "history": ["Who is Ri Il-kyu?"]}]
        },
    )

    question: Text = Field(
        description="The question in plain words (not empty; at most QA_MAX_QUESTION_CHARS).",
        examples=["How many North Koreans defected last year?"],
    )
    history: list[Text] = Field(
        default_factory=list,
        max_length=MAX_HISTORY,
        description="Earlier questions of the same conversation, oldest first. They let a "
        "follow-up such as “Why did he leave?” be understood after “Who is Ri Il-kyu?”.",
        examples=[["Who is Ri Il-kyu?"]],
    )


class AskResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "question": "How many North Koreans defected last year?",
                    "answered": True,
                    "message": None,
                    "confidence": 0.9693,
                    "strength": "strong match",
                    "passages": [{**EXAMPLE_PASSAGE, "answer": {"start": 432, "end": 435}}],
                },
                {
                    "question": "What is the boiling point of mercury?",
                    "answered": False,
                    "message": "The documents don't answer this.",
                    "confidence": 0.0002,
                    "strength": None,
                    "passages": [],
                },
            ]
        }
    )

    question: str = Field(
        description="The question, with control characters and runs of spaces removed."
    )
    answered: bool = Field(description="Whether the passages answer the question.")
    message: str | None = Field(
        description="“The documents don't answer this.” when `answered` is false, else null.",
        examples=[None, "The documents don't answer this."],
    )
    confidence: float = Field(
        description="Confidence (0..1) that the first passage answers the question. Calibrated "
        "on absolute evidence, so it means the same for a folder of six paragraphs or of 100,000.",
        examples=[0.9693],
    )
    strength: Literal["strong match", "partial match"] | None = Field(
        default=None,
        description="The confidence in words: “strong match”, “partial match” (answered, but "
        "weaker evidence), or null when `answered` is false.",
        examples=["strong match"],
    )
    passages: list[PassageOut] = Field(
        description="Passages that answer the question, best first; when `answered` is false, "
        "the closest passages instead."
    )


class HealthResponse(BaseModel):
    status: str = Field(description="Always “ok” when the index can be used.", examples=["ok"])
    documents: int = Field(description="Indexed documents.", examples=[1])
    paragraphs: int = Field(description="Indexed paragraphs.", examples=[6])
    model: str = Field(description="Embedding model of the index.", examples=["all-MiniLM-L6-v2"])
    index_version: str = Field(
        description="Version of the index in use.", examples=["20261127T221249-a24579"]
    )
    index_built_at: str = Field(
        description="When that version was built (ISO 8601).",
        examples=["2026-11-27T22:12:49+00:00"],
    )


class ErrorResponse(BaseModel):
    detail: str = Field(
        description="What is wrong, readable.",
        examples=["k: Input should be less than or equal to 50"],
    )


ERRORS: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorResponse, "description": "The request is invalid (the message says why)."},
    503: {"model": ErrorResponse, "description": "There is no usable index yet."},
}

BODY_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "The body could not be read (not UTF-8)."},
    413: {
        "model": ErrorResponse,
        "description": "The body is larger than QA_MAX_REQUEST_BYTES (default 65,536 bytes).",
    },
}


class IndexStatus(BaseModel):
    """The state of the background index build, and the index version in use."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "state": "idle",
                    "job": "3f9c1a7be042",
                    "started": "2026-11-27T22:30:01+00:00",
                    "finished": "2026-11-27T22:30:03+00:00",
                    "summary": "1 documents added, 0 changed, 0 removed, 1 unchanged; embedded 4 "
                    "paragraphs (21 texts, 1.2 s); index now 10 paragraphs in 2 documents",
                    "error": None,
                    "version": "20261127T223003-5be1d2",
                }
            ]
        }
    )

    state: Literal["idle", "running", "failed"] = Field(
        description="“running” while a build runs; “idle” after one succeeded (or before any); "
        "“failed” after one failed (the previous index keeps serving).",
        examples=["running"],
    )
    job: str | None = Field(
        description="Id of the last (or running) build; null before any.", examples=["3f9c1a7be042"]
    )
    started: str | None = Field(
        description="When that build started (ISO 8601).", examples=["2026-11-27T22:30:01+00:00"]
    )
    finished: str | None = Field(
        description="When it ended (ISO 8601); null while it runs.",
        examples=["2026-11-27T22:30:03+00:00"],
    )
    summary: str | None = Field(
        description="What the build did (documents added, changed, removed; texts embedded).",
        examples=["1 documents added, 0 changed, 0 removed, 1 unchanged; …"],
    )
    error: str | None = Field(
        description="Why the build failed; null unless `state` is “failed”.",
        examples=["no readable documents in docs (supported: .txt .md .html .htm .pdf); …"],
    )
    version: str | None = Field(
        description="Version of the index in use now (it changes when a build is swapped in, "
        "including one made by `qa index` from another terminal).",
        examples=["20261127T223003-5be1d2"],
    )


ADMIN_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {
        "model": ErrorResponse,
        "description": "The header `Authorization: Bearer <QA_ADMIN_TOKEN>` is missing or wrong.",
    },
    403: {
        "model": ErrorResponse,
        "description": "The index endpoints are disabled: QA_ADMIN_TOKEN is not set.",
    },
}


# --- Core results in these shapes --------------------------------------------------------------


def document_path(doc_id: str, paragraph: int | None = None) -> str:
    """Site path of a document's page, at `paragraph` if given (ids are quoted: 'a b.md')."""
    path = f"/documents/{quote(doc_id, safe='/')}"
    return path if paragraph is None else f"{path}?p={paragraph}#p{paragraph}"


def passage_dict(passage: Passage, base: str = "") -> dict[str, Any]:
    """Passage.as_dict() plus the `url` of its paragraph (`base` makes it absolute)."""
    return {**passage.as_dict(), "url": base + document_path(passage.document, passage.paragraph)}


def answer_dict(answer: Answer, base: str = "") -> dict[str, Any]:
    """Answer.as_dict() with a `url` on each passage."""
    return {**answer.as_dict(), "passages": [passage_dict(p, base) for p in answer.passages]}
