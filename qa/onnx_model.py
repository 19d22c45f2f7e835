"""ONNX model: the embedding model exported once to ONNX, quantized to int8, cached on disk.

int8 onnxruntime encodes several times faster than torch on a CPU with the same retrieval
quality. The export is guarded: on a fixed sample the int8 vectors must stay within cosine 0.99
of torch's, else the export is refused and the caller falls back to torch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

MIN_COSINE = 0.99
# Questions and passages of several domains. (Inputs of one or two word pieces, like "ok",
# drift further, to cosine ~0.97: too little text to average quantization noise out.)
FORMAT = 2  # bump when the export recipe changes: old caches are then ignored
GUARD_SAMPLE = [
    "How many North Koreans defected last year?",
    "Where was Ri Il-kyu posted?",
    "The number of defectors overall has plummeted in recent years, from 2,700 a decade ago to "
    "just 196 last year, thanks to crackdowns by the Chinese authorities in border areas.",
    "Super Bowl 50 was an American football game to determine the champion of the NFL.",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "The recipe calls for two cups of flour, a pinch of salt and warm water.",
    "I bought this blender last month and it already stopped working. Avoid.",
    "Mutations in the BRCA1 gene increase the lifetime risk of breast cancer.",
    "What year did the Denver Broncos secure a Super Bowl title for the third time?",
    " ".join(["a long text that fills the whole model window"] * 40),
]


class ExportRefused(Exception):
    """The int8 model is not faithful enough to the original (or cannot be made here)."""


def cache_folder(model_path: Path, cache_root: Path) -> Path:
    """Where the int8 export of `model_path` lives: keyed by the model files and our recipe."""
    recipe = json.dumps([FORMAT, MIN_COSINE, GUARD_SAMPLE])  # a new recipe: a new export
    digest = hashlib.sha256(recipe.encode())
    for name in ("config.json", "tokenizer.json", "modules.json"):
        path = model_path / name
        if path.is_file():
            digest.update(path.read_bytes())
    for weights in sorted(model_path.glob("*.safetensors")) + sorted(model_path.glob("*.bin")):
        digest.update(f"{weights.name}:{weights.stat().st_size}".encode())
    return cache_root / f"{model_path.name}-{digest.hexdigest()[:16]}"


def export_int8(model_path: Path, folder: Path) -> dict:
    """Export `model_path` to `folder`/model.int8.onnx; returns the guard report."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from sentence_transformers import SentenceTransformer

    # Eager attention exports the plain softmax(QK^T)V graph, which onnxruntime fuses into
    # its own attention kernels at load time; the default (SDPA) export hides that pattern.
    # Measured: one question 2.6 -> 1.7-2.0 ms, 300 paragraphs 4.4 -> 3.2 s, same vectors.
    st = SentenceTransformer(
        str(model_path),
        device="cpu",
        local_files_only=True,
        model_kwargs={"attn_implementation": "eager"},
    )
    bert = st[0].auto_model.eval()

    class Pooled(torch.nn.Module):
        """The model plus mean pooling and normalization: one call, sentence vectors out."""

        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            hidden = self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1)

    tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=folder.parent))
    try:
        tokens = st.tokenizer(["hello world", "a b"], padding=True, return_tensors="pt")
        fp32 = tmp / "model.fp32.onnx"
        # The tracer's warnings concern branches that are constant for this model.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Pooled(),
                (),
                str(fp32),
                kwargs={
                    "input_ids": tokens["input_ids"],
                    "attention_mask": tokens["attention_mask"],
                    "token_type_ids": tokens["token_type_ids"],
                },
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["embedding"],
                dynamic_axes={
                    "input_ids": {0: "batch", 1: "tokens"},
                    "attention_mask": {0: "batch", 1: "tokens"},
                    "token_type_ids": {0: "batch", 1: "tokens"},
                    "embedding": {0: "batch"},
                },
                opset_version=17,
                dynamo=False,
            )
        int8 = tmp / "model.int8.onnx"
        root = logging.getLogger()  # quantize_dynamic logs a pre-processing hint there
        level = root.level
        root.setLevel(logging.ERROR)
        try:
            quantize_dynamic(
                str(fp32),
                str(int8),
                per_channel=True,
                op_types_to_quantize=["MatMul"],
                weight_type=QuantType.QInt8,
            )
        finally:
            root.setLevel(level)
        fp32.unlink()
        # Guard: compare with torch on a fixed, varied sample.
        reference = st.encode(GUARD_SAMPLE, normalize_embeddings=True, convert_to_numpy=True)
        candidate = OnnxEncoder(int8, model_path, st.max_seq_length).encode(GUARD_SAMPLE)
        cosines = np.sum(reference * candidate, axis=1)
        report = {"worst_cosine": float(cosines.min()), "mean_cosine": float(cosines.mean())}
        if report["worst_cosine"] < MIN_COSINE:
            raise ExportRefused(
                f"int8 export distorts vectors (worst cosine {report['worst_cosine']:.3f} "
                f"< {MIN_COSINE})"
            )
        (tmp / "guard.json").write_text(json.dumps(report))
        shutil.copy(model_path / "tokenizer.json", tmp / "tokenizer.json")
        (tmp / "max_tokens").write_text(str(st.max_seq_length))
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)  # a complete export appears at once, never half of one
        return report
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class OnnxEncoder:
    """Sentence vectors from an exported model with onnxruntime (no torch needed). Each call
    runs on the calling thread only; callers get parallelism by calling from several threads."""

    def __init__(self, onnx_path: Path, tokenizer_dir: Path, max_tokens: int) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(onnx_path), options, providers=["CPUExecutionProvider"]
        )
        self.tokenizer = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_tokens)
        self.tokenizer.enable_padding()

    def encode(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        feed = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        (vectors,) = self.session.run(None, feed)
        return vectors.astype(np.float32, copy=False)


def load_or_export(model_path: Path, cache_root: Path) -> tuple[OnnxEncoder, Path]:
    """The cached int8 encoder of `model_path`, exported on first use."""
    folder = cache_folder(model_path, cache_root)
    refused = folder.with_name(folder.name + ".refused")
    if refused.is_file():  # decided once per model and recipe; delete the file to retry
        raise ExportRefused(refused.read_text())
    if not (folder / "guard.json").is_file():
        folder.parent.mkdir(parents=True, exist_ok=True)
        # Once per machine, ~20 s: say so, or the first start looks hung.
        print(
            f"Preparing the model for fast CPU inference (once, ~20 s; cached in {folder.parent})",
            file=sys.stderr,
            flush=True,
        )
        try:
            export_int8(model_path, folder)
        except ExportRefused as e:
            refused.write_text(str(e))
            raise
    max_tokens = int((folder / "max_tokens").read_text())
    return OnnxEncoder(folder / "model.int8.onnx", folder, max_tokens), folder
