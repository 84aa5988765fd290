"""The webhook journal: every accepted event on disk before the receiver answers 2xx.

A SQLite file in WAL mode with `synchronous=FULL`, so a committed insert survives
a crash or power loss. The receiver inserts; the worker reads what is due, and
marks events `done` only after their change is committed to the warehouse, so a
crash anywhere leaves them `pending` and the next worker processes them (the
warehouse merges on the primary key, so doing one twice writes the same row).

An event's identity is its content (`event_type`, `data_type`, `object_id`,
`event_time`, `user_id`): Oura's retries and replays of the same event are
recognised and not journaled twice. Statuses: `pending`, `done` (merged),
`dropped` (nothing to load: unknown user, unsupported type, scope not granted),
`failed` (gave up after `MAX_ATTEMPTS`; the nightly refresh heals it).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import filelock

from pipelines.core.errors import OuraEltError
from pipelines.webhooks.settings import EVENT_TYPES, KEEP_FINISHED_DAYS, MAX_ATTEMPTS

_FIELDS = ("event_type", "data_type", "object_id", "event_time", "user_id")
_MAX_FIELD_LENGTH = 256
_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_key TEXT NOT NULL UNIQUE,
    event_type TEXT NOT NULL,
    data_type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    event_time TEXT NOT NULL,
    user_id TEXT NOT NULL,
    received_at REAL NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    last_error TEXT,
    finished_at REAL,
    processed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS events_due ON events (status, next_attempt_at);
CREATE TABLE IF NOT EXISTS user_ids (
    profile TEXT PRIMARY KEY,
    login TEXT NOT NULL,
    user_id TEXT NOT NULL
);
"""


class InvalidEvent(ValueError):
    """A webhook body that is not an Oura event (the message says what is wrong)."""


@dataclass(frozen=True)
class WebhookEvent:
    """One Oura webhook notification (api-reference §7)."""

    event_type: str
    data_type: str
    object_id: str
    event_time: str
    user_id: str

    @classmethod
    def from_json(cls, body: Any) -> WebhookEvent:
        """The event in a decoded webhook body.

        Raises:
            InvalidEvent: not an object, a field missing or not a short string,
                an unknown `event_type`, or an `event_time` that is not ISO 8601.
        """
        if not isinstance(body, dict):
            raise InvalidEvent("the body is not a JSON object")
        values = {}
        for name in _FIELDS:
            value = body.get(name)
            if not isinstance(value, str) or not value.strip():
                raise InvalidEvent(f"field {name!r} is missing or not a non-empty string")
            if len(value) > _MAX_FIELD_LENGTH:
                raise InvalidEvent(f"field {name!r} is longer than {_MAX_FIELD_LENGTH} characters")
            values[name] = value
        if values["event_type"] not in EVENT_TYPES:
            raise InvalidEvent(f"event_type must be one of {', '.join(EVENT_TYPES)}")
        try:
            datetime.fromisoformat(values["event_time"].replace("Z", "+00:00"))
        except ValueError:
            raise InvalidEvent("event_time is not an ISO 8601 date-time") from None
        return cls(**values)

    @property
    def key(self) -> str:
        """The event's identity: a hash of all its fields (retries and replays share it)."""
        text = "\x1f".join(getattr(self, name) for name in _FIELDS)
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Entry:
    """A journaled event."""

    seq: int
    event: WebhookEvent
    attempts: int
    received_at: float


