"""Indexer: build a new index version from the documents folder, reusing every vector it can.

Vectors are keyed by the hash of the text they embed, so an unchanged paragraph (or sentence) is
never embedded again; a changed one is. The new version is written beside the current one and
switched to atomically, so a crash at any moment leaves the previous index serving.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from qa import lexical_segments, refusals, stamps, workers
from qa.documents import Document, Skipped, load_documents, read_document
from qa.embedder import Embedder, MapBatches
from qa.errors import (
    DocumentsFolderError,
    IndexCorruptError,
    IndexMissingError,
    QAError,
)
from qa.files import real_folder
from qa.lexical import Lexical, Text, positions, terms
from qa.lexical_segments import LexicalSegments
from qa.pages import keep_layouts
from qa.paragraphs import Paragraph, split_paragraphs
from qa.store import FORMAT_VERSION, BuildLock, Index, Store, read_manifest, segments
from qa.store.local import version_name
from qa.store.segments import Segments
from qa.table import Paragraphs, Strings
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


def documents_folder(
    store: Store, requested: Path | None, repoint: bool = False, loaded: Index | None = None
) -> Path:
    """The documents folder to index into `store`: the one its index was built from, unless
    `requested` names another; then DocumentsFolderError, unless `repoint` says to switch.
    (`loaded`: the version in memory, whose manifest is not read again if it is the current.)"""
    try:
        if (current := store.current()) is None:
            return requested or DEFAULT_DOCS
        if loaded is not None and loaded.version == current:
            remembered = loaded.manifest.get("docs")
        else:
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


def _known(store: Store, full: bool, loaded: Index | None = None) -> dict[str, str]:
    """id -> file hash of the documents of the current index: those files, if their bytes are
    the same, are not parsed again (their paragraphs are reused). From `loaded` if it is the
    current version (its manifest is in memory: a 10 MB JSON not read again at 100k)."""
    try:
        if full or (current := store.current()) is None:
            return {}
        if loaded is not None and loaded.version == current:
            manifest = loaded.manifest
        else:
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
    stamped = {} if full else stamps.recorded(store.root)
    documents, skipped = load_documents(
        docs,
        _known(store, full, loaded),
        lambda read, total: tell(phase="reading", documents_read=read, documents=total),
        pool,
        {} if full else refusals.remembered(store.root, limits),
        stamped,
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
            stamps.remember(store.root, ((d.id, d.stamp, d.sha256) for d in documents), stamped)
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

        doc_entries = []
        unchanged = set(plan.unchanged)  # (empty without a previous version)
        table = Paragraphs.pack(previous.paragraphs) if previous is not None else None
        # Each paragraph's row in the previous version if its document is unchanged (the row is
        # taken over as arrays: O(rows) in numpy, no Paragraph made), else -1 (split now, `new`).
        origins: list[int] = []
        new: list[Paragraph] = []
        twins: list[int] = []  # per new paragraph: a previous row of its document, same text
        for doc in documents:
            if previous is not None and doc.id in unchanged:
                rows = previous.by_document.get(doc.id, [])
                origins.extend(rows)
                count = len(rows)
            else:
                split = split_paragraphs(doc)
                # Paragraphs an edit left as they were keep their units, hashes and term ids.
                had = previous.by_document.get(doc.id, []) if previous is not None else []
                before = {text_hash(table.texts[r]): r for r in had} if table else {}
                twins.extend(before.get(text_hash(p.text), -1) for p in split)
                new.extend(split)
                origins.extend([-1] * len(split))
                count = len(split)
            old = old_entries.get(doc.id, {}) if doc.unchanged else {}
            if old.get("paragraphs") == count:  # an unchanged file's entry, as it was (shared)
                doc_entries.append(old)
                continue
            if doc.note and not doc.unchanged:
                plan.notes.append(f"{doc.id}: {doc.note}")
            doc_entries.append(
                {
                    "id": doc.id,
                    "sha256": doc.sha256,
                    "title": old.get("title", "") if doc.unchanged else doc.title,
                    "paragraphs": count,
                    "note": old.get("note", "") if doc.unchanged else doc.note,
                }
            )
        origin = np.array(origins, dtype=np.int64)
        paragraphs = Paragraphs.assemble(table, origin, new)
        plan.paragraphs = len(paragraphs)

        folder = str(Path(docs).resolve())
        if previous and not (
            plan.added or plan.changed or plan.removed or previous.manifest.get("docs") != folder
        ):
            plan.version = previous.version  # nothing to do: no new version, no swap
            plan.seconds = time.perf_counter() - started
            return plan

        # The previous row whose units (and term ids, and vectors) a paragraph takes over: its
        # own row if its document is unchanged, its twin's, or -1 (split into units now).
        fresh_rows = np.flatnonzero(origin < 0)
        source = origin.copy()
        source[fresh_rows] = twins
        split_rows = np.flatnonzero(source < 0)
        lists: dict[str, list[list[tuple[tuple[int, int], str]]]] = {k: [] for k in KINDS}
        for row in split_rows.tolist():
            p = new[int(np.searchsorted(fresh_rows, row))]
            units = split_units(p, embedder.count_tokens, embedder.token_spans, embedder.max_tokens)
            for kind, spans in zip(KINDS, (units.passages, units.sentences), strict=True):
                lists[kind].append([((a, b), text_hash(p.text[a:b])) for a, b in spans])
        units = {
            kind: Units.of(previous, kind, source, split_rows, lists[kind], len(paragraphs))
            for kind in KINDS
        }
        # Texts of the new units with no vector in the previous version (looked up by hash
        # among its passages, then its sentences), each once.
        known: dict[str, tuple[str, int]] = {}  # hash -> (kind, previous row) of its vector
        new_hashes = list({h: None for kind in KINDS for units_ in lists[kind] for _, h in units_})
        for kind in reversed(KINDS) if previous is not None else ():
            stored = _strings(getattr(previous, f"{kind}_hash"))
            for h, at in zip(new_hashes, stored.find(new_hashes).tolist(), strict=True):
                if at >= 0:
                    known[h] = (kind, at)
        for units_ in lists["passage"]:
            plan.paragraphs_to_embed += any(known.get(h, ("",))[0] != "passage" for _, h in units_)
        texts: dict[str, str] = {}
        for kind in KINDS:
            for row, units_ in zip(split_rows.tolist(), lists[kind], strict=True):
                for (a, b), h in units_:
                    if h not in known:
                        texts.setdefault(h, paragraphs.texts[row][a:b])
        plan.texts_to_embed = len(texts)
        tell(phase="embedding", paragraphs=plan.paragraphs_to_embed, texts=len(texts))
        if dry_run:
            plan.seconds = time.perf_counter() - started
            return plan

        # The lexical side needs only the text: build it in a thread while the model (which
        # releases the GIL) embeds, so an incremental build costs little more than its embedding.
        sentences = units["sentence"]
        segmented = merge_after > 0 and store.segmented  # a Milvus version is always whole
        with ThreadPoolExecutor(max_workers=1) as pool:
            lexical = pool.submit(lexical_index, paragraphs, sentences, previous, source, segmented)
            vectors = embedder.encode(
                list(texts.values()),
                progress=progress,
                map_batches=map_batches,
                on_batch=lambda done, _total: tell(texts_embedded=done),
            )
            fresh = dict(zip(texts, vectors))
        tell(phase="writing")
        d = embedder.dimension
        # Over a previous version, its base is kept and new text goes into the delta segment
        # (no graph to build); a first or full build makes a new base (qa/store/segments.py).
        base = previous if segmented else None
        vectors_of = {
            kind: _vector_source(previous, units[kind], known, fresh, d, kind) for kind in KINDS
        }
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
                "passages": len(units["passage"].hashes),
                "sentences": len(units["sentence"].hashes),
                "skipped": [{"id": s.id, "reason": s.reason} for s in skipped],
            },
            paragraphs=paragraphs,
            lexical=lexical.result(),
            **{
                part: value
                for kind in KINDS
                for part, value in (
                    (
                        f"{kind}s",
                        _segments(base, kind, units[kind], vectors_of[kind], d, store.fresh),
                    ),
                    (f"{kind}_paragraph", units[kind].paragraph),
                    (f"{kind}_span", units[kind].span),
                    (f"{kind}_hash", units[kind].hashes),
                )
            },
        )
        store.publish(index)  # IndexWriteError if it fails, with nothing half-written left
        plan.index = index
        plan.merge_due = segmented and index.pending() > merge_after
        plan.seconds = time.perf_counter() - started
        return plan


KINDS = ("passage", "sentence")


@dataclass
class Units:
    """The units (passages or sentences) of a new version's paragraphs, as arrays: each one's
    paragraph row, span and text hash, and the previous version's unit it is (-1: new)."""

    paragraph: np.ndarray  # int32
    span: np.ndarray  # int32 (n, 2)
    hashes: Strings
    source: np.ndarray  # int64

    @classmethod
    def of(
        cls,
        previous: Index | None,
        kind: str,
        source: np.ndarray,
        split_rows: np.ndarray,
        lists: list[list[tuple[tuple[int, int], str]]],
        n: int,
    ) -> Units:
        """Paragraph row r takes the units of previous row source[r] (gathered as arrays), or,
        for the `split_rows`, its (span, hash) in `lists` (in the same order)."""
        counts = np.zeros(n, dtype=np.int64)
        counts[split_rows] = [len(units) for units in lists]
        reused = np.flatnonzero(source >= 0)
        if previous is not None and len(reused):
            first = getattr(previous, f"{kind}_first")
            counts[reused] = first[source[reused] + 1] - first[source[reused]]
        starts = np.cumsum(counts) - counts
        span = np.zeros((int(counts.sum()), 2), dtype=np.int32)
        unit_source = np.full(len(span), -1, dtype=np.int64)
        at_new = positions(starts[split_rows], counts[split_rows])
        span[at_new] = np.array([s for units in lists for s, _ in units], np.int32).reshape(-1, 2)
        hashes = Strings.pack(h for units in lists for _, h in units)
        if previous is not None and len(reused):
            at_old = positions(starts[reused], counts[reused])
            taken = positions(first[source[reused]], counts[reused])
            span[at_old] = getattr(previous, f"{kind}_span")[taken]
            unit_source[at_old] = taken
            old_hashes = _strings(getattr(previous, f"{kind}_hash"))
            pick = np.empty(len(span), dtype=np.int64)
            pick[at_old] = taken
            pick[at_new] = len(old_hashes) + np.arange(len(at_new))
            hashes = Strings.join([old_hashes, hashes]).take(pick)
        paragraph = np.repeat(np.arange(n, dtype=np.int32), counts)
        return cls(paragraph, span, hashes, unit_source)


