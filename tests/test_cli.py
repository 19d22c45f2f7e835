"""The `qa` command end to end, in a temporary folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from importlib import metadata
from pathlib import Path

import pytest

from qa import cli
from tests.conftest import ROOT, SEEDS


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, embedder) -> Path:
    """A temp folder with a copy of the seeds; the CLI reuses the session's loaded model."""
    import shutil

    shutil.copytree(SEEDS, tmp_path / "seeds")
    monkeypatch.chdir(tmp_path)
    for key in [k for k in os.environ if k.startswith("QA_")]:
        monkeypatch.delenv(key)
    monkeypatch.setattr("qa.engine.Embedder", lambda *a, **k: embedder)
    return tmp_path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_index_ask_search_in_a_fresh_folder(workdir: Path, capsys) -> None:
    code, out, err = run(capsys, "index")
    assert code == 0 and "1 documents added" in out and "6 paragraphs in 1 documents" in out
    assert (workdir / "index" / "current").is_file()

    code, out, _ = run(capsys, "ask", "How many North Koreans defected last year?", "--json")
    data = json.loads(out)
    assert code == 0 and data["answered"] and data["message"] is None
    assert set(data["passages"][0]) == {"text", "document", "path", "paragraph", "score",
                                        "highlight", "title", "section", "page", "unit",
                                        "citation", "original_url", "page_url", "url",
                                        "answer"}  # fmt: skip
    url = data["passages"][0]["url"]  # the paragraph, with the quoted sentence marked
    assert url.startswith("http://127.0.0.1:8000/documents/defectors.txt?p=5&s=")
    assert url.endswith("#p5")
    assert "196" in data["passages"][0]["text"] and data["passages"][0]["paragraph"] == 5
    assert data["strength"] == "strong match"

    code, out, _ = run(capsys, "ask", "When is Defectors' Day celebrated?", "--json")
    top = json.loads(out)["passages"][0]
    assert top["text"][top["answer"]["start"] : top["answer"]["end"]] == "14 July"
    code, out, _ = run(capsys, "ask", "How many North Koreans defected last year?")
    assert "to just ***196*** last year" in out and "**The number of defectors" in out

    code, out, _ = run(capsys, "ask", "Where was Ri Il-kyu posted?")
    strength, source = out.split("\n")[:2]  # the strength in words, as the page says it
    assert strength in ("strong match", "partial match")
    assert source.startswith("[1] defectors.txt · ¶1  (score")
    assert "**Ri Il-kyu, who had been" in out

    code, out, _ = run(capsys, "search", "defectors last year", "-k", "2", "--json")
    data = json.loads(out)
    assert data["query"] == "defectors last year" and len(data["results"]) == 2
    assert "196" in data["results"][0]["text"]

    code, out, _ = run(capsys, "ask", "What is the boiling point of mercury?")
    assert out.startswith("The documents don't answer this.\nClosest passages:")


def test_index_dry_run_and_unchanged_rebuild(workdir: Path, capsys) -> None:
    code, out, _ = run(capsys, "index", "--dry-run")
    assert out.startswith("plan (dry run): 1 documents added") and not (workdir / "index").exists()
    run(capsys, "index")
    code, out, _ = run(capsys, "index")
    assert "0 added" not in out and "1 unchanged; embedded 0 paragraphs" in out


def test_skipped_files_are_warned_about(workdir: Path, capsys) -> None:
    (workdir / "seeds" / "photo.jpg").write_bytes(b"\xff\xd8")
    (workdir / "seeds" / "photo.heic").write_bytes(b"\x00")
    code, out, err = run(capsys, "index")
    assert code == 0 and "warning: skipped photo.heic: unsupported file type .heic" in err
    assert "warning: skipped photo.jpg: not a readable image (damaged, or not PNG" in err


def test_chat_reads_questions_line_by_line(workdir: Path, capsys, monkeypatch) -> None:
    import io

    questions = "Who is Ri Il-kyu?\n\nWhy did he leave?\nWhat is the boiling point of mercury?\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(questions))
    code, out, err = run(capsys, "chat")
    assert code == 0 and "building it from seeds" in err
    replies = out.strip().split("\n\n")
    assert len(replies) == 3
    # Piped questions are echoed, so each answer shows which question it answers.
    echo, strength, source, quote = replies[1].split("\n")[:4]
    assert echo == "> Why did he leave?" and strength in ("strong match", "partial match")
    assert source.startswith("[1] defectors.txt")
    assert "disillusionment" in quote
    assert replies[2].split("\n")[:2] == [
        "> What is the boiling point of mercury?",
        "The documents don't answer this.",
    ]


def test_version(capsys) -> None:
    with pytest.raises(SystemExit) as exit:
        cli.main(["--version"])
    assert exit.value.code == 0
    assert capsys.readouterr().out.strip() == f"qa {metadata.version('qa')}"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["ask", "anything"], "no index in index yet: run `qa index`"),
        (["index", "--docs", "missing"], "documents folder missing does not exist"),
        (["ask", " "], "the question is empty"),
    ],
)
def test_user_mistakes_are_one_line_errors(workdir: Path, capsys, argv, message) -> None:
    if argv[1] == " ":
        run(capsys, "index")
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.strip().count("\n") == 0 and message in err and "Traceback" not in err


