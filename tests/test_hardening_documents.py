"""Bad and hostile documents through a real build: each is indexed correctly or skipped with a
one-line reason in the build summary; the build never aborts and never loses the previous index.

Extends tests/test_documents.py (which covers the readers one by one).
"""

from __future__ import annotations

import errno
import os
import random
import threading
import time
from pathlib import Path

import pytest

from qa import documents, paragraphs, workers
from qa.documents import load_documents, text_document
from qa.paragraphs import split_paragraphs
from qa.units import split_units
from tests.conftest import write
from tests.test_documents import make_pdf

GOOD = "Otters hold hands while they sleep so that they do not drift apart on the water."


def reasons(plan_or_skipped) -> dict[str, str]:
    skipped = getattr(plan_or_skipped, "skipped", plan_or_skipped)
    for s in skipped:  # one line each, fit for a build summary
        assert "\n" not in str(s) and len(str(s)) < 400, str(s)
    return {s.id: s.reason for s in skipped}


# --- A folder of bad files: the build goes on, and says why for each ---------------------------


def test_a_folder_of_bad_files_builds_the_good_ones_and_names_each_bad_one(
    make_engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(7)
    noise = bytes(rng.randrange(1, 256) for _ in range(4000))  # binary without a NUL byte
    engine = make_engine(
        {
            "good.txt": GOOD,
            "empty.txt": b"",
            "blank.md": " \t\n\r\n\u00a0\n\u3000\n",
            "bom-only.txt": b"\xef\xbb\xbf \n",
            "utf16-blank.txt": "\ufeff  \n\n".encode("utf-16-le"),
            "photo.txt": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + noise,
            "archive.md": noise,
            "scanned.pdf": make_pdf(None),
            "corrupt.pdf": b"%PDF-1.7\n1 0 obj <</Type /Catalog /Pages 2 0 R>> endobj\ntrailer",
            "truncated.pdf": make_pdf("Half a PDF.")[:200],
            "only-scripts.html": "<html><script>var a = 1;</script><style>p{}</style></html>",
        }
    )
    docs = engine.settings.docs
    (docs / "dangling.txt").symlink_to(docs / "nowhere.txt")
    (docs / "self.txt").symlink_to(docs / "self.txt")
    (docs / "loop").symlink_to(docs, target_is_directory=True)
    (docs / "secret").mkdir()
    write(docs, "secret/inside.txt", "never listed")
    real_scandir = os.scandir

    def scandir(path=".", *args):  # CI runs as root, who can list anything: simulate
        if Path(path).name == "secret":
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_scandir(path, *args)

    monkeypatch.setattr(os, "scandir", scandir)
    plan = engine.build()
    assert plan.added == ["good.txt"]
    why = reasons(plan)
    assert set(why) == {
        "empty.txt", "blank.md", "bom-only.txt", "utf16-blank.txt", "photo.txt", "archive.md",
        "scanned.pdf", "corrupt.pdf", "truncated.pdf", "only-scripts.html", "dangling.txt",
        "self.txt", "secret/", "loop/",
    }  # fmt: skip
    for empty in ("empty.txt", "blank.md", "bom-only.txt", "utf16-blank.txt", "only-scripts.html"):
        assert why[empty] == "empty (no text)"
    assert why["photo.txt"].startswith("binary content")
    assert why["archive.md"].startswith("binary content (")
    assert "text layer" in why["scanned.pdf"]
    assert why["corrupt.pdf"].startswith("not a readable PDF")
    assert why["truncated.pdf"].startswith("not a readable PDF")
    assert why["dangling.txt"] == "cannot read (No such file or directory)"
    assert why["self.txt"] == "cannot read (Too many levels of symbolic links)"
    assert why["secret/"] == "cannot read folder (Permission denied)"
    assert why["loop/"] == "a linked folder: not followed (move it in)"
    assert f"{len(why)} files skipped" in plan.summary()
    manifest_skipped = engine.index.manifest["skipped"]
    assert {s["id"] for s in manifest_skipped} == set(why)
    (hit,) = engine.search("Why do otters hold hands?", k=1)
    assert hit.document == "good.txt"


def test_a_rebuild_with_new_bad_files_keeps_every_good_document(make_engine) -> None:
    engine = make_engine({"good.txt": GOOD})
    engine.build()
    before = engine.index.version
    docs = engine.settings.docs
    write(docs, "broken.pdf", b"%PDF-1.4 garbage")
    write(docs, "zero.txt", b"")
    plan = engine.build()
    assert set(reasons(plan)) == {"broken.pdf", "zero.txt"}
    assert plan.unchanged == ["good.txt"] and plan.version == before  # nothing to rebuild
    (docs / "good.txt").unlink()  # nothing readable is left: an empty index, no stale text
    plan = engine.build()
    assert plan.removed == ["good.txt"] and set(reasons(plan)) == {"broken.pdf", "zero.txt"}
    assert engine.search("otters sleep", k=5) == []


def test_a_parser_crash_on_a_hostile_file_skips_only_that_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pypdfium2

    class Exploding:  # the PDF library is not ours: a deeply nested PDF once made one recurse
        def __init__(self, *args, **kwargs) -> None:
            raise RecursionError("maximum recursion depth exceeded")

    # What a worker answers (qa/workers.py runs this in its own process, not patched there).
    monkeypatch.setattr(pypdfium2, "PdfDocument", Exploding)
    assert workers._parse(".pdf", make_pdf("Nested objects."), 1536, 64) == (
        "unreadable",
        "nested too deeply to be read",
    )


# --- Size ---------------------------------------------------------------------------------------


def test_a_file_over_the_size_limit_is_skipped_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "ok.txt", GOOD)
    with open(tmp_path / "huge.txt", "wb") as f:  # 65 MB on disk, sparse: cheap to make
        f.truncate(65 * 2**20)
    read = []
    real = os.open
    monkeypatch.setattr(os, "open", lambda path, *a: read.append(Path(path).name) or real(path, *a))
    docs, skipped = load_documents(tmp_path)
    assert [d.id for d in docs] == ["ok.txt"] and read == ["ok.txt"]  # never read into memory
    assert reasons(skipped) == {"huge.txt": "too large (65.0 MB; the limit is 64.0 MB): split it"}
    monkeypatch.setattr(documents, "MAX_FILE_BYTES", 100)
    write(tmp_path, "small-limit.md", "x " * 51)
    _, skipped = load_documents(tmp_path)
    assert (
        reasons(skipped)["small-limit.md"]
        == "too large (102 bytes; the limit is 100 bytes): split it"
    )


