"""Indexer: build a new index version from the documents folder, reusing every vector it can.

Vectors are keyed by the hash of the text they embed, so an unchanged paragraph (or sentence) is
never embedded again; a changed one is. The new version is written beside the current one and
switched to atomically, so a crash at any moment leaves the previous index serving.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from qa import refusals, workers
from qa.documents import Document, Skipped, load_documents, read_document
from qa.embedder import Embedder, MapBatches
from qa.errors import (
    DocumentsFolderError,
    IndexCorruptError,
    IndexMissingError,
    QAError,
)
from qa.files import real_folder
from qa.lexical import Lexical, Text, terms
from qa.pages import keep_layouts
from qa.paragraphs import Paragraph, split_paragraphs
from qa.store import FORMAT_VERSION, BuildLock, Index, Store, read_manifest, segments
from qa.store.local import version_name
from qa.store.segments import Segments
from qa.units import split_units, text_hash

DEFAULT_DOCS = Path("seeds")  # the documents folder of a new index when none is given


@dataclass
class Progress:
    """How far a build got: documents read, then texts (paragraphs and their sentences) embedded."""

    phase: str = "reading"  # reading | embedding | writing
    documents_read: int = 0
    documents: int = 0
    paragraphs: int = 0  # paragraphs with new text (to embed)
    texts_embedded: int = 0
    texts: int = 0  # texts to embed: those paragraphs' passages and sentences


@dataclass
class Plan:
    """What a build does (or, with --dry-run, would do)."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    paragraphs: int = 0
    paragraphs_to_embed: int = 0
    texts_to_embed: int = 0
    seconds: float = 0.0
    version: str = ""
    note: str = ""  # e.g. why a full rebuild happened
    notes: list[str] = field(default_factory=list)  # "id: note" of each document read with one
    index: Index | None = field(default=None, repr=False)  # the version built (in memory)
    merge_due: bool = False  # its delta passed the threshold: fold it into a new base (merge)

    def summary(self) -> str:
        docs = len(self.added) + len(self.changed) + len(self.unchanged)
        return (
            f"{len(self.added)} documents added, {len(self.changed)} changed, "
            f"{len(self.removed)} removed, {len(self.unchanged)} unchanged; "
            f"embedded {self.paragraphs_to_embed:,} paragraphs ({self.texts_to_embed:,} texts, "
            f"{self.seconds:.1f} s); index now {self.paragraphs:,} paragraphs in {docs:,} documents"
            + (f"; {len(self.skipped)} files skipped" if self.skipped else "")
        )


def _previous(
    store: Store, embedder: Embedder, full: bool, loaded: Index | None
) -> tuple[Index | None, str]:
    if full:
        return None, "full rebuild requested"
    if loaded is not None and loaded.version == store.current():
        return loaded, ""  # already in memory: no need to read it from disk again
    try:
        return store.load(embedder.name, embedder.dimension), ""
    except IndexMissingError:
        return None, ""
    except IndexCorruptError as e:
        return None, f"previous index unusable, rebuilding fully ({e})"


def documents_folder(store: Store, requested: Path | None, repoint: bool = False) -> Path:
    """The documents folder to index into `store`: the one its index was built from, unless
    `requested` names another; then DocumentsFolderError, unless `repoint` says to switch."""
    try:
        if store.current() is None:
            return requested or DEFAULT_DOCS
        remembered = read_manifest(store.current_folder()).get("docs")
    except QAError:
        remembered = None  # damaged or older than the format: it says nothing
    if remembered is None:
        if requested is not None:
            return requested
        raise DocumentsFolderError(
            f"the index in {store.root} does not say which documents folder it was built from "
            f"(it is damaged, or older than this program): give it with "
            f"`qa index --index {store.root} --docs DIR --full`"
        )
    remembered = Path(remembered)
    if requested is None or repoint or same_folder(requested, remembered):
        return requested or remembered
    raise DocumentsFolderError(
        f"the index in {store.root} was built from the documents folder {remembered}, not "
        f"{requested}: leave out --docs (and QA_DOCS) to use {remembered}, or run "
        f"`qa index --index {store.root} --docs {requested} --repoint` to index {requested} "
        "instead (its documents then replace those of the index)"
    )


def same_folder(a: Path, b: Path) -> bool:
    return Path(a).resolve() == Path(b).resolve()


