"""`qa serve`: run the web app under uvicorn on the configured host and port."""

from __future__ import annotations

import copy
from typing import Any

import uvicorn
from uvicorn.config import LOGGING_CONFIG

from qa.engine import Engine
from web.app import create_app


def url(host: str, port: int) -> str:
    """The address people open in a browser (IPv6 hosts in brackets)."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def log_config() -> dict[str, Any]:
    """uvicorn's logging, plus the core's messages (index swaps, rebuilds) in the same format."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["qa"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


def serve(engine: Engine, watch: bool = False) -> None:
    """Serve the chat and the JSON API until interrupted (default http://127.0.0.1:8000).

    While it runs, a new index version (from `POST /api/index` or a `qa index` elsewhere) is
    picked up without a restart; with `watch`, changes in the documents folder are indexed.
    """
    settings = engine.settings
    docs = engine.docs  # a --docs other than the index's own fails here, before anything runs
    engine.warm_up()  # the index and the model: a missing or broken index fails before binding,
    health = engine.health()  # and the first question is answered without waiting for either
    documents = f"{health['documents']} document{'' if health['documents'] == 1 else 's'}"
    print(
        f"Serving {documents} ({health['paragraphs']} paragraphs) "
        f"at {url(settings.host, settings.port)}  (Ctrl-C to stop)",
        flush=True,
    )
    if watch:
        print(f"Watching {docs} for changes: they are indexed as they happen", flush=True)
    app = create_app(engine, watch=watch)
    uvicorn.run(
        app, host=settings.host, port=settings.port, log_level="info", log_config=log_config()
    )
