"""Security of the web app: the headers on every response, and the admin token of /api/index."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
    """ASGI middleware: HEADERS on every HTTP response (a route's own value wins)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


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
