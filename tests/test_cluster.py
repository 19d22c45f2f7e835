"""`qa index --ray`: the embedding on Ray workers (a local Ray cluster of 2 CPUs, real model)
gives the very index a local build gives, survives a killed worker, embeds only what changed."""

from __future__ import annotations

import filecmp
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from qa.cli import main
from qa.cluster import RayEncoder, connect
from qa.embedder import Embedder
from qa.engine import Engine
from qa.errors import ClusterError
from qa.settings import Settings
from tests.conftest import ROOT, SEEDS


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    import ray

    connect(num_cpus=2)
    yield
    ray.shutdown()


def corpus(folder: Path, copies: int = 6) -> Path:
    """The seed article as `copies` reports, each sentence made distinct by its report number:
    ~30 texts of varied lengths per report (a paragraph and its sentences), batched 16 at a time."""
    folder.mkdir(parents=True)
    paragraphs = (SEEDS / "defectors.txt").read_text("utf-8").split("\n\n")
    for n in range(copies):
        text = "\n\n".join(
            " ".join(f"In report {n}, {s}" for s in re.split(r"(?<=[.!?])\s+", p.strip()))
            for p in paragraphs
        )
        (folder / f"report-{n}.txt").write_text(text + "\n", "utf-8")
    return folder


def version_folder(index: Path) -> Path:
    return index / "versions" / (index / "current").read_text().strip()


def assert_same_index(a: Path, b: Path) -> None:
    """Every file of the two current versions byte for byte (vectors, paragraphs, BM25), but the
    manifest (its version name and time differ) whose other fields must match."""
    va, vb = version_folder(a), version_folder(b)
    files = sorted(p.relative_to(va) for p in va.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(vb) for p in vb.rglob("*") if p.is_file())
    assert {"passages.faiss", "sentences.faiss", "lexical.npz"} <= {f.name for f in files}
    different = [f for f in files if not filecmp.cmp(va / f, vb / f, shallow=False)]
    assert different == [Path("manifest.json")]
    ma, mb = (
        Engine(Settings.load({"index": x}, environ={})).store.load("all-MiniLM-L6-v2")
        for x in (a, b)
    )
    named = ("version", "created", "base")  # (a full build's base is its own version)
    assert {k: v for k, v in ma.manifest.items() if k not in named} == {
        k: v for k, v in mb.manifest.items() if k not in named
    }


def engine(docs: Path, index: Path, embedder: Embedder) -> Engine:
    return Engine(Settings.load({"docs": docs, "index": index}, environ={}), embedder)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> tuple[Path, Path]:
    """(documents, their index built locally): what every Ray build must reproduce."""
    root = tmp_path_factory.mktemp("reference")
    docs = corpus(root / "docs")
    plan = engine(docs, root / "index", embedder).build()
    assert plan.texts_to_embed > 150
    return docs, root / "index"


@pytest.fixture(scope="module")
def workers(ray_cluster: None, embedder: Embedder) -> Iterator[RayEncoder]:
    """Two Ray workers with the model loaded, shared by the tests (started once: seconds)."""
    with RayEncoder(embedder, workers=2) as encoder:
        encoder.start()
        yield encoder


