"""Feedback: what the documents don't answer, recorded locally for their owners.

Two kinds of record: a question that got "The documents don't answer this." (`unanswered`),
and an answer a reader marked unhelpful (`unhelpful`; a helpful mark is kept too, as
`helpful`). A record holds the question, its kind, the document filter, the index version and
the time; nothing about who asked (no address, no browser). They live in one SQLite file beside
the index versions (`<index>/feedback.sqlite3`), in WAL mode so readers never block writers and
several server threads or processes can write at once; QA_FEEDBACK=off records nothing.

The report groups the questions by meaning (the embedding model's cosine), most frequent first,
with the passages that come closest to each, so an owner sees what to add to the documents.
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from qa.errors import FeedbackError

if TYPE_CHECKING:
    from qa.answer import Passage

Kind = Literal["unanswered", "unhelpful", "helpful"]
KINDS: tuple[Kind, ...] = ("unanswered", "unhelpful", "helpful")
REPORTED: tuple[Kind, ...] = ("unanswered", "unhelpful")
FILE_NAME = "feedback.sqlite3"
# Two wordings are grouped when their MiniLM embeddings' cosine is at least this. Not fitted
# (no paraphrase pairs in our data); measured on reworded pairs: "How do I reset my password?" /
# "I forgot my password, how can I change it?" 0.89, "... boiling point of mercury?" / "At what
# temperature does mercury boil?" 0.88, "Who is Ri Il-kyu?" / "who is ri il kyu" 0.93, but
# "How many North Koreans defected last year?" / "how many defectors were there last year"
# only 0.41; and on different questions: "When does the office open?" / "... close?" 0.84,
# "... boiling point ..." / "... melting point of mercury?" 0.88. No value separates them, so
# the report lists every wording of a group: a wrong merge is visible, never hidden.
SAME_QUESTION = 0.85
BUSY_SECONDS = 30.0  # how long a writer waits for another's lock before it gives up
MAX_RECORDS = 100_000  # records kept (QA_FEEDBACK_RECORDS): past it the oldest are dropped
# Wordings grouped by meaning (the most frequent ones; each is embedded once per process): the
# rarer ones are groups of their own, so a report over 100,000 distinct wordings embeds 500.
GROUPED_WORDINGS = 500

SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('unanswered', 'unhelpful', 'helpful')),
    question TEXT NOT NULL,
    document TEXT,
    version TEXT
);
CREATE INDEX IF NOT EXISTS feedback_kind ON feedback (kind);
-- The reported records counted per wording, kept as records come and go, so that a report
-- reads a page of wordings in frequency order instead of grouping every record.
CREATE TABLE IF NOT EXISTS wordings (
    question TEXT PRIMARY KEY,
    unanswered INTEGER NOT NULL,
    unhelpful INTEGER NOT NULL,
    last TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS wordings_by_count ON wordings (unanswered + unhelpful DESC, question);
CREATE TABLE IF NOT EXISTS dropped (one INTEGER PRIMARY KEY CHECK (one = 1), records INTEGER);
"""
# A file of an earlier version has records but no wordings yet: counted once, on first use.
COUNT_WORDINGS = """
INSERT OR IGNORE INTO wordings
SELECT question, sum(kind = 'unanswered'), sum(kind = 'unhelpful'), max(at) FROM feedback
WHERE kind IN ('unanswered', 'unhelpful') AND NOT EXISTS (SELECT 1 FROM wordings)
GROUP BY question
"""
ADD_WORDING = """
INSERT INTO wordings VALUES (?, ?, ?, ?) ON CONFLICT (question) DO UPDATE SET
unanswered = unanswered + excluded.unanswered, unhelpful = unhelpful + excluded.unhelpful,
last = max(last, excluded.last)
"""


@dataclass(frozen=True)
class Record:
    question: str
    kind: Kind
    at: str = ""
    document: str | None = None
    version: str | None = None


@dataclass(frozen=True)
class Wording:
    """One wording of the recorded questions: how often, of which kinds, when last."""

    question: str
    count: int
    kinds: dict[str, int]
    last_asked: str


