"""`load(...)`: one person's Oura data into the warehouse, exactly once, resumably.

The one entry point for the CLI, Prefect flows and benchmarks, built on the dlt
source (`pipelines.oura.oura_source`). A load:

1. brings the pipeline's working state in line with the warehouse and finishes load
   packages a crashed run left behind (`sync_destination`, then `run()`);
2. runs the source in committed chunks. Without dates it is incremental: each run
   reads at most `chunk_days` days per collection from its saved cursor and commits
   them with the moved cursors, so a crash loses at most the chunk in flight and the
   same command resumes. With `start_date`/`end_date` it loads that closed range in
   chunks, without moving the saved cursors;
3. fetches without holding the warehouse: the lock is taken only to read what is
   stored (deletions) and to commit, so loads of several people into one warehouse
   fetch at the same time and write in turn.

A collection that fails (or lacks a scope) stops alone; what was committed stays.
A lapsed membership, a rejected login or an unreachable API stops the person.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from pipelines.auth import TokenProvider, token_provider
from pipelines.core import locks
from pipelines.core.checks import check_at_least, check_day_range
from pipelines.core.clock import current_time
from pipelines.core.config import Endpoints
from pipelines.core.errors import OuraEltError, UsageError
from pipelines.core.target import DUCKDB, RAW_DATASET, Target
from pipelines.oura import oura_load_records, oura_source
from pipelines.oura.dates import DayRange
from pipelines.oura.fetch import fetch
from pipelines.oura.helpers import OuraClient, RetryPolicy
from pipelines.oura.kinds import earliest_day, latest_day
from pipelines.oura.ratelimit import RateBudget, shared_budget
from pipelines.oura.runtime import DEFAULT_WORKERS, NullReporter, Outcome, Reporter, SourceRuntime
from pipelines.oura.session import Session
from pipelines.oura.settings import (
    BY_NAME,
    DEFAULT_CHUNK_DAYS,
    DEFAULT_LOOKBACK_DAYS,
    resolve_collections,
)
from pipelines.oura.stored import reader
from pipelines.warehouse import (
    WarehouseError,
    WarehouseLocked,
    failure,
    finish_pending,
    folder_lock_path,
    make_pipeline,
    recorded_ranges,
    stored_rows,
)

__all__ = [
    "DEFAULT_WORKERS",
    "LoadRequest",
    "LoadSummary",
    "history_start",
    "load",
    "resolve_collections",
]


@dataclass
class LoadSummary:
    """What a load did.

    Attributes:
        user_id: Oura user id (`personal_info.id`).
        profile: profile the token came from.
        destination: where the data went (a DuckDB path or a BigQuery project).
        dataset: dataset (schema) name.
        start: first day read (None: nothing dated was read).
        end: last day read.
        documents: documents this load wrote and the warehouse now holds, per table.
        deleted: documents removed per table (gone at Oura).
        requests: HTTP requests sent (retries included).
        retries: requests retried (429, 5xx, timeouts, bad pages).
        chunks: committed chunks.
        seconds: wall time.
        skipped: collections skipped for a missing scope, with the message.
        failed: collections that failed, with a one-line message.
        resumed: whether packages of an interrupted run were finished first.
        load_ids: dlt's ids of the packages this load committed.
    """

    user_id: str
    profile: str
    destination: str
    dataset: str
    start: date | None = None
    end: date | None = None
    documents: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    retries: int = 0
    chunks: int = 0
    seconds: float = 0.0
    skipped: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    resumed: bool = False
    load_ids: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True unless a collection failed (skipped scopes are not failures)."""
        return not self.failed

    @property
    def total_documents(self) -> int:
        """Rows written over all tables."""
        return sum(self.documents.values())

    @classmethod
    def combined(cls, parts: Sequence[LoadSummary]) -> LoadSummary:
        """One summary for consecutive loads of one user (a backfill's chunks)."""
        if not parts:
            raise ValueError("no load summaries to combine")
        first = parts[0]
        total = cls(first.user_id, first.profile, first.destination, first.dataset)
        starts = [p.start for p in parts if p.start]
        ends = [p.end for p in parts if p.end]
        total.start, total.end = (min(starts) if starts else None), (max(ends) if ends else None)
        for part in parts:
            for mine, theirs in ((total.documents, part.documents), (total.deleted, part.deleted)):
                for name, count in theirs.items():
                    mine[name] = mine.get(name, 0) + count
            total.requests += part.requests
            total.retries += part.retries
            total.chunks += part.chunks
            total.seconds += part.seconds
            total.skipped.update(part.skipped)
            total.failed.update(part.failed)
            total.resumed = total.resumed or part.resumed
            total.load_ids += part.load_ids
        return total

    def record(self, outcome: Outcome) -> None:
        """Add one source run's outcome."""
        self.user_id = outcome.user_id or self.user_id
        for name, message in outcome.skipped.items():
            self.skipped.setdefault(name, message)
        for name, message in outcome.failed.items():
            self.failed.setdefault(name, message)
        for name, count in outcome.deleted.items():
            self.deleted[name] = self.deleted.get(name, 0) + count
        for first, last in outcome.spans.values():
            self.start = min(self.start or first, first)
            self.end = max(self.end or last, last)