def test_qa_index_ray_on_the_command_line(
    tmp_path: Path, ray_cluster: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # First in the module: its own two workers come and go before the shared ones take the CPUs.
    docs = corpus(tmp_path / "docs", copies=1)
    code = main(["index", "--ray", "--docs", str(docs), "--index", str(tmp_path / "index")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "embedded on 2 Ray workers" in captured.err
    assert captured.out.startswith("1 documents added, 0 changed, 0 removed, 0 unchanged")


def test_a_ray_build_is_the_local_build_byte_for_byte(
    tmp_path: Path, embedder: Embedder, reference: tuple[Path, Path], workers: RayEncoder
) -> None:
    docs, local = reference
    sent = workers.texts_sent
    plan = engine(docs, tmp_path / "ray", embedder).build(map_batches=workers)
    assert len({i["pid"] for i in workers.identities} - {os.getpid()}) == 2
    assert workers.texts_sent - sent == plan.texts_to_embed > 150
    assert_same_index(local, tmp_path / "ray")


def test_an_incremental_ray_build_embeds_only_what_changed(
    tmp_path: Path, embedder: Embedder, reference: tuple[Path, Path], workers: RayEncoder
) -> None:
    docs = shutil.copytree(reference[0], tmp_path / "docs")
    for index in ("local", "ray"):
        shutil.copytree(reference[1], tmp_path / index)
    (docs / "report-0.txt").write_text(
        "A new first line.\n\n" + (docs / "report-0.txt").read_text()
    )
    (docs / "zebras.txt").write_text("Zebras cross the Mara river every year.\n", "utf-8")
    # (the copied indexes name the reference's documents folder: this copy is another one)
    local = engine(docs, tmp_path / "local", embedder).build(repoint=True)
    sent = workers.texts_sent
    remote = engine(docs, tmp_path / "ray", embedder).build(map_batches=workers, repoint=True)
    assert (len(remote.added), len(remote.changed), len(remote.unchanged)) == (1, 1, 5)
    assert 0 < workers.texts_sent - sent == remote.texts_to_embed == local.texts_to_embed <= 6
    assert_same_index(tmp_path / "local", tmp_path / "ray")
    # Nothing changed: the driver embeds nothing, and never starts a worker.
    with RayEncoder(embedder, workers=2) as idle:
        engine(docs, tmp_path / "ray", embedder).build(map_batches=idle)
    assert idle.texts_sent == 0 and not idle.identities


class KillOnce:
    """Encodes on `workers`, and kills one of them (SIGKILL) once the first batch is back."""

    def __init__(self, workers: RayEncoder) -> None:
        self.workers = workers
        self.killed = 0

    def __call__(self, batches: list[list[str]]) -> Iterator[np.ndarray]:
        self.killed = self.workers.identities[0]["pid"]
        for n, vectors in enumerate(self.workers(batches)):
            if n == 0:
                os.kill(self.killed, signal.SIGKILL)  # it has batches queued: they must re-run
            yield vectors


def test_a_worker_killed_mid_build_is_replaced_and_the_build_completes(
    tmp_path: Path, embedder: Embedder, reference: tuple[Path, Path], workers: RayEncoder
) -> None:
    docs, local = reference
    killer = KillOnce(workers)
    plan = engine(docs, tmp_path / "ray", embedder).build(map_batches=killer)
    assert killer.killed and killer.killed not in workers.pids()  # restarted: a new process
    assert plan.texts_to_embed > 16 * 2 * 2  # more batches than were queued when it was killed
    assert_same_index(local, tmp_path / "ray")


def test_a_cluster_without_free_cpus_fails_the_build_instead_of_waiting(
    tmp_path: Path, embedder: Embedder, workers: RayEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    import qa.cluster

    monkeypatch.setattr(qa.cluster, "START_SECONDS", 2.0)
    docs = corpus(tmp_path / "docs", copies=1)
    with RayEncoder(embedder, workers=1) as third:  # `workers` holds both CPUs
        with pytest.raises(ClusterError, match="could not load the embedding model"):
            engine(docs, tmp_path / "index", embedder).build(map_batches=third)
        assert not third.actors  # the pending worker was given up
    assert not (tmp_path / "index" / "current").exists()  # nothing was published


def test_a_single_machine_never_imports_ray(tmp_path: Path) -> None:
    docs = shutil.copytree(SEEDS, tmp_path / "docs")
    args = ["index", "--docs", str(docs), "--index", str(tmp_path / "index")]
    code = (
        "import sys\n"
        "from qa.cli import main\n"
        f"assert main({args!r}) == 0\n"
        "import web.server\n"
        "assert 'ray' not in sys.modules, 'ray imported'\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env["PYTHONPATH"] = str(ROOT)
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