def _strings(hashes: Sequence[str]) -> Strings:
    return hashes if isinstance(hashes, Strings) else Strings.pack(hashes)


def _vector_source(
    previous: Index | None,
    units: Units,
    known: dict[str, tuple[str, int]],
    fresh: dict[str, np.ndarray],
    d: int,
    kind: str,
) -> Callable[[np.ndarray], np.ndarray]:
    """Rows of `units` -> their vectors: the previous version's for a unit taken over, else
    embedded now, else the previous version's vector of the same text (passage or sentence)."""

    def vectors(rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), d), dtype=np.float32)
        source = units.source[rows]
        if previous is not None and (source >= 0).any():
            out[source >= 0] = getattr(previous, f"{kind}s").rows(source[source >= 0])
        old: dict[str, list[tuple[int, int]]] = {"passage": [], "sentence": []}
        for i in np.flatnonzero(source < 0).tolist():
            h = units.hashes[int(rows[i])]
            if h in fresh:
                out[i] = fresh[h]
            else:
                where, at = known[h]
                old[where].append((i, at))
        for where, pairs in old.items():
            if pairs and previous is not None:
                at, found = zip(*pairs, strict=True)
                out[list(at)] = getattr(previous, f"{where}s").rows(np.array(found))
        return out

    return vectors


