"""One typed settings object, read from QA_* environment variables and overridden by CLI flags.

Every field is documented in README.md (a test checks that), and an unknown QA_* variable is an
error rather than a silent no-op, so a typo never goes unnoticed. Numbers have ranges (the
`range` of their metadata): a value outside is an error too, not a server on a random port.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qa.errors import SettingsError

ENV_PREFIX = "QA_"


@dataclass(frozen=True)
class Settings:
    """All knobs of the product. Environment name of each field: QA_ + its name in capitals."""

    docs: Path | None = field(
        default=None,
        metadata={
            "help": "folder of source documents (default: the index's own, seeds/ for a new one)"
        },
    )
    index: Path = field(default=Path("index"), metadata={"help": "folder of the built index"})
    store: str = field(
        default="",
        metadata={
            "help": "where the index's versions live: empty for files in --index; "
            "milvus:PATH.db (Milvus Lite) or milvus://HOST:PORT (a Milvus server)",
            # (the [milvus] extra; --index still holds the lock, refusals, feedback, layouts)
            "pattern": r"|milvus:(?!//)\S+\.db|milvus://[A-Za-z0-9.-]+:[0-9]{1,5}",
        },
    )
    model: str = field(
        default="",
        metadata={"help": "local sentence-transformers model folder (empty: the shipped MiniLM)"},
    )
    backend: str = field(
        default="auto",
        metadata={"help": "embedding backend: auto (int8 ONNX, else torch), onnx or torch"},
    )
    cache: str = field(
        default="",
        metadata={
            "help": "folder of the cached int8 ONNX model and OCR readings (empty: ~/.cache/qa)"
        },
    )
    min_confidence: float = field(
        default=0.35,
        metadata={
            "help": "below this answer confidence (0..1) the reply is 'no answer'",
            "range": (0.0, 1.0),
        },
    )
    max_question_chars: int = field(
        default=2000,
        metadata={"help": "longest question accepted, in characters", "range": (1, 100_000)},
    )
    passages: int = field(
        default=3, metadata={"help": "passages shown per answer", "range": (1, 50)}
    )
    batch_size: int = field(
        default=16, metadata={"help": "texts per embedding batch", "range": (1, 4096)}
    )
    merge_after: int = field(
        default=5000,
        metadata={
            "help": "paragraphs added, changed or deleted since the last full build kept in the "
            "index's delta segment; past that a background merge builds a new base "
            "(0: every build builds a new base)",
            "range": (0, 10_000_000),
        },
    )
    max_request_bytes: int = field(
        default=65536,
        metadata={
            "help": "largest request body the web app accepts, in bytes",
            "range": (1024, 2**30),
        },
    )
    max_upload_bytes: int = field(
        default=20 * 1024 * 1024,
        metadata={"help": "largest document file /admin and PUT /api/documents accept, in bytes"},
    )
    admin_token: str = field(
        default="", metadata={"help": "bearer token for POST /api/index (empty: disabled)"}
    )
    feedback: str = field(
        default="on",
        metadata={
            "help": "record unanswered and unhelpful questions for `qa report` and /admin "
            "(on or off)",
            "choices": ("on", "off"),
        },
    )
    feedback_records: int = field(
        default=100_000,
        metadata={
            "help": "feedback records kept; past it the oldest are dropped",
            "range": (100, 10_000_000),
        },
    )
    feedback_per_minute: int = field(
        default=30,
        metadata={
            "help": "feedback posts (👍 / 👎) accepted per client per minute; more get a 429",
            "range": (1, 100_000),
        },
    )
    login_attempts: int = field(
        default=10,
        metadata={
            "help": "wrong admin tokens a client may type into /admin per 10 minutes; then 429",
            "range": (1, 10_000),
        },
    )
    read_memory_mb: int = field(
        default=1536,
        metadata={
            "help": "address space a worker may use to read one document, in MB",
            "range": (256, 1_048_576),
        },
    )
    read_seconds: float = field(
        default=60.0,
        metadata={"help": "time a worker may take to read one document", "range": (0.1, 86_400)},
    )
    read_text_mb: int = field(
        default=64,
        metadata={"help": "most text one document may yield, in MB", "range": (1, 4096)},
    )
    read_workers: int = field(
        default=0,
        metadata={
            "help": "worker processes that read documents (0: one per core)",
            "range": (0, 256),
        },
    )
    ocr_page_seconds: float = field(
        default=60.0,
        metadata={
            "help": "CPU-seconds OCR may take to read one scanned page (its last lines are then "
            "left out, and the document's note says so)",
            "range": (1.0, 3600.0),
        },
    )
    host: str = field(default="127.0.0.1", metadata={"help": "address `qa serve` binds"})
    port: int = field(
        default=8000, metadata={"help": "port `qa serve` listens on", "range": (1, 65535)}
    )
    trusted_hosts: str = field(
        default="",
        metadata={
            "help": "comma-separated host names the web app answers to (empty: the bound host, "
            "localhost, 127.0.0.1 and ::1; * for any)"
        },
    )
    max_rows: int = field(
        default=200_000,
        metadata={
            "help": "rows of a spreadsheet or CSV file read (over all its sheets); the rest is "
            "left out, with a note",
            "range": (1, 10_000_000),
        },
    )

    def allowed_hosts(self) -> list[str]:
        """The Host header values the web app accepts (lower case, without port or brackets)."""
        if self.trusted_hosts.strip():
            names = self.trusted_hosts.split(",")
        else:  # a wildcard bind address is not a name anyone sends
            names = ["localhost", "127.0.0.1", "::1", self.host]
            names = [n for n in names if n not in ("0.0.0.0", "::", "")]
        return list(dict.fromkeys(n.strip().strip("[]").lower() for n in names if n.strip()))

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def load(
        cls, overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
    ) -> Settings:
        """Settings from the environment (QA_*), then explicit overrides (CLI flags, not None)."""
        environ = os.environ if environ is None else environ
        fields = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for key, raw in environ.items():
            if not key.startswith(ENV_PREFIX):
                continue
            name = key[len(ENV_PREFIX) :].lower()
            if name not in fields:
                known = ", ".join(ENV_PREFIX + n.upper() for n in fields)
                raise SettingsError(f"unknown setting {key}; known settings: {known}")
            values[name] = _convert(fields[name], raw, key)
        for name, value in (overrides or {}).items():
            if name not in fields:
                raise SettingsError(f"unknown setting {name!r}")
            if value is not None:
                values[name] = _convert(fields[name], value, f"--{name.replace('_', '-')}")
        return cls(**values)


def _convert(f: dataclasses.Field, raw: Any, label: str) -> Any:
    kind = (
        f.type
        if isinstance(f.type, type)
        else {"Path": Path, "Path | None": Path, "str": str, "float": float, "int": int}[
            str(f.type)
        ]
    )
    choices = f.metadata.get("choices")
    if choices and raw not in choices:
        raise SettingsError(f"{label} must be one of {', '.join(choices)}, got {raw!r}")
    try:
        value = raw if isinstance(raw, kind) else kind(raw)
    except (TypeError, ValueError):
        raise SettingsError(f"{label} must be {kind.__name__}, got {raw!r}") from None
    pattern = f.metadata.get("pattern")
    if pattern is not None and not re.fullmatch(pattern, value):
        raise SettingsError(f"{label} {raw!r} is not valid: {f.metadata['help']}")
    if kind in (int, float) and value < 0:
        raise SettingsError(f"{label} must not be negative, got {raw!r}")
    low, high = f.metadata.get("range", (None, None))
    if low is not None and not low <= value <= high:
        raise SettingsError(f"{label} must be between {low} and {high}, got {raw!r}")
    return value
