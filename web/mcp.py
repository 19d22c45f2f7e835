"""The MCP server: the documents as tools for AI assistants (Model Context Protocol).

A thin adapter like the JSON API: the tools call the same `Engine` and return the API's own
shapes (web/schemas.py), so an assistant gets verbatim quotes with their citations and links,
never generated text. Read-only: nothing here builds, uploads or records anything.

`qa mcp` serves it over stdio; `qa serve` mounts its streamable HTTP transport at /mcp.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypeVar

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import ToolAnnotations
from pydantic import Field
from starlette.datastructures import Headers
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from qa.engine import Engine
from qa.errors import QAError
from web.schemas import MAX_HISTORY, answer_dict, document_dict, passage_dict
from web.security import UNAUTHORIZED, send_error

MAX_K = 50
INSTRUCTIONS = (
    "Answers questions from a folder of documents with passages quoted verbatim from them, "
    "each with its citation and a link. Use `ask` for a question (it may say the documents "
    "don't answer it) and `search` for the best-matching passages. Quote the passages as "
    "they are and cite them; the documents are listed at qa://documents."
)
READ_ONLY = ToolAnnotations(readOnlyHint=True, destructiveHint=False, openWorldHint=False)
T = TypeVar("T")


def _base(ctx: Context, default: str) -> str:
    """Where the links of passages point: the address an HTTP client used, else `default`."""
    request = ctx.request_context.request
    url = getattr(request, "url", None)
    return f"{url.scheme}://{url.netloc}" if url is not None else default


def create_server(engine: Engine, base_url: str) -> MCPServer:
    """The MCP server over `engine`; over stdio, `base_url` makes the passages' links absolute
    (over HTTP, the address the client used does)."""
    server = MCPServer("qa", instructions=INSTRUCTIONS)

    def call(fn: Callable[[], T]) -> T:
        # A domain error is the caller's to see (an empty question, an unknown document, no
        # index yet): a tool error with the message, not a crash report.
        try:
            engine.reload()  # the newest version, as `qa serve` keeps it (cheap when current)
            return fn()
        except QAError as e:
            raise ToolError(str(e)) from e

    @server.tool(annotations=READ_ONLY)
    def search(
        query: Annotated[str, Field(description="What to look for.")],
        k: Annotated[int, Field(ge=1, le=MAX_K, description="How many passages (1..50).")] = 5,
        document: Annotated[
            str | None, Field(description="Search only this document id (see qa://documents).")
        ] = None,
        ctx: Context | None = None,
    ) -> dict[str, Any]:
        """The k paragraphs of the documents that best match `query`, best first, each quoted
        verbatim with its citation, its best sentence (`highlight`) and a link (`url`)."""
        passages = call(lambda: engine.search(query, k, document))
        base = _base(ctx, base_url)
        return {"query": query, "results": [passage_dict(p, base) for p in passages]}

    @server.tool(annotations=READ_ONLY)
    def ask(
        question: Annotated[str, Field(description="The question, in plain words.")],
        history: Annotated[
            list[str],
            Field(
                max_length=MAX_HISTORY,
                description="Earlier questions of the conversation, oldest first: a follow-up "
                "('Why did he leave?') is read with them.",
            ),
        ] = [],  # noqa: B006 (pydantic copies defaults; the schema shows [])
        document: Annotated[
            str | None, Field(description="Answer only from this document id.")
        ] = None,
        ctx: Context | None = None,
    ) -> dict[str, Any]:
        """Quoted passages that answer `question`, with citations and links; when the documents
        don't answer it, `answered` is false, `message` says so and `passages` are only the
        closest ones. Nothing in the result is generated: quote it as it is."""
        answer = call(lambda: engine.ask(question, history, document=document))
        return answer_dict(answer, _base(ctx, base_url))

    @server.resource(
        "qa://documents",
        name="documents",
        description="The indexed documents: id, title, paragraph count and link of each.",
        mime_type="application/json",
    )
    def documents() -> dict[str, Any]:
        # (A static resource gets no request: over HTTP its links are relative to the server.)
        return {"documents": [document_dict(d, base_url) for d in call(engine.documents)]}

    return server


class HttpEndpoint:
    """The /mcp endpoint: MCP's streamable HTTP transport over `engine`. With an admin token
    set, only requests that carry it (`Authorization: Bearer ...`) get through; without one it
    is open, like the rest of the read-only API. `running()` must surround its serving (the
    app's lifespan): each run has a transport of its own, as the SDK's runs only once."""

    def __init__(self, engine: Engine) -> None:
        self.server = create_server(engine, "")
        self.token = engine.settings.admin_token
        self.transport: ASGIApp | None = None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        # Stateless, plain JSON answers: any replica behind a load balancer can answer any
        # request (no session to stick to), and no stream is held open. Host names are checked
        # by the app's own TrustedHosts middleware, so the SDK's loopback-only check is off.
        app = self.server.streamable_http_app(
            stateless_http=True,
            json_response=True,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        (route,) = (r for r in app.routes if isinstance(r, Route))
        self.transport = route.endpoint
        try:
            async with self.server.session_manager.run():
                yield
        finally:
            self.transport = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.token:
            sent = Headers(scope=scope).get("authorization", "")
            scheme, _, credentials = sent.partition(" ")
            given = credentials.strip().encode("latin-1") if scheme.lower() == "bearer" else b""
            if not hmac.compare_digest(given, self.token.encode("utf-8")):
                await send_error(scope, send, 401, UNAUTHORIZED)
                return
        if self.transport is None:  # served without the app's lifespan (a test client)
            await send_error(scope, send, 503, "the MCP endpoint is not running")
            return
        await self.transport(scope, receive, send)
