"""Cluster: the embedding of an index build on Ray workers (`qa index --ray [ADDRESS]`).

The driver (this process) reads and splits the documents, skips every text it already has a
vector for, and makes the same length-sorted batches a local build makes (Embedder.encode); Ray
workers, each with the embedder loaded once, encode those batches; the driver assembles and
publishes the version exactly as a local build does. Same batches through the same int8 model
give bit-identical vectors: dynamic int8 quantization depends on what is batched together, so a
worker never re-batches. Ray is an optional extra (`pip install -e '.[cluster]'`), imported
only here, and only when a build has something to embed.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import qa
from qa.embedder import Embedder
from qa.errors import ClusterError

if TYPE_CHECKING:
    from qa.engine import Engine
    from qa.indexer import Plan

IN_FLIGHT = 2  # batches queued per worker, so a worker never waits on the driver between two
RESTARTS = 3  # a worker that dies (killed, OOM, node lost) is restarted and its batches re-run
# Never wait forever: a cluster without free CPUs (or that went away) fails the build instead.
START_SECONDS = 600.0  # workers loading the model (a fresh node exports the int8 model first)
BATCH_SECONDS = 600.0  # one batch of 16 texts takes well under a second on a free core


def _ray() -> Any:
    try:
        import ray
    except ImportError as e:
        raise ClusterError(
            "Ray is not installed: `pip install -e '.[cluster]'` (or `pip install ray`)"
        ) from e
    return ray


def connect(address: str | None = None, **options: Any) -> None:
    """Start a local Ray cluster (address None) or join one ("auto", "ray://head:10001");
    `options` go to ray.init (e.g. num_cpus for a local one)."""
    ray = _ray()
    if address is None:
        # Ray starts workers at nice 15 so that its own processes come first. A local build
        # runs at the user's priority, and so should this one: on a busy machine the niced
        # workers embedded at ~half the rate of a local build (bench/cluster_build.py).
        options.setdefault("_system_config", {"worker_niceness": 0})
    try:
        ray.init(
            address=address,
            # The workers run this very code (a node may have another version installed).
            runtime_env={"py_modules": [str(Path(qa.__file__).parent)]},
            include_dashboard=False,
            logging_level="warning",
            **options,
        )
    except (ConnectionError, RuntimeError, ValueError) as e:
        where = f"the Ray cluster at {address}" if address else "a local Ray cluster"
        raise ClusterError(f"cannot start or reach {where}: {e}") from e


class Worker:
    """A Ray actor: one embedder, loaded once, encoding the batches it is handed as they are."""

    def __init__(self, model: str, batch_size: int, backend: str, cache: str) -> None:
        self.embedder = Embedder(model, batch_size, backend, Path(cache) if cache else None)

    def identity(self) -> dict[str, Any]:
        e = self.embedder
        return {"model": e.name, "dimension": e.dimension, "backend": e.backend, "pid": os.getpid()}

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.embedder.encode_batch(texts)


class RayEncoder:
    """Encodes `embedder`'s batches on Ray workers (a MapBatches for Embedder.encode).

    `address`: None starts a local Ray cluster; "auto" or "ray://head:10001" joins one (a Ray
    connection made before, e.g. by `ray.init` in a test, is used as it is). `workers`: one per
    CPU of the cluster unless given. `model` and `cache` are the settings the embedder was made
    with (every node needs that model folder, and exports its int8 model once into its cache).
    Started on first use, so a build with nothing to embed
    never starts Ray; `close()` (or leaving the `with` block) ends the workers.
    """

    def __init__(
        self,
        embedder: Embedder,
        address: str | None = None,
        workers: int | None = None,
        model: str = "",
        cache: str = "",
    ) -> None:
        self.embedder = embedder
        self.model = model
        self.cache = cache
        self.address = address
        self.workers = workers
        self.actors: list[Any] = []
        self.identities: list[dict[str, Any]] = []
        self.texts_sent = 0  # counted so tests can prove what was (not) sent to the workers
        self._owns_ray = False

    def __enter__(self) -> RayEncoder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Connect to (or start) the cluster and load the embedder on every worker."""
        if self.actors:
            return
        ray = _ray()
        if not ray.is_initialized():
            connect(self.address)
            self._owns_ray = True
        count = self.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        remote = ray.remote(num_cpus=1, max_restarts=RESTARTS, max_task_retries=RESTARTS)(Worker)
        e = self.embedder
        self.actors = [
            remote.remote(self.model, e.batch_size, e.backend, self.cache) for _ in range(count)
        ]
        try:
            self.identities = ray.get(
                [a.identity.remote() for a in self.actors], timeout=START_SECONDS
            )
        except (ray.exceptions.RayError, TimeoutError) as err:
            self.close()
            raise ClusterError(
                f"the Ray workers could not load the embedding model: {err}"
            ) from err
        mine = {"model": e.name, "dimension": e.dimension, "backend": e.backend}
        for identity in self.identities:
            theirs = {k: identity[k] for k in mine}
            if theirs != mine:
                self.close()
                raise ClusterError(
                    f"a Ray worker's embedder is {theirs}, this one's {mine}: the vectors would "
                    "differ from a local build's; install the same model and backend on every node"
                )

    def __call__(self, batches: list[list[str]]) -> Iterator[np.ndarray]:
        """The vectors of each batch, in order; batch i goes to worker i mod N."""
        self.start()
        import ray

        pending: deque = deque()
        window = IN_FLIGHT * len(self.actors)
        for i, batch in enumerate(batches):
            pending.append(self.actors[i % len(self.actors)].encode.remote(batch))
            self.texts_sent += len(batch)
            if len(pending) >= window:
                yield self._get(ray, pending.popleft())
        while pending:
            yield self._get(ray, pending.popleft())

    def _get(self, ray: Any, ref: Any) -> np.ndarray:
        try:
            return ray.get(ref, timeout=BATCH_SECONDS)
        except (ray.exceptions.RayError, TimeoutError) as e:  # died RESTARTS times, cluster gone
            raise ClusterError(
                f"the Ray build failed ({type(e).__name__}: {e}); nothing was published, the "
                "previous index is still in use"
            ) from e

    def pids(self) -> list[int]:
        """The process ids of the workers now (a restarted worker has a new one)."""
        import ray

        return [i["pid"] for i in ray.get([a.identity.remote() for a in self.actors])]

    def close(self) -> None:
        if self.actors:
            import ray

            for actor in self.actors:
                ray.kill(actor)
            self.actors = []
        if self._owns_ray:
            import ray

            ray.shutdown()
            self._owns_ray = False


def build_on_ray(
    engine: Engine,
    address: str | None,
    full: bool = False,
    dry_run: bool = False,
    repoint: bool = False,
) -> tuple[Plan, int]:
    """`qa index --ray [ADDRESS]`: the engine's build with its embedding on Ray workers; the
    plan and how many workers embedded (0: nothing to embed, Ray was never started)."""
    s = engine.settings
    with RayEncoder(engine.embedder, address or None, model=s.model, cache=s.cache) as workers:
        plan = engine.build(
            full=full, dry_run=dry_run, progress=True, repoint=repoint, map_batches=workers
        )
        return plan, len(workers.identities)