@dataclass(frozen=True)
class LoadRequest:
    """Everything one load is asked to do; `checked()` is the one place its values are checked.

    Attributes:
        profile: token profile (`oura-elt auth login --profile`); `OURA_ACCESS_TOKEN`
            overrides it with a static token.
        collections: names to load (default: all).
        start_date: first day of a closed range (default: incremental from the saved cursors).
        end_date: last day of a closed range (default: today, in the latest time zone).
        until: last day of an incremental load (a backfill flow's chunk; default: today).
        lookback_days: trailing days fetched again on every run (revisions, late syncs).
        destination: "duckdb" or "bigquery".
        duckdb_path: DuckDB file (default `pipelines.core.target.duckdb_file()`).
        dataset_name: dataset (schema) of the raw tables.
        endpoints: API and OAuth endpoints (default: from the environment).
        provider: token provider (default: `pipelines.auth.token_provider(profile)`).
        budget: `RateBudget` shared with other loads in the process (default: the shared one).
        workers: parallel requests.
        chunk_days: days committed together.
        now: the current instant (default: the clock, or `OURA_ELT_NOW`).
        policy: `RetryPolicy` of the HTTP client.
        reporter: progress callbacks (`pipelines.oura.runtime.Reporter`).
        warehouse_lock: makes the context manager held around every warehouse access
            (default: the target's `commit_lock`: exclusive on DuckDB, shared on BigQuery).
    """

    profile: str | None = None
    collections: Sequence[str] | None = None
    start_date: date | None = None
    end_date: date | None = None
    until: date | None = None
    lookback_days: int = DEFAULT_LOOKBACK_DAYS
    destination: str = DUCKDB
    duckdb_path: Path | str | None = None
    dataset_name: str = RAW_DATASET
    endpoints: Endpoints | None = None
    provider: TokenProvider | None = None
    budget: RateBudget | None = None
    workers: int = DEFAULT_WORKERS
    chunk_days: int = DEFAULT_CHUNK_DAYS
    now: datetime | None = None
    policy: RetryPolicy | None = None
    reporter: Reporter | None = None
    warehouse_lock: Callable[[], AbstractContextManager[Any]] | None = None

    def checked(self) -> LoadRequest:
        """This request with its defaults filled in.

        Raises:
            UsageError: a bad value, in one line naming the option.
        """
        resolve_collections(self.collections)
        check_at_least(self.lookback_days, 0, "--lookback-days")
        check_at_least(self.chunk_days, 1, "chunk_days")
        check_at_least(self.workers, 1, "workers")
        target = Target.of(self.destination, self.duckdb_path, self.dataset_name)
        now = self.now or current_time()
        first, last, today = self.start_date, self.end_date, latest_day(now)
        check_day_range(first, last)
        if first and first > today:
            raise UsageError(
                f"--start-date {first} is in the future (today is {today} at the latest)"
            )
        if self.until and (first or last):
            raise UsageError("until is for incremental loads; give it without start or end dates")
        try:
            budget = self.budget or shared_budget()
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        return replace(
            self,
            now=now,
            duckdb_path=target.duckdb_path,
            budget=budget,
            endpoints=self.endpoints or Endpoints.from_env(),
            reporter=self.reporter or NullReporter(),
            warehouse_lock=self.warehouse_lock or target.commit_lock,
        )

    @property
    def target(self) -> Target:
        """The warehouse."""
        return Target.of(self.destination, self.duckdb_path, self.dataset_name)

    @property
    def closed_range(self) -> bool:
        """Whether dates were given: a backfill that leaves the saved cursors alone."""
        return self.start_date is not None or self.end_date is not None


