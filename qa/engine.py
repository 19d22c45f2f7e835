"""Engine: the one object the adapters (CLI, web) talk to.

It composes the embedder, the index store, the retriever and the answer builder, and swaps to a
newer index version when one is published (one reference assignment: a request that already
holds the old version finishes on it).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import threading
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa import refusals
from qa.answer import Answer, Passage, make_answer, passage
from qa.conversation import contextualize
from qa.embedder import Embedder, MapBatches, resolve_model
from qa.errors import DocumentNotFoundError, FeedbackError, QuestionError
from qa.examples import PARAGRAPHS_LOOKED_AT, Example, pick
from qa.feedback import GROUPED_WORDINGS, Feedback, Kind, Record, Report, report
from qa.files import inside, real_folder
from qa.indexer import Plan, Progress, build, documents_folder
from qa.paragraphs import Paragraph
from qa.retriever import make_query, rank
from qa.settings import Settings
from qa.store import Index, check_model, open_store
from qa.store.merge import merge
from qa.verifier import read_question
from qa.workers import Limits

log = logging.getLogger(__name__)
QUESTION_VECTORS_KEPT = 50_000  # recorded wordings whose vectors report() keeps (~77 MB at most)


@dataclass(frozen=True)
class DocumentInfo:
    id: str
    paragraphs: int
    title: str = ""  # from the document, else its file name
    note: str = ""  # what its reader had to say (an encoding guessed, rows left out)


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
        self.store = open_store(settings.store, settings.index)
        self._index: Index | None = None
        self._reload_lock = threading.Lock()
        self._turns = threading.BoundedSemaphore(CONCURRENT_QUESTIONS)
        self.feedback = Feedback(
            settings.index, settings.feedback == "on", settings.feedback_records
        )
        self._question_vectors: dict[str, np.ndarray] = {}  # for report(): each wording once
        self._question_vectors_lock = threading.Lock()

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

    @property
    def docs(self) -> Path:
        """The documents folder: the index's own, or the one given for a new index (a different
        one given for an existing index is a DocumentsFolderError)."""
        return documents_folder(self.store, self.settings.docs)

    def build(
        self, full: bool = False, dry_run: bool = False, progress: bool = False,
        repoint: bool = False, map_batches: MapBatches | None = None,
        report: Callable[[Progress], None] | None = None,
    ) -> Plan:  # fmt: skip
        """Index the documents folder (`repoint`: the one given, even if the index's is another;
        `map_batches`: where the embedding batches run, e.g. on Ray workers; `report`: told how
        far the build got as it goes)."""
        docs = documents_folder(self.store, self.settings.docs, repoint, self._index)
        plan = build(
            docs, self.store, self.embedder, full=full, dry_run=dry_run, progress=progress,
            loaded=self._index, map_batches=map_batches, report=report,
            limits=Limits.of(self.settings),
            merge_after=self.settings.merge_after,
        )  # fmt: skip
        if plan.index is not None:  # just built and published: swap without reading it back
            with self._reload_lock:
                self._index = plan.index
            plan.index = None  # the plan may be kept (rebuild status): don't pin the index
            release_memory()
        elif not dry_run:
            self.reload()
        return plan

    def merge(self) -> str:
        """Fold the delta segment of the index in use into a new base (minutes at 100k
        paragraphs; builds go on meanwhile) and switch to it; returns its version."""
        merged = merge(self.store, self.index, self.model_name)
        with self._reload_lock:
            if self.store.current() == merged.version:
                self._index = merged
        release_memory()
        return merged.version

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
        self,
        question: str,
        history: list[str] | tuple[str, ...] = (),
        depth: int = 0,
        document: str | None = None,
        explain: bool = False,
    ) -> Answer:
        """Quoted passages answering `question` (from `document` only, if given), or the fixed
        'no answer' reply; `explain`: with the reasons (Answer.explanation).

        `depth` ranks further than the passages shown (Answer.ranked), for evaluation.
        """
        question = clean_question(question, self.settings.max_question_chars)
        text = contextualize(question, self._clean_history(history))
        index = self.index
        if document is not None and document not in index.by_document:
            raise DocumentNotFoundError(f"no indexed document {document!r}")
        with self._turns:
            query = make_query(text, self.embedder.encode_query(text))
            hits = rank(index, query, max(self.settings.passages, 2, depth), document)
            return make_answer(
                question, index, hits, self.settings.passages, self.settings.min_confidence, text,
                explain,
            )  # fmt: skip

    def record(self, question: str, kind: Kind, document: str | None = None) -> bool:
        """Keep feedback on a question (qa/feedback.py); a failure to write is logged, never
        the asker's problem. True if it was recorded. A `document` that is not indexed is a
        DocumentNotFoundError: a record names what the index holds, or nothing."""
        if document is not None and self.feedback.enabled:
            self.title(document)
        try:
            version = self._index.version if self._index is not None else None
            return self.feedback.record(Record(question, kind, document=document, version=version))
        except FeedbackError as e:
            log.warning("feedback not recorded: %s", e)
            return False

    def record_unanswered(self, answer: Answer, document: str | None = None) -> bool:
        """Record the question of `answer` if the documents did not answer it."""
        return not answer.answered and self.record(answer.question, "unanswered", document)

    def report(self, passages: int = 3, first: int = 0, count: int | None = None) -> Report:
        """`count` groups (None: all) from the `first` of the recorded questions grouped by
        meaning, most frequent first, each with the passages of the current index that come
        closest to it."""
        page = report(self.feedback, self._encode_questions, first, count)
        for g in page.groups:
            g.passages = self.search(g.question, k=passages) if passages else []
        return page

    def warm_report(self) -> None:
        """Embed the wordings the report groups now (`qa serve` does it in the background at
        start), so the first view of /admin does not wait for hundreds of them."""
        if self.feedback.enabled:
            with contextlib.suppress(FeedbackError):  # (said when a question is recorded)
                wordings = self.feedback.wordings(0, GROUPED_WORDINGS)
                self._encode_questions([w.question for w in wordings])

    def _encode_questions(self, questions: list[str]) -> np.ndarray:
        """Vectors of recorded questions; each wording is embedded once per process (the admin
        page reports on every view), up to QUESTION_VECTORS_KEPT wordings."""
        with self._question_vectors_lock:
            known = self._question_vectors
            new = [q for q in questions if q not in known]
            if len(known) + len(new) > QUESTION_VECTORS_KEPT:
                known.clear()
                new = list(questions)
            if new:
                known.update(zip(new, self.embedder.encode(new)))
            return np.array([known[q] for q in questions], dtype=np.float32)

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
        index = self.index
        return [
            DocumentInfo(d["id"], d["paragraphs"], index.titles[d["id"]], d.get("note", ""))
            for d in index.manifest["documents"]
        ]

    def title(self, doc_id: str) -> str:
        """The title of an indexed document; DocumentNotFoundError for anything else."""
        title = self.index.titles.get(doc_id)
        if title is None:
            raise DocumentNotFoundError(f"no indexed document {doc_id!r}")
        return title

    def original(self, doc_id: str) -> Path:
        """The file of an indexed PDF document, inside the documents folder the index was built
        from; DocumentNotFoundError for anything else (another format, a file that is gone or
        that resolves outside the folder, e.g. through a link)."""
        index = self.index
        if doc_id not in index.by_document or not doc_id.lower().endswith(".pdf"):
            raise DocumentNotFoundError(f"no indexed PDF document {doc_id!r}")
        root = real_folder(Path(index.manifest["docs"]))
        path = os.path.realpath(Path(root) / doc_id)
        if not inside(path, root) or not os.path.isfile(path):  # the boundary of every read
            raise DocumentNotFoundError(f"the file of {doc_id!r} is not in {root} any more")
        return Path(path)

    def examples(self, count: int = 4, documents: int = 12) -> list[Example]:
        """Example questions, verbatim from the first `documents` documents (qa/examples.py)."""
        index = self.index
        ids = [d["id"] for d in index.manifest["documents"][:documents]]
        rows = {i: index.by_document.get(i, [])[:PARAGRAPHS_LOOKED_AT] for i in ids}
        return pick([(i, [index.paragraphs[r] for r in rows[i]]) for i in ids], count)

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
            "refused": self.refused(),
        }

    def refused(self) -> list[dict[str, str]]:
        """The files the last build refused for breaking a reading limit: [{"id", "reason"}]."""
        return refusals.listed(self.store.root)
