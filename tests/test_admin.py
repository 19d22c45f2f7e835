"""The admin page and the documents API: who gets in, what they can do, what is refused."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from qa.engine import Engine
from tests.test_live import TOKEN, bearer
from tests.test_rebuilder import until
from web.app import create_app
from web.security import SESSION_COOKIE

DOCS = {"cats.txt": "Cats sleep for most of the day and hunt at dusk.\n"}
ZEBRAS = b"Zebras cross the Mara river every year in the great migration.\n"


@pytest.fixture
def engine(make_engine) -> Engine:
    engine = make_engine(DOCS, admin_token=TOKEN, max_upload_bytes=10_000)
    engine.build()
    return engine


@pytest.fixture
def client(engine: Engine) -> TestClient:
    return TestClient(create_app(engine))


def log_in(client: TestClient) -> str:
    """Log in through the form; the CSRF token of the admin page."""
    response = client.post("/admin/login", data={"token": TOKEN}, follow_redirects=False)
    assert response.status_code == 303
    page = client.get("/admin")
    assert page.status_code == 200
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def idle(client: TestClient) -> dict:
    """The build status once no build runs (asked with the bearer token, as a script would)."""

    def status() -> dict:
        return client.get("/admin/build.json", headers=bearer(TOKEN)).json()

    assert until(lambda: status()["status"]["state"] != "running")
    return status()


def test_admin_is_disabled_without_a_token(make_engine) -> None:
    engine = make_engine(DOCS)
    engine.build()
    client = TestClient(create_app(engine))
    page = client.get("/admin")
    assert page.status_code == 403 and "QA_ADMIN_TOKEN" in page.text
    assert client.post("/admin/login", data={"token": ""}).status_code == 403
    assert client.put("/api/documents/x.txt", content=ZEBRAS).status_code == 403


def test_login_sets_an_httponly_samesite_strict_session_cookie(client: TestClient) -> None:
    page = client.get("/admin")
    assert page.status_code == 401 and 'type="password"' in page.text
    wrong = client.post("/admin/login", data={"token": "guess"}, follow_redirects=False)
    assert wrong.status_code == 401 and "not the admin token" in wrong.text
    assert SESSION_COOKIE not in wrong.headers.get("set-cookie", "")
    right = client.post("/admin/login", data={"token": TOKEN}, follow_redirects=False)
    cookie = right.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=") and TOKEN not in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age" not in cookie
    assert client.get("/admin").status_code == 200
    # A forged or tampered cookie is no session.
    value = client.cookies[SESSION_COOKIE]
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, value[:-1] + ("0" if value[-1] != "0" else "1"))
    assert client.get("/admin").status_code == 401


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("POST", "/admin/upload", None),
        ("POST", "/admin/delete", {"name": "cats.txt"}),
        ("POST", "/admin/rebuild", {}),
        ("POST", "/admin/logout", {}),
    ],
)
def test_admin_forms_need_the_session_and_its_csrf_token(
    client: TestClient, engine: Engine, method: str, path: str, data
) -> None:
    files = [("files", ("zebras.txt", ZEBRAS))] if data is None else None
    form = data or {}
    # No cookie, even with a token that would be right for a session.
    response = client.request(method, path, data={**form, "csrf": "x"}, files=files)
    assert response.status_code == 403
    csrf = log_in(client)
    for sent in ({}, {"csrf": "wrong"}, {"csrf": csrf[:-1]}):
        response = client.request(method, path, data={**form, **sent}, files=files)
        assert response.status_code == 403, sent
    # A cross-site post with the right cookie and token (a stolen page) is refused too.
    headers = {"Sec-Fetch-Site": "cross-site"}
    response = client.request(
        method, path, data={**form, "csrf": csrf}, files=files, headers=headers
    )
    assert response.status_code == 403
    assert sorted(p.name for p in engine.settings.docs.iterdir()) == ["cats.txt"]  # untouched


def test_logout_ends_the_session(client: TestClient) -> None:
    csrf = log_in(client)
    response = client.post("/admin/logout", data={"csrf": csrf}, follow_redirects=False)
    assert response.status_code == 303
    assert f'{SESSION_COOKIE}=""' in response.headers["set-cookie"]
    assert client.get("/admin").status_code == 401


def test_build_status_needs_the_session_or_the_token(client: TestClient) -> None:
    assert client.get("/admin/build.json").status_code == 401
    assert client.get("/admin/build.json", headers=bearer("wrong")).status_code == 401
    assert client.get("/admin/build.json", headers=bearer(TOKEN)).status_code == 200
    log_in(client)
    body = client.get("/admin/build.json").json()
    assert set(body) == {"status", "history"}


def test_upload_rebuild_and_answer(client: TestClient, engine: Engine) -> None:
    csrf = log_in(client)
    response = client.post(
        "/admin/upload",
        data={"csrf": csrf, "rebuild": "true"},
        files=[("files", ("zebras.txt", ZEBRAS)), ("files", ("evil.sh", b"rm -rf /"))],
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/admin"
    build = idle(client)
    assert build["status"]["state"] == "idle" and "1 documents added" in build["status"]["summary"]
    progress = build["status"]["progress"]
    assert progress["documents_read"] == progress["documents"] == 2
    assert progress["texts_embedded"] == progress["texts"] > 0
    assert [b["job"] for b in build["history"]] == [build["status"]["job"]]
    page = client.get("/admin").text
    notices = re.findall(r"<li class=\"(ok|error)\">([^<]+)</li>", page)
    assert notices[0] == ("ok", f"Added zebras.txt ({len(ZEBRAS)} bytes).")
    assert notices[1][0] == "error" and "not a document type" in notices[1][1]
    answer = client.post("/api/ask", json={"question": "When do zebras cross the Mara?"}).json()
    assert answer["passages"][0]["document"] == "zebras.txt"
    # The same name again: refused unless replacing is asked for.
    again = {"files": ("zebras.txt", b"Zebras are striped horses of Africa.\n")}
    page = client.post("/admin/upload", data={"csrf": csrf}, files=again).text  # (redirected)
    assert "already in the documents folder: replace it?" in page
    assert (engine.settings.docs / "zebras.txt").read_bytes() == ZEBRAS
    page = client.post("/admin/upload", data={"csrf": csrf, "replace": "true"}, files=again).text
    assert "Replaced zebras.txt" in page
    # Delete, and the rebuild drops it.
    client.post("/admin/delete", data={"csrf": csrf, "name": "zebras.txt", "rebuild": "true"})
    idle(client)
    assert [d["id"] for d in client.get("/documents.json").json()["documents"]] == ["cats.txt"]


def test_the_documents_api_for_scripts(client: TestClient, engine: Engine) -> None:
    auth = bearer(TOKEN)
    assert client.put("/api/documents/zebras.txt", content=ZEBRAS).status_code == 401
    assert (
        client.put("/api/documents/z.txt", content=ZEBRAS, headers=bearer("x")).status_code == 401
    )
    created = client.put("/api/documents/wild/zebras.txt", content=ZEBRAS, headers=auth)
    assert created.status_code == 201
    body = created.json()
    assert (body["document"], body["bytes"], body["replaced"]) == (
        "wild/zebras.txt",
        len(ZEBRAS),
        False,
    )
    assert body["build"]["state"] in ("running", "idle")
    idle(client)
    assert "wild/zebras.txt" in [d["id"] for d in client.get("/documents.json").json()["documents"]]
    exists = client.put("/api/documents/wild/zebras.txt", content=ZEBRAS, headers=auth)
    assert exists.status_code == 409 and "replace" in exists.json()["detail"]
    replaced = client.put(
        "/api/documents/wild/zebras.txt?replace=true&rebuild=false", content=b"Zebras!\n",
        headers=auth,
    )  # fmt: skip
    assert replaced.status_code == 200 and replaced.json()["build"] is None
    for name, status in [
        ("run.sh", 400), ("../outside.txt", 400), (".hidden.txt", 400), ("big.txt", 413),
    ]:  # fmt: skip
        content = b"x" * 10_001 if name == "big.txt" else ZEBRAS
        response = client.put(f"/api/documents/{name}", content=content, headers=auth)
        assert response.status_code in (status, 404), (name, response.text)
        assert isinstance(response.json()["detail"], str)
    assert not (engine.settings.docs.parent / "outside.txt").exists()
    huge = client.put("/api/documents/huge.txt", content=b"x" * 2_000_000, headers=auth)
    assert huge.status_code == 413 and "QA_MAX_UPLOAD_BYTES" in huge.json()["detail"]
    deleted = client.delete("/api/documents/wild/zebras.txt?rebuild=false", headers=auth)
    assert deleted.status_code == 200 and deleted.json()["deleted"] is True
    assert client.delete("/api/documents/wild/zebras.txt", headers=auth).status_code == 404
    assert client.delete("/api/documents/cats.txt").status_code == 401
    assert sorted(p.name for p in Path(engine.settings.docs).rglob("*.txt")) == ["cats.txt"]


def test_the_report_is_on_the_admin_page(client: TestClient, engine: Engine) -> None:
    for question in ["What is the boiling point of mercury?", "How do I reset my password?"] * 2:
        client.post("/api/ask", json={"question": question})
    client.post("/api/feedback", json={"question": "Do cats hunt?", "helpful": False})
    log_in(client)
    page = client.get("/admin").text
    groups = re.findall(r'<span class="count">(\d+)×</span> ([^<]+)</p>', page)
    assert groups == [
        ("2", "How do I reset my password?"), ("2", "What is the boiling point of mercury?"),
        ("1", "Do cats hunt?"),
    ]  # fmt: skip
    assert "unhelpful 1" in page and "cats.txt · ¶1" in page


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_the_documents_api_with_the_token_never_fails(make_engine, method: str) -> None:
    """Schemathesis-generated requests with the right token (so they reach the file code):
    no 5xx, statuses and bodies as documented, nothing written outside the documents folder."""
    import schemathesis
    from hypothesis import HealthCheck, given
    from hypothesis import settings as hypothesis_settings
    from schemathesis.generation.modes import GenerationMode
    from schemathesis.specs.openapi.checks import positive_data_acceptance

    engine = make_engine(DOCS, admin_token="token")
    engine.build()
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(engine))
    operation = schema["/api/documents/{name}"][method]
    outside = sorted(p.name for p in engine.settings.docs.parent.iterdir())

    @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
    @hypothesis_settings(
        max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
    )
    def check(case) -> None:
        case.query = {**(case.query or {}), "rebuild": "false"}  # no build per example
        # A name and content the schema allows may still be refused (a type the index does not
        # read: a 400; unreadable bytes: a 422), with the reason; every other check is on.
        case.call_and_validate(
            headers={"Authorization": "Bearer token"}, excluded_checks=[positive_data_acceptance]
        )

    check()
    assert sorted(p.name for p in engine.settings.docs.parent.iterdir()) == outside


def test_a_server_started_without_docs_uploads_into_the_index_folder_s_own(
    engine: Engine, embedder
) -> None:
    """`qa serve --index I` (no --docs, as `make run` starts it): the documents folder is the one
    the index remembers, for the admin page and the documents API too."""
    from dataclasses import replace

    served = Engine(replace(engine.settings, docs=None), embedder)
    client = TestClient(create_app(served))
    log_in(client)
    response = client.put("/api/documents/zebras.txt", content=ZEBRAS, headers=bearer(TOKEN))
    assert response.status_code == 201
    assert (engine.settings.docs / "zebras.txt").read_bytes() == ZEBRAS
    assert "zebras.txt" in client.get("/admin").text
    assert client.delete("/api/documents/zebras.txt", headers=bearer(TOKEN)).status_code == 200
    assert not (engine.settings.docs / "zebras.txt").exists()


def test_logout_revokes_the_session_on_the_server(client: TestClient, engine: Engine) -> None:
    csrf = log_in(client)
    copied = client.cookies[SESSION_COOKIE]  # e.g. read off a shared machine before logout
    client.post("/admin/logout", data={"csrf": csrf})
    thief = TestClient(client.app)
    thief.cookies.set(SESSION_COOKIE, copied)
    page = thief.get("/admin")
    assert page.status_code == 401 and 'type="password"' in page.text
    upload = thief.post(
        "/admin/upload", data={"csrf": csrf}, files=[("files", ("zebras.txt", ZEBRAS))]
    )
    assert upload.status_code == 403 and "log in again" in upload.text  # CSRF token included
    assert thief.get("/admin/build.json").status_code == 401
    assert sorted(p.name for p in engine.settings.docs.iterdir()) == ["cats.txt"]


def test_a_session_holds_on_every_replica_and_a_logout_on_one_ends_it_on_all(
    engine: Engine,
) -> None:
    # Two apps over one index folder: two replicas behind a load balancer.
    one, two = TestClient(create_app(engine)), TestClient(create_app(engine))
    csrf = log_in(one)
    two.cookies.set(SESSION_COOKIE, one.cookies[SESSION_COOKIE])
    assert two.get("/admin").status_code == 200
    one.post("/admin/logout", data={"csrf": csrf})
    assert two.get("/admin").status_code == 401


def test_a_new_admin_token_ends_every_session(engine: Engine) -> None:
    from dataclasses import replace

    client = TestClient(create_app(engine))
    log_in(client)
    cookie = client.cookies[SESSION_COOKIE]
    restarted = Engine(replace(engine.settings, admin_token="another-token"), engine.embedder)
    after = TestClient(create_app(restarted))
    after.cookies.set(SESSION_COOKIE, cookie)
    assert after.get("/admin").status_code == 401


def test_wrong_tokens_are_rate_limited_per_client(make_engine) -> None:
    engine = make_engine(DOCS, admin_token=TOKEN, login_attempts=5)
    engine.build()
    client = TestClient(create_app(engine))
    statuses = [client.post("/admin/login", data={"token": "guess"}).status_code for _ in range(30)]
    assert statuses == [401] * 5 + [429] * 25
    refused = client.post("/admin/login", data={"token": TOKEN}, follow_redirects=False)
    assert refused.status_code == 429 and SESSION_COOKIE not in refused.headers.get(
        "set-cookie", ""
    )
    assert "too many wrong admin tokens" in refused.text
    assert 500 <= int(refused.headers["Retry-After"]) <= 600
    # Another client is not locked out.
    other = TestClient(create_app(engine), client=("192.0.2.7", 50000))
    assert (
        other.post("/admin/login", data={"token": TOKEN}, follow_redirects=False).status_code == 303
    )


def test_admin_pages_and_answers_are_never_cached(client: TestClient) -> None:
    assert client.get("/admin").headers["cache-control"] == "no-store"  # the login form too
    log_in(client)
    auth = bearer(TOKEN)
    for response in (
        client.get("/admin"),
        client.get("/admin/build.json"),
        client.get("/api/index", headers=auth),
        client.get("/api/index"),  # a 401 too
        client.put("/api/documents/z.txt?rebuild=false", content=ZEBRAS, headers=auth),
        client.delete("/api/documents/z.txt?rebuild=false", headers=auth),
    ):
        assert response.headers["cache-control"] == "no-store", response.url
    assert "cache-control" not in client.get("/health").headers  # the public pages may be


def test_a_path_under_an_existing_file_is_a_409(client: TestClient, engine: Engine) -> None:
    auth = bearer(TOKEN)
    response = client.put("/api/documents/cats.txt/x.txt", content=ZEBRAS, headers=auth)
    assert response.status_code == 409
    assert response.json()["detail"] == "cats.txt is a file, so it cannot hold x.txt"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert sorted(p.name for p in engine.settings.docs.iterdir()) == ["cats.txt"]


def test_names_up_to_255_bytes_are_accepted_and_longer_get_400(client: TestClient) -> None:
    auth = bearer(TOKEN)
    for length in (235, 255):
        name = "z" * (length - 4) + ".txt"
        response = client.put(f"/api/documents/{name}?rebuild=false", content=ZEBRAS, headers=auth)
        assert response.status_code == 201 and response.json()["document"] == name
    response = client.put(f"/api/documents/{'z' * 252}.txt", content=ZEBRAS, headers=auth)
    assert response.status_code == 400
    assert (
        "256 bytes in one part, at most 255 bytes per file or folder name"
        in response.json()["detail"]
    )


def test_look_alike_and_invisible_names_are_refused(client: TestClient, engine: Engine) -> None:
    auth = bearer(TOKEN)
    response = client.put(
        "/api/documents/c\u0430ts.txt", content=ZEBRAS, headers=auth
    )  # Cyrillic a
    assert response.status_code == 409
    assert "looks like 'cats.txt'" in response.json()["detail"]
    response = client.put("/api/documents/x\u202etxt.md", content=ZEBRAS, headers=auth)
    assert response.status_code == 400
    assert "U+202E RIGHT-TO-LEFT OVERRIDE" in response.json()["detail"]
    csrf = log_in(client)  # the admin form says the same
    page = client.post(
        "/admin/upload", data={"csrf": csrf}, files=[("files", ("c\u0430ts.txt", ZEBRAS))]
    ).text
    assert "looks like &#39;cats.txt&#39;" in page
    assert sorted(p.name for p in engine.settings.docs.iterdir()) == ["cats.txt"]


def test_admin_lists_a_link_as_skipped_with_nothing_of_its_target(
    client: TestClient, engine: Engine, tmp_path: Path
) -> None:
    import os

    secret = tmp_path / "outside.txt"
    secret.write_bytes(b"s" * 12_345)
    os.utime(secret, (86_400 * 365, 86_400 * 365))  # 1971-01-01
    os.symlink(secret, engine.settings.docs / "leak.txt")
    os.link(engine.settings.docs / "cats.txt", engine.settings.docs / "hard.txt")
    client.post("/api/index", headers=bearer(TOKEN))
    idle(client)
    log_in(client)
    page = client.get("/admin").text
    row = re.search(r"<tr>\s*<td>leak\.txt</td>(.*?)</tr>", page, re.S).group(1)
    assert "skipped: a link: not read" in row
    assert "12,345" not in page and "1971" not in page
    # A hard link is a file of the folder: listed and indexed like any other.
    assert re.search(
        r'<a href="/documents/hard\.txt">hard\.txt</a></td>\s*<td class="num">49', page
    )
    assert "hard.txt" in [d["id"] for d in client.get("/documents.json").json()["documents"]]
