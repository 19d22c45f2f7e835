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
"""


@dataclass(frozen=True)
class Record:
    question: str
    kind: Kind
    at: str = ""
    document: str | None = None
    version: str | None = None


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


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Feedback:
    """The feedback file of one index folder; `enabled=False` records (and creates) nothing."""

    def __init__(self, index_folder: Path, enabled: bool = True) -> None:
        self.path = Path(index_folder) / FILE_NAME
        self.enabled = enabled
        self._ready = False

    def _connect(self) -> sqlite3.Connection:
        """A connection of its own per call: safe from any thread or process."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=BUSY_SECONDS)
            if not self._ready:
                connection.execute("PRAGMA journal_mode=WAL")  # stays set in the file
                connection.executescript(SCHEMA)
                self._ready = True
            return connection
        except (OSError, sqlite3.Error) as e:
            raise FeedbackError(f"cannot open the feedback file {self.path}: {e}") from e

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
        except sqlite3.Error as e:
            raise FeedbackError(f"cannot write the feedback file {self.path}: {e}") from e
        finally:
            connection.close()
        return True

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


def group(
    records: Sequence[Record],
    encode: Callable[[list[str]], np.ndarray],
    same: float = SAME_QUESTION,
) -> list[Group]:
    """The records' questions grouped by meaning, most frequent group first.

    Wordings are taken most frequent first; each joins the first group whose leading wording is
    at least `same` cosine from it, or starts a group of its own (greedy, deterministic).
    """
    if not records:
        return []
    counts = Counter(r.question for r in records)
    wordings = sorted(counts, key=lambda q: (-counts[q], q))
    vectors = np.asarray(encode(wordings), dtype=np.float32)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    leaders: list[int] = []  # index in `wordings` of each group's first wording
    members: list[list[str]] = []
    for i, wording in enumerate(wordings):
        if leaders:
            cosines = vectors[leaders] @ vectors[i]
            best = int(np.argmax(cosines))
            if cosines[best] >= same:
                members[best].append(wording)
                continue
        leaders.append(i)
        members.append([wording])
    groups = []
    for wordings_of_group in members:
        mine = [r for r in records if r.question in set(wordings_of_group)]
        groups.append(
            Group(
                question=wordings_of_group[0],
                count=len(mine),
                kinds=dict(Counter(r.kind for r in mine)),
                variants=[(q, counts[q]) for q in wordings_of_group],
                last_asked=max(r.at for r in mine),
            )
        )
    return sorted(groups, key=lambda g: (-g.count, g.question))
