"""A build killed (SIGKILL) at any point leaves the previous index serving; the next build works."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from qa.engine import Engine
from qa.settings import Settings
from tests.conftest import ROOT

# Runs `qa index` in a child process that kills itself with SIGKILL at a chosen point.
CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from qa import cli
    from qa.store import index as store, local

    point = sys.argv[1]
    def die(*a, **k):
        os.kill(os.getpid(), signal.SIGKILL)

    if point == "mid-save":  # some files of the new version written, manifest not yet
        real = store.write_vectors
        def write_then_die(index, path):
            real(index, path)
            if path.name == "sentences.delta.faiss":  # (the base may be linked, not written)
                die()
        store.write_vectors = write_then_die
    elif point == "before-switch":  # new version complete, pointer not yet switched
        real_replace = local.os.replace
        def replace(src, dst):
            if str(dst).endswith("current"):
                die()
            real_replace(src, dst)
        local.os.replace = replace
    sys.exit(cli.main(["index", "--docs", sys.argv[2], "--index", sys.argv[3]]))
    """
)


def env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("QA_")}


@pytest.fixture
def served(tmp_path: Path, embedder):
    """An index of one document, and a much larger document set to rebuild with."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "old.txt").write_text("The lighthouse keeper lives on the rocky island.")
    settings = Settings.load({"docs": docs, "index": tmp_path / "index"}, environ={})
    Engine(settings, embedder).build()
    big = "\n\n".join(f"Paragraph {i} is filler text about subject number {i}." for i in range(80))
    (docs / "new.txt").write_text(big + "\n\nThe submarine captain collects stamps.")
    return settings


def assert_old_index_serves(settings: Settings, embedder) -> None:
    engine = Engine(settings, embedder)
    top = engine.search("Who lives on the island?", k=1)[0]
    assert top.document == "old.txt"
    assert [d.id for d in engine.documents()] == ["old.txt"]


@pytest.mark.parametrize("point", ["embedding", "mid-save", "before-switch"])
def test_killed_build_keeps_previous_index(served: Settings, embedder, point: str) -> None:
    args = [sys.executable, "-c", CHILD, point, str(served.docs), str(served.index)]
    child = subprocess.Popen(args, cwd=ROOT, env=env(), stderr=subprocess.PIPE, text=True)
    if point == "embedding":
        # Wait for the progress bar: the child is embedding the 81 new paragraphs.
        deadline = time.monotonic() + 120
        seen = ""
        while "embedding:" not in seen and time.monotonic() < deadline:
            seen += child.stderr.read(1)
        child.send_signal(signal.SIGKILL)
    child.wait(timeout=300)
    assert child.returncode == -signal.SIGKILL
    assert_old_index_serves(served, embedder)

    engine = Engine(served, embedder)
    plan = engine.build()  # no stale lock, leftovers cleaned
    assert plan.added == ["new.txt"]
    assert engine.search("What does the submarine captain collect?", k=1)[0].document == "new.txt"
    assert [p.name for p in engine.store.versions.iterdir()] == [engine.index.version]
