"""The JSON shapes of the API: request and response models, their examples, the error responses.

They document the API in the OpenAPI schema (and so on /docs); the app in web/app.py uses them.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import quote

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from qa.answer import Answer, Passage, place
from qa.paragraphs import Paragraph
from qa.places import PlaceView

if TYPE_CHECKING:
    from qa.engine import DocumentInfo
    from qa.pages import PageView

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
    "title": "defectors.txt",
    "section": None,
    "page": None,
    "unit": None,
    "citation": "defectors.txt · ¶5",
    "score": 3.0098,
    "highlight": {"start": 219, "end": 533},
    "url": "http://127.0.0.1:8000/documents/defectors.txt?p=5&s=219&e=533#p5",
    "original_url": None,
    "page_url": None,
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
    title: str = Field(
        description="The document's title (from its metadata, <title>, front matter or first "
        "heading), else its file name.",
        examples=["Annual report 2025", "defectors.txt"],
    )
    section: str | None = Field(
        description="The headings above the paragraph, outermost first, joined by “ › ”; null "
        "if it has none.",
        examples=["Results › Europe", None],
    )
    page: int | None = Field(
        description="1-based page of a PDF where the paragraph starts, the slide of a deck, or "
        "the row of a spreadsheet (`unit` says which); null for other formats.",
        examples=[4, None],
    )
    unit: Literal["page", "slide", "notes", "row"] | None = Field(
        default=None,
        description="What `page` numbers: a PDF `page`, a `slide`, the speaker `notes` of a "
        "slide, or a spreadsheet `row` (the sheet's own row number); null when `page` is.",
        examples=["page", "slide", None],
    )
    citation: str = Field(
        description="The source in one line: “Title › Section · p. 4 · ¶12”, "
        "“Deck › Slide title · slide 4”, “Workbook › Sheet · row 12”.",
        examples=[
            "Annual report 2025 › Results › Europe · p. 4 · ¶12",
            "defectors.txt · ¶5",
            "Plan.pptx › Budget · slide 4",
            "Sales.xlsx › 2024 · row 12",
        ],
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
        description="Opens the document at this paragraph, its best sentence marked.",
        examples=["http://127.0.0.1:8000/documents/defectors.txt?p=5&s=219&e=533#p5"],
    )
    original_url: str | None = Field(
        description="For a PDF: opens the original file at the paragraph's page; else null.",
        examples=["http://127.0.0.1:8000/files/report.pdf#page=4", None],
    )
    page_url: str | None = Field(
        description="For a PDF: the paragraph's page as an image with the paragraph's lines "
        "marked; for a slide (or its notes): the slide's text; for a spreadsheet row: the rows "
        "around it; the paragraph marked (its JSON: `.json` after the number); else null.",
        examples=[
            "http://127.0.0.1:8000/documents/report.pdf/pages/4?p=12#mark",
            "http://127.0.0.1:8000/documents/Sales.xlsx/pages/12?p=9#mark",
            None,
        ],
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
        json_schema_extra={"minLength": 1},  # checked by the core: "the question is empty"
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
    document: Text | None = Field(
        default=None,
        description="Answer from this document only (its id); null or absent: all documents.",
        examples=["defectors.txt"],
    )
    explain: bool = Field(
        default=False,
        description="Add `explanation` to the answer: why it was answered or not.",
    )


class SignalOut(BaseModel):
    name: str = Field(description="A signal the confidence is computed from.")
    value: float
    contribution: float = Field(description="Its part of the confidence's log-odds.")


class ExplanationOut(BaseModel):
    """Why an answer was given or refused: what the verifier read of the first passage."""

    kind: str = Field(
        description="What the question asks for: number, date, person, place, reason, other."
    )
    kind_found: bool = Field(description="Whether the best sentence holds one.")
    matched: list[str] = Field(description="Words of the question the best sentence holds.")
    missing: list[str] = Field(description="Words of the question it does not hold.")
    signals: list[SignalOut]
    lines: list[str] = Field(description="The same in a few plain lines.")


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
    explanation: ExplanationOut | None = Field(
        default=None, description="Only when `explain` was asked for: why."
    )


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"question": "Why did he leave?", "helpful": False}]},
    )

    question: Text = Field(
        description="The question the answer was for, as the answer gave it back.",
        examples=["Why did he leave?"],
    )
    helpful: bool = Field(description="Whether the answer helped (👍) or not (👎).")
    document: Text | None = Field(
        default=None, description="The document the question was asked within, if any."
    )


class FeedbackResponse(BaseModel):
    recorded: bool = Field(
        description="Whether it was kept (false when the server's QA_FEEDBACK is off)."
    )


class RefusedFile(BaseModel):
    id: str = Field(description="The file's path in the documents folder.", examples=["x.pdf"])
    reason: str = Field(
        description="Why.", examples=["reading needed over 1,536 MB (QA_READ_MEMORY_MB)"]
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
    refused: list[RefusedFile] = Field(
        default=[],
        description="Files the last build refused for breaking a reading limit (QA_READ_*); "
        "not read again until they change.",
        examples=[[{"id": "scans/x.pdf", "reason": "reading took over 60 s (QA_READ_SECONDS)"}]],
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


class BuildProgress(BaseModel):
    phase: Literal["reading", "embedding", "writing"] = Field(
        description="What the build does now: reading documents, embedding new text, writing."
    )
    documents_read: int = Field(description="Documents read so far.")
    documents: int = Field(description="Documents to read.")
    paragraphs: int = Field(description="Paragraphs with new text, to embed.")
    texts_embedded: int = Field(description="Texts embedded so far.")
    texts: int = Field(description="Texts to embed (those paragraphs and their sentences).")
    eta_seconds: float | None = Field(
        description="Estimated seconds left, from the pace of the embedding so far."
    )


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
        examples=["documents folder docs does not exist"],
    )
    version: str | None = Field(
        description="Version of the index in use now (it changes when a build is swapped in, "
        "including one made by `qa index` from another terminal).",
        examples=["20261127T223003-5be1d2"],
    )
    progress: BuildProgress | None = Field(
        default=None, description="How far the build got (while it runs, and after)."
    )


class DocumentFile(BaseModel):
    document: str = Field(description="The file's name in the documents folder (its id).")
    bytes: int | None = Field(default=None, description="Its size, when it was written.")
    replaced: bool | None = Field(default=None, description="Whether it replaced a file.")
    deleted: bool | None = Field(default=None, description="True when it was deleted.")
    build: IndexStatus | None = Field(
        description="The rebuild started (or queued) for the change; null with rebuild=false."
    )


class DocumentOut(BaseModel):
    """An indexed document (more fields, such as its title, when the index knows them)."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(
        description="Document id: its path relative to the documents folder.",
        examples=["defectors.txt"],
    )
    paragraphs: int = Field(description="How many paragraphs it has.", examples=[6])
    url: str = Field(
        description="Its page.", examples=["http://127.0.0.1:8000/documents/defectors.txt"]
    )


