"""Uploads, rebuilds and reading never hold up the threads that answer questions (a real server)."""

from __future__ import annotations

import threading
import time

import httpx

from qa import workers
from qa.rebuilder import Rebuilder
from qa.workers import Limits
from tests.hostile import self_drawing_pdf
from tests.test_live import TOKEN, bearer, serve_in_thread
from tests.test_rebuilder import until
from web.app import create_app

DOCS = {
    "otters.txt": "River otters hold hands while they sleep so that they do not drift apart.\n",
    "zebras.txt": "Zebras cross the Mara river every year in the great migration.\n",
}
REQUESTS = 120  # questions and health checks asked while the uploads and the rebuild run


def test_questions_stay_fast_while_hostile_uploads_and_a_rebuild_run(make_engine) -> None:
    engine = make_engine(DOCS, admin_token=TOKEN, read_seconds=3.0, read_workers=2)
    engine.build()
    hostile = self_drawing_pdf()  # pdfium draws it until the time limit stops it
    (engine.settings.docs / "in-folder.pdf").write_bytes(hostile + b"%rebuild\n")
    app = create_app(engine, Rebuilder(engine))
    answers: list[httpx.Response] = []
    with serve_in_thread(app) as base, httpx.Client(base_url=base, timeout=60) as client:

        def upload(i: int) -> None:
            answers.append(
                client.put(
                    f"/api/documents/new/bad-{i}.pdf",
                    params={"rebuild": "false"},
                    content=hostile + b"%" + str(i).encode(),  # four different files
                    headers=bearer(TOKEN),
                )
            )

        uploads = [threading.Thread(target=upload, args=(i,)) for i in range(4)]
        for thread in uploads:
            thread.start()
        pool = workers.shared(Limits.of(engine.settings))
        assert until(lambda: pool._slots._value == 0, 10)  # the uploads have every worker
        latencies = []
        started = time.monotonic()
        assert client.post("/api/index", headers=bearer(TOKEN)).status_code == 202
        latencies.append(time.monotonic() - started)
        for i in range(REQUESTS):
            started = time.monotonic()
            if i % 2:
                response = client.get("/health")
            else:
                response = client.get("/api/search", params={"q": f"otters sleep {i}", "k": 1})
            latencies.append(time.monotonic() - started)
            assert response.status_code == 200, response.text
            if not any(t.is_alive() for t in uploads):
                break
        busy = any(t.is_alive() for t in uploads)  # still running after all the requests
        for thread in uploads:
            thread.join(60)
        status = client.get("/api/index", headers=bearer(TOKEN)).json()
        while status["state"] == "running":
            time.sleep(0.2)
            status = client.get("/api/index", headers=bearer(TOKEN)).json()
    latencies.sort()
    p99 = latencies[int(0.99 * (len(latencies) - 1))]
    assert len(latencies) >= 20 or busy, latencies  # they ran while the uploads did
    assert p99 < 1.0, latencies[-5:]
    assert [a.status_code for a in answers] == [422] * 4
    assert all("cannot be read: reading took over 3 s" in a.json()["detail"] for a in answers)
    assert "x-content-type-options" in answers[0].headers
    assert not (engine.settings.docs / "new").exists()
    assert status["state"] == "idle" and "1 files skipped" in status["summary"]