def test_a_2_mb_line_is_split_into_windows_in_bounded_time(
    embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(paragraphs, "MAX_PARAGRAPH_CHARS", 10**9)  # one 2 MB paragraph
    rng = random.Random(3)
    words = [
        "the",
        "otter",
        "river",
        "stone",
        "fish",
        "swam",
        "under",
        "bright",
        "cold",
        "water",
        "near",
        "old",
        "mill",
    ]
    sentences, size = [], 0
    while size < 2_000_000:
        sentence = " ".join(rng.choice(words) for _ in range(14)).capitalize() + "."
        sentences.append(sentence)
        size += len(sentence) + 1
    text = " ".join(sentences)  # one line, no blank line: one paragraph
    started = time.perf_counter()
    (paragraph,) = split_paragraphs(text_document("long.txt", text))
    units = split_units(paragraph, embedder.count_tokens, embedder.token_spans, embedder.max_tokens)
    seconds = time.perf_counter() - started
    assert seconds < 30, f"splitting a 2 MB line took {seconds:.1f} s"  # ~6 s on 2 busy cores
    assert len(units.passages) > 1000 and len(units.sentences) == len(sentences)
    # Windows overlap and cover the whole line: no text dropped, every window fits the model.
    assert units.passages[0][0] == 0 and units.passages[-1][1] == len(text)
    for (_, end), (start, _) in zip(units.passages, units.passages[1:]):
        assert start <= end
    sample = [text[s:e] for s, e in units.passages[:: len(units.passages) // 20]]
    assert max(embedder.count_tokens(sample)) <= embedder.max_tokens


def test_a_long_line_is_indexed_and_its_middle_is_found(make_engine) -> None:
    filler = "The report lists figures for every district in the province. " * 300  # ~19 KB
    needle = "The lighthouse keeper counted exactly 4,211 gulls on the island in May. "
    engine = make_engine({"line.txt": filler + needle + filler})
    plan = engine.build()
    assert plan.paragraphs == 2 and plan.skipped == []  # cut at MAX_PARAGRAPH_CHARS
    assert engine.index.manifest["passages"] > 10  # embedded as windows
    (hit,) = engine.search("How many gulls did the lighthouse keeper count?", k=1)
    assert hit.text[hit.highlight[0] : hit.highlight[1]] == needle.strip()
    assert len(hit.text) <= paragraphs.MAX_PARAGRAPH_CHARS


def test_a_huge_one_line_document_is_quoted_in_bounded_pieces(
    make_engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 20 MB line was returned whole in every hit (21 MB of JSON); a piece is bounded."""
    monkeypatch.setattr(paragraphs, "MAX_PARAGRAPH_CHARS", 600)  # 20 MB would embed for minutes
    filler = "The ledger lists the tolls paid at each bridge of the old river road. " * 40
    needle = "The ferryman charged exactly nine copper coins for a cart and two mules. "
    engine = make_engine({"huge.txt": filler + needle + filler})
    engine.build()
    pieces = engine.document("huge.txt")
    assert len(pieces) > 5 and all(len(p.text) <= 600 for p in pieces)
    assert " ".join(p.text for p in pieces) == (filler + needle + filler).strip()
    hits = engine.search("How much did the ferryman charge for a cart?", k=3)
    assert all(len(h.text) <= 600 for h in hits)
    assert hits[0].text[hits[0].highlight[0] : hits[0].highlight[1]] == needle.strip()


# --- Encodings, line endings, names -------------------------------------------------------------


def test_other_encodings_and_mixed_line_endings_are_indexed(make_engine) -> None:
    latin = "Le café est fermé le lundi à cause de la grève des serveurs.\n"
    engine = make_engine(
        {
            "latin1.txt": latin.encode("latin-1"),
            "utf16le.txt": ("\ufeff" + GOOD).encode("utf-16-le"),
            "utf16be.md": ("\ufeff" + "Penguins propose with a pebble.").encode("utf-16-be"),
            "mixed.txt": b"First para line one\r\nstill first.\r\n\r\nSecond para.\n\n"
            b"Third para.\r\rFourth para, after old Mac endings.\r\n",
        }
    )
    engine.build()
    notes = {d["id"]: d["note"] for d in engine.index.manifest["documents"]}
    assert notes["latin1.txt"] == "not valid UTF-8, decoded as Windows-1252"
    assert "UTF-16" in notes["utf16le.txt"] and "UTF-16" in notes["utf16be.md"]
    assert [p.text for p in engine.document("latin1.txt")] == [latin.strip()]
    assert [p.text for p in engine.document("utf16le.txt")] == [GOOD]
    assert [p.text for p in engine.document("mixed.txt")] == [
        "First para line one\nstill first.",
        "Second para.",
        "Third para.",
        "Fourth para, after old Mac endings.",
    ]
    assert engine.search("Why is the café closed on Monday?", k=1)[0].document == "latin1.txt"
    assert engine.search("How do penguins propose?", k=1)[0].document == "utf16be.md"


def test_file_names_with_spaces_and_unicode_work_everywhere(make_engine) -> None:
    name = "Notes été 2024/ünïcödé ✓ file #1 (copy).md"
    engine = make_engine({name: GOOD})
    engine.build()
    assert [d.id for d in engine.documents()] == [name]
    assert engine.search("otters sleep holding hands", k=1)[0].document == name
    assert engine.document(name)[0].text == GOOD


def test_a_file_name_that_is_not_utf8_is_skipped_not_fatal(make_engine) -> None:
    engine = make_engine({"ok.txt": GOOD})
    raw = os.fsencode(engine.settings.docs) + b"/caf\xe9.txt"
    with open(raw, "wb") as f:
        f.write(b"Readable text, unreadable name.")
    plan = engine.build()
    assert reasons(plan) == {"caf\\xe9.txt": "file name is not valid UTF-8: rename it"}
    assert plan.added == ["ok.txt"]
    assert engine.index.manifest["skipped"] == [
        {"id": "caf\\xe9.txt", "reason": "file name is not valid UTF-8: rename it"}
    ]


# --- Hostile HTML -------------------------------------------------------------------------------


def test_html_keeps_text_and_drops_code_attributes_and_comments(tmp_path: Path) -> None:
    write(
        tmp_path,
        "page.html",
        "<!doctype html><html><head><title>Hostile</title>"
        "<script>alert('head')</script><style>body{display:none}</style></head><body>"
        '<p onclick="alert(\'click\')">Visible <a href="javascript:alert(1)">link text</a>.</p>'
        "<!-- a comment with <script>alert('c')</script> -->"
        "<noscript>Enable JS</noscript><template><p>template text</p></template>"
        "<svg><script>alert('svg')</script><text>svg text</text></svg>"
        '<iframe srcdoc="<script>alert(2)</script>">frame</iframe>'
        "<p>Second <img src=x onerror=alert(3)> paragraph.</p>"
        "<script type=\"module\">import('x')</script></body></html>",
    )
    (doc,), skipped = load_documents(tmp_path)
    assert skipped == []
    assert doc.text.split("\n\n") == ["Visible link text.", "Second paragraph."]


# --- Nothing outside the folder, nothing but regular files (every build path) -------------------

LEAKS = {  # link name -> target outside the documents folder
    "passwd.txt": "/etc/passwd",
    "os-release.md": "../../../../../../../../etc/os-release",
    "status.txt": "/proc/self/status",
    "zero.txt": "/dev/zero",  # stat says 0 bytes: was read until memory ran out
}
OUTSIDE = "a link to a file outside the documents folder: not read"


def plant_hostile_files(docs: Path) -> None:
    """Links out of the folder, a FIFO (blocked every build forever), an inside link (fine)."""
    for name, target in LEAKS.items():
        (docs / name).symlink_to(target)
    os.mkfifo(docs / "pipe.txt")
    write(docs, "inner/real.txt", "Cormorants dry their wings in the sun after diving.")
    (docs / "alias.txt").symlink_to("inner/real.txt")


def build_within(engine, seconds: float = 60):  # noqa: ANN201
    """engine.build(), failing (not hanging) if it does not return in time."""
    result: list = []
    thread = threading.Thread(target=lambda: result.append(engine.build()), daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        with open(engine.settings.docs / "pipe.txt", "wb"):  # unblock it, then fail
            pass
        thread.join()
        pytest.fail("the build hung")
    return result[0]


def nothing_outside_is_served(engine) -> None:
    ids = {d.id for d in engine.documents()}
    assert ids.isdisjoint(LEAKS) and "pipe.txt" not in ids
    for query in ("root nologin bin bash", "VmRSS State Pid", "PRETTY_NAME VERSION_ID"):
        for hit in engine.search(query, k=5):
            assert hit.document in ("good.txt", "alias.txt", "inner/real.txt"), hit.document


def test_links_out_of_the_folder_fifos_and_devices_are_skipped_and_never_served(
    make_engine,
) -> None:
    engine = make_engine({"good.txt": GOOD})
    plant_hostile_files(engine.settings.docs)
    plan = build_within(engine)
    assert sorted(plan.added) == ["alias.txt", "good.txt", "inner/real.txt"]
    why = reasons(plan)
    assert why == {
        **dict.fromkeys(LEAKS, OUTSIDE),
        "pipe.txt": "not a regular file (a named pipe (FIFO)): not read",
    }
    nothing_outside_is_served(engine)
    from fastapi.testclient import TestClient

    from web.app import create_app

    client = TestClient(create_app(engine))
    for name in LEAKS:
        page = client.get(f"/documents/{name}")
        assert page.status_code == 404 and "root:" not in page.text


def test_a_rebuild_over_http_with_a_fifo_and_leaks_finishes_and_the_next_one_runs(
    make_engine,
) -> None:
    from fastapi.testclient import TestClient

    from qa.rebuilder import Rebuilder
    from web.app import create_app

    engine = make_engine({"good.txt": GOOD}, admin_token="t0ken")
    engine.build()
    plant_hostile_files(engine.settings.docs)
    rebuilder = Rebuilder(engine)
    client = TestClient(create_app(engine, rebuilder))
    auth = {"Authorization": "Bearer t0ken"}
    try:
        assert client.post("/api/index", headers=auth).status_code == 202
        status = rebuilder.wait(timeout=60)
        assert status.state == "idle", status
        assert "2 documents added" in status.summary and "files skipped" in status.summary
        assert client.post("/api/index", headers=auth).status_code == 202  # not a 409
        assert rebuilder.wait(timeout=60).state == "idle"
        nothing_outside_is_served(engine)
    finally:
        if rebuilder.status.state == "running":  # hung on the FIFO: unblock it
            with open(engine.settings.docs / "pipe.txt", "wb"):
                pass
            rebuilder.wait()


def test_watching_never_indexes_a_new_link_out_of_the_folder(make_engine) -> None:
    from qa.rebuilder import Rebuilder

    engine = make_engine({"good.txt": GOOD})
    engine.build()
    rebuilder = Rebuilder(engine, poll_seconds=0.1, debounce_ms=200)
    rebuilder.run_in_background(watch_docs=True)
    try:
        time.sleep(0.3)  # the watcher is set up
        plant_hostile_files(engine.settings.docs)
        deadline = time.monotonic() + 30
        while "alias.txt" not in {d.id for d in engine.documents()}:
            assert time.monotonic() < deadline, "the watcher did not rebuild"
            time.sleep(0.1)
        assert rebuilder.wait(timeout=60).state == "idle"
        nothing_outside_is_served(engine)
    finally:
        rebuilder.stop()
        if rebuilder.status.state == "running":
            with open(engine.settings.docs / "pipe.txt", "wb"):
                pass
        rebuilder.wait()


# --- Deleting the last document ----------------------------------------------------------------


@pytest.mark.parametrize("how", ["http", "watch"])
def test_deleting_every_document_empties_the_index_over_http_and_when_watched(
    make_engine, how: str
) -> None:
    from fastapi.testclient import TestClient

    from qa.rebuilder import Rebuilder
    from web.app import create_app

    engine = make_engine(
        {"good.txt": GOOD, "sub/more.md": "Sea otters use stones as tools."}, admin_token="t0ken"
    )
    engine.build()
    rebuilder = Rebuilder(engine, poll_seconds=0.1, debounce_ms=200)
    client = TestClient(create_app(engine, rebuilder))
    if how == "watch":
        rebuilder.run_in_background(watch_docs=True)
        time.sleep(0.3)  # the watcher is set up
    try:
        for path in (engine.settings.docs / "good.txt", engine.settings.docs / "sub" / "more.md"):
            path.unlink()
        if how == "http":
            auth = {"Authorization": "Bearer t0ken"}
            assert client.post("/api/index", headers=auth).status_code == 202
        deadline = time.monotonic() + 30
        while engine.documents():
            assert time.monotonic() < deadline, "the deleted documents are still indexed"
            time.sleep(0.1)
        assert rebuilder.wait(timeout=60).state == "idle"
    finally:
        rebuilder.stop()
        rebuilder.wait()
    assert client.get("/health").json()["documents"] == 0
    assert "No document is indexed." in client.get("/documents").text
    ask = client.post("/api/ask", json={"question": "Why do otters hold hands?"}).json()
    assert ask["answered"] is False and ask["passages"] == []
    assert ask["message"] == "The documents don't answer this."
    assert client.get("/api/search", params={"q": "otters"}).json()["results"] == []
    assert client.get("/documents/good.txt").status_code == 404


def test_hidden_files_and_linked_folders_are_reported_once_not_silently(tmp_path: Path) -> None:
    write(tmp_path, "a.txt", GOOD)
    write(tmp_path, ".git/config", "[core]")
    write(tmp_path, ".DS_Store", "x")
    write(tmp_path, "sub/.notes.md", "hidden notes")
    write(tmp_path.parent, "elsewhere/b.txt", "Outside text.")
    (tmp_path / "linked").symlink_to(tmp_path.parent / "elsewhere", target_is_directory=True)
    docs, skipped = load_documents(tmp_path)
    assert [d.id for d in docs] == ["a.txt"]
    assert reasons(skipped) == {
        "linked/": "a linked folder: not followed (move it in)",
        ".*": "3 hidden files or folders (names starting with '.') not indexed: "
        ".git/, .DS_Store, sub/.notes.md",
    }
