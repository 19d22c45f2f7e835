"""Engine: the one object the adapters (CLI, web) talk to.

It composes the embedder, the index store, the retriever and the answer builder, and swaps to a
newer index version when one is published (one reference assignment: a request that already
holds the old version finishes on it).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from qa.answer import Answer, Passage, make_answer, passage
from qa.conversation import contextualize
from qa.embedder import Embedder, resolve_model
from qa.errors import DocumentNotFoundError, QuestionError
from qa.indexer import Plan, build
from qa.paragraphs import Paragraph
from qa.retriever import make_query, rank
from qa.settings import Settings
from qa.store import Index, Store, check_model
from qa.verifier import read_question


@dataclass(frozen=True)
class DocumentInfo:
    id: str
    paragraphs: int


def clean_question(text: str, max_chars: int) -> str:
    """The question without control characters; QuestionError if empty or too long."""
    if not isinstance(text, str):
        raise QuestionError("the question must be text")
    if len(text) > max_chars:
        raise QuestionError(
            f"the question is too long ({len(text):,} characters; at most {max_chars:,})"
        )
    cleaned = "".join(
        " " if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") else c for c in text
    )
    cleaned = " ".join(cleaned.split())
    if not cleaned:
        raise QuestionError("the question is empty")
    return cleaned


# How many questions are answered at once; more callers wait their turn. A question is about
# half native code (the model, FAISS: other threads run meanwhile) and half Python under the GIL;
# more questions at once than cores only contend for the GIL and the caches. Measured on 2
# cores, 100k paragraphs, searches per second from 8 threads: 180 with all 8 at once, 241 / 246
# / 228 with 2 / 3 / 4 at a time.
CONCURRENT_QUESTIONS = os.cpu_count() or 1


def release_memory() -> None:
    """Hand freed heap back to the OS after a swap. Without it glibc keeps the old version's
    pages, and a long-running server's RSS grew ~100 MB per rebuild (bench/soak.py)."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class Engine:
    """Search, answer, list and rebuild over one index folder."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self._embedder = embedder
        self.model_name = embedder.name if embedder else resolve_model(settings.model)[0]
        self.store = Store(settings.index)
        self._index: Index | None = None
        self._reload_lock = threading.Lock()
        self._turns = threading.BoundedSemaphore(CONCURRENT_QUESTIONS)

    @property
    def embedder(self) -> Embedder:
        """The model, loaded on first use (a missing index fails before paying for it)."""
        if self._embedder is None:
            s = self.settings
            cache = Path(s.cache) if s.cache else None
            self._embedder = Embedder(s.model, s.batch_size, s.backend, cache)
        return self._embedder

    @property
    def index(self) -> Index:
        """The index version in use (loaded on first use)."""
        if self._index is None:
            self.reload()
        assert self._index is not None
        return self._index

    def reload(self) -> bool:
        """Switch to the current version on disk if it is newer; True if it switched."""
        with self._reload_lock:
            name = self.store.current()
            if self._index is not None and self._index.version == name:
                return False
            dimension = self._embedder.dimension if self._embedder else None
            index = self.store.load(self.model_name, dimension)
            self._index = index  # the swap: one reference
        release_memory()
        return True

    def warm_up(self) -> None:
        """Load the index and the model now, at the same time: the model's ONNX session is made
        (outside the GIL) while the index is read. A missing or broken index is reported first."""
        with ThreadPoolExecutor(max_workers=1) as pool:
            model = pool.submit(lambda: self.embedder)
            index = self.index
            embedder = model.result()
        check_model(index.manifest, embedder.name, embedder.dimension)

    def build(self, full: bool = False, dry_run: bool = False, progress: bool = False) -> Plan:
        plan = build(
            self.settings.docs, self.store, self.embedder,
            full=full, dry_run=dry_run, progress=progress, loaded=self._index,
        )  # fmt: skip
        if plan.index is not None:  # just built and published: swap without reading it back
            with self._reload_lock:
                self._index = plan.index
            plan.index = None  # the plan may be kept (rebuild status): don't pin the index
            release_memory()
        elif not dry_run:
            self.reload()
        return plan

    def search(self, text: str, k: int = 5, document: str | None = None) -> list[Passage]:
        """The k best paragraphs for `text`, best first, each with its highlight."""
        text = clean_question(text, self.settings.max_question_chars)
        index = self.index
        if document is not None and document not in index.by_document:
            raise DocumentNotFoundError(f"no indexed document {document!r}")
        with self._turns:
            query = make_query(text, self.embedder.encode_query(text))
            question = read_question(index, text)
            return [passage(index, hit, question) for hit in rank(index, query, k, document)]

    def ask(
        self, question: str, history: list[str] | tuple[str, ...] = (), depth: int = 0
    ) -> Answer:
        """Quoted passages answering `question`, or the fixed 'no answer' reply.

        `depth` ranks further than the passages shown (Answer.ranked), for evaluation.
        """
        question = clean_question(question, self.settings.max_question_chars)
        text = contextualize(question, self._clean_history(history))
        index = self.index
        with self._turns:
            query = make_query(text, self.embedder.encode_query(text))
            hits = rank(index, query, max(self.settings.passages, 2, depth))
            return make_answer(
                question, index, hits, self.settings.passages, self.settings.min_confidence, text
            )

    def _clean_history(self, history: list[str] | tuple[str, ...]) -> list[str]:
        """Earlier questions that are usable text; anything else is ignored, not fatal."""
        cleaned = []
        for earlier in history:
            try:
                cleaned.append(clean_question(earlier, self.settings.max_question_chars))
            except QuestionError:
                continue
        return cleaned

    def documents(self) -> list[DocumentInfo]:
        return [DocumentInfo(d["id"], d["paragraphs"]) for d in self.index.manifest["documents"]]

    def document(self, doc_id: str) -> list[Paragraph]:
        """The paragraphs of an indexed document; DocumentNotFoundError for anything else."""
        index = self.index
        rows = index.by_document.get(doc_id)
        if rows is None:
            raise DocumentNotFoundError(f"no indexed document {doc_id!r}")
        return [index.paragraphs[r] for r in rows]

    def health(self) -> dict:
        index = self.index
        return {
            "status": "ok",
            "documents": len(index.by_document),
            "paragraphs": len(index.paragraphs),
            "model": index.manifest["model"],
            "index_version": index.version,
            "index_built_at": index.manifest["created"],
        }
