"""The `qa` command end to end, in a temporary folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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
                                        "highlight"}  # fmt: skip
    assert "196" in data["passages"][0]["text"] and data["passages"][0]["paragraph"] == 5
    assert data["strength"] == "strong match"

    code, out, _ = run(capsys, "ask", "When is Defectors' Day celebrated?", "--json")
    top = json.loads(out)["passages"][0]
    assert top["text"][top["answer"]["start"] : top["answer"]["end"]] == "14 July"

    code, out, _ = run(capsys, "ask", "Where was Ri Il-kyu posted?")
    assert out.startswith("[1] defectors.txt ¶1") and "**Ri Il-kyu, who had been" in out

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
    code, out, err = run(capsys, "index")
    assert code == 0 and "warning: skipped photo.jpg: unsupported file type .jpg" in err


def test_chat_reads_questions_line_by_line(workdir: Path, capsys, monkeypatch) -> None:
    import io

    questions = "Who is Ri Il-kyu?\n\nWhy did he leave?\nWhat is the boiling point of mercury?\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(questions))
    code, out, err = run(capsys, "chat")
    assert code == 0 and "building it from seeds" in err
    replies = out.strip().split("\n\n")
    assert len(replies) == 3
    assert "disillusionment" in replies[1].split("\n")[1]
    assert replies[2].startswith("The documents don't answer this.")


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
