"""web/server.py: the real uvicorn server answers malformed HTTP with the API's JSON error and the
security headers, times out slow headers and bodies, and a taken port is a one-line error before
anything claims to serve."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from qa.embedder import Embedder
from qa.engine import Engine
from qa.errors import SettingsError
from qa.settings import Settings
from tests.conftest import serving
from web import server as server_module
from web.app import create_app
from web.security import HEADERS


@pytest.fixture(scope="module")
def address(seed_settings: Settings, embedder: Embedder) -> Iterator[tuple[str, int]]:
    """A real server (uvicorn, the guarded protocol) on a free loopback port, in a thread."""
    with serving(seed_settings, lambda s: create_app(Engine(s, embedder))) as port:
        yield "127.0.0.1", port


def exchange(address: tuple[str, int], raw: bytes, pause: float = 0.0) -> tuple[int, dict, bytes]:
    """Send `raw` bytes, read the whole response: (status, headers, body)."""
    with socket.create_connection(address, timeout=20) as conn:
        conn.sendall(raw)
        if pause:
            time.sleep(pause)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def test_a_good_request_is_answered(address) -> None:
    status, headers, body = exchange(
        address, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    assert status == 200 and json.loads(body)["status"] == "ok"
    assert headers["content-security-policy"] == HEADERS["Content-Security-Policy"]


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",  # a huge request line
        b"POST /api/ask HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\n\r\n",
        b"POST /api/ask HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\n"
        b"Content-Length: 2\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Bad: a\x00b\r\n\r\n",  # NUL in a header
        b"BREW / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",  # unknown method
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40,  # TLS to a plain port
    ],
)
def test_malformed_http_gets_the_json_error_with_the_security_headers(address, raw) -> None:
    status, headers, body = exchange(address, raw)
    assert status == 400
    assert headers["content-type"] == "application/json" and headers["connection"] == "close"
    for name, value in HEADERS.items():
        assert headers[name.lower()] == value
    assert "not valid HTTP" in json.loads(body)["detail"]


def test_slow_headers_and_bodies_are_timed_out(address, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_module, "HEAD_SECONDS", 0.5)
    monkeypatch.setattr(server_module, "BODY_SECONDS", 0.5)
    started = time.monotonic()
    status, headers, body = exchange(address, b"GET /health HTTP/1.1\r\nHost: 127.0")
    assert status == 408 and "did not arrive within 0.5 s" in json.loads(body)["detail"]
    assert headers["x-frame-options"] == "DENY"
    with socket.create_connection(address, timeout=20) as conn:  # silent after connecting
        assert conn.recv(65536).startswith(b"HTTP/1.1 408 ")
    raw = b"POST /api/ask HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{"
    with socket.create_connection(address, timeout=20) as conn:  # a body that never comes
        conn.sendall(raw)
        assert conn.recv(65536) == b""  # closed, nothing answered
    assert time.monotonic() - started < 10


def test_a_taken_port_is_a_one_line_error_before_anything_is_printed(
    seed_settings: Settings, embedder: Embedder, capsys: pytest.CaptureFixture
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        engine = Engine(replace(seed_settings, host="127.0.0.1", port=port), embedder)
        with pytest.raises(SettingsError, match=f"cannot listen on http://127.0.0.1:{port} "):
            server_module.serve(engine)
    assert capsys.readouterr().out == ""


def test_a_response_head_and_its_body_go_out_in_one_write() -> None:
    """A server killed between the two writes uvicorn makes would leave a load balancer with a
    head and no body (not retryable): the head waits for its body, or the end of the response."""
    from web.server import _OneWriteResponses

    class Recording:
        def __init__(self) -> None:
            self.writes: list[bytes] = []
            self.closed = False

        def write(self, data: bytes) -> None:
            self.writes.append(data)

        def close(self) -> None:
            self.closed = True

    raw = Recording()
    transport = _OneWriteResponses(raw)  # type: ignore[arg-type]
    transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    assert raw.writes == []
    transport.write(b"{}")
    assert raw.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
    transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")  # HEAD: no body write
    transport.flush()
    transport.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    transport.close()
    assert raw.writes[1:] == [
        b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
        b"HTTP/1.1 400 Bad Request\r\n\r\n",
    ]
    assert raw.closed