def _known(store: Store, full: bool) -> dict[str, str]:
    """id -> file hash of the documents of the current index: those files, if their bytes are
    the same, are not parsed again (their paragraphs are reused)."""
    try:
        if full or store.current() is None:
            return {}
        manifest = read_manifest(store.current_folder())
        return {d["id"]: d["sha256"] for d in manifest["documents"]}
    except (QAError, KeyError, TypeError):
        return {}


def build(
    docs: Path,
    store: Store,
    embedder: Embedder,
    *,
    full: bool = False,
    dry_run: bool = False,
    progress: bool = False,
    loaded: Index | None = None,
    map_batches: MapBatches | None = None,
    report: Callable[[Progress], None] | None = None,
    limits: workers.Limits | None = None,
    merge_after: int = 0,
) -> Plan:
    """Index the documents under `docs` into `store`; returns what was done.

    `map_batches` encodes the embedder's batches elsewhere (Embedder.encode, qa/cluster.py).
    `report` is told how far it got (documents read, texts embedded) as it goes. Files are parsed
    by worker processes under `limits` (default: the defaults of the settings); a file that broke
    them before is not read again until it changes (qa/refusals.py).
    `merge_after` > 0: over a previous version, new vectors go into its delta segment (and
    plan.merge_due says when it holds more than that many changed paragraphs); 0: a new base."""
    started = time.perf_counter()
    state = Progress()

    def tell(**changes: int | str) -> None:
        if report is not None:
            for name, value in changes.items():
                setattr(state, name, value)
            report(replace(state))

    # A missing folder is an error (NoDocumentsError); an emptied one is an empty index, so
    # deleting the last document removes its text like deleting any other.
    limits = limits or workers.Limits()
    pool = workers.shared(limits)
    documents, skipped = load_documents(
        docs,
        _known(store, full),
        lambda read, total: tell(phase="reading", documents_read=read, documents=total),
        pool,
        {} if full else refusals.remembered(store.root, limits),
    )
    # A dry run only reads, so it neither takes the lock nor creates the index folder.
    with nullcontext() if dry_run else BuildLock(store.lock_path):
        if not dry_run:
            store.clean()  # what a killed build left (a staging folder) must not fill the disk
        previous, note = _previous(store, embedder, full, loaded)
        old_entries = {d["id"]: d for d in previous.manifest["documents"]} if previous else {}
        old_docs = {i: d["sha256"] for i, d in old_entries.items()}
        # A file taken as unchanged by the manifest read before the lock, but which the index
        # loaded now does not hold the same (another build came between, or a full rebuild):
        # parse it after all.
        documents = [
            d
            if not d.unchanged or old_docs.get(d.id) == d.sha256
            else _reread(d, skipped, docs, pool)
            for d in documents
        ]
        documents = [d for d in documents if d is not None]
        if not dry_run:
            refusals.remember(store.root, skipped, limits)
            keep_layouts(store.root, documents)  # where each PDF's lines are, for its page view
        if not documents:
            empty = f"no readable documents in {docs}: the index is empty"
            note = f"{note}; {empty}" if note else empty
        plan = Plan(skipped=skipped, note=note)
        for doc in documents:
            if doc.id not in old_docs:
                plan.added.append(doc.id)
            elif old_docs[doc.id] != doc.sha256:
                plan.changed.append(doc.id)
            else:
                plan.unchanged.append(doc.id)
        plan.removed = sorted(set(old_docs) - {d.id for d in documents})

        paragraphs: list[Paragraph] = []
        doc_entries = []
        unchanged = set(plan.unchanged)  # (empty without a previous version)
        origin: list[int | None] = []  # each paragraph's row in the previous version, if reused
        for doc in documents:
            if previous is not None and doc.id in unchanged:
                # Same text, same paragraphs: reuse them rather than split (and sentence-split)
                # every document again (the split is a function of the text, as units are).
                rows = previous.by_document.get(doc.id, [])
                split = [previous.paragraphs[r] for r in rows]
                origin.extend(rows)
            else:
                split = split_paragraphs(doc)
                origin.extend([None] * len(split))
            paragraphs.extend(split)
            old = old_entries.get(doc.id, {}) if doc.unchanged else {}
            if doc.note and not doc.unchanged:
                plan.notes.append(f"{doc.id}: {doc.note}")
            doc_entries.append(
                {
                    "id": doc.id,
                    "sha256": doc.sha256,
                    "title": old.get("title", "") if doc.unchanged else doc.title,
                    "paragraphs": len(split),
                    "note": old.get("note", "") if doc.unchanged else doc.note,
                }
            )
        plan.paragraphs = len(paragraphs)

        folder = str(Path(docs).resolve())
        if previous and not (
            plan.added or plan.changed or plan.removed or previous.manifest.get("docs") != folder
        ):
            plan.version = previous.version  # nothing to do: no new version, no swap
            plan.seconds = time.perf_counter() - started
            return plan

        passage_cache = previous.hash_rows("passages") if previous else {}  # hash -> row
        sentence_cache = previous.hash_rows("sentences") if previous else {}
        passage_rows, sentence_rows = [], []  # (paragraph row, span, hash)
        reused = _reusable_rows(previous) if previous else None
        by_text: dict[str, int] | None = None  # text hash -> previous row, made if needed
        for row, p in enumerate(paragraphs):
            if previous is not None and origin[row] is None:
                # A paragraph of an edited or added document may still have a previous twin.
                if by_text is None:
                    by_text = {text_hash(q.text): r for r, q in enumerate(previous.paragraphs)}
                origin[row] = by_text.get(text_hash(p.text))
            if reused is not None and origin[row] is not None:
                # Same text as a previous paragraph: its units, hashes and vectors are the
                # previous version's (no re-tokenizing, no hashing its texts again).
                old_passages, old_sentences = reused(origin[row])
                passage_rows.extend((row, span, h) for span, h in old_passages)
                sentence_rows.extend((row, span, h) for span, h in old_sentences)
                continue
            units = split_units(p, embedder.count_tokens, embedder.token_spans, embedder.max_tokens)
            new_passage = False
            for s, e in units.passages:
                h = text_hash(p.text[s:e])
                passage_rows.append((row, (s, e), h))
                new_passage |= h not in passage_cache
            for s, e in units.sentences:
                sentence_rows.append((row, (s, e), text_hash(p.text[s:e])))
            plan.paragraphs_to_embed += new_passage

        texts: dict[str, str] = {}  # hash -> text, every text that needs a vector, once
        for row, (s, e), h in passage_rows + sentence_rows:
            if h not in passage_cache and h not in sentence_cache:
                texts.setdefault(h, paragraphs[row].text[s:e])
        plan.texts_to_embed = len(texts)
        tell(phase="embedding", paragraphs=plan.paragraphs_to_embed, texts=len(texts))
        if dry_run:
            plan.seconds = time.perf_counter() - started
            return plan

        # The lexical side needs only the text: build it in a thread while the model (which
        # releases the GIL) embeds, so an incremental build costs little more than its embedding.
        with ThreadPoolExecutor(max_workers=1) as pool:
            lexical = pool.submit(lexical_index, paragraphs, sentence_rows, previous, origin)
            vectors = embedder.encode(
                list(texts.values()),
                progress=progress,
                map_batches=map_batches,
                on_batch=lambda done, _total: tell(texts_embedded=done),
            )
            fresh = dict(zip(texts, vectors))
        tell(phase="writing")
        d = embedder.dimension
        vectors_of = _vector_source(previous, passage_cache, sentence_cache, fresh, d)
        # Over a previous version, its base is kept and new text goes into the delta segment
        # (no graph to build); a first or full build makes a new base (qa/store/segments.py).
        base = previous if merge_after > 0 and store.segmented else None
        passage_hashes = [h for _, _, h in passage_rows]
        sentence_hashes = [h for _, _, h in sentence_rows]
        created = datetime.now(UTC)
        plan.version = version_name(created)
        index = Index(
            manifest={
                "format": FORMAT_VERSION,
                "version": plan.version,
                "created": created.isoformat(timespec="seconds"),
                "model": embedder.name,
                "dimension": d,
                "docs": folder,
                "base": base.manifest["base"] if base else plan.version,
                "documents": doc_entries,
                "paragraphs": len(paragraphs),
                "passages": len(passage_rows),
                "sentences": len(sentence_rows),
                "skipped": [{"id": s.id, "reason": s.reason} for s in skipped],
            },
            paragraphs=paragraphs,
            passages=_segments(base, "passage", passage_hashes, vectors_of, d, store.fresh),
            passage_paragraph=np.array([r for r, _, _ in passage_rows], dtype=np.int32),
            passage_span=np.array([s for _, s, _ in passage_rows], dtype=np.int32).reshape(-1, 2),
            passage_hash=passage_hashes,
            sentences=_segments(base, "sentence", sentence_hashes, vectors_of, d, store.fresh),
            sentence_paragraph=np.array([r for r, _, _ in sentence_rows], dtype=np.int32),
            sentence_span=np.array([s for _, s, _ in sentence_rows], dtype=np.int32).reshape(-1, 2),
            sentence_hash=sentence_hashes,
            lexical=lexical.result(),
        )
        store.publish(index)  # IndexWriteError if it fails, with nothing half-written left
        plan.index = index
        plan.merge_due = merge_after > 0 and index.pending() > merge_after
        plan.seconds = time.perf_counter() - started
        return plan