def load(profile: str | None = None, **options: Any) -> LoadSummary:
    """Load one person's Oura collections into the warehouse.

    Args:
        profile: token profile; see `LoadRequest` for every option.

    Returns:
        The summary: documents per table, date range, requests, time, failures.

    Raises:
        UsageError: bad arguments.
        OuraEltError: the load could not run at all (login, membership, network,
            warehouse); collection failures are reported in the summary instead.
    """
    started = time.monotonic()
    request = LoadRequest(profile=profile, **options).checked()
    provider = request.provider or token_provider(request.profile, request.endpoints)
    client = OuraClient(
        request.endpoints.api_base_url,
        provider,
        request.budget,
        request.policy,
        pool_size=request.workers,
    )
    try:
        name = getattr(provider, "profile", None) or profile or "default"
        summary = _Load(request, client, name).run()
    finally:
        client.close()
    summary.seconds = time.monotonic() - started
    return summary


def documents_stored(
    summary: LoadSummary, destination: str = DUCKDB, duckdb_path: Path | str | None = None
) -> dict[str, int]:
    """Per table, the documents that the loads of `summary` (a backfill's chunks, combined)
    wrote and the warehouse still holds: each document once, however many chunks read it."""
    target = Target.of(destination, duckdb_path, summary.dataset)
    pipeline, _ = make_pipeline(
        summary.profile, target.destination, target.duckdb_path, target.dataset
    )
    tables = list(summary.documents) or [c.name for c in resolve_collections(None)]
    with target.lock():
        return stored_rows(pipeline, tables, summary.user_id, summary.load_ids)


def history_start(
    endpoints: Endpoints | None = None,
    provider: TokenProvider | None = None,
    budget: RateBudget | None = None,
    now: datetime | None = None,
    *,
    profile: str | None = None,
    policy: RetryPolicy | None = None,
) -> date:
    """The first day of a person's Oura history, as an incremental load finds it.

    The earliest ring set-up (`ring_configuration.set_up_at`), else the oldest data found
    by probing backwards. For planning a backfill up front.

    Raises:
        OuraEltError: the user could not be identified (login, membership, network).
    """
    endpoints = endpoints or Endpoints.from_env()
    provider = provider or token_provider(profile, endpoints)
    client = OuraClient(
        endpoints.api_base_url, provider, budget or shared_budget(), policy, pool_size=2
    )
    session = Session(client, SourceRuntime(client=client), now or current_time(), None, False)
    try:
        return session.history_start()
    finally:
        session.close()
        client.close()