class Journal:
    """The journal file (created 0600 in a 0700 folder), safe to share between threads.

    Args:
        path: the SQLite file.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not self.path.exists():
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(
                self.path, timeout=10.0, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=10000")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise OuraEltError(f"cannot open the webhook journal {self.path} ({exc})") from None

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r})"

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def forget_user(self, user_id: str, dry_run: bool = False) -> int:
        """Delete a person's events and cached ids (erasure); the number of rows."""
        with self._transaction() as db:
            rows = db.execute(
                "SELECT count(*) FROM events WHERE user_id = ?", (user_id,)
            ).fetchone()[0]
            rows += db.execute(
                "SELECT count(*) FROM user_ids WHERE user_id = ?", (user_id,)
            ).fetchone()[0]
            if not dry_run:
                db.execute("DELETE FROM events WHERE user_id = ?", (user_id,))
                db.execute("DELETE FROM user_ids WHERE user_id = ?", (user_id,))
        return rows

    # ------------------------------------------------------------------ receiver

    def accept(self, event: WebhookEvent, received_at: float | None = None) -> bool:
        """Journal `event` durably; False if the same event was journaled before."""
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO events (event_key, event_type, data_type, object_id,"
                " event_time, user_id, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    event.key,
                    event.event_type,
                    event.data_type,
                    event.object_id,
                    event.event_time,
                    event.user_id,
                    time.time() if received_at is None else received_at,
                ),
            )
            return cursor.rowcount == 1

    # -------------------------------------------------------------------- worker

    def due(self, limit: int, now: float | None = None) -> list[Entry]:
        """Pending events whose next attempt is due, oldest first."""
        now = time.time() if now is None else now
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, event_type, data_type, object_id, event_time, user_id, attempts,"
                " received_at FROM events"
                " WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY seq LIMIT ?",
                (now, limit),
            ).fetchall()
        return [Entry(r[0], WebhookEvent(*r[1:6]), r[6], r[7]) for r in rows]

    def mark_done(self, seqs: Iterable[int]) -> None:
        """The events' changes are committed to the warehouse."""
        self._finish(seqs, "done", None, processed=True)

    def mark_dropped(self, seqs: Iterable[int], reason: str) -> None:
        """Nothing can be loaded for these events (`reason` says why)."""
        self._finish(seqs, "dropped", reason)

    def _finish(
        self, seqs: Iterable[int], status: str, reason: str | None, processed: bool = False
    ) -> None:
        now = time.time()
        with self._transaction() as db:
            db.executemany(
                "UPDATE events SET status = ?, last_error = ?, finished_at = ?,"
                " processed = processed + ? WHERE seq = ? AND status = 'pending'",
                [(status, reason, now, int(processed), seq) for seq in seqs],
            )

    def retry_later(
        self,
        seqs: Iterable[int],
        error: str,
        *,
        delay: float,
        count_attempt: bool = True,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        """Try these events again after `delay` seconds; those that used up their
        attempts become `failed`. `count_attempt=False` for trouble that is not the
        events' own (the warehouse was busy)."""
        when = time.time() + delay
        step = int(count_attempt)
        with self._transaction() as db:
            db.executemany(
                "UPDATE events SET attempts = attempts + ?, last_error = ?, next_attempt_at = ?,"
                " status = CASE WHEN attempts + ? >= ? THEN 'failed' ELSE 'pending' END,"
                " finished_at = CASE WHEN attempts + ? >= ? THEN ? ELSE NULL END"
                " WHERE seq = ? AND status = 'pending'",
                [
                    (
                        step,
                        error[:500],
                        when,
                        step,
                        max_attempts,
                        step,
                        max_attempts,
                        time.time(),
                        seq,
                    )
                    for seq in seqs
                ],
            )

    def prune(self, keep_days: float = KEEP_FINISHED_DAYS) -> int:
        """Forget finished events older than `keep_days`; how many went."""
        cutoff = time.time() - keep_days * 86400
        with self._transaction() as db:
            return db.execute(
                "DELETE FROM events WHERE status != 'pending' AND finished_at < ?", (cutoff,)
            ).rowcount

    # ------------------------------------------------------------------ reading

    def counts(self) -> dict[str, int]:
        """Events by status."""
        with self._lock:
            return dict(
                self._db.execute("SELECT status, count(*) FROM events GROUP BY status").fetchall()
            )

    def entries(self, status: str | None = None) -> list[dict[str, Any]]:
        """Every journaled event (or those with `status`) as dicts, oldest first."""
        sql = (
            "SELECT seq, event_type, data_type, object_id, event_time, user_id, received_at,"
            " status, attempts, last_error, finished_at, processed FROM events"
        )
        with self._lock:
            cursor = self._db.execute(
                sql + (" WHERE status = ?" if status else "") + " ORDER BY seq",
                (status,) if status else (),
            )
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]

    # ------------------------------------------------------- discovered user ids

    def cached_user_id(self, profile: str, login: str) -> str | None:
        """The Oura user id found earlier for `profile`'s login `login` (its timestamp)."""
        with self._lock:
            row = self._db.execute(
                "SELECT user_id FROM user_ids WHERE profile = ? AND login = ?", (profile, login)
            ).fetchone()
        return row[0] if row else None

    def cache_user_id(self, profile: str, login: str, user_id: str) -> None:
        """Remember `profile`'s Oura user id for its login `login`."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO user_ids (profile, login, user_id) VALUES (?, ?, ?)",
                (profile, login, user_id),
            )

    # ------------------------------------------------------------- one worker

    @contextlib.contextmanager
    def worker_lock(self) -> Iterator[None]:
        """Be the only worker of this journal (other processes may still receive).

        Raises:
            OuraEltError: another worker holds it.
        """
        lock = filelock.FileLock(
            str(self.path) + ".worker.lock", thread_local=False, is_singleton=False
        )
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            raise OuraEltError(
                f"another `oura-elt webhooks serve` is already processing {self.path}; stop it "
                "first (or start this one with --no-worker)"
            ) from None
        try:
            yield
        finally:
            lock.release()