def _vector_source(
    previous: Index | None,
    passage_at: dict[str, int],
    sentence_at: dict[str, int],
    fresh: dict[str, np.ndarray],
    d: int,
) -> Callable[[list[str]], np.ndarray]:
    """hashes -> their vectors: embedded now, else the previous version's (passage or sentence)."""

    def vectors(hashes: list[str]) -> np.ndarray:
        out = np.empty((len(hashes), d), dtype=np.float32)
        old: dict[str, list[tuple[int, int]]] = {"passage": [], "sentence": []}
        for i, h in enumerate(hashes):
            if h in fresh:
                out[i] = fresh[h]
            elif h in passage_at:
                old["passage"].append((i, passage_at[h]))
            else:
                old["sentence"].append((i, sentence_at[h]))
        for kind, pairs in old.items():
            if pairs and previous is not None:
                at, rows = zip(*pairs, strict=True)
                out[list(at)] = getattr(previous, f"{kind}s").rows(np.array(rows))
        return out

    return vectors


def _segments(
    base: Index | None,
    kind: str,
    hashes: list[str],
    vectors: Callable[[list[str]], np.ndarray],
    d: int,
    fresh: Callable[[np.ndarray, int], Segments],
) -> Segments:
    """The `kind` vectors of a new version: a `fresh` base, or `base`'s base with a delta."""
    if base is None:
        return fresh(vectors(hashes), d)
    old = getattr(base, f"{kind}s")
    available = segments.live(old, getattr(base, f"{kind}_hash"))
    return segments.over(old, available, hashes, lambda rows: vectors([hashes[r] for r in rows]))


