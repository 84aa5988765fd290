"""One source run's shared parts: the user's client, who the user is, where history starts,
the request pool, what the destination holds, and what happened to each collection.

A `Session` is created when `oura_source()` is called and does nothing until a
resource is extracted: the first resource to need the user's id asks `personal_info`
(once), and windows are fetched by a small pool of threads (`SourceRuntime.workers`),
each resource taking its windows back in order.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from pipelines.core.errors import OuraEltError
from pipelines.oura import history
from pipelines.oura.dates import DayRange
from pipelines.oura.fetch import fetch_everything
from pipelines.oura.helpers import CollectionFailed, OuraClient, ScopeNotGranted
from pipelines.oura.kinds import day_of, latest_day
from pipelines.oura.runtime import SourceRuntime
from pipelines.oura.settings import BY_NAME, Collection
from pipelines.oura.stored import StoredDocuments, reader

log = logging.getLogger("pipelines.oura")
T = TypeVar("T")

HISTORY_PROBES = (
    "daily_activity",
    "daily_sleep",
    "heartrate",
)  # asked when no ring set-up is known
MAX_SYNC_DELAY_DAYS = 90  # how long after a ring's last contact its late days are still read
SYNC_GAP = timedelta(
    days=1
)  # read this far past the last contact without data: the ring is not syncing


class Session:
    """What the resources of one `oura_source()` call share.

    Args:
        client: the user's API client.
        runtime: the caller's objects and the outcome to fill in.
        now: the run's instant.
        start_date: the first day asked for explicitly (None: where history starts).
        raise_on_failure: a collection that fails after retries raises (the run commits
            nothing); False: it is recorded in the outcome and the others load.
        lookback_days: recent days read again whatever the saved cursors say.
    """

    def __init__(
        self,
        client: OuraClient,
        runtime: SourceRuntime,
        now: datetime,
        start_date: date | None,
        raise_on_failure: bool,
        lookback_days: int = 0,
    ) -> None:
        self.client = client
        self.runtime = runtime
        self.outcome = runtime.outcome
        self.now = now
        self.start_date = start_date
        self.raise_on_failure = raise_on_failure
        self.lookback_days = lookback_days
        self._lock = threading.RLock()  # the lazy parts below ask each other (user id, rings)
        self._info: dict | None = runtime.personal_info
        if self._info is not None:
            self.outcome.user_id = self._info["id"]
        self._rings: list[dict] | None = None
        self._first_day: date | None = runtime.history_start
        self._stored: StoredDocuments | None | bool = False  # False: not opened yet
        self._contact: datetime | None | bool = False  # False: not read yet
        self.capped: set[str] = set()  # collections whose span stops at `max_days`
        runtime.sessions.append(self)
        # pyarrow imports pandas lazily on first use, from whichever thread; dlt imports it in
        # this one: importing it here first keeps two threads from importing it at once.
        import pandas  # noqa: F401

        self._pool = ThreadPoolExecutor(max(runtime.workers, 1), thread_name_prefix="oura-fetch")
        owned = None if client is runtime.client else client  # a caller's client stays open
        self._finalizer = weakref.finalize(self, _shut, self._pool, owned)

    def close(self) -> None:
        """Stop the request threads and close the HTTP connections."""
        self._finalizer()

    # -------------------------------------------------------------------- who and since when

    def personal_info(self) -> dict:
        """`personal_info`, whose `id` owns every row (the route needs no scope)."""
        with self._lock:
            if self._info is None:
                self._info = identify(self.client)
                self.outcome.user_id = self._info["id"]
            return self._info

    def user_id(self) -> str:
        """The Oura user id of the login."""
        return self.personal_info()["id"]

    def owner(self) -> str:
        """The user id, checked against the one the pipeline's saved cursors belong to (kept
        in dlt's source state): one pipeline holds one person's cursors.

        Raises:
            OuraEltError: the cursors are another person's.
        """
        import dlt

        user_id = self.user_id()
        state = dlt.current.source_state()
        saved = state.setdefault("user_id", user_id)
        if saved != user_id:
            raise OuraEltError(
                f"this pipeline's saved cursors belong to Oura user {saved}, but the token is user "
                f"{user_id}'s: load each person through a pipeline of their own "
                "(oura-elt: --profile NAME; dlt: another pipeline_name)"
            )
        return user_id

    def rings(self) -> list[dict]:
        """The user's ring configurations as raw rows (fetched once).

        Raises:
            CollectionFailed: the route could not be read.
        """
        user_id = self.user_id()
        with self._lock:
            if self._rings is None:
                self._rings = fetch_everything(self.client, BY_NAME["ring_configuration"], user_id)
            return self._rings

    def history_start(self) -> date:
        """The first day of the user's history: the earliest ring set-up, else the oldest
        data found by probing backwards (one day earlier: east of Greenwich the time series
        of the first local day begin on the UTC day before)."""
        if self.start_date is not None:
            return self.start_date
        try:
            rings = self.rings()
        except CollectionFailed:
            rings = []
        with self._lock:
            if self._first_day is None:
                first = history.from_ring_setup(rings)
                if first is None:
                    probes = [BY_NAME[name] for name in HISTORY_PROBES]
                    found = history.probe(self.client, probes, self.user_id(), latest_day(self.now))
                    first = found - timedelta(days=1)
                self._first_day = first
            return self._first_day

    def known(self) -> dict[str, Any]:
        """What this session has learnt that another run need not ask again (for a
        `SourceRuntime`): `personal_info` and `history_start`."""
        with self._lock:
            return {"personal_info": self._info, "history_start": self._first_day}

    # -------------------------------------------------------------------- the destination

    def stored(self) -> StoredDocuments | None:
        """What the destination holds of the user (None: the destination cannot be read,
        so deletions at Oura cannot be found; said once in the log)."""
        user_id = self.user_id()
        with self._lock:
            if self._stored is False:
                self._stored = self._open_stored(user_id)
            return self._stored or None

    def _open_stored(self, user_id: str) -> StoredDocuments | None:
        if self.runtime.stored is not None:
            return StoredDocuments(self.runtime.stored, user_id)
        import dlt

        try:
            pipeline = dlt.current.pipeline()
            with reader(pipeline) as query:
                query("SELECT 1")
        except Exception as exc:  # noqa: BLE001 - any destination without SQL access
            log.warning(
                "cannot read the destination (%s): documents deleted at Oura will "
                "stay until they are loaded again",
                type(exc).__name__,
            )
            return None
        return StoredDocuments(lambda: reader(pipeline), user_id)

    # -------------------------------------------------------------------- fetching

    def in_order(self, calls: Iterable[Callable[[], T]]) -> InOrder[T]:
        """Results of `calls`, in the order given, run by the pool a few ahead; the first
        ones are submitted at once, so a resource can let the others start theirs."""
        return InOrder(self._pool, calls, max(self.runtime.workers, 1))

    def recent(self, collection: Collection, saved: Any) -> date | datetime:
        """Where the lookback begins (`kinds`): Oura restates recent days as rings sync late.

        It is counted back from the ring's last contact (the newest heart-rate sample stored)
        when the saved cursor read more than a day past it: a ring that has not synced for
        days may still deliver them, so they are read again until it has (at most
        `MAX_SYNC_DELAY_DAYS` back). Data that ends where an earlier chunk of a backfill
        stopped reading is not a gap.
        """
        moment = self.now
        contact = self.last_contact()
        if contact is not None and collection.kind.read_until(saved) - contact > SYNC_GAP:
            moment = max(contact, self.now - timedelta(days=MAX_SYNC_DELAY_DAYS))
        return collection.kind.recent(moment, self.lookback_days)

    def last_contact(self) -> datetime | None:
        """The newest heart-rate sample stored for the user (None: none, or no destination)."""
        if self._contact is False:
            stored = self.stored()
            newest = stored.newest(BY_NAME["heartrate"]) if stored is not None else None
            self._contact = newest if isinstance(newest, datetime) else None
        return self._contact

    def span(
        self, collection: Collection, start: date | datetime | None, end: date | None
    ) -> DayRange | None:
        """The days a resource asks for: from its cursor's start (where history starts when
        it has none, earlier for a stored document still open) to `end` (else `until` or
        today), at most `max_days` (the rest is `remaining`)."""
        first = day_of(start) if start is not None else self.history_start()
        if collection.open_end and (stored := self.stored()) is not None:
            oldest = stored.oldest_open(collection)
            if oldest is not None and oldest < first:
                first = oldest
        today = latest_day(self.now)
        last = min(end or self.runtime.until or today, today)
        if self.runtime.max_days and last >= first + timedelta(days=self.runtime.max_days):
            last = first + timedelta(days=self.runtime.max_days - 1)
            self.capped.add(collection.name)
        if first > last:
            return None
        self.outcome.spans[collection.name] = (first, last)
        return DayRange(first, last)

    @contextmanager
    def guard(self, collection: Collection) -> Iterator[None]:
        """Record a collection that fails; a missing scope is skipped with a warning, any other
        failure raises unless the caller asked to go on without it."""
        try:
            yield
        except CollectionFailed as exc:
            skipped = isinstance(exc, ScopeNotGranted)
            (self.outcome.skipped if skipped else self.outcome.failed).setdefault(
                collection.name, str(exc)
            )
            self.runtime.reporter.failed(collection.name, str(exc), skipped)
            (log.warning if skipped else log.error)("%s", exc)
            if not skipped and self.raise_on_failure:
                raise

    def count_deleted(self, collection: Collection, count: int) -> None:
        """Tombstones yielded for `collection`."""
        if count:
            with self._lock:
                self.outcome.deleted[collection.name] = (
                    self.outcome.deleted.get(collection.name, 0) + count
                )


class InOrder(Iterator[T]):
    """An iterator over the results of calls that a pool runs `ahead` at a time.

    Raises (from `next`): whatever a call raised, when its turn comes; `close()` cancels
    the calls not started.
    """

    def __init__(
        self, pool: ThreadPoolExecutor, calls: Iterable[Callable[[], T]], ahead: int
    ) -> None:
        self._pool = pool
        self._queue = iter(calls)
        self._pending: deque[Future] = deque()
        for _ in range(ahead):
            if not self._submit_next():
                break

    def _submit_next(self) -> bool:
        call = next(self._queue, None)
        if call is None:
            return False
        # A call already under way elsewhere (a prefetched window) is waited for, not run.
        self._pending.append(call if isinstance(call, Future) else self._pool.submit(call))
        return True

    def __next__(self) -> T:
        if not self._pending:
            raise StopIteration
        future = self._pending.popleft()
        try:
            result = future.result()
        except BaseException:
            self.close()
            raise
        self._submit_next()
        return result

    def close(self) -> None:
        """Cancel what has not started."""
        for future in self._pending:
            future.cancel()
        self._pending.clear()


def identify(client: OuraClient) -> dict:
    """`personal_info` of the token's user.

    Raises:
        OuraEltError: the user could not be identified (login, membership, network).
    """
    try:
        info = client.fetch_object(BY_NAME["personal_info"])
    except CollectionFailed as exc:
        raise OuraEltError(f"cannot identify the Oura user: {exc}") from None
    if not isinstance(info.get("id"), str) or not info["id"]:
        raise OuraEltError("cannot identify the Oura user: personal_info has no id")
    return info


def _shut(pool: ThreadPoolExecutor, client: Any) -> None:
    pool.shutdown(wait=True, cancel_futures=True)
    if client is not None:
        client.close()
