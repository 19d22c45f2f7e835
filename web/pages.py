"""The pages: the chat (a conversation is its URL), the documents, their JSON and originals.

Like web/admin.py, `install` adds these routes to the app; they only translate HTTP to calls of
the core and back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Form, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from qa.answer import place
from qa.engine import DocumentInfo, Engine, clean_question
from qa.errors import QuestionError
from qa.pages import Pages
from qa.paragraphs import SECTION_SEPARATOR, Paragraph
from web import chat as conversations
from web.schemas import (
    ERRORS,
    DocumentResponse,
    DocumentsResponse,
    ErrorResponse,
    document_dict,
    page_dict,
    paragraph_dict,
)
from web.security import same_origin

# The browser's PDF viewer is a plugin: the site-wide object-src 'none' would stop it.
PDF_CSP = "default-src 'none'; object-src 'self'; frame-ancestors 'none'"


def outline(paragraphs: list[Paragraph]) -> list[dict[str, Any]]:
    """Each paragraph with what the document page shows before it: the headings that begin
    there ((depth, text), outermost first) and the page (or slide, or its notes) that begins
    there, if any: `page` its number, `place` its name ("p. 4", "notes of slide 4"). A sheet's
    rows have no marker: each is a paragraph, its row number in its citation."""
    parts, path, page = [], [], None
    for p in paragraphs:
        section = p.section.split(SECTION_SEPARATOR) if p.section else []
        same = 0
        while same < min(len(path), len(section)) and path[same] == section[same]:
            same += 1
        here = (p.unit, p.page)
        new = p.page is not None and p.unit != "row" and here != page
        parts.append(
            {
                "paragraph": p,
                "headings": [(depth, section[depth]) for depth in range(same, len(section))],
                "page": p.page if new else None,
                "place": place(p.unit, p.page) if new and p.page is not None else None,
            }
        )
        path, page = section, here if p.page is not None else page
    return parts


def install(
    app: FastAPI,
    engine: Engine,
    render: Callable[..., HTMLResponse],
    base: Callable[[Request], str],
) -> None:
    """Add the chat and document routes to `app` (the .json route before the page route that
    would otherwise take its path)."""

    def chat_page(
        request: Request,
        questions: list[str],
        document: str | None,
        draft: str = "",
        error: str = "",
    ) -> HTMLResponse:
        turns = conversations.converse(engine, questions, document)
        context = {
            "turns": turns,
            "draft": draft,
            "error": error,
            "document": document,
            "export": conversations.export_path(questions, document),
            "documents": [document_dict(d) for d in engine.documents()],
            "examples": [] if turns else engine.examples(),
        }
        return render(request, "chat.html", context, status=422 if error else 200)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def chat(
        request: Request,
        q: Annotated[list[str] | None, Query()] = None,
        document: Annotated[str | None, Query()] = None,
    ) -> HTMLResponse:
        """The chat; `/?q=…&q=…` is a conversation, answered here (no JavaScript needed)."""
        questions, error = conversations.usable(engine, q or [])
        draft = (q or [""])[-1] if error else ""
        return chat_page(request, questions, document or None, draft, error)

    @app.post("/", include_in_schema=False, dependencies=[Depends(same_origin)])
    def chat_post(
        request: Request,
        question: Annotated[str, Form()] = "",
        q: Annotated[list[str] | None, Form()] = None,
        document: Annotated[str | None, Form()] = None,
    ) -> Response:
        """The chat form without JavaScript: post, then see the conversation at its URL
        (POST-redirect-GET: a reload or Back never posts again)."""
        questions, _ = conversations.usable(engine, q or [])
        document = document or None
        try:
            answer = engine.ask(question, questions, document=document)
        except QuestionError as e:  # nothing to redirect to: this page, with the reason
            return chat_page(request, questions, document, question, str(e))
        engine.record_unanswered(answer, document)
        questions.append(answer.question)
        path = conversations.conversation_path(conversations.shortened(questions), document)
        return RedirectResponse(path + "#latest", status_code=303)

    @app.post(
        "/feedback",
        include_in_schema=False,
        dependencies=[Depends(same_origin), Depends(app.state.feedback_limit)],
    )
    def feedback_post(
        question: Annotated[str, Form()] = "",
        helpful: Annotated[str, Form()] = "",
        document: Annotated[str | None, Form()] = None,
        next: Annotated[str, Form()] = "/",
    ) -> Response:
        """👍 / 👎 without JavaScript: record, then back to the conversation."""
        question = clean_question(question, engine.settings.max_question_chars)
        engine.record(question, "helpful" if helpful == "yes" else "unhelpful", document or None)
        local = next.startswith("/") and not next.startswith(("//", "/\\"))
        return RedirectResponse((next if local else "/") + "#latest", status_code=303)

    @app.get("/conversation.md", include_in_schema=False)
    def conversation_markdown(
        request: Request,
        q: Annotated[list[str] | None, Query()] = None,
        document: Annotated[str | None, Query()] = None,
    ) -> Response:
        """The conversation `/?q=…` as Markdown: questions, quoted passages, links."""
        questions, _ = conversations.usable(engine, q or [])
        turns = conversations.converse(engine, questions, document or None, base(request))
        return Response(
            conversations.markdown(turns, base(request)),
            media_type="text/markdown; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="conversation.md"'},
        )

    @app.get(
        "/documents.json",
        response_model=DocumentsResponse,
        responses={503: ERRORS[503]},
        tags=["api"],
        summary="The indexed documents (the JSON of /documents)",
    )
    def documents_json(request: Request) -> dict[str, Any]:
        """Every indexed document with its paragraph count and page."""
        return {"documents": [document_dict(d, base(request)) for d in engine.documents()]}

    views = Pages(engine)

    @app.get("/documents/{doc_id:path}/pages/{n}.png", include_in_schema=False)
    def page_image(request: Request, doc_id: str, n: int) -> Response:
        """Page `n` of an indexed PDF as a PNG image (revalidated by its tag: file hash, page,
        resolution)."""
        png, tag = views.image(doc_id, n)
        headers = {"ETag": f'"{tag}"', "Cache-Control": "no-cache"}
        if request.headers.get("if-none-match") == headers["ETag"]:
            return Response(status_code=304, headers=headers)
        return Response(png, media_type="image/png", headers=headers)

    @app.get(
        "/documents/{doc_id:path}/pages/{n}.json",
        responses={
            **ERRORS,
            404: {
                "model": ErrorResponse,
                "description": "No such PDF page, slide, row or paragraph.",
            },
        },
        tags=["api"],
        summary="A PDF page, a slide or a sheet's rows, a paragraph marked (JSON of the view)",
    )
    def page_json(
        request: Request, doc_id: str, n: int, p: Annotated[int | None, Query(ge=1)] = None
    ) -> dict[str, Any]:
        """Page `n` of the PDF `doc_id`: its size in points, the boxes of paragraph `p`'s
        lines on it (points from the page's top-left), the pages the paragraph is on, and the
        links to the page's image, the pages around it and the original file. For a deck:
        slide `n`'s paragraphs (and its notes'); for a spreadsheet: the rows around row `n` of
        paragraph `p`'s sheet; each with `marked` (paragraph `p`)."""
        return page_dict(views.view(doc_id, n, p), base(request))

    @app.get(
        "/documents/{doc_id:path}/pages/{n}", response_class=HTMLResponse, include_in_schema=False
    )
    def page_view(
        request: Request, doc_id: str, n: int, p: Annotated[int | None, Query(ge=1)] = None
    ) -> HTMLResponse:
        """Page `n` of the PDF `doc_id` as an image, paragraph `p`'s lines marked on it; or
        slide `n`, or the rows around row `n`, paragraph `p` marked."""
        return render(request, "page.html", {"view": page_dict(views.view(doc_id, n, p))})

    @app.get(
        "/documents/{doc_id:path}.json",
        response_model=DocumentResponse,
        responses={
            404: {"model": ErrorResponse, "description": "No indexed document has that id."},
            503: ERRORS[503],
        },
        tags=["api"],
        summary="A document's paragraphs (the JSON of its page)",
    )
    def document_json(request: Request, doc_id: str) -> dict[str, Any]:
        """The document `doc_id` (its id, without `.json`) and its paragraphs as indexed."""
        paragraphs = engine.document(doc_id)
        known = (d for d in engine.documents() if d.id == doc_id)
        info = next(known, DocumentInfo(doc_id, len(paragraphs)))  # (if swapped meanwhile)
        return {
            "document": document_dict(info, base(request)),
            "paragraphs": [paragraph_dict(p, base(request)) for p in paragraphs],
        }

    @app.get("/documents", response_class=HTMLResponse, include_in_schema=False)
    def documents(request: Request) -> HTMLResponse:
        return render(request, "documents.html", {"documents": engine.documents()})

    @app.get("/documents/{doc_id:path}", response_class=HTMLResponse, include_in_schema=False)
    def document(
        request: Request,
        doc_id: str,
        p: Annotated[int | None, Query(ge=1)] = None,
        s: Annotated[int | None, Query(ge=0)] = None,
        e: Annotated[int | None, Query(ge=0)] = None,
    ) -> HTMLResponse:
        """A whole indexed document with its headings and page markers, paragraph `p`
        highlighted and, in it, the span `s`..`e` (its best sentence) marked; anything else is
        a 404."""
        paragraphs = engine.document(doc_id)
        context = {
            "doc_id": doc_id,
            "title": engine.title(doc_id),
            "pdf": doc_id.lower().endswith(".pdf"),
            "parts": outline(paragraphs),
            "selected": p,
            "mark": (s, e) if s is not None and e is not None and s < e else None,
        }
        return render(request, "document.html", context)

    @app.get("/files/{doc_id:path}", include_in_schema=False)
    def original(doc_id: str) -> FileResponse:
        """The original file of an indexed PDF (open it at a page with `#page=N`); only files
        the index holds, inside its documents folder; anything else is a 404."""
        path = engine.original(doc_id)
        return FileResponse(
            path,
            media_type="application/pdf",
            filename=path.name,
            content_disposition_type="inline",
            headers={"Content-Security-Policy": PDF_CSP},
        )