class DocumentsResponse(BaseModel):
    documents: list[DocumentOut] = Field(description="Every indexed document, in index order.")


class ParagraphOut(BaseModel):
    """A paragraph as indexed (more fields, such as its section or page, when the index has
    them)."""

    model_config = ConfigDict(extra="allow")

    document: str = Field(description="Document id.", examples=["defectors.txt"])
    number: int = Field(description="1-based number in the document.", examples=[5])
    start: int = Field(description="Offset of its text in the document's text.", examples=[2070])
    end: int = Field(description="Offset just past its end.", examples=[2612])
    text: str = Field(description="The paragraph, verbatim.")
    sentences: list[list[int]] = Field(
        description="Its sentences as [start, end] offsets in `text`.", examples=[[[0, 84]]]
    )
    url: str = Field(
        description="Its place on the document's page.",
        examples=["http://127.0.0.1:8000/documents/defectors.txt?p=5#p5"],
    )


class DocumentResponse(BaseModel):
    document: DocumentOut = Field(description="The document.")
    paragraphs: list[ParagraphOut] = Field(description="Its paragraphs, in order.")


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


def document_path(
    doc_id: str, paragraph: int | None = None, highlight: tuple[int, int] | None = None
) -> str:
    """Site path of a document's page, at `paragraph` if given (ids are quoted: 'a b.md'), with
    the `highlight` span of that paragraph's text marked."""
    path = f"/documents/{quote(doc_id, safe='/')}"
    if paragraph is None:
        return path
    marked = f"&s={highlight[0]}&e={highlight[1]}" if highlight else ""
    return f"{path}?p={paragraph}{marked}#p{paragraph}"


def original_path(doc_id: str, page: int | None = None) -> str:
    """Site path of a PDF document's original file, at `page` if given."""
    path = f"/files/{quote(doc_id, safe='/')}"
    return path if page is None else f"{path}#page={page}"


def page_path(doc_id: str, page: int, paragraph: int | None = None, suffix: str = "") -> str:
    """Site path of a PDF document's page view (`suffix` ".json" or ".png": its twins), or of a
    deck's slide or a sheet's rows around a row, with `paragraph` marked."""
    path = f"/documents/{quote(doc_id, safe='/')}/pages/{page}{suffix}"
    if paragraph is None:
        return path
    return f"{path}?p={paragraph}" + ("#mark" if not suffix else "")


