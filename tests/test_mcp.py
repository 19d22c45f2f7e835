"""The MCP server through the SDK's own client, over stdio (`qa mcp`) and HTTP (`qa serve`'s /mcp):
the tools answer with verbatim quotes, citations and links, and list the documents."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from qa.engine import Engine
from qa.settings import Settings
from tests.conftest import ROOT, SEEDS
from tests.test_live import serve_in_thread
from web.app import create_app

QUESTION = "How many North Koreans defected last year?"
TOKEN = "mcp-test-token-0123456789"


def structured(result) -> dict:  # noqa: ANN001 (a CallToolResult)
    assert not result.is_error, result.content
    return result.structured_content


def assert_quotes(passages: list[dict]) -> None:
    """Every passage is a verbatim piece of a seed document, cited and linked."""
    assert passages
    for p in passages:
        source = (SEEDS / p["document"]).read_text("utf-8")
        assert p["text"] in source
        assert p["citation"] and p["url"].startswith("http")


async def exercise(client: Client, base: str) -> None:
    tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == {"search", "ask"}
    assert all(t.annotations.read_only_hint for t in tools.values())

    answer = structured(await client.call_tool("ask", {"question": QUESTION}))
    assert answer["answered"] and answer["strength"]
    assert_quotes(answer["passages"])
    first = answer["passages"][0]
    assert "196" in first["text"][first["highlight"]["start"] : first["highlight"]["end"]]
    assert first["url"].startswith(base + "/documents/")

    follow_up = {"question": "Why did he leave?", "history": ["Who is Ri Il-kyu?"]}
    answer = structured(await client.call_tool("ask", follow_up))
    assert "disillusionment" in answer["passages"][0]["text"]

    found = structured(await client.call_tool("search", {"query": "defectors", "k": 2}))
    assert len(found["results"]) == 2
    assert_quotes(found["results"])

    refused = structured(await client.call_tool("ask", {"question": "boiling point of mercury?"}))
    assert not refused["answered"] and refused["message"] == "The documents don't answer this."

    # A mistake is a tool error that says what is wrong, not a crash.
    empty = await client.call_tool("ask", {"question": "   "})
    assert empty.is_error and "empty" in empty.content[0].text
    unknown = await client.call_tool("search", {"query": "x", "document": "nope.txt"})
    assert unknown.is_error and "nope.txt" in unknown.content[0].text
    too_many = await client.call_tool("search", {"query": "x", "k": 51})
    assert too_many.is_error

    (resource,) = (await client.list_resources()).resources
    assert str(resource.uri) == "qa://documents"
    (content,) = (await client.read_resource("qa://documents")).contents
    ids = {d["id"] for d in json.loads(content.text)["documents"]}
    assert ids == {p.name for p in SEEDS.iterdir() if p.suffix == ".txt"}


def test_stdio(seed_settings: Settings) -> None:
    """`qa mcp`, started as an assistant starts it: a command speaking MCP on stdin/stdout."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "qa", "mcp", "--index", str(seed_settings.index)],
        env=env,
        cwd=str(ROOT),
    )

    async def main() -> None:
        async with Client(params, read_timeout_seconds=120) as client:
            await exercise(client, "http://127.0.0.1:8000")

    anyio.run(main)


@pytest.fixture(scope="module")
def guarded_server(tmp_path_factory: pytest.TempPathFactory, seed_settings: Settings, embedder):
    """`qa serve` with an admin token set: /mcp then needs it."""
    settings = replace(seed_settings, admin_token=TOKEN)
    with serve_in_thread(create_app(Engine(settings, embedder))) as base:
        yield base


def http_client(base: str, token: str | None) -> Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    transport = streamable_http_client(
        f"{base}/mcp", http_client=httpx2.AsyncClient(headers=headers, timeout=120)
    )
    return Client(transport, read_timeout_seconds=120)


def test_http(guarded_server: str) -> None:
    async def main() -> None:
        async with http_client(guarded_server, TOKEN) as client:
            await exercise(client, guarded_server)

    anyio.run(main)


def test_http_needs_the_admin_token_when_one_is_set(guarded_server: str) -> None:
    async def connect(token: str | None) -> None:
        async with http_client(guarded_server, token) as client:
            await client.list_tools()

    for token in (None, "wrong"):
        with pytest.raises(Exception):  # noqa: B017 (the SDK wraps the 401 its own way)
            anyio.run(connect, token)
    raw = httpx2.post(f"{guarded_server}/mcp", json={}, headers={"Authorization": "Bearer x"})
    assert raw.status_code == 401
    assert raw.headers["x-content-type-options"] == "nosniff"


def test_http_is_open_without_a_token(seed_settings: Settings, embedder) -> None:
    with serve_in_thread(create_app(Engine(seed_settings, embedder))) as base:

        async def main() -> None:
            async with http_client(base, None) as client:
                answer = structured(await client.call_tool("ask", {"question": QUESTION}))
                assert answer["answered"]

        anyio.run(main)


def test_readme_shows_the_assistant_configuration() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    assert '"command"' in readme and '"mcp"' in readme and "/mcp" in readme
