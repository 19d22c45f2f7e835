"""`qa serve`: run the web app under uvicorn on the configured host and port."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import socket
import threading
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.config import LOGGING_CONFIG
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from qa.engine import Engine
from qa.errors import SettingsError
from qa.settings import Settings
from web.app import create_app
from web.security import HEADERS

# Requests larger than the app's body limit are refused by the app (413); these bound the time a
# client may take to send one, so slow clients cannot hold connections open forever.
HEAD_SECONDS = 10.0  # the request line and headers, from the connection or the request's start
BODY_SECONDS = 30.0  # the body, once the headers are in


def url(host: str, port: int) -> str:
    """The address people open in a browser (IPv6 hosts in brackets)."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def log_config() -> dict[str, Any]:
    """uvicorn's logging, plus the core's messages (index swaps, rebuilds) in the same format."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["qa"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


class _OneWriteResponses:
    """A transport that holds a response's head until its body is written, and writes both at
    once. uvicorn writes them with two calls; a server killed between the two (kill -9, a crash)
    left a load balancer holding a head without its body, which it can no longer retry
    elsewhere: the client saw a truncated response (tests/test_replicas.py, ~1 run in 10)."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._head: bytes | None = None

    def write(self, data: bytes) -> None:
        if self._head is not None:
            data, self._head = self._head + data, None
        elif data.startswith(b"HTTP/") and not data.startswith(b"HTTP/1.1 100 "):
            self._head = data  # the body (or the end of the response) follows
            return
        self._transport.write(data)

    def flush(self) -> None:
        if self._head is not None:
            head, self._head = self._head, None
            self._transport.write(head)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class GuardedHttp(HttpToolsProtocol):
    """uvicorn's HTTP protocol (httptools), with deadlines for a request's head and body, and its
    own errors (a malformed request line, header or Content-Length, an unknown method) in the
    API's JSON shape with the security headers, instead of plain text without them."""

    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = _OneWriteResponses(transport)  # type: ignore[assignment]
        self._arm(HEAD_SECONDS, self._head_too_slow)

    def on_response_complete(self) -> None:
        self.transport.flush()  # a response without a body write (HEAD, an empty body)
        super().on_response_complete()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm(HEAD_SECONDS, self._head_too_slow)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._arm(BODY_SECONDS, self._body_too_slow)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._arm(None, None)

    def connection_lost(self, exc: Exception | None) -> None:
        self._arm(None, None)
        super().connection_lost(exc)

    def _arm(self, seconds: float | None, then: Any) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = self.loop.call_later(seconds, then) if seconds is not None else None

    def _head_too_slow(self) -> None:
        if not self.transport.is_closing():
            self.send_error(408, f"the request headers did not arrive within {HEAD_SECONDS:g} s")

    def _body_too_slow(self) -> None:
        # The app may be reading the body: closing lets it see a disconnect, and answer nobody.
        if not self.transport.is_closing():
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        self.send_error(400, "the request is not valid HTTP (request line, headers or length)")

    def send_error(self, status: int, message: str) -> None:
        """Write a JSON error response and close the connection (no request is being answered)."""
        body = json.dumps({"detail": message}).encode()
        reason = {400: b"Bad Request", 408: b"Request Timeout"}[status]
        lines = [b"HTTP/1.1 %d %s" % (status, reason)]
        lines += [name + b": " + value for name, value in self.server_state.default_headers]
        lines += [f"{name}: {value}".encode() for name, value in HEADERS.items()]
        lines += [
            b"content-type: application/json",
            b"content-length: %d" % len(body),
            b"connection: close",
        ]
        self.transport.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        self.transport.close()


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to host:port, before anything says it serves; SettingsError if it cannot
    be (the port is taken, the address is not this machine's)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise SettingsError(
            f"cannot listen on {url(host, port)} ({e.strerror or e}): is another server running "
            "there? Choose another port with --port or QA_PORT (or another --host / QA_HOST)"
        ) from e
    return sock


def server(app: FastAPI, settings: Settings) -> uvicorn.Server:
    """The uvicorn server of `app`, with the guarded protocol."""
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=GuardedHttp,
        log_level="info",
        log_config=log_config(),
        timeout_keep_alive=5,  # an idle kept-alive connection is closed after this
    )
    return uvicorn.Server(config)


def serve(engine: Engine, watch: bool = False) -> None:
    """Serve the chat and the JSON API until interrupted (default http://127.0.0.1:8000).

    While it runs, a new index version (from `POST /api/index` or a `qa index` elsewhere) is
    picked up without a restart; with `watch`, changes in the documents folder are indexed.
    """
    settings = engine.settings
    docs = engine.docs  # a --docs other than the index's own fails here, before anything runs
    sock = listen(settings.host, settings.port)  # a taken port fails before anything is printed
    try:
        # The index and the model: a missing or broken index fails before serving, and the first
        # question is answered without waiting for either.
        engine.warm_up()
        threading.Thread(target=engine.warm_report, name="report-warm-up", daemon=True).start()
        health = engine.health()
        documents = f"{health['documents']} document{'' if health['documents'] == 1 else 's'}"
        print(
            f"Serving {documents} ({health['paragraphs']} paragraphs) "
            f"at {url(settings.host, settings.port)}  (Ctrl-C to stop)",
            flush=True,
        )
        if watch:
            print(f"Watching {docs} for changes: they are indexed as they happen", flush=True)
        with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the Ctrl-C it handled
            server(create_app(engine, watch=watch), settings).run(sockets=[sock])
    finally:
        sock.close()
