"""Security of the web app: the headers on every response, and the admin token of /api/index."""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.datastructures import MutableHeaders
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qa.sessions import mac
from qa.settings import Settings

# Scripts, styles and images from the site only (no inline script or style anywhere), no
# plugins, no framing, forms post only back here.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


class SecurityHeaders:
    """ASGI middleware: HEADERS on every HTTP response (a route's own value wins), errors too.

    An exception no handler answered (a bug, or a MemoryError in a middleware) gets a short
    500 here, 503 for a MemoryError, with the headers and no traceback; it is then raised on,
    for the server's log. (Starlette's own 500 comes from outside every middleware: plain text,
    without the headers.)
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message.setdefault("headers", [])
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as e:
            if not started:
                if isinstance(e, MemoryError):
                    await send_error(scope, send_with_headers, 503, OUT_OF_MEMORY)
                else:
                    await send_error(scope, send_with_headers, 500, INTERNAL_ERROR)
            raise


OUT_OF_MEMORY = "the server has not enough memory for this request now; try again later"
INTERNAL_ERROR = "internal error: the server could not answer this request (its log says why)"


# Admin pages and answers hold what only the admin may see: no cache (browser or proxy) keeps them.
NO_STORE_PATHS = ("/admin", "/api/index", "/api/documents/")


class NoStore:
    """ASGI middleware: `Cache-Control: no-store` on every answer under NO_STORE_PATHS."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith(NO_STORE_PATHS):
            await self.app(scope, receive, send)
            return

        async def send_no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                MutableHeaders(scope=message)["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_no_store)


async def send_error(scope: Scope, send: Send, status: int, message: str) -> None:
    """An error response from a middleware: the API's JSON shape under /api/ and /health, plain
    text elsewhere; the connection is closed (the request may not have been read)."""
    path = scope.get("path", "")
    if path.startswith("/api/") or path == "/health":
        body, kind = json.dumps({"detail": message}).encode(), b"application/json"
    else:
        body, kind = f"{status} {message}\n".encode(), b"text/plain; charset=utf-8"
    headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode())]
    headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def host_name(host: str) -> str:
    """The name in a Host header, lower case, without its port or IPv6 brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class TrustedHosts:
    """ASGI middleware: a request whose Host header is not one of `hosts` gets a 400.

    Links in answers are absolute URLs built from the Host header, so an untrusted one would be
    reflected into them; and a web page whose DNS name is rebound to 127.0.0.1 could read a
    loopback server's API. `hosts` come from QA_TRUSTED_HOSTS (Settings.allowed_hosts).
    """

    def __init__(self, app: ASGIApp, hosts: list[str]) -> None:
        self.app = app
        self.hosts = set(hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "*" not in self.hosts:
            host = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
            if host_name(host) not in self.hosts:
                message = (
                    "unknown host: this server answers only to the host names in its "
                    "QA_TRUSTED_HOSTS setting (by default the address it is bound to and localhost)"
                )
                await send_error(scope, send, 400, message)
                return
        await self.app(scope, receive, send)


class Methods:
    """ASGI middleware: HEAD is answered wherever GET is (headers only), and OPTIONS and a 405
    name every method the path allows (Starlette names those of the first matching route only:
    `OPTIONS /api/index` listed POST but not GET)."""

    def __init__(self, app: ASGIApp, routes: list[BaseRoute]) -> None:
        self.app = app
        self.routes = routes  # the app's list: routes added later are seen too

    def allowed(self, scope: Scope) -> set[str]:
        methods: set[str] = set()
        for route in self.routes:
            match, _ = route.matches(scope)
            if match != Match.NONE:
                methods |= getattr(route, "methods", None) or set()
        if "GET" in methods:
            methods.add("HEAD")
        return methods | {"OPTIONS"} if methods else methods

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        if method == "OPTIONS":
            allowed = self.allowed(scope)
            if allowed:
                allow = ", ".join(sorted(allowed)).encode()
                headers = [(b"allow", allow), (b"content-length", b"0")]
                await send({"type": "http.response.start", "status": 204, "headers": headers})
                await send({"type": "http.response.body", "body": b""})
                return
        if method == "HEAD":
            scope = {**scope, "method": "GET"}

        async def send_fixed(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                headers = MutableHeaders(scope=message)
                headers["allow"] = ", ".join(sorted(self.allowed({**scope, "method": method})))
            if method == "HEAD" and message["type"] == "http.response.body":
                message = {**message, "body": b""}  # the GET's headers, no body
            await send(message)

        await self.app(scope, receive, send_fixed)


# Paths that take document files: their limit is QA_MAX_UPLOAD_BYTES (and a form's overhead).
UPLOAD_PATHS = ("/admin/upload", "/api/documents/")
FORM_OVERHEAD = 1 << 20


class BodyLimit:
    """ASGI middleware: a request body over `max_bytes` gets a 413 with a readable message.

    A declared Content-Length over the limit is refused before the app runs; a body sent without
    one (chunked) is counted as it is read, and refused as soon as it passes the limit. Uploads
    (UPLOAD_PATHS) have the limit `upload_bytes` instead.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, upload_bytes: int = 0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_bytes = upload_bytes

    def limit(self, path: str) -> int:
        if self.upload_bytes and path.startswith(UPLOAD_PATHS):
            return self.upload_bytes + FORM_OVERHEAD
        return self.max_bytes

    def message(self, path: str = "") -> str:
        if self.limit(path) != self.max_bytes:
            return (
                f"the upload is too large (at most {self.upload_bytes:,} bytes; "
                "the server's QA_MAX_UPLOAD_BYTES)"
            )
        return (
            f"the request body is too large (at most {self.max_bytes:,} bytes; "
            "the server's QA_MAX_REQUEST_BYTES)"
        )

    async def refuse(self, scope: Scope, send: Send) -> None:
        await send_error(scope, send, 413, self.message(scope.get("path", "")))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope.get("path", ""))
        declared = dict(scope.get("headers") or []).get(b"content-length")
        try:
            too_large = declared is not None and int(declared) > limit
        except ValueError:
            too_large = False  # the server refuses a malformed Content-Length itself
        if too_large:
            await self.refuse(scope, send)
            return
        if declared is not None:
            await self.app(scope, receive, send)  # the server never passes more than declared
            return
        # No Content-Length (chunked): read the body here, at most the limit, then hand it on.
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, _replay([message]), send)
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > limit:
                await self.refuse(scope, send)
                return
        body = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([body], receive), send)


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    """A receive callable that returns `messages`, then defers to `then` (e.g. a disconnect)."""
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        if then is None:
            return {"type": "http.disconnect"}
        return await then()

    return receive


