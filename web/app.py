"""The FastAPI app: the JSON API, with the pages (web/pages.py) and the admin (web/admin.py).

Route functions only translate HTTP to calls of the core (`qa.engine.Engine`,
`qa.rebuilder.Rebuilder`) and back; the domain exceptions of `qa.errors` become HTTP statuses
here and nowhere else. Routes that run the model are plain `def`, so FastAPI runs them in its
threadpool and the event loop stays free. The JSON shapes are in web/schemas.py.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import jinja2
from anyio import to_thread
from fastapi import Depends, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route

from qa.engine import CONCURRENT_QUESTIONS, Engine, clean_question
from qa.errors import (
    DocumentExistsError,
    DocumentNotFoundError,
    FeedbackError,
    IndexBusyError,
    IndexCorruptError,
    IndexMissingError,
    QAError,
    QuestionError,
    SessionError,
    StoreUnavailableError,
    UnreadableUploadError,
    UploadTooLargeError,
)
from qa.rebuilder import Rebuilder
from web import admin as admin_pages
from web import chat as conversations
from web import mcp, pages
from web.ratelimit import RateLimit, limited
from web.schemas import (
    ADMIN_ERRORS,
    BODY_ERRORS,
    ERRORS,
    MAX_HISTORY,
    AskRequest,
    AskResponse,
    ErrorResponse,
    FeedbackRequest,
    FeedbackResponse,
    HealthResponse,
    IndexStatus,
    SearchResponse,
    answer_dict,
    document_path,
    original_path,
    passage_dict,
)
from web.security import (
    OUT_OF_MEMORY,
    BodyLimit,
    Methods,
    NoStore,
    SecurityHeaders,
    TrustedHosts,
    admin_only,
)

HERE = Path(__file__).resolve().parent
MAX_K = 50
TOO_MANY = {
    "model": ErrorResponse,
    "description": "Too many from this client (QA_FEEDBACK_PER_MINUTE); see Retry-After.",
}

# Domain exception -> HTTP status; any other QAError is the user's to fix: 400.
STATUSES: tuple[tuple[type[QAError] | tuple[type[QAError], ...], int], ...] = (
    (QuestionError, 422),
    (DocumentNotFoundError, 404),
    ((IndexBusyError, DocumentExistsError), 409),
    (UploadTooLargeError, 413),
    ((FeedbackError, SessionError), 503),
    (UnreadableUploadError, 422),
    ((IndexMissingError, IndexCorruptError, StoreUnavailableError), 503),
)


def status_for(error: QAError) -> int:
    """The HTTP status of a domain exception."""
    for kinds, status in STATUSES:
        if isinstance(error, kinds):
            return status
    return 400


def readable(errors: list[dict[str, Any]] | tuple[dict[str, Any], ...]) -> str:
    """One line out of pydantic's validation errors: 'k: Input should be ...; question: ...'."""
    parts = []
    for error in errors:
        if error.get("type") == "json_invalid":
            reason = error.get("ctx", {}).get("error", "")
            parts.append(f"the body is not valid JSON ({reason})" if reason else "invalid JSON")
            continue
        loc = [str(x) for x in error.get("loc", ())]
        where = ".".join(loc[1:] or loc)  # drop "query"/"body" unless it is all there is
        parts.append(f"{where}: {error['msg']}" if where else str(error["msg"]))
    return "; ".join(parts)


