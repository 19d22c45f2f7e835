"""The admin page (/admin) and the documents API (PUT/DELETE /api/documents/{name}).

/admin is behind QA_ADMIN_TOKEN: typed once into a login form, which sets an HttpOnly,
SameSite=Strict session cookie; each admin form also carries a CSRF token and is refused from
another site. Scripts send the token as a bearer header instead. The file operations are the
core's (qa/library.py), the rebuild the Rebuilder's, the report the Engine's: the routes here
only translate.
"""

# No `from __future__ import annotations` here: the routes' dependencies are local functions,
# which FastAPI can only see in annotations evaluated where they are defined.
import asyncio
import io
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from typing import Annotated, Any

from fastapi import Depends, FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from qa import library
from qa.documents import SUFFIXES
from qa.engine import Engine
from qa.errors import QAError
from qa.rebuilder import Rebuilder
from qa.sessions import Sessions
from qa.workers import Limits
from web.ratelimit import RateLimit, client, too_many
from web.schemas import ADMIN_ERRORS, DocumentFile, ErrorResponse, passage_dict
from web.security import (
    DISABLED,
    SESSION_COOKIE,
    admin_only,
    csrf_token,
    csrf_valid,
    same_origin,
    token_matches,
)

NOTICES_KEPT = 64  # sessions whose last action's results wait to be shown
REPORT_PAGE = 20  # groups of the report per page of /admin (each searches its closest passages)
LOGIN_WINDOW = 600.0  # seconds over which QA_LOGIN_ATTEMPTS wrong tokens are counted
# Uploads wait for a reading worker (up to QA_READ_SECONDS each) in threads of their own, never
# in the threadpool that answers questions.
UPLOAD_THREADS = 4

