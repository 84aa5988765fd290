"""Fetching: one chunk's request windows in parallel, trimmed, with deletions found.

For every window the padded request is read to the last page; documents whose
cursor day is inside the window become rows, all others only count as *seen*.
Time series go page by page straight into Arrow tables (`arrow.page_table`):
a million samples never become a million dicts.
A document stored earlier for a day inside a completed window that the API did
not return at all (in any window of the chunk, padding included) was deleted at
Oura: it gets a tombstone row, and the merge removes it (dlt `hard_delete`).
Completed windows older than the lookback become progress rows.
"""

from __future__ import annotations

import threading
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Callable, Hashable, Mapping, Protocol

import pyarrow as pa

from pipelines.oura.arrow import inside, key_set, one_per_key, page_table
from pipelines.oura.dates import DayRange, iso_instant
from pipelines.oura.helpers import CollectionFailed, OuraClient, ScopeNotGranted
from pipelines.oura.plan import Chunk
from pipelines.oura.rows import cursor_day, key_of, to_row, tombstone
from pipelines.oura.settings import (
    DAILY,
    PAD_DAYS,
    SERIES,
    SERIES_PAD,
    USER_ID,
    Collection,
)

Key = tuple[Hashable, ...]
Stored = list[tuple[Key, "date | None"]]
# Stored keys of several (collection, span) pairs at once, by collection name.
StoredLookup = Callable[[list[tuple[Collection, "DayRange | None"]]], dict[str, Stored]]


class Reporter(Protocol):
    """Progress callbacks (called from worker threads; implementations must be thread-safe)."""

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
class CollectionBatch:
    """What one chunk holds for one collection."""

    collection: Collection
    rows: list[dict] = field(default_factory=list)
    tombstones: list[dict] = field(default_factory=list)
    completed: list[DayRange] = field(default_factory=list)
    seen: set[Key] = field(default_factory=set)
    materialize: bool = False  # create the table even when there is nothing to write
    tables: list[pa.Table] = field(default_factory=list)  # time series: rows as Arrow, per window

    @property
    def documents(self) -> int:
        """Rows to write (tombstones not counted)."""
        return len(self.rows) + sum(table.num_rows for table in self.tables)


@dataclass
class ChunkBatch:
    """Everything one pipeline run loads: rows, tombstones and progress."""

    user_id: str
    parts: dict[str, CollectionBatch] = field(default_factory=dict)
    progress: list[dict] = field(default_factory=list)


def window_params(collection: Collection, window: DayRange) -> dict[str, str]:
    """The padded query of one request window (see `settings` for the padding rule)."""
    if collection.kind == DAILY:
        pad = timedelta(days=PAD_DAYS)
        return {
            "start_date": (window.start - pad).isoformat(),
            "end_date": (window.end + pad).isoformat(),
        }
    if collection.kind == SERIES:
        lo, hi = window.utc_bounds()
        return {
            "start_datetime": iso_instant(lo - SERIES_PAD),
            "end_datetime": iso_instant(hi + SERIES_PAD),
        }
    raise ValueError(f"{collection.name} is not asked for by date window")


def fetch_window(
    client: OuraClient, collection: Collection, window: DayRange, user_id: str
) -> tuple[list[dict], set[Key]]:
    """Rows of `window` (trimmed on the cursor day) and the keys of everything returned."""
    rows: dict[Key, dict] = {}
    seen: set[Key] = set()
    for page in client.pages(collection, window_params(collection, window)):
        for doc in page:
            row = to_row(collection, doc, user_id)
            key = _checked_key(collection, row)
            seen.add(key)
            day = cursor_day(collection, row)
            if day is not None and day in window:
                rows[key] = row
    return list(rows.values()), seen


def fetch_series_window(
    client: OuraClient, collection: Collection, window: DayRange, user_id: str, keys_wanted: bool
) -> tuple[pa.Table | None, set[Key]]:
    """`fetch_window` for time series, page by page into Arrow (no dict per sample).

    The keys of everything returned matter only when something is stored in the
    chunk (`keys_wanted`): without stored keys there is nothing to tombstone, and
    a backfill skips building a million Python tuples.
    """
    tables: list[pa.Table] = []
    seen: set[Key] = set()
    for page in client.pages(collection, window_params(collection, window)):
        if not page:
            continue
        try:
            table = page_table(collection, page, user_id)
        except pa.ArrowException as exc:
            reason = f"a page holds values of unexpected types ({exc})"
            raise CollectionFailed(collection.name, reason) from None
        _checked_keys(collection, table)
        if keys_wanted:
            seen |= key_set(collection, table)
        tables.append(inside(collection, table, window))
    if not tables:
        return None, seen
    return one_per_key(collection, pa.concat_tables(tables, promote_options="permissive")), seen


def fetch_everything(client: OuraClient, collection: Collection, user_id: str) -> CollectionBatch:
    """All documents of an undated list route (`ring_configuration`)."""
    part = CollectionBatch(collection)
    rows: dict[Key, dict] = {}
    for page in client.pages(collection, {}):
        for doc in page:
            row = to_row(collection, doc, user_id)
            rows[_checked_key(collection, row)] = row
    part.rows = list(rows.values())
    part.seen = set(rows)
    return part


def _checked_key(collection: Collection, row: dict) -> Key:
    key = key_of(collection, row)
    if any(part is None for part in key):
        fields = ", ".join(n for n in collection.primary_key if n != USER_ID)
        raise CollectionFailed(collection.name, f"the API returned a document without its key ({fields})")
    return key