def _segments(
    base: Index | None,
    kind: str,
    units: Units,
    vectors: Callable[[np.ndarray], np.ndarray],
    d: int,
    fresh: Callable[[np.ndarray, int], Segments],
) -> Segments:
    """The `kind` vectors of a new version: a `fresh` base, or `base`'s base with a delta."""
    if base is None:
        return fresh(vectors(np.arange(len(units.hashes))), d)
    return segments.reuse(getattr(base, f"{kind}s"), units.source, vectors)


def _reread(
    doc: Document, skipped: list[Skipped], docs: Path, pool: workers.Pool
) -> Document | None:
    """`doc` read and parsed again (None, and a Skipped entry, if it cannot be any more)."""
    from qa.documents import UnreadableError

    try:
        return read_document(Path(doc.path), doc.id, real_folder(docs), pool=pool)
    except workers.LimitError as e:
        skipped.append(Skipped(doc.id, str(e), e.sha256))
    except UnreadableError as e:
        skipped.append(Skipped(doc.id, str(e)))
    return None


def lexical_index(
    paragraphs: Paragraphs,
    sentences: Units,
    previous: Index | None,
    source: np.ndarray,
    over_base: bool = False,
) -> Lexical | LexicalSegments:
    """The lexical side of a version (cheap: no model involved). Only new text is tokenized: a
    paragraph that took over the units of previous row source[r] takes over its term ids and
    its sentences'. `over_base`: keep the previous version's lexical base and put the rest into
    a delta (qa/lexical_segments.py), else number and score everything afresh."""
    texts: list[lexical_segments.NewText] = source.tolist()
    first = np.searchsorted(sentences.paragraph, np.arange(len(paragraphs) + 1)).tolist()
    for row in np.flatnonzero(source < 0).tolist():
        text = paragraphs.texts[row]
        spans = sentences.span[first[row] : first[row + 1]].tolist()
        texts[row] = (terms(text), [terms(text[a:b]) for a, b in spans])
    if previous is not None and over_base:
        return lexical_segments.over(
            previous.lexical, previous.sentence_first, texts, previous.lexical_file
        )
    before = previous.lexical if previous is not None else None
    if isinstance(before, LexicalSegments):
        before = before.folded()  # (its rows are the previous version's)
    old_first = previous.sentence_first.tolist() if previous is not None else []
    paragraph_terms: list[Text] = []
    sentence_terms: list[Text] = []
    for text in texts:
        if isinstance(text, int):
            paragraph_terms.append(text)
            sentence_terms.extend(range(old_first[text], old_first[text + 1]))
        else:
            paragraph_terms.append(text[0])
            sentence_terms.extend(text[1])
    return Lexical.build(paragraph_terms, sentence_terms, before)