def templates() -> Jinja2Templates:
    """The page templates; every value is HTML-escaped (autoescape)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["document_path"] = document_path
    env.globals["original_path"] = original_path
    env.globals["conversation_path"] = conversations.conversation_path
    env.filters["pretty_json"] = lambda value: json.dumps(value, indent=2, ensure_ascii=False)
    return Jinja2Templates(env=env)


def create_app(engine: Engine, rebuilder: Rebuilder | None = None, watch: bool = False) -> FastAPI:
    """The web app over `engine`: chat at /, documents at /documents, JSON under /api.

    While the app runs (its lifespan), `rebuilder` (one over `engine` if None) keeps it on the
    newest index version, and with `watch` rebuilds when the documents folder changes.
    """
    rebuilder = rebuilder or Rebuilder(engine)
    assistants = mcp.HttpEndpoint(engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # No more request threads than questions answered at once: requests beyond that wait
        # in the event loop instead of as threads woken only to wait for the GIL and their
        # turn. Measured on 2 cores, 100k paragraphs, 8 clients (wrk): 173 req/s with
        # anyio's default 40 threads, 187 with 3, 194 with 2.
        to_thread.current_default_thread_limiter().total_tokens = CONCURRENT_QUESTIONS
        rebuilder.run_in_background(watch_docs=watch)
        try:
            async with assistants.running():
                yield
        finally:
            await run_in_threadpool(rebuilder.stop)

    app = FastAPI(
        title="Ask the documents",
        version="1",
        description="Question answering over a folder of documents. Every answer is a list of "
        "paragraphs quoted verbatim from the documents, or the fixed reply "
        "“The documents don't answer this.”; nothing is generated.",
        docs_url=None,  # /docs is rendered here without JavaScript or a CDN (see api_docs)
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.state.rebuilder = rebuilder
    app.add_middleware(
        BodyLimit,
        max_bytes=engine.settings.max_request_bytes,
        upload_bytes=engine.settings.max_upload_bytes,
    )
    app.add_middleware(Methods, routes=app.router.routes)
    app.add_middleware(NoStore)
    app.add_middleware(TrustedHosts, hosts=engine.settings.allowed_hosts())
    app.add_middleware(SecurityHeaders)  # added last, so outermost: on every response, even a 413
    views = templates()
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    admin = [Depends(admin_only(engine.settings))]
    # One count per client for the API's and the chat form's 👍 / 👎 (web/pages.py).
    app.state.feedback_limit = limited(
        RateLimit(engine.settings.feedback_per_minute, 60.0), "too much feedback from this client"
    )

    def render(
        request: Request, name: str, context: dict[str, Any], status: int = 200, footer: bool = True
    ) -> HTMLResponse:
        context = {"health": engine.health() if footer else None, **context}
        return views.TemplateResponse(request, name, context, status_code=status)

    def base(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    # --- JSON API -----------------------------------------------------------------------------

    @app.get(
        "/api/search",
        response_model=SearchResponse,
        response_model_exclude_unset=True,  # a passage's `answer` is absent, not null
        responses={
            **ERRORS,
            404: {"model": ErrorResponse, "description": "No indexed document has that id."},
        },
        tags=["api"],
        summary="Ranked paragraphs for a query",
    )
    def api_search(
        request: Request,
        q: Annotated[
            str,
            Query(
                json_schema_extra={"minLength": 1},  # checked by the core: "the question is empty"
                description="What to look for.",
                examples=["How many North Koreans defected?"],
            ),
        ],
        k: Annotated[int, Query(ge=1, le=MAX_K, description="How many results (1..50).")] = 5,
        document: Annotated[
            str | None,
            Query(description="Only this document id.", examples=["defectors.txt"]),
        ] = None,
    ) -> dict[str, Any]:
        """The `k` paragraphs that best match `q`, best first, each with its best sentence."""
        passages = engine.search(q, k=k, document=document)
        return {"query": q, "results": [passage_dict(p, base(request)) for p in passages]}

    ask_responses = {
        **ERRORS,
        404: {"model": ErrorResponse, "description": "No indexed document has that id."},
    }

    @app.post(
        "/api/ask",
        response_model=AskResponse,
        response_model_exclude_unset=True,  # a passage's `answer` is absent, not null
        responses={**ask_responses, **BODY_ERRORS},
        tags=["api"],
        summary="Answer a question with quoted passages",
    )
    def api_ask(request: Request, body: AskRequest) -> dict[str, Any]:
        """Passages that answer the question, or `answered: false` and the closest passages."""
        answer = engine.ask(
            body.question, body.history, document=body.document, explain=body.explain
        )
        engine.record_unanswered(answer, body.document)
        return answer_dict(answer, base(request))

    @app.get(
        "/api/ask",
        response_model=AskResponse,
        response_model_exclude_unset=True,  # a passage's `answer` is absent, not null
        responses=ask_responses,
        tags=["api"],
        summary="Answer a question with quoted passages (for scripts that cannot POST)",
    )
    def api_ask_get(
        request: Request,
        q: Annotated[
            str,
            Query(description="The question.", examples=["How many North Koreans defected?"]),
        ],
        history: Annotated[
            list[str],
            Query(
                max_length=MAX_HISTORY,
                description="Earlier questions of the conversation, oldest first (repeat it).",
            ),
        ] = [],  # noqa: B006 (FastAPI copies a default; it is never mutated)
        document: Annotated[
            str | None,
            Query(description="Only this document id.", examples=["defectors.txt"]),
        ] = None,
        explain: Annotated[
            bool, Query(description="Add `explanation`: why it was answered or not.")
        ] = False,
    ) -> dict[str, Any]:
        """The same answer as `POST /api/ask` with that question, history and document."""
        answer = engine.ask(q, history, document=document, explain=explain)
        engine.record_unanswered(answer, document)
        return answer_dict(answer, base(request))

    @app.post(
        "/api/feedback",
        response_model=FeedbackResponse,
        responses={
            **ERRORS,
            **BODY_ERRORS,
            404: {"model": ErrorResponse, "description": "`document` is not an indexed document."},
            429: TOO_MANY,
        },
        dependencies=[Depends(app.state.feedback_limit)],
        tags=["api"],
        summary="Mark an answer helpful or not",
    )
    def api_feedback(body: FeedbackRequest) -> dict[str, Any]:
        """Keep a 👍 or 👎 for the answer to `question` (kept locally for the documents'
        owners: `qa report`, `/admin`; nothing about the sender is stored)."""
        question = clean_question(body.question, engine.settings.max_question_chars)
        kind = "helpful" if body.helpful else "unhelpful"
        return {"recorded": engine.record(question, kind, body.document)}

    @app.get(
        "/health",
        response_model=HealthResponse,
        responses={503: ERRORS[503]},
        tags=["api"],
        summary="Index status",
    )
    def health() -> dict[str, Any]:
        """Whether the index can be used, its size and version."""
        return engine.health()

    @app.post(
        "/api/index",
        status_code=202,
        response_model=IndexStatus,
        responses={
            **ADMIN_ERRORS,
            409: {"model": ErrorResponse, "description": "A rebuild is already running."},
        },
        dependencies=admin,
        tags=["admin"],
        summary="Rebuild the index in the background",
    )
    def api_rebuild() -> dict[str, Any]:
        """Start an incremental rebuild from the documents folder (only new or changed
        paragraphs are embedded) and return at once. The server keeps answering from the
        current index and switches to the new one when it is complete; follow the build with
        `GET /api/index`. Needs `Authorization: Bearer <QA_ADMIN_TOKEN>`."""
        return rebuilder.launch().as_dict()

    @app.get(
        "/api/index",
        response_model=IndexStatus,
        responses=ADMIN_ERRORS,
        dependencies=admin,
        tags=["admin"],
        summary="State of the background rebuild",
    )
    def api_rebuild_status() -> dict[str, Any]:
        """Whether a rebuild runs, what the last one did (or why it failed), and the index
        version in use. Needs `Authorization: Bearer <QA_ADMIN_TOKEN>`."""
        return rebuilder.status.as_dict()

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def api_docs(request: Request) -> HTMLResponse:
        return render(request, "api.html", {"spec": app.openapi()})

    app.router.routes.append(Route("/mcp", assistants))  # MCP's transport, for AI assistants
    pages.install(app, engine, render, base)
    admin_pages.install(app, engine, rebuilder, render, base)

    # --- Errors -------------------------------------------------------------------------------

    def error(request: Request, status: int, message: str, headers: Any = None) -> Response:
        path = request.url.path
        if path.startswith("/api/") or path == "/health" or path.endswith(".json"):
            return JSONResponse({"detail": message}, status_code=status, headers=headers)
        context = {"status": status, "message": message}
        response = render(request, "error.html", context, status=status, footer=False)
        response.headers.update(headers or {})
        return response

    @app.exception_handler(QAError)
    def on_domain_error(request: Request, exc: QAError) -> Response:
        return error(request, status_for(exc), str(exc))

    @app.exception_handler(RequestValidationError)
    def on_invalid_request(request: Request, exc: RequestValidationError) -> Response:
        return error(request, 422, readable(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    def on_http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return error(request, exc.status_code, str(exc.detail), exc.headers)

    @app.exception_handler(MemoryError)
    def on_out_of_memory(request: Request, exc: MemoryError) -> Response:
        # a short 503, never a traceback (an exception that escapes is SecurityHeaders' to answer)
        return error(request, 503, OUT_OF_MEMORY)

    return app