@dataclass
class Group:
    """Questions that ask the same thing: the most frequent wording first."""

    question: str
    count: int
    kinds: dict[str, int]
    variants: list[tuple[str, int]]
    last_asked: str
    passages: list[Passage] = field(default_factory=list)  # the closest, filled by the engine

    def as_dict(self) -> dict[str, Any]:
        group = asdict(self)
        group["variants"] = [{"question": q, "count": n} for q, n in self.variants]
        group["passages"] = [p.as_dict() for p in self.passages]
        return group


@dataclass
class Report:
    """A page of the report: its groups, how many groups in all, how many records dropped."""

    groups: list[Group]
    total: int
    dropped: int


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Feedback:
    """The feedback file of one index folder; `enabled=False` records (and creates) nothing."""

    def __init__(
        self, index_folder: Path, enabled: bool = True, max_records: int = MAX_RECORDS
    ) -> None:
        self.path = Path(index_folder) / FILE_NAME
        self.enabled = enabled
        self.max_records = max_records
        self._ready = False

    def _connect(self) -> sqlite3.Connection:
        """A connection of its own per call: safe from any thread or process."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=BUSY_SECONDS)
            if not self._ready:
                self._set_up(connection)
                self._ready = True
            return connection
        except (OSError, sqlite3.Error) as e:
            raise FeedbackError(f"cannot open the feedback file {self.path}: {e}") from e

    @staticmethod
    def _set_up(connection: sqlite3.Connection) -> None:
        """WAL, the tables and the wording counts. Switching a new file to WAL needs it alone,
        and SQLite does not wait for that (the busy timeout does not apply): several processes
        opening a new file at once retry for up to BUSY_SECONDS."""
        deadline = time.monotonic() + BUSY_SECONDS
        while True:
            try:
                connection.execute("PRAGMA journal_mode=WAL")  # stays set in the file
                connection.executescript(SCHEMA)
                with connection:
                    connection.execute(COUNT_WORDINGS)
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def record(self, record: Record) -> bool:
        """Store one record; False if feedback is off."""
        if not self.enabled:
            return False
        if record.kind not in KINDS:
            raise FeedbackError(f"unknown feedback kind {record.kind!r}")
        row = (record.at or _now(), record.kind, record.question, record.document, record.version)
        connection = self._connect()
        try:
            with connection:
                connection.execute(
                    "INSERT INTO feedback (at, kind, question, document, version) "
                    "VALUES (?, ?, ?, ?, ?)",
                    row,
                )
                if record.kind in REPORTED:
                    unanswered = int(record.kind == "unanswered")
                    connection.execute(
                        ADD_WORDING, (record.question, unanswered, 1 - unanswered, row[0])
                    )
                self._drop_oldest(connection)
        except sqlite3.Error as e:
            raise FeedbackError(f"cannot write the feedback file {self.path}: {e}") from e
        finally:
            connection.close()
        return True

    def _drop_oldest(self, connection: sqlite3.Connection) -> None:
        """Keep the newest max_records (ids only grow, and only the oldest are deleted)."""
        (last,) = connection.execute(
            "SELECT max(id) - ? FROM feedback", (self.max_records,)
        ).fetchone()
        if last is None or last < 1:
            return
        gone = connection.execute(
            "SELECT question, sum(kind = 'unanswered'), sum(kind = 'unhelpful') FROM feedback "
            "WHERE id <= ? AND kind != 'helpful' GROUP BY question",
            (last,),
        ).fetchall()
        connection.executemany(
            "UPDATE wordings SET unanswered = unanswered - ?, unhelpful = unhelpful - ? "
            "WHERE question = ?",
            [(a, b, q) for q, a, b in gone],
        )
        connection.executemany(
            "DELETE FROM wordings WHERE question = ? AND unanswered + unhelpful <= 0",
            [(q,) for q, _, _ in gone],
        )
        dropped = connection.execute("DELETE FROM feedback WHERE id <= ?", (last,)).rowcount
        connection.execute(
            "INSERT INTO dropped VALUES (1, ?) "
            "ON CONFLICT (one) DO UPDATE SET records = records + excluded.records",
            (dropped,),
        )

    def records(self, kinds: Sequence[str] = REPORTED) -> list[Record]:
        """Every record of these kinds, oldest first ([] when there is no file yet)."""
        if not self.path.exists():
            return []
        connection = self._connect()
        try:
            marks = ",".join("?" * len(kinds))
            rows = connection.execute(
                "SELECT question, kind, at, document, version FROM feedback "
                f"WHERE kind IN ({marks}) ORDER BY id",
                tuple(kinds),
            ).fetchall()
        except sqlite3.Error as e:
            raise FeedbackError(f"cannot read the feedback file {self.path}: {e}") from e
        finally:
            connection.close()
        return [Record(*row) for row in rows]

    def _query(self, sql: str, args: tuple = ()) -> list[tuple]:
        if not self.path.exists():
            return []
        connection = self._connect()
        try:
            return connection.execute(sql, args).fetchall()
        except sqlite3.Error as e:
            raise FeedbackError(f"cannot read the feedback file {self.path}: {e}") from e
        finally:
            connection.close()

    def wordings(self, first: int = 0, count: int = -1) -> list[Wording]:
        """The reported wordings, most frequent first (then alphabetical): `count` of them
        (-1: all) from the `first`."""
        rows = self._query(
            "SELECT question, unanswered, unhelpful, last FROM wordings "
            "ORDER BY unanswered + unhelpful DESC, question LIMIT ? OFFSET ?",
            (count, first),
        )
        return [
            Wording(q, a + b, {k: n for k, n in (("unanswered", a), ("unhelpful", b)) if n}, at)
            for q, a, b, at in rows
        ]

    def wording_count(self) -> int:
        rows = self._query("SELECT count(*) FROM wordings")
        return rows[0][0] if rows else 0

    def dropped(self) -> int:
        """How many of the oldest records were dropped to keep at most max_records."""
        rows = self._query("SELECT records FROM dropped")
        return rows[0][0] if rows else 0


def group(
    wordings: Sequence[Wording],
    encode: Callable[[list[str]], np.ndarray],
    same: float = SAME_QUESTION,
) -> list[Group]:
    """The wordings grouped by meaning, most frequent group first.

    Wordings are taken most frequent first; each joins the first group whose leading wording is
    at least `same` cosine from it, or starts a group of its own (greedy, deterministic).
    """
    wordings = sorted(wordings, key=lambda w: (-w.count, w.question))
    if not wordings:
        return []
    vectors = np.asarray(encode([w.question for w in wordings]), dtype=np.float32)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    leaders: list[int] = []  # index in `wordings` of each group's first wording
    members: list[list[Wording]] = []
    for i, wording in enumerate(wordings):
        if leaders:
            cosines = vectors[leaders] @ vectors[i]
            best = int(np.argmax(cosines))
            if cosines[best] >= same:
                members[best].append(wording)
                continue
        leaders.append(i)
        members.append([wording])
    return sorted(map(_group, members), key=lambda g: (-g.count, g.question))


def report(
    feedback: Feedback,
    encode: Callable[[list[str]], np.ndarray],
    first: int = 0,
    count: int | None = None,
    grouped: int = GROUPED_WORDINGS,
) -> Report:
    """`count` groups (None: all) from the `first` of the report: the `grouped` most frequent
    wordings grouped by meaning, then each rarer wording as a group of its own."""
    groups = group(feedback.wordings(0, grouped), encode)
    rare = max(0, feedback.wording_count() - grouped)
    total = len(groups) + rare
    stop = total if count is None else min(total, first + count)
    shown = groups[first:stop]
    if stop > len(groups):
        start = max(first, len(groups))
        rarer = feedback.wordings(grouped + start - len(groups), stop - start)
        shown += [_group([w]) for w in rarer]
    return Report(shown, total, feedback.dropped())


def _group(wordings: list[Wording]) -> Group:
    kinds: Counter[str] = Counter()
    for w in wordings:
        kinds.update(w.kinds)
    return Group(
        question=wordings[0].question,
        count=sum(w.count for w in wordings),
        kinds=dict(kinds),
        variants=[(w.question, w.count) for w in wordings],
        last_asked=max(w.last_asked for w in wordings),
    )
