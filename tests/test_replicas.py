"""Replicas behind a real load balancer: three `qa serve` processes on one index folder, each on
its own loopback address, behind Debian's nginx running deploy/nginx.conf, with eight clients.

Scenarios are short here (seconds of traffic each, ~1 min for the module); bench/replicas.py runs
them for a full minute each.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bench.replicas import Cluster, Result, cluster, failures, get_json, load
from qa.embedder import Embedder
from qa.engine import Engine
from qa.settings import Settings

TOPICS = {
    "cats.txt": [
        "Cats sleep for most of the day and hunt at dusk.",
        "A cat purrs when it is content and sometimes when it is hurt.",
    ],
    "volcanoes.md": [
        "Volcanoes erupt when pressure in the magma chamber grows too large.",
        "Lava cools into basalt, a dark and fine-grained rock.",
    ],
    "rivers.txt": [
        "The Nile flows north through eleven countries into the Mediterranean Sea.",
        "Salmon swim up rivers every autumn to spawn where they hatched.",
    ],
}
QUESTIONS = [
    "Why does a cat purr?",
    "When do volcanoes erupt?",
    "What rock does lava become?",
    "Where does the Nile flow?",
    "Why do salmon swim up rivers?",
    "When do cats hunt?",
]
EDITION = re.compile(r"edition (\d+)")


def write_edition(docs: Path, edition: int) -> None:
    """Every paragraph of every document names its edition: an answer that mixed two index
    versions would quote two editions."""
    for name, paragraphs in TOPICS.items():
        text = "\n\n".join(f"{p} These notes are edition {edition}." for p in paragraphs)
        (docs / name).write_text(text + "\n", "utf-8")


def editions(result: Result) -> set[str]:
    assert result.body is not None
    passages = result.body.get("passages", result.body.get("results"))
    assert passages, result.body
    return {m for p in passages for m in EDITION.findall(p["text"])}


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("replicas")
    (root / "docs").mkdir()
    write_edition(root / "docs", 1)
    settings = Settings.load({"docs": root / "docs", "index": root / "index"}, environ={})
    Engine(settings, embedder).build()
    with cluster(root / "docs", root / "index", root, size=3) as running:
        yield running


def test_health_through_nginx_names_each_replica_and_its_version(three: Cluster) -> None:
    current = (three.index / "current").read_text().strip()
    seen: dict[str, str] = {}
    for _ in range(9):  # round-robin: three rounds
        status, body, headers = get_json(three.url + "/health")
        assert status == 200
        seen[headers["X-Upstream"]] = body["index_version"]
    assert set(seen) == {f"{r.host}:{r.port}" for r in three.replicas}
    assert set(seen.values()) == {current}


def test_a_new_version_reaches_every_replica_within_2_s_and_no_answer_mixes_versions(
    three: Cluster, embedder: Embedder
) -> None:
    settings = Settings.load({"docs": three.docs, "index": three.index}, environ={})
    roll_out(three, Engine(settings, embedder), lambda: (three.index / "current").stat().st_mtime)


def test_replicas_sharing_one_milvus_switch_versions_together(
    tmp_path: Path, embedder: Embedder, milvus_store: str
) -> None:
    """The same rollout with the index in a real Milvus server (QA_STORE): every replica polls
    the alias that names the current version, and none mixes versions while they switch."""
    (tmp_path / "docs").mkdir()
    write_edition(tmp_path / "docs", 1)
    settings = Settings.load(
        {"docs": tmp_path / "docs", "index": tmp_path / "index", "store": milvus_store}, environ={}
    )
    builder = Engine(settings, embedder)
    builder.build()
    with cluster(tmp_path / "docs", tmp_path / "index", tmp_path, 3, milvus_store) as running:
        roll_out(running, builder, time.time)  # (the alias is switched as the build returns)


def roll_out(three: Cluster, builder: Engine, switched_at: Callable[[], float]) -> None:
    """Edition 2 published by `builder` (as `qa index` would, from another process) under 8
    clients: every replica on it within 2 s of the switch, no answer quoting two editions."""
    old = {r.health()["index_version"] for r in three.replicas}
    stop, results = threading.Event(), []
    clients = threading.Thread(target=load, args=(three.port, QUESTIONS, stop, 8, 60, results))
    clients.start()
    time.sleep(1.5)
    write_edition(three.docs, 2)
    plan = builder.build()
    switched = switched_at()  # when the new version became current
    delays: dict[str, float] = {}

    def all_swapped() -> bool:
        for r in three.replicas:
            if r.host not in delays and r.health().get("index_version") == plan.version:
                delays[r.host] = time.time() - switched
        return len(delays) == len(three.replicas)

    deadline = time.monotonic() + 10
    while not all_swapped() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(1.0)  # some traffic on the new version
    stop.set()
    clients.join(30)
    assert plan.version not in old and len(delays) == 3, delays
    assert max(delays.values()) < 2.0, delays
    assert results and not failures(results), failures(results)[:3]
    seen = [editions(r) for r in results]
    assert all(len(e) == 1 for e in seen), [e for e in seen if len(e) != 1][:3]
    assert {"1", "2"} == set().union(*seen)  # the traffic did span the rollout


def test_a_replica_killed_with_minus_9_and_restarted_costs_the_clients_nothing(
    three: Cluster,
) -> None:
    victim = three.replicas[1]
    address = f"{victim.host}:{victim.port}"
    stop, results = threading.Event(), []
    clients = threading.Thread(target=load, args=(three.port, QUESTIONS, stop, 8, 90, results))
    clients.start()
    time.sleep(1.5)
    before = len(results)
    victim.kill()
    time.sleep(1.0)  # traffic while it is down
    victim.start()
    assert victim.ready(60), victim.log.read_text()
    back = len(results)
    deadline = time.monotonic() + 10  # until nginx sends it traffic again (fail_timeout 2 s)
    while time.monotonic() < deadline:
        if any(r.upstream.endswith(address) for r in results[back:]):
            break
        time.sleep(0.1)
    time.sleep(0.5)
    stop.set()
    clients.join(30)
    assert before > 0 and len(results) > back
    assert not failures(results), failures(results)[:3]
    # nginx saw it fail (requests sent there went on to another replica), and it serves again.
    assert any(address in r.upstream and "," in r.upstream for r in results[before:back])
    assert any(r.upstream.endswith(address) for r in results[back:])
    assert victim.health()["index_version"] == (three.index / "current").read_text().strip()