class _Load:
    """One `load()` call for one person; see the module docstring for the steps."""

    def __init__(self, request: LoadRequest, client: OuraClient, profile: str) -> None:
        self.request = request
        self.client = client
        self.profile = profile
        self.reporter = request.reporter
        self.writing = request.warehouse_lock
        self.target = request.target
        self.pipeline, self.where = make_pipeline(
            profile, self.target.destination, self.target.duckdb_path, self.target.dataset
        )
        self.load_ids: list[str] = []
        self._plan: Session | None = None
        # The next chunk of a closed range, asked for while this one commits (`_prefetch`).
        self._upcoming: tuple[DayRange, list[str]] | None = None
        self._prefetched: dict[tuple[str, DayRange], Any] = {}
        self._prefetch_pool: ThreadPoolExecutor | None = None

    def run(self) -> LoadSummary:
        summary = LoadSummary("", self.profile, self.where, self.target.dataset)
        busy = f"profile '{self.profile}' (another load of it into {self.where})"
        with locks.hold(folder_lock_path(self.pipeline), busy):
            with self.writing():
                summary.resumed = self._catch_up()
            chosen = resolve_collections(self.request.collections)
            try:
                for runtime, source, (number, total) in self._runs(chosen):
                    try:
                        self._commit(runtime, source, number, total, summary)
                    finally:
                        runtime.close()
                    summary.record(runtime.outcome)
            finally:
                self._stop_prefetching()
                summary.requests, summary.retries = self.client.requests, self.client.retries
                if self._plan is not None:
                    self._plan.close()
            if summary.end is None and not self.request.closed_range:
                summary.end = min(
                    self.request.until or latest_day(self.request.now), latest_day(self.request.now)
                )
            summary.load_ids = list(self.load_ids)
            if self.load_ids and summary.user_id:
                with self.writing():
                    summary.documents = self._step(
                        stored_rows,
                        self.pipeline,
                        [c.name for c in chosen],
                        summary.user_id,
                        self.load_ids,
                    )
        return summary

    # ---------------------------------------------------------------- the runs

    def _runs(
        self, chosen: list[Any]
    ) -> Iterator[tuple[SourceRuntime, Any, tuple[int, int | None]]]:
        """The source runs of this load, each committed before the next one is made."""
        dated = [c.name for c in chosen if c.dated]
        names = [c.name for c in chosen if not c.dated] + dated
        if self.request.closed_range:
            parts = self._parts(dated)
            for number, part in enumerate(parts, start=1):
                runtime = self._runtime()
                dates = {"start_date": part.start, "end_date": part.end} if part else {}
                wanted = names if part else [n for n in names if n not in dated]
                following = parts[number] if number < len(parts) else None
                self._upcoming = (following, dated) if following else None
                yield runtime, self._source(runtime, wanted, **dates), (number, len(parts))
                stopped = runtime.outcome.failed.keys() | runtime.outcome.skipped.keys()
                names = [n for n in dated if n not in stopped]
            return
        number = 0
        while names:
            number += 1
            runtime = self._runtime(
                until=self.request.until,
                max_days=self.request.chunk_days,
                lookback_days=None if number == 1 else 0,
            )
            yield runtime, self._source(runtime, names), (number, None)
            names = [n for n in dated if n in runtime.outcome.remaining]

    def _parts(self, dated: list[str]) -> list[DayRange | None]:
        """A closed range in chunks (`[None]`: only undated collections to load). A chunk that
        committed loads already read for every collection, older than the lookback, is left
        out: a rerun after a crash goes on where the first run stopped."""
        request = self.request
        today = latest_day(request.now)
        if not dated:
            return [None]
        first = request.start_date or self._history_start()
        last = min(request.end_date or today, today)
        if first > last:
            return [None]
        parts = list(DayRange(first, last).split(request.chunk_days))
        settled = earliest_day(request.now) - timedelta(days=request.lookback_days + 1)
        with self.writing():
            done = self._step(recorded_ranges, self.pipeline, self._user_id())
        left = [
            p
            for p in parts
            if p.end > settled or not all(_covers(done.get(name, []), p) for name in dated)
        ]
        return left or [None]

    def _user_id(self) -> str:
        return self._planning().user_id()

    def _prefetch(self, runtime: SourceRuntime) -> None:
        """Ask for the next chunk of a closed range while this one is normalized and
        committed, as its run will ask (the same windows: `Session.span`), so waiting on
        the API overlaps the commit. Not for a collection that failed or was skipped in
        this run, nor one whose span an open document may widen."""
        upcoming, self._upcoming = self._upcoming, None
        if upcoming is None:
            return
        part, names = upcoming
        last = min(part.end, latest_day(self.request.now))
        if part.start > last:
            return
        stopped = runtime.outcome.failed.keys() | runtime.outcome.skipped.keys()
        user_id = self._user_id()
        if self._prefetch_pool is None:
            workers = max(self.request.workers, 1)
            self._prefetch_pool = ThreadPoolExecutor(workers, thread_name_prefix="oura-prefetch")
        for name in names:
            collection = BY_NAME[name]
            if name in stopped or collection.open_end:
                continue
            for window in DayRange(part.start, last).split(collection.window_days):
                self._prefetched[(name, window)] = self._prefetch_pool.submit(
                    fetch, self.client, collection, window, user_id
                )

    def _stop_prefetching(self) -> None:
        """Drop what was asked for ahead and not used (a load that stopped early)."""
        for future in self._prefetched.values():
            future.cancel()
        self._prefetched.clear()
        if self._prefetch_pool is not None:
            self._prefetch_pool.shutdown(wait=False, cancel_futures=True)

    def _runtime(self, **options: Any) -> SourceRuntime:
        request = self.request
        known = self._plan.known() if self._plan is not None else {}
        return SourceRuntime(
            client=self.client,
            budget=request.budget,
            policy=request.policy,
            workers=request.workers,
            now=request.now,
            reporter=self.reporter,
            stored=self._stored_reader,
            prefetched=self._prefetched,
            **known,
            **options,
        )

    def _source(self, runtime: SourceRuntime, names: list[str], **dates: Any) -> Any:
        return oura_source(
            collections=names,
            lookback_days=self.request.lookback_days,
            raise_on_failure=False,
            runtime=runtime,
            **dates,
        )

    def _history_start(self) -> date:
        return self._planning().history_start()

    def _planning(self) -> Session:
        """A session for what the load needs to know before its runs (who, since when); the
        runs get what it learnt, so nothing is asked twice."""
        if self._plan is None:
            self._plan = Session(
                self.client, SourceRuntime(client=self.client), self.request.now, None, False
            )
        return self._plan

    @contextmanager
    def _stored_reader(self) -> Iterator[Any]:
        """The warehouse read under its lock (so never beside another writer's commit)."""
        with self.writing(), reader(self.pipeline) as query:
            yield query

    # ---------------------------------------------------------------- committing

    def _commit(
        self,
        runtime: SourceRuntime,
        source: Any,
        number: int,
        total: int | None,
        summary: LoadSummary,
    ) -> None:
        """Fetch and normalize without the warehouse, then load under its lock; the record
        of what was read goes into the same package."""
        records = oura_load_records(runtime.outcome, self.request.now)
        self._step(self.pipeline.extract, [source, records])
        self._prefetch(runtime)
        self._step(self.pipeline.normalize)
        self.reporter.note(f"committing {self._chunk_label(runtime.outcome, number, total)}")
        with self.writing():
            info = self._step(self.pipeline.load)
        if info is not None:
            self.load_ids.extend(info.loads_ids)
            summary.chunks += len(info.loads_ids)

    def _chunk_label(self, outcome: Outcome, number: int, total: int | None) -> str:
        """`2026-01-01..2026-03-31 (2/5)`: the days a chunk read, its number and (for an
        incremental load, estimated from how far it got) how many there are."""
        spans = outcome.spans.values()
        if not spans:
            return f"the undated collections ({number}/{total or number})"
        first, last = min(s[0] for s in spans), max(s[1] for s in spans)
        if total is None:
            end = min(
                self.request.until or latest_day(self.request.now), latest_day(self.request.now)
            )
            ahead = -(-(end - last).days // self.request.chunk_days) if outcome.remaining else 0
            total = number + max(ahead, 0)
        return f"{first}..{last} ({number}/{total})"

    def _catch_up(self) -> bool:
        """Bring the working state in line with the warehouse (a wiped warehouse takes the
        saved cursors with it), then finish what a crashed run left; True if it did.

        A package that cannot be loaded (written half on a full disk, say) is dropped with
        the whole working folder: the cursors then come back from the warehouse, where they
        were committed with the data, so the chunk is simply fetched again."""
        self._step(self.pipeline.sync_destination)
        try:
            return self._step(finish_pending, self.pipeline)
        except WarehouseLocked:
            raise
        except WarehouseError as exc:
            self.reporter.note(
                f"dropped an interrupted load that could not finish ({exc}); fetching it again"
            )
        self.pipeline = self.pipeline.drop()
        self._step(self.pipeline.sync_destination)
        return False

    def _step(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a dlt step, turning its failures into one clear line (ours pass as they are)."""
        try:
            return fn(*args)
        except OuraEltError:
            raise
        except Exception as exc:  # dlt wraps everything in PipelineStepFailed
            ours = _our_error(exc)
            if ours is not None:
                raise ours from None
            raise failure(exc, self.where) from exc


def _covers(ranges: list[DayRange], part: DayRange) -> bool:
    return any(r.start <= part.start and part.end <= r.end for r in ranges)


def _our_error(exc: BaseException) -> OuraEltError | None:
    """An `OuraEltError` a resource raised, inside dlt's wrapping exceptions."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, OuraEltError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
