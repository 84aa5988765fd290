"""What a caller can hand a source run besides configuration, and what the run reports back.

A dlt user needs none of this: `oura_source()` works with credentials alone. The
project's loader passes a `SourceRuntime` to share a token provider and a request
budget between runs and people, to show progress, to read what the warehouse holds
under its lock, and to cut a long first backfill into committed chunks; after the run
it reads the `Outcome`.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

Query = Callable[..., list[tuple]]
DEFAULT_WORKERS = 4  # requests in flight per source run


class Reporter(Protocol):
    """Progress callbacks (called from the extracting thread)."""

    def planned(self, collection: str, windows: int) -> None:
        """`windows` request windows of `collection` are to be fetched in this run."""

    def window_done(self, collection: str, documents: int) -> None:
        """One window of `collection` is fetched with `documents` documents."""

    def failed(self, collection: str, message: str, skipped: bool) -> None:
        """`collection` stopped (`skipped`: for lack of a scope) with a one-line message."""

    def note(self, message: str) -> None:
        """A step of the run worth telling (planning, committing a chunk...)."""


class NullReporter:
    """A reporter that says nothing."""

    def planned(self, collection: str, windows: int) -> None:  # noqa: D102
        pass

    def window_done(self, collection: str, documents: int) -> None:  # noqa: D102
        pass

    def failed(self, collection: str, message: str, skipped: bool) -> None:  # noqa: D102
        pass

    def note(self, message: str) -> None:  # noqa: D102
        pass


@dataclass
class Outcome:
    """What one source run did, beyond the rows it yielded.

    Attributes:
        user_id: the Oura user whose documents were read.
        skipped: collections skipped for a scope the login lacks, with the message.
        failed: collections that failed after retries, with a one-line message.
        deleted: tombstones yielded per table (documents gone at Oura).
        remaining: collections read completely up to `SourceRuntime.max_days` days, with
            more days after them (the next chunk goes on from there).
        spans: per collection, the first and last day asked for.
        through: per collection, the last day of the last window read completely.
    """

    user_id: str | None = None
    skipped: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)
    remaining: set[str] = field(default_factory=set)
    spans: dict[str, tuple[date, date]] = field(default_factory=dict)
    through: dict[str, date] = field(default_factory=dict)


@dataclass
class SourceRuntime:
    """Objects a source run shares with its caller.

    Attributes:
        client: the user's API client (`pipelines.oura.helpers.OuraClient`), shared by the
            caller's runs (default: one per run, from `provider` or the credentials).
        provider: the user's token provider (default: from the source's credentials).
        budget: the request budget (default: the process-wide one).
        policy: the HTTP client's `RetryPolicy`.
        workers: requests in flight at once.
        now: the current instant (default: the clock, or `OURA_ELT_NOW`).
        reporter: progress callbacks.
        stored: opens a reader of the destination (`stored.reader`), for finding documents
            deleted at Oura and still-open periods (default: the running dlt pipeline's).
        until: last day of an incremental run (default: today); the saved cursor moves
            to it. Unlike `end_date`, it keeps the run incremental.
        max_days: at most this many days per collection in this run (a chunk of a backfill).
        lookback_days: overrides the source's lookback (0 for a chunk that continues the
            one just committed).
        personal_info: the user's `personal_info`, if the caller has read it already.
        history_start: where the user's history starts, if the caller knows.
        outcome: filled in by the run.
        sessions: the runs' sessions (`close()` them when done).
        prefetched: windows the caller already asked for, (collection name, window) ->
            the `Future` of what `fetch` returns; a resource takes its window from here
            instead of asking again (a load fetches its next chunk while it commits this one).
    """

    client: Any = None
    provider: Any = None
    budget: Any = None
    policy: Any = None
    workers: int = DEFAULT_WORKERS
    now: datetime | None = None
    reporter: Reporter = field(default_factory=NullReporter)
    stored: Callable[[], AbstractContextManager[Query]] | None = None
    until: date | None = None
    max_days: int | None = None
    lookback_days: int | None = None
    personal_info: dict | None = None
    history_start: date | None = None
    outcome: Outcome = field(default_factory=Outcome)
    sessions: list[Any] = field(default_factory=list)
    prefetched: dict[tuple[str, Any], Any] = field(default_factory=dict)

    def close(self) -> None:
        """Stop the runs' request threads."""
        for session in self.sessions:
            session.close()
