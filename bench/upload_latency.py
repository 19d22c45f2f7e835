"""Upload to answerable: how long from `PUT /api/documents/{name}` of a one-page document until
`GET /api/ask` quotes it, on the seeds index, against the rebuild alone (same run).

    .venv/bin/python bench/upload_latency.py [--runs 5]

Each run writes a new one-page document (about 300 words, one made-up fact no other document
has) through the HTTP API of a live server (uvicorn on 127.0.0.1, rebuild on), then asks its
question every 50 ms until the first passage comes from it; the document is then deleted again
(not timed). The baseline is the same change made in-process: write the file, `Engine.build()`
(the incremental rebuild the server runs), ask once. Reported: the median of each and their
ratio, i.e. what HTTP, the background rebuild's hand-over and the polling add to the build.
All traffic goes to 127.0.0.1; every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import statistics
import sys
import tempfile
import time
import urllib.parse
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.engine import Engine  # noqa: E402
from qa.settings import Settings  # noqa: E402
from tests.test_live import serve_in_thread  # noqa: E402
from web.app import create_app  # noqa: E402

TOKEN = "bench-token"
FILLER = (
    "The archive keeps letters, maps and ledgers from the harbour office, sorted by year and "
    "by ship. Visitors may read them in the reading room on weekdays, and copies can be "
    "ordered for a small fee. The collection grew slowly over two centuries, and much of it "
    "was catalogued only after the great flood, when volunteers dried every page by hand. "
)


def page(n: int) -> tuple[str, str]:
    """A one-page document with one made-up fact, and the question only it answers."""
    fact = f"The lighthouse of Varnholm number {n} was painted cobalt blue by Ingrid Sollberg."
    text = f"# The Varnholm archive {n}\n\n" + "\n\n".join([FILLER, fact, FILLER, FILLER]) + "\n"
    return text, f"Who painted the lighthouse of Varnholm number {n}?"


def answered_by(connection: http.client.HTTPConnection, question: str) -> str:
    connection.request("GET", "/api/ask?" + urllib.parse.urlencode({"q": question}))
    body = json.loads(connection.getresponse().read())
    return body["passages"][0]["document"] if body.get("passages") else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="qa-upload-"))
    try:
        shutil.copytree(ROOT / "seeds", root / "docs")
        settings = Settings.load({"docs": root / "docs", "index": root / "index"}, environ={})
        engine = Engine(replace(settings, admin_token=TOKEN, feedback="off"))
        engine.build()
        engine.warm_up()

        direct = []
        for n in range(args.runs):
            text, question = page(1000 + n)
            start = time.perf_counter()
            (root / "docs" / f"direct{n}.md").write_text(text, "utf-8")
            engine.build()
            assert engine.ask(question).passages[0].document == f"direct{n}.md"
            direct.append(time.perf_counter() - start)
            (root / "docs" / f"direct{n}.md").unlink()
            engine.build()

        over_http = []
        with serve_in_thread(create_app(engine)) as base:
            host, port = urllib.parse.urlsplit(base).netloc.split(":")
            connection = http.client.HTTPConnection(host, int(port), timeout=30)
            auth = {"Authorization": f"Bearer {TOKEN}"}
            for n in range(args.runs):
                text, question = page(n)
                name = f"upload{n}.md"
                start = time.perf_counter()
                connection.request("PUT", f"/api/documents/{name}", text.encode(), auth)
                connection.getresponse().read()
                deadline = start + 30
                while answered_by(connection, question) != name:
                    assert time.perf_counter() < deadline, "not answerable within 30 s"
                    time.sleep(0.05)
                over_http.append(time.perf_counter() - start)
                connection.request("DELETE", f"/api/documents/{name}", headers=auth)
                connection.getresponse().read()
                time.sleep(1.5)  # the deletion's rebuild, before the next upload
            connection.close()
        http_median, direct_median = statistics.median(over_http), statistics.median(direct)
        print(f"runs: {args.runs}; one-page document (~300 words) on the seeds index")
        slowest = max(over_http)
        print(f"upload to answerable over HTTP: median {http_median:.2f} s, max {slowest:.2f} s")
        print(f"write + Engine.build() + ask in-process: median {direct_median:.2f} s")
        print(f"ratio HTTP / in-process: {http_median / direct_median:.2f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
