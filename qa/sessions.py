"""Sessions of the admin page, kept on the server so that logging out ends one at once.

A session cookie is `issued.nonce.mac`: the MAC (HMAC-SHA256 keyed by the admin token) makes it
unforgeable and ties it to the token, so a new token ends every session; and the nonce must be
in the session table, so a logout (which deletes it) ends that session even for a copy of the
cookie. The table is a small SQLite file in the index folder (`<index>/sessions.sqlite3`),
because replicas behind a load balancer share that folder: a session opened on one replica is
valid on the others, and a logout on one ends it on all of them, at the next request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import time
from pathlib import Path

from qa.errors import SessionError

FILE_NAME = "sessions.sqlite3"
SESSION_SECONDS = 12 * 3600  # a login lasts the browser session, at most this long
BUSY_SECONDS = 10.0
SCHEMA = "CREATE TABLE IF NOT EXISTS sessions (nonce TEXT PRIMARY KEY, issued INTEGER NOT NULL)"


def mac(token: str, purpose: str, value: str) -> str:
    """HMAC-SHA256 of `value` for `purpose`, keyed by the admin token."""
    key = token.encode("utf-8")
    return hmac.new(key, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


class Sessions:
    """The session table of one index folder."""

    def __init__(self, index_folder: Path) -> None:
        self.path = Path(index_folder) / FILE_NAME

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=BUSY_SECONDS)
            connection.execute(SCHEMA)
            return connection
        except (OSError, sqlite3.Error) as e:
            raise SessionError(f"cannot open the session file {self.path}: {e}") from e

    def _run(self, sql: str, *args: object) -> list[tuple]:
        connection = self._connect()
        try:
            with connection:
                return connection.execute(sql, args).fetchall()
        except sqlite3.Error as e:
            raise SessionError(f"cannot use the session file {self.path}: {e}") from e
        finally:
            connection.close()

    def open(self, token: str) -> str:
        """A new session's cookie value (expired sessions are forgotten meanwhile)."""
        now = int(time.time())
        nonce = secrets.token_hex(16)
        self._run("DELETE FROM sessions WHERE issued < ?", now - SESSION_SECONDS)
        self._run("INSERT INTO sessions (nonce, issued) VALUES (?, ?)", nonce, now)
        value = f"{now}.{nonce}"
        return f"{value}.{mac(token, 'session', value)}"

    def valid(self, token: str, cookie: str | None) -> bool:
        """Whether `cookie` is a session of this token that was not closed and has not expired."""
        if not token or not cookie or cookie.count(".") != 2:
            return False
        issued, nonce, sent = cookie.split(".")
        expected = mac(token, "session", f"{issued}.{nonce}")
        if not hmac.compare_digest(sent.encode(), expected.encode()):
            return False
        if not (issued.isdigit() and 0 <= time.time() - int(issued) <= SESSION_SECONDS):
            return False
        return bool(self._run("SELECT 1 FROM sessions WHERE nonce = ?", nonce))

    def close(self, cookie: str) -> None:
        """End the session of `cookie` (on every replica sharing the index folder)."""
        if cookie.count(".") == 2:
            self._run("DELETE FROM sessions WHERE nonce = ?", cookie.split(".")[1])
