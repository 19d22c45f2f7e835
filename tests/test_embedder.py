"""The embedder: offline model, int8 ONNX faithful to torch, guarded export, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qa.embedder import Embedder, resolve_model
from qa.errors import ModelError
from qa.onnx_model import cache_folder
from tests.conftest import SEEDS

TEXTS = (SEEDS / "defectors.txt").read_text("utf-8").split("\n") + [
    "How many North Koreans defected last year?",
    "Where was Ri Il-kyu posted?",
]


def test_shipped_model_loads_offline_as_int8_onnx(embedder: Embedder) -> None:
    assert embedder.name == "all-MiniLM-L6-v2" and embedder.backend == "onnx"
    assert (embedder.dimension, embedder.max_tokens) == (384, 256)
    vectors = embedder.encode(TEXTS)
    assert vectors.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


def test_int8_vectors_match_torch(embedder: Embedder) -> None:
    torch_embedder = Embedder(backend="torch")
    assert torch_embedder.backend == "torch"
    cosines = np.sum(embedder.encode(TEXTS) * torch_embedder.encode(TEXTS), axis=1)
    assert cosines.min() > 0.99


def test_refused_export_falls_back_to_torch(tmp_path: Path, capsys) -> None:
    _, path = resolve_model()
    folder = cache_folder(path, tmp_path)
    folder.with_name(folder.name + ".refused").write_text("worst cosine 0.5 < 0.99")
    embedder = Embedder(cache=tmp_path)
    assert embedder.backend == "torch"
    assert "worst cosine 0.5" in capsys.readouterr().err
    with pytest.raises(ModelError, match="int8 ONNX model cannot be used"):
        Embedder(backend="onnx", cache=tmp_path)


def test_bad_model_settings_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not a local sentence-transformers model folder"):
        Embedder(model=str(tmp_path))
    with pytest.raises(ModelError, match="QA_BACKEND must be one of"):
        Embedder(backend="cuda")


def test_token_counts_and_spans(embedder: Embedder) -> None:
    assert embedder.count_tokens(["hello world", ""]) == [4, 2]
    assert (
        embedder.token_spans("hello unbelievable") == [(0, 5), (6, 18)]
        or len(embedder.token_spans("hello unbelievable")) > 2
    )