FILE_ERRORS: dict[int | str, dict[str, Any]] = {
    **ADMIN_ERRORS,
    400: {"model": ErrorResponse, "description": "Bad name or type."},
    404: {"model": ErrorResponse, "description": "No such file in the documents folder."},
    409: {"model": ErrorResponse, "description": "A file of that name exists (replace=true)."},
    413: {"model": ErrorResponse, "description": "The file is over QA_MAX_UPLOAD_BYTES."},
    422: {"model": ErrorResponse, "description": "The file cannot be read (the reason)."},
}
BINARY_BODY = {
    "requestBody": {
        "required": True,
        "description": "The file's bytes, as they are.",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


def install(
    app: FastAPI,
    engine: Engine,
    rebuilder: Rebuilder,
    render: Callable[..., HTMLResponse],
    base: Callable[[Request], str],
) -> None:
    """Add the admin routes to `app`."""
    settings = engine.settings
    token_required = [Depends(admin_only(settings))]
    notices: dict[str, list[tuple[str, str]]] = {}  # session -> [(kind, message)]
    sessions = Sessions(settings.index)  # shared by the replicas of the index folder
    failed_logins = RateLimit(settings.login_attempts, LOGIN_WINDOW)
    uploads = ThreadPoolExecutor(UPLOAD_THREADS, thread_name_prefix="upload")
    with suppress(QAError, OSError):
        library.sweep(engine.docs)  # what uploads cut short by a crash left

    async def add(name: str, data: Any, replace: bool) -> library.Added:
        limits = Limits.of(settings)
        future = uploads.submit(
            library.add, engine.docs, name, data, settings.max_upload_bytes, replace, limits
        )
        return await asyncio.wrap_future(future)

    def session(request: Request) -> str | None:
        cookie = request.cookies.get(SESSION_COOKIE)
        return cookie if sessions.valid(settings.admin_token, cookie) else None

    def admin_session(request: Request) -> str | None:
        """The page's session; a valid bearer token (a script) will do too (None)."""
        if not settings.admin_token:
            raise HTTPException(403, DISABLED)
        cookie = session(request)
        if cookie is None:
            admin_only(settings)(_bearer_of(request))
        return cookie

    def admin_form(
        request: Request, csrf: Annotated[str, Form()] = ""
    ) -> str:  # the session, checked
        same_origin(request)
        if not settings.admin_token:
            raise HTTPException(403, DISABLED)
        cookie = session(request)
        if not csrf_valid(settings.admin_token, cookie, csrf):
            raise HTTPException(403, "this form has expired or comes from elsewhere: log in again")
        assert cookie is not None
        return cookie

    def tell(cookie: str, kind: str, message: str) -> None:
        if len(notices) >= NOTICES_KEPT and cookie not in notices:
            notices.pop(next(iter(notices)))
        notices.setdefault(cookie, []).append((kind, message))

    def back() -> RedirectResponse:
        return RedirectResponse("/admin", status_code=303)

    def build_dict() -> dict[str, Any]:
        return {
            "status": rebuilder.status.as_dict(),
            "history": [b.as_dict() for b in rebuilder.history()],
        }

    # --- Pages --------------------------------------------------------------------------------

    @app.get("/admin", response_class=HTMLResponse, include_in_schema=False)
    def admin_page(
        request: Request, page: Annotated[int, Query(ge=1, le=1_000_000)] = 1
    ) -> HTMLResponse:
        if not settings.admin_token:
            return render(request, "admin_login.html", {"disabled": True, "failed": False}, 403)
        cookie = session(request)
        if cookie is None:
            return render(request, "admin_login.html", {"disabled": False, "failed": False}, 401)
        indexed = {d.id: d.paragraphs for d in engine.documents()}
        report = engine.report(first=(page - 1) * REPORT_PAGE, count=REPORT_PAGE)
        context = {
            "csrf": csrf_token(settings.admin_token, cookie),
            "notices": notices.pop(cookie, []),
            "files": library.files(engine.docs),
            "indexed": indexed,
            "refused": {r["id"]: r["reason"] for r in engine.refused()},
            "build": build_dict(),
            "groups": report.groups,
            "report_page": page,
            "report_pages": max(1, -(-report.total // REPORT_PAGE)),
            "report_groups": report.total,
            "dropped": report.dropped,
            "max_feedback": settings.feedback_records,
            "passage_dict": passage_dict,
            "feedback_on": engine.feedback.enabled,
            "max_upload": settings.max_upload_bytes,
            "types": " ".join(sorted(SUFFIXES)),
        }
        return render(request, "admin.html", context)

    @app.post("/admin/login", include_in_schema=False, dependencies=[Depends(same_origin)])
    def admin_login(request: Request, token: Annotated[str, Form()] = "") -> Response:
        if not settings.admin_token:
            return render(request, "admin_login.html", {"disabled": True, "failed": False}, 403)
        wait = failed_logins.wait(client(request), record=False)
        if wait:
            raise too_many(wait, "too many wrong admin tokens from this client")
        if not token_matches(settings.admin_token, token):
            failed_logins.wait(client(request))  # counts the failure
            return render(request, "admin_login.html", {"disabled": False, "failed": True}, 401)
        response = back()
        response.set_cookie(
            SESSION_COOKIE,
            sessions.open(settings.admin_token),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )  # no max_age: it ends with the browser session (and after SESSION_SECONDS)
        return response

    @app.post("/admin/logout", include_in_schema=False)
    def admin_logout(cookie: Annotated[str, Depends(admin_form)]) -> Response:
        notices.pop(cookie, None)
        sessions.close(cookie)  # a copy of the cookie is no session any more, on every replica
        response = back()
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
        return response

    @app.post("/admin/upload", include_in_schema=False)
    async def admin_upload(
        cookie: Annotated[str, Depends(admin_form)],
        files: Annotated[list[UploadFile], File()],
        replace: Annotated[bool, Form()] = False,
        rebuild: Annotated[bool, Form()] = False,
    ) -> Response:
        added = 0
        for upload in files:
            name = (upload.filename or "").replace("\\", "/").rsplit("/", 1)[-1]
            try:
                done = await add(name, upload.file, replace)
            except QAError as e:
                tell(cookie, "error", str(e))
                continue
            verb = "Replaced" if done.replaced else "Added"
            tell(cookie, "ok", f"{verb} {done.name} ({done.bytes:,} bytes).")
            added += 1
        if added and rebuild:
            rebuilder.request()
        return back()

    @app.post("/admin/delete", include_in_schema=False)
    def admin_delete(
        cookie: Annotated[str, Depends(admin_form)],
        name: Annotated[str, Form()],
        rebuild: Annotated[bool, Form()] = False,
    ) -> Response:
        try:
            library.remove(engine.docs, name)
            tell(cookie, "ok", f"Deleted {name}.")
            if rebuild:
                rebuilder.request()
        except QAError as e:
            tell(cookie, "error", str(e))
        return back()

    @app.post("/admin/rebuild", include_in_schema=False)
    def admin_rebuild(cookie: Annotated[str, Depends(admin_form)]) -> Response:
        rebuilder.request()
        return back()

    @app.get("/admin/build.json", include_in_schema=False)
    def admin_build(_: Annotated[str | None, Depends(admin_session)]) -> JSONResponse:
        """The rebuild's state and progress, and the build history (polled by admin.js)."""
        return JSONResponse(build_dict(), headers={"Cache-Control": "no-store"})

    # --- For scripts: the bearer token ------------------------------------------------------

    @app.put(
        "/api/documents/{name:path}",
        response_model=DocumentFile,
        status_code=201,
        responses={200: {"model": DocumentFile, "description": "It replaced a file."}}
        | FILE_ERRORS,
        dependencies=token_required,
        openapi_extra=BINARY_BODY,
        tags=["admin"],
        summary="Add or replace a document file",
    )
    async def api_put_document(
        request: Request,
        name: str,
        replace: Annotated[bool, Query(description="Replace a file of that name.")] = False,
        rebuild: Annotated[bool, Query(description="Rebuild the index after.")] = True,
    ) -> Response:
        """Write the request body as `name` in the documents folder (a type the index reads,
        at most QA_MAX_UPLOAD_BYTES), then rebuild unless `rebuild=false`. Needs
        `Authorization: Bearer <QA_ADMIN_TOKEN>`."""
        data = io.BytesIO(await request.body())  # (at most the upload limit: BodyLimit)
        done = await add(name, data, replace)
        build = rebuilder.request().as_dict() if rebuild else None
        body = {"document": done.name, "bytes": done.bytes, "replaced": done.replaced}
        return JSONResponse(
            DocumentFile(**body, build=build).model_dump(mode="json"),
            status_code=200 if done.replaced else 201,
        )

    @app.delete(
        "/api/documents/{name:path}",
        response_model=DocumentFile,
        responses=FILE_ERRORS,
        dependencies=token_required,
        tags=["admin"],
        summary="Delete a document file",
    )
    def api_delete_document(
        name: str,
        rebuild: Annotated[bool, Query(description="Rebuild the index after.")] = True,
    ) -> dict[str, Any]:
        """Delete `name` from the documents folder, then rebuild unless `rebuild=false`. Needs
        `Authorization: Bearer <QA_ADMIN_TOKEN>`."""
        library.remove(engine.docs, name)
        build = rebuilder.request().as_dict() if rebuild else None
        return {"document": name, "deleted": True, "build": build}


def _bearer_of(request: Request) -> Any:
    """The bearer credentials of a request, as fastapi.security.HTTPBearer gives them."""
    from fastapi.security.http import HTTPAuthorizationCredentials
    from fastapi.security.utils import get_authorization_scheme_param

    scheme, credentials = get_authorization_scheme_param(request.headers.get("Authorization"))
    if scheme.lower() != "bearer" or not credentials:
        return None
    return HTTPAuthorizationCredentials(scheme=scheme, credentials=credentials)
