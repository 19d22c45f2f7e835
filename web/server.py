"""`qa serve`: run the web app under uvicorn on the configured host and port."""

from __future__ import annotations

import uvicorn

from qa.engine import Engine
from web.app import create_app


def url(host: str, port: int) -> str:
    """The address people open in a browser (IPv6 hosts in brackets)."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def serve(engine: Engine) -> None:
    """Serve the chat and the JSON API until interrupted (default http://127.0.0.1:8000)."""
    settings = engine.settings
    health = engine.health()  # loads the index now: a missing or broken one fails before binding
    documents = f"{health['documents']} document{'' if health['documents'] == 1 else 's'}"
    print(
        f"Serving {documents} ({health['paragraphs']} paragraphs) "
        f"at {url(settings.host, settings.port)}  (Ctrl-C to stop)",
        flush=True,
    )
    uvicorn.run(create_app(engine), host=settings.host, port=settings.port, log_level="info")