def passage_dict(passage: Passage, base: str = "") -> dict[str, Any]:
    """Passage.as_dict() plus the `url` of its paragraph (`base` makes it absolute) and, for a
    PDF, the `original_url` of its file at its page; for a PDF, a slide or a row, the `page_url`
    of its page view."""
    original = passage.page is not None and passage.document.lower().endswith(".pdf")
    viewed = original or (passage.page is not None and passage.unit != "page")
    return {
        **passage.as_dict(),
        "url": base + document_path(passage.document, passage.paragraph, passage.highlight),
        "original_url": base + original_path(passage.document, passage.page) if original else None,
        "page_url": (
            base + page_path(passage.document, passage.page, passage.paragraph)  # type: ignore[arg-type]
            if viewed
            else None
        ),
    }


BOX = ("x0", "top", "x1", "bottom")


def page_dict(view: PageView | PlaceView, base: str = "") -> dict[str, Any]:
    """A page view as JSON: the page, its image, the marked boxes (points from the page's
    top-left) and the links around it (`base` makes them absolute); a slide's or rows' view:
    place_dict."""
    if isinstance(view, PlaceView):
        return place_dict(view, base)
    number = view.paragraph.number if view.paragraph else None

    def at(page: int) -> str | None:
        return base + page_path(view.document, page, number) if 1 <= page <= view.pages else None

    return {
        "document": view.document,
        "title": view.title,
        "page": view.page,
        "pages": view.pages,
        "width": round(view.width, 2),
        "height": round(view.height, 2),
        "paragraph": paragraph_dict(view.paragraph, base) if view.paragraph else None,
        "marks": [dict(zip(BOX, (round(v, 2) for v in box))) for box in view.marks],
        "paragraph_pages": [{"page": n, "url": at(n)} for n in view.paragraph_pages],
        "note": view.note or None,
        "url": at(view.page),
        "json_url": base + page_path(view.document, view.page, number, ".json"),
        "image_url": base + page_path(view.document, view.page, suffix=".png"),
        "previous_url": at(view.page - 1),
        "next_url": at(view.page + 1),
        "original_url": base + original_path(view.document, view.page),
        "document_url": base + document_path(view.document, number),
        "unit": "page",
    }


def place_dict(view: PlaceView, base: str = "") -> dict[str, Any]:
    """A slide's or rows' view as JSON: the paragraphs shown, each with `marked` (true for the
    paragraph cited), and the links around it (`base` makes them absolute); no image, and no
    original file (/files serves PDFs only)."""
    number = view.paragraph.number if view.paragraph else None

    def at(place: int | None) -> str | None:
        return None if place is None else base + page_path(view.document, place, number)

    return {
        "document": view.document,
        "title": view.title,
        "unit": view.unit,
        "page": view.number,
        "pages": view.last,
        "section": view.section or None,
        "paragraph": paragraph_dict(view.paragraph, base) if view.paragraph else None,
        "elsewhere": (  # where the marked paragraph is, when not in this view
            {
                "place": place(view.paragraph.unit, view.paragraph.page),
                "url": at(view.paragraph.page),
            }
            if view.paragraph and view.paragraph.page and view.paragraph not in view.paragraphs
            else None
        ),
        "paragraphs": [
            {**paragraph_dict(p, base), "marked": p == view.paragraph} for p in view.paragraphs
        ],
        "url": at(view.number),
        "json_url": base + page_path(view.document, view.number, number, ".json"),
        "previous_url": at(view.previous),
        "next_url": at(view.next),
        "original_url": None,
        "document_url": base + document_path(view.document, number),
    }


def answer_dict(answer: Answer, base: str = "") -> dict[str, Any]:
    """Answer.as_dict() with a `url` on each passage."""
    return {**answer.as_dict(), "passages": [passage_dict(p, base) for p in answer.passages]}


def document_dict(document: DocumentInfo, base: str = "") -> dict[str, Any]:
    """Every field of a DocumentInfo, plus the `url` of its page."""
    return {**dataclasses.asdict(document), "url": base + document_path(document.id)}


def paragraph_dict(paragraph: Paragraph, base: str = "") -> dict[str, Any]:
    """Every field of a Paragraph (whatever the index keeps: a field added there appears here),
    plus the `url` of its place on the document's page."""
    fields = {f.name: getattr(paragraph, f.name) for f in dataclasses.fields(paragraph)}
    url = base + document_path(paragraph.document, paragraph.number)
    return {**fields, "sentences": [list(s) for s in paragraph.sentences], "url": url}