def _reread(
    doc: Document, skipped: list[Skipped], docs: Path, pool: workers.Pool
) -> Document | None:
    """`doc` read and parsed again (None, and a Skipped entry, if it cannot be any more)."""
    from qa.documents import UnreadableError

    try:
        return read_document(doc.path, doc.id, real_folder(docs), pool=pool)
    except workers.LimitError as e:
        skipped.append(Skipped(doc.id, str(e), e.sha256))
    except UnreadableError as e:
        skipped.append(Skipped(doc.id, str(e)))
    return None


def _reusable_rows(previous: Index):  # noqa: ANN202
    """A function: previous paragraph row -> its ((span, hash) of passages, of sentences)."""
    passages = list(zip(map(tuple, previous.passage_span.tolist()), previous.passage_hash))
    sentences = list(zip(map(tuple, previous.sentence_span.tolist()), previous.sentence_hash))
    pf, sf = previous.passage_first.tolist(), previous.sentence_first.tolist()
    return lambda row: (passages[pf[row] : pf[row + 1]], sentences[sf[row] : sf[row + 1]])


def lexical_index(
    paragraphs: list[Paragraph],
    sentence_rows: list,
    previous: Index | None,
    origin: list[int | None] | None = None,
) -> Lexical:
    """The lexical side of a version (cheap: no model involved). Only new text is tokenized: a
    paragraph with the text of previous row origin[row] takes over its term ids and its
    sentences' (its units are the previous ones)."""
    origin = origin or [None] * len(paragraphs)
    spans: list[list[tuple[int, int]]] = [[] for _ in paragraphs]
    for row, span, _ in sentence_rows:
        spans[row].append(span)
    first = previous.sentence_first.tolist() if previous is not None else []
    paragraph_terms: list[Text] = []
    sentence_terms: list[Text] = []
    for p, sentences, old in zip(paragraphs, spans, origin):
        if old is not None and first[old + 1] - first[old] == len(sentences):
            paragraph_terms.append(old)
            sentence_terms.extend(range(first[old], first[old + 1]))
        else:
            paragraph_terms.append(terms(p.text))
            sentence_terms.extend(terms(p.text[s:e]) for s, e in sentences)
    return Lexical.build(paragraph_terms, sentence_terms, previous.lexical if previous else None)