def test_unknown_setting_is_an_error(workdir: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("QA_MIN_CONFIDANCE", "0.3")
    code, _, err = run(capsys, "index")
    assert code == 2 and "unknown setting QA_MIN_CONFIDANCE" in err


def test_python_dash_m_qa_runs_in_a_subprocess(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    result = subprocess.run(
        [sys.executable, "-m", "qa", "search", "x", "--index", str(tmp_path / "none")],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.startswith("qa: error: no index in") and "Traceback" not in result.stderr


# --- Round 2: pipes, ranges, what reaches the terminal ------------------------------------------


def test_a_closed_pipe_ends_quietly(workdir: Path, capsys) -> None:
    """`qa search ... | head -2`: the reader leaves early; no BrokenPipeError traceback."""
    assert run(capsys, "index")[0] == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    child = subprocess.Popen(
        [sys.executable, "-m", "qa", "search", "defectors", "-k", "50", "--index", "index"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=workdir,
    )  # fmt: skip
    assert child.stdout is not None
    child.stdout.close()  # like `head` exiting before the results are written
    err = child.stderr.read() if child.stderr else ""
    assert child.wait(timeout=120) == 141
    assert "Traceback" not in err and "BrokenPipe" not in err


@pytest.mark.parametrize("argv", [["ask", "x", "-k", "0"], ["search", "x", "-k", "51"]])
def test_k_out_of_range_is_refused(workdir: Path, capsys, argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    assert "-k: must be between 1 and 50" in capsys.readouterr().err


def test_names_and_text_cannot_drive_the_terminal_or_forge_lines(workdir: Path, capsys) -> None:
    docs = workdir / "seeds"
    (docs / "fake\nwarning: all good.txt").write_text("A name with a newline.", "utf-8")
    (docs / "\x1b[2Jred.md").write_text("A name with an escape.", "utf-8")
    (docs / "ansi.txt").write_text("Herons \x1b[31mstand\x1b[0m still in the reeds.", "utf-8")
    code, out, err = run(capsys, "index")
    assert code == 0 and "\x1b" not in err
    warnings = err.strip().split("\n")
    assert "warning: skipped fake\\nwarning: all good.txt: file name has control" in err
    assert "warning: skipped \\x1b[2Jred.md: file name has control characters" in err
    assert not any(line.startswith("warning: all good") for line in warnings)
    code, out, _ = run(capsys, "search", "herons stand still in reeds", "-k", "1")
    assert "\x1b" not in out and "Herons \\x1b[31mstand\\x1b[0m still" in out
    code, out, _ = run(capsys, "search", "herons stand still in reeds", "-k", "1", "--json")
    assert (
        json.loads(out)["results"][0]["text"] == "Herons \x1b[31mstand\x1b[0m still in the reeds."
    )


def test_index_and_serve_use_the_index_folder_and_refuse_another(
    workdir: Path, capsys, monkeypatch
) -> None:
    (workdir / "mine").mkdir()
    (workdir / "mine" / "notes.md").write_text("# Notes\n\nLichens grow slowly on walls.", "utf-8")
    assert run(capsys, "index", "--index", "I", "--docs", "mine")[0] == 0
    (workdir / "mine" / "more.txt").write_text("Mosses like shade and water.", "utf-8")
    code, out, _ = run(capsys, "index", "--index", "I")  # no --docs: the index's own folder
    assert code == 0 and "1 documents added" in out and "2 documents" in out
    code, _, err = run(capsys, "serve", "--index", "I", "--docs", "seeds")
    assert code == 2 and "was built from the documents folder" in err
    assert str(workdir / "mine") in err and "seeds" in err and "--repoint" in err
    code, out, _ = run(capsys, "index", "--index", "I", "--docs", "seeds", "--repoint")
    assert code == 0 and "1 documents added" in out and "2 removed" in out


def test_json_output_has_the_api_fields(workdir: Path, capsys, seed_settings, embedder) -> None:
    """`qa ask --json` and `qa search --json` print what the API answers, `url` included."""
    from fastapi.testclient import TestClient

    from qa.engine import Engine
    from web.app import create_app

    settings = replace(seed_settings, trusted_hosts="qa.example")
    api = TestClient(create_app(Engine(settings, embedder)), base_url="http://qa.example")
    question = "How many North Koreans defected last year?"
    flags = ["--index", str(seed_settings.index)]
    flags += ["--base-url", "http://qa.example/"]
    code, out, _ = run(capsys, "ask", question, "--json", *flags)
    assert code == 0
    assert json.loads(out) == api.post("/api/ask", json={"question": question}).json()
    code, out, _ = run(capsys, "search", "defectors", "-k", "3", "--json", *flags)
    assert code == 0
    expected = api.get("/api/search", params={"q": "defectors", "k": 3}).json()
    assert json.loads(out) == expected
    code, out, _ = run(capsys, "ask", question, "--json", "--document", "nope.txt", *flags)
    assert code == 2