def _checked_keys(collection: Collection, table: pa.Table) -> None:
    """`_checked_key` for a whole table of samples."""
    names = [n for n in collection.primary_key if n != USER_ID]
    if any(n not in table.column_names or table[n].null_count for n in names):
        reason = f"the API returned a document without its key ({', '.join(names)})"
        raise CollectionFailed(collection.name, reason)


def add_tombstones(part: CollectionBatch, stored: Stored, user_id: str,
                   whole: bool = False) -> None:
    """Tombstone every stored key in a completed window (or anywhere, if `whole`) not seen."""
    for key, day in stored:
        if key in part.seen:
            continue
        if whole or (day is not None and any(day in w for w in part.completed)):
            part.tombstones.append(tombstone(part.collection, key, day, user_id))


@dataclass
class _InFlight:
    """A started chunk: its batch, stored keys and request futures."""

    batch: ChunkBatch
    stored: dict[str, Stored] = field(default_factory=dict)
    futures: dict[Future, tuple[str, DayRange]] = field(default_factory=dict)

    def cancel(self) -> None:
        """Drop the requests that have not started."""
        for future in self.futures:
            future.cancel()


class ChunkFetcher:
    """Fetches chunks for one user with a bounded pool of worker threads.

    Args:
        client: the user's API client.
        user_id: the owner of every row.
        stored: looks up stored keys of a collection in a span (main thread only).
        workers: parallel requests at most.
        reporter: progress callbacks.
        settled_through: last day that counts as loaded for good when loaded now.
        loaded_at: the run's instant, stamped on progress rows.
    """

    def __init__(
        self,
        client: OuraClient,
        user_id: str,
        stored: StoredLookup,
        workers: int,
        reporter: Reporter,
        settled_through: date,
        loaded_at: datetime,
    ) -> None:
        self.client = client
        self.user_id = user_id
        self.stored = stored
        self.reporter = reporter
        self.settled_through = settled_through
        self.loaded_at = loaded_at
        self.failed: dict[str, CollectionFailed] = {}
        self._pool = ThreadPoolExecutor(max_workers=max(workers, 1), thread_name_prefix="oura-fetch")
        self._lock = threading.Lock()

    def close(self) -> None:
        """Stop the workers (queued requests are dropped)."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def start(self, chunk: Chunk, collections: Mapping[str, Collection]) -> "_InFlight":
        """Look up what is stored for `chunk` and queue its requests (collections that
        have not failed yet); `finish` collects them.

        Starting the next chunk before committing the current one overlaps the
        network with the warehouse (their day spans are disjoint, so neither sees
        the other's rows).
        """
        flight = _InFlight(ChunkBatch(self.user_id))
        wanted = {name: windows for name, windows in chunk.windows.items() if name not in self.failed}
        flight.stored = self.stored(
            [(collections[name], DayRange(windows[0].start, windows[-1].end)) for name, windows in wanted.items()]
        )
        for name, windows in wanted.items():
            collection = collections[name]
            flight.batch.parts[name] = CollectionBatch(collection)
            for window in windows:
                if collection.kind == SERIES:
                    future = self._pool.submit(fetch_series_window, self.client, collection, window,
                                               self.user_id, bool(flight.stored.get(name)))
                else:
                    future = self._pool.submit(fetch_window, self.client, collection, window,
                                               self.user_id)
                flight.futures[future] = (name, window)
        return flight

    def finish(self, flight: "_InFlight") -> ChunkBatch:
        """Wait for a started chunk; add its tombstones and progress rows.

        Raises:
            OuraEltError: a failure that stops the whole user (lapsed membership,
                rejected token, unreachable API); collection failures are recorded
                in `failed` instead.
        """
        try:
            self._gather(flight.futures, flight.batch)
        except BaseException:
            flight.cancel()
            raise
        for name, part in flight.batch.parts.items():
            add_tombstones(part, flight.stored.get(name, []), self.user_id)
            flight.batch.progress.extend(self._progress_rows(part))
        return flight.batch

    def _gather(self, futures: dict[Future, tuple[str, DayRange]], batch: ChunkBatch) -> None:
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for future in done:
                name, window = futures[future]
                part = batch.parts[name]
                if future.cancelled():
                    continue
                exc = future.exception()
                if isinstance(exc, CollectionFailed):
                    self._fail(name, exc, futures)
                    continue
                if exc is not None:
                    raise exc
                found, seen = future.result()
                before = part.documents
                if isinstance(found, list):
                    part.rows.extend(found)
                elif found is not None:  # a time series window: one Arrow table (None: no samples)
                    part.tables.append(found)
                part.seen |= seen
                part.completed.append(window)
                self.reporter.window_done(name, part.documents - before)

    def _fail(self, name: str, exc: CollectionFailed, futures: Mapping[Future, tuple[str, DayRange]]) -> None:
        with self._lock:
            first = name not in self.failed
            self.failed.setdefault(name, exc)
        if first:
            self.reporter.failed(name, str(exc), isinstance(exc, ScopeNotGranted))
        for future, (other, _) in futures.items():
            if other == name:
                future.cancel()

    def _progress_rows(self, part: CollectionBatch) -> list[dict]:
        rows = []
        for window in sorted(part.completed):
            if window.start > self.settled_through:
                continue
            rows.append(
                {
                    USER_ID: self.user_id,
                    "collection": part.collection.name,
                    "start_day": window.start,
                    "end_day": min(window.end, self.settled_through),
                    "loaded_at": self.loaded_at,
                }
            )
        return rows