CROSS_SITE = "a form of another site cannot post here"


def same_origin(request: Request) -> None:
    """Refuse a form post sent from another site (403).

    Browsers say where a request comes from in Sec-Fetch-Site; older ones only in Origin (which
    is "null" here for every post, ours too, because of Referrer-Policy: no-referrer, so "null"
    proves nothing). A post with neither comes from a script, which no cookie of a browser
    empowers, so it passes here (the admin routes check their token or CSRF token as well).
    """
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        if site not in ("same-origin", "none"):  # none: typed or bookmarked by the user
            raise HTTPException(403, CROSS_SITE)
        return
    origin = request.headers.get("origin")
    if origin and origin != "null":
        here, there = urlsplit(str(request.base_url)), urlsplit(origin)
        if (there.scheme, there.netloc) != (here.scheme, here.netloc):
            raise HTTPException(403, CROSS_SITE)


bearer = HTTPBearer(
    auto_error=False,
    scheme_name="AdminToken",
    description="The value of QA_ADMIN_TOKEN: `Authorization: Bearer <QA_ADMIN_TOKEN>`.",
)

DISABLED = (
    "the index endpoints are disabled: set QA_ADMIN_TOKEN to a secret of your choice and restart "
    "the server, then send it as 'Authorization: Bearer <token>'"
)
UNAUTHORIZED = "a valid admin token is required: send 'Authorization: Bearer <QA_ADMIN_TOKEN>'"


def admin_only(settings: Settings) -> Callable[..., None]:
    """A dependency that lets a request through only with the admin token of `settings`.

    No token configured: 403 (disabled). Missing or wrong token: 401 with WWW-Authenticate.
    The comparison takes the same time whatever the token sent; the token is never logged.
    """

    def check(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
        token = settings.admin_token
        if not token:
            raise HTTPException(403, DISABLED)
        # Header values arrive decoded as Latin-1: back to the bytes sent (UTF-8 for a client).
        sent = credentials.credentials.encode("latin-1") if credentials else b""
        if not hmac.compare_digest(sent, token.encode("utf-8")):
            raise HTTPException(401, UNAUTHORIZED, headers={"WWW-Authenticate": "Bearer"})

    return check


# --- The admin page's session (qa/sessions.py) and its CSRF token ---------------------------------

SESSION_COOKIE = "qa_admin"


def csrf_token(token: str, cookie: str) -> str:
    """The CSRF token of a session: every admin form carries it; another site cannot know it."""
    return mac(token, "csrf", cookie)


def csrf_valid(token: str, cookie: str | None, sent: str | None) -> bool:
    """Whether `sent` is the CSRF token of the session `cookie` (checked on its own)."""
    if not token or not cookie or not sent:
        return False
    return hmac.compare_digest(sent.encode(), csrf_token(token, cookie).encode())


def token_matches(token: str, sent: str) -> bool:
    """A token typed into the login form (compared in constant time, as bytes)."""
    return bool(token) and hmac.compare_digest(sent.encode("utf-8"), token.encode("utf-8"))
