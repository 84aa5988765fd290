"""`load(...)`: one user's Oura data into the warehouse, exactly once, resumably.

The one entry point for the CLI, Prefect flows and benchmarks. A run:

1. finishes load packages a crashed run left behind;
2. asks `personal_info` who the user is (`user_id` goes on every row), and reads
   `ring_configuration` (loaded, and used to find where the history starts);
3. plans: the asked range (default: the whole history through today) minus the
   days already settled in the warehouse, plus the lookback (`plan`);
4. for each chunk, oldest first: fetches every collection's windows in parallel,
   finds deletions, and commits rows, tombstones and progress in one dlt run.

A collection that fails (or lacks a scope) stops alone; what was committed stays.
A lapsed membership, a rejected login or an unreachable API stops the user.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterable, Sequence

from pipelines.core.config import Endpoints
from pipelines.core.target import DUCKDB, RAW_DATASET, check_destination, duckdb_file
from pipelines.core.errors import OuraEltError, UsageError
from pipelines.core import locks
from pipelines.core.clock import current_time
from pipelines.auth import TokenProvider, token_provider
from pipelines.oura import history, oura_source
from pipelines.oura.dates import DayRange
from pipelines.oura.extract import (
    ChunkBatch,
    ChunkFetcher,
    CollectionBatch,
    NullReporter,
    Reporter,
    add_tombstones,
    fetch_everything,
)
from pipelines.oura.helpers import CollectionFailed, OuraClient, RetryPolicy, ScopeNotGranted
from pipelines.oura.plan import cut_chunks, days_to_fetch, latest_day, refetch_from, settled_through
from pipelines.oura.ratelimit import RateBudget, shared_budget
from pipelines.oura.rows import to_row
from pipelines.oura.settings import (
    ALL_NAMES,
    BY_NAME,
    DEFAULT_CHUNK_DAYS,
    DEFAULT_LOOKBACK_DAYS,
    Collection,
)
from pipelines.warehouse import (
    WarehouseError,
    describe_failure,
    finish_pending,
    folder_lock_path,
    make_pipeline,
    oldest_open,
    reader,
    settled_ranges,
    stored_keys,
)

DEFAULT_WORKERS = 4
HISTORY_PROBES = ("daily_activity", "daily_sleep", "heartrate")  # asked when no ring set-up is known


@dataclass
class LoadSummary:
    """What a load did.

    Attributes:
        user_id: Oura user id (`personal_info.id`).
        profile: profile the token came from.
        destination: where the data went (a DuckDB path or "BigQuery").
        dataset: dataset (schema) name.
        start: first day of the asked range (None: nothing dated was asked).
        end: last day of the asked range.
        documents: rows written per table (tombstones not counted).
        deleted: documents removed per table (gone at Oura).
        requests: HTTP requests sent (retries included).
        retries: requests retried (429, 5xx, timeouts, bad pages).
        chunks: committed chunks.
        seconds: wall time.
        skipped: collections skipped for a missing scope, with the message.
        failed: collections that failed, with a one-line message.
        resumed: whether packages of an interrupted run were finished first.
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

    @property
    def ok(self) -> bool:
        """True unless a collection failed (skipped scopes are not failures)."""
        return not self.failed

    @property
    def total_documents(self) -> int:
        """Rows written over all tables."""
        return sum(self.documents.values())

    @classmethod
    def combined(cls, parts: Sequence["LoadSummary"]) -> "LoadSummary":
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
        return total


def resolve_collections(names: Iterable[str] | None) -> list[Collection]:
    """Collections by table or route name (case-insensitive, `vO2_max` == `vo2_max`).

    Raises:
        UsageError: an unknown name, listing the valid ones.
    """
    if names is None:
        return list(BY_NAME.values())
    lookup = {name.lower(): name for name in ALL_NAMES}
    chosen: list[str] = []
    unknown: list[str] = []
    for raw in names:
        name = raw.strip()
        if not name:
            continue
        match = lookup.get(name.lower())  # route `vO2_max` lower-cases to table `vo2_max`
        if match is None:
            unknown.append(name)
        elif match not in chosen:
            chosen.append(match)
    if unknown:
        raise UsageError(
            f"unknown collection(s): {', '.join(unknown)}; valid: {', '.join(ALL_NAMES)}"
        )
    if not chosen:
        raise UsageError(f"no collection given; valid: {', '.join(ALL_NAMES)}")
    return [BY_NAME[name] for name in ALL_NAMES if name in chosen]


def load(
    profile: str | None = None,
    *,
    collections: Sequence[str] | None = None,
    start_date: date | None = None,
    end_date: date | None = None,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    destination: str = "duckdb",
    duckdb_path: Path | str | None = None,
    dataset_name: str = RAW_DATASET,
    endpoints: Endpoints | None = None,
    provider: TokenProvider | None = None,
    budget: RateBudget | None = None,
    workers: int = DEFAULT_WORKERS,
    chunk_days: int = DEFAULT_CHUNK_DAYS,
    now: datetime | None = None,
    policy: RetryPolicy | None = None,
    reporter: Reporter | None = None,
    warehouse_lock: Callable[[], ContextManager[Any]] | None = None,
) -> LoadSummary:
    """Load one user's Oura collections into the warehouse.

    Fetching runs without holding the warehouse: the warehouse lock is taken only
    around each read of load progress and each commit, so loads of several people
    into one warehouse fetch at the same time and write in turn. Two loads of the
    same profile into the same warehouse run one after the other.

    Args:
        profile: token profile (`oura-elt auth login --profile`); `OURA_ACCESS_TOKEN`
            overrides it with a static token.
        collections: names to load (default: all).
        start_date: first day to load (default: the start of the user's history).
        end_date: last day to load (default: today, in the latest time zone).
        lookback_days: trailing days fetched again on every run (revisions, late syncs).
        destination: "duckdb" or "bigquery".
        duckdb_path: DuckDB file (default `pipelines.core.config.default_duckdb_path()`).
        dataset_name: dataset (schema) of the raw tables.
        endpoints: API and OAuth endpoints (default: from the environment).
        provider: token provider (default: `pipelines.auth.token_provider(profile)`).
        budget: `RateBudget` shared with other loads in the process (default: the shared one).
        workers: parallel requests.
        chunk_days: days committed together.
        now: the current instant (default: the clock, or `OURA_ELT_NOW`).
        policy: `RetryPolicy` of the HTTP client.
        reporter: progress callbacks (`pipelines.oura.extract.Reporter`).
        warehouse_lock: makes the context manager held around every warehouse access
            (default: `pipelines.core.locks.commit_lock`: exclusive on DuckDB, shared on BigQuery).

    Returns:
        The summary: documents per table, date range, requests, time, failures.

    Raises:
        UsageError: bad arguments.
        OuraEltError: the load could not run at all (login, membership, network,
            warehouse); collection failures are reported in the summary instead.
    """
    started = time.monotonic()
    chosen = resolve_collections(collections)
    if start_date and end_date and start_date > end_date:
        raise UsageError(f"--start-date {start_date} is after --end-date {end_date}")
    if lookback_days < 0:
        raise UsageError("--lookback-days must be 0 or more")
    if chunk_days < 1 or workers < 1:
        raise UsageError("chunk_days and workers must be at least 1")
    check_destination(destination)
    now = now or current_time()
    if start_date and not end_date and start_date > latest_day(now):
        raise UsageError(f"--start-date {start_date} is in the future")
    endpoints = endpoints or Endpoints.from_env()
    try:
        budget = budget or shared_budget()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    provider = provider or token_provider(profile, endpoints)
    profile_name = getattr(provider, "profile", None) or profile or "default"
    if destination == DUCKDB:
        duckdb_path = duckdb_file(duckdb_path)
    if warehouse_lock is None:
        lock_target = (destination, Path(duckdb_path) if duckdb_path else None, dataset_name)
        warehouse_lock = lambda: locks.commit_lock(*lock_target)  # noqa: E731
    client = OuraClient(endpoints.api_base_url, provider, budget, policy, pool_size=workers)
    try:
        run = _Run(
            client=client,
            chosen=chosen,
            profile=profile_name,
            start_date=start_date,
            end_date=end_date,
            lookback_days=lookback_days,
            chunk_days=chunk_days,
            workers=workers,
            now=now,
            reporter=reporter or NullReporter(),
            started=started,
            writing=warehouse_lock,
        )
        return run.run(destination, Path(duckdb_path) if duckdb_path else None, dataset_name)
    finally:
        client.close()


def history_start(
    endpoints: Endpoints | None = None,
    provider: TokenProvider | None = None,
    budget: RateBudget | None = None,
    now: datetime | None = None,
    *,
    profile: str | None = None,
    policy: RetryPolicy | None = None,
) -> date:
    """The first day of a user's Oura history, as `load` finds it without a start date.

    The earliest ring set-up (`ring_configuration.set_up_at`), else the oldest
    data found by probing backwards. For planning a backfill up front.

    Args:
        endpoints: API endpoints (default: from the environment).
        provider: the user's token provider (default: `token_provider(profile)`).
        budget: the request budget (default: the process-wide one).
        now: the current instant (default: `current_time()`).
        profile: token profile, when `provider` is not given.
        policy: `RetryPolicy` of the HTTP client.

    Raises:
        OuraEltError: the user could not be identified (login, membership, network).
    """
    endpoints = endpoints or Endpoints.from_env()
    provider = provider or token_provider(profile, endpoints)
    client = OuraClient(endpoints.api_base_url, provider, budget or shared_budget(), policy, pool_size=2)
    try:
        user_id = _identify(client)["id"]
        try:
            rings = fetch_everything(client, BY_NAME["ring_configuration"], user_id).rows
        except CollectionFailed:
            rings = []
        return _first_day(client, rings, user_id, latest_day(now or current_time()))
    finally:
        client.close()


def _identify(client: OuraClient) -> dict:
    """`personal_info`, whose `id` owns every row (the route needs no scope)."""
    try:
        info = client.fetch_object(BY_NAME["personal_info"])
    except CollectionFailed as exc:
        raise OuraEltError(f"cannot identify the Oura user: {exc}") from None
    if not isinstance(info.get("id"), str) or not info["id"]:
        raise OuraEltError("cannot identify the Oura user: personal_info has no id")
    return info


def _first_day(client: OuraClient, rings: list[dict], user_id: str, last: date) -> date:
    """Earliest ring set-up, else the oldest data of a few collections (probing backwards)."""
    first = history.from_ring_setup(rings)
    if first is None:
        first = history.probe(client, [BY_NAME[n] for n in HISTORY_PROBES], user_id, last)
        # The oldest *local* day found: east of Greenwich its time series begin on the UTC
        # day before, so start one day earlier (an empty day costs nothing).
        first -= timedelta(days=1)
    return first


def _stored(pipeline: Any, wanted: list[tuple[Collection, DayRange | None]], user_id: str,
            writing: Callable[[], ContextManager[Any]]) -> dict[str, list]:
    """Stored keys of each (collection, span), over one warehouse connection."""
    if not wanted:
        return {}
    with writing(), reader(pipeline) as query:
        return {c.name: stored_keys(query, c, user_id, span) for c, span in wanted}


@dataclass
class _Run:
    """One `load()` call for one user; see the module docstring for the steps."""

    client: OuraClient
    chosen: list[Collection]
    profile: str
    start_date: date | None
    end_date: date | None
    lookback_days: int
    chunk_days: int
    workers: int
    now: datetime
    reporter: Reporter
    started: float
    writing: Callable[[], ContextManager[Any]]
    where: str = ""
    personal_info: dict = field(default_factory=dict)

    def run(self, destination: str, duckdb_path: Path | None, dataset_name: str) -> LoadSummary:
        """Load everything planned; the summary of what happened."""
        pipeline, self.where = make_pipeline(self.profile, destination, duckdb_path, dataset_name)
        busy = f"profile '{self.profile}' (another load of it into {self.where})"
        with locks.hold(folder_lock_path(pipeline), busy):
            return self._run(pipeline, dataset_name)

    def _run(self, pipeline: Any, dataset_name: str) -> LoadSummary:
        with self.writing():
            resumed = self._finish_or_drop_pending(pipeline)
        user_id = self._who_is_it()
        summary = LoadSummary(user_id, self.profile, self.where, dataset_name, resumed=resumed)
        head = ChunkBatch(user_id)
        rings = self._undated(pipeline, head, summary)
        span = self._span(rings, user_id)
        if span is not None:
            summary.start, summary.end = span.start, span.end

        dated = [c for c in self.chosen if c.dated]
        chunks: list = []
        if span is not None and dated:
            self.reporter.note("planning: reading load progress")
            with self.writing(), reader(pipeline) as query:
                settled = settled_ranges(query, user_id)
                still_open = oldest_open(query, dated, user_id)
            todo = days_to_fetch(dated, span, settled, refetch_from(self.now, self.lookback_days), still_open)
            chunks = cut_chunks(todo, BY_NAME, self.chunk_days)
        for collection in dated:
            windows = sum(len(c.windows.get(collection.name, ())) for c in chunks)
            self.reporter.planned(collection.name, windows)

        fetcher = ChunkFetcher(
            self.client,
            user_id,
            lambda wanted: _stored(pipeline, wanted, user_id, self.writing),
            self.workers,
            self.reporter,
            settled_through(self.now, self.lookback_days),
            self.now,
        )
        try:
            if not chunks:
                self._commit(pipeline, self._with_all_tables(head), summary)
            flight = fetcher.start(chunks[0], BY_NAME) if chunks else None
            for number, chunk in enumerate(chunks, start=1):
                batch = fetcher.finish(flight)
                flight = fetcher.start(chunks[number], BY_NAME) if number < len(chunks) else None
                if number == 1:
                    batch.parts = {**head.parts, **batch.parts}
                    self._with_all_tables(batch)
                self.reporter.note(f"committing {chunk.span} ({number}/{len(chunks)})")
                self._commit(pipeline, batch, summary)
        finally:
            fetcher.close()
            for name, exc in fetcher.failed.items():
                self._record_failure(summary, name, exc)
            summary.requests = self.client.requests
            summary.retries = self.client.retries
            summary.seconds = time.monotonic() - self.started
        return summary

    # ---------------------------------------------------------------- steps

    def _with_all_tables(self, batch: ChunkBatch) -> ChunkBatch:
        """Make the run create every chosen table, even empty or skipped ones (stable for dbt)."""
        for collection in self.chosen:
            part = batch.parts.setdefault(collection.name, CollectionBatch(collection))
            part.materialize = True
        return batch

    def _who_is_it(self) -> str:
        """`personal_info.id`: the owner of every row."""
        self.personal_info = _identify(self.client)
        return self.personal_info["id"]

    def _undated(self, pipeline: Any, head: ChunkBatch, summary: LoadSummary) -> list[dict]:
        """Stage personal_info and ring_configuration; return the ring rows (for history)."""
        user_id = head.user_id
        names = {c.name for c in self.chosen}
        if "personal_info" in names:
            info = BY_NAME["personal_info"]
            head.parts[info.name] = CollectionBatch(info, rows=[to_row(info, self.personal_info, user_id)])
            self.reporter.planned(info.name, 1)
            self.reporter.window_done(info.name, 1)
        wants_rings = "ring_configuration" in names
        needs_history = self.start_date is None and any(c.dated for c in self.chosen)
        if not (wants_rings or needs_history):
            return []
        ring = BY_NAME["ring_configuration"]
        if wants_rings:
            self.reporter.planned(ring.name, 1)
        try:
            part = fetch_everything(self.client, ring, user_id)
        except CollectionFailed as exc:
            if wants_rings:
                self.reporter.failed(ring.name, str(exc), isinstance(exc, ScopeNotGranted))
                self._record_failure(summary, ring.name, exc)
            return []
        if wants_rings:
            stored = _stored(pipeline, [(ring, None)], user_id, self.writing)[ring.name]
            add_tombstones(part, stored, user_id, whole=True)
            head.parts[ring.name] = part
            self.reporter.window_done(ring.name, len(part.rows))
        return part.rows

    def _span(self, rings: list[dict], user_id: str) -> DayRange | None:
        """The asked day range; its start defaults to where the user's history starts."""
        if not any(c.dated for c in self.chosen):
            return None
        last = self.end_date or latest_day(self.now)
        first = self.start_date or _first_day(self.client, rings, user_id, last)
        if first > last:
            return None
        return DayRange(first, last)

    def _commit(self, pipeline: Any, batch: ChunkBatch, summary: LoadSummary) -> None:
        """One dlt run: the batch's rows, tombstones and progress, committed together."""
        with self.writing():
            self._step(pipeline.run, oura_source(batch))
        summary.chunks += 1
        for name, part in batch.parts.items():
            summary.documents[name] = summary.documents.get(name, 0) + part.documents
            if part.tombstones:
                summary.deleted[name] = summary.deleted.get(name, 0) + len(part.tombstones)

    def _finish_or_drop_pending(self, pipeline: Any) -> bool:
        """Finish what a crashed run left; a package that cannot load (written half on a
        full disk, say) is dropped instead of blocking every later run. Nothing is lost:
        a package carries its chunk's progress, so an unfinished chunk is fetched again."""
        try:
            return self._step(finish_pending, pipeline)
        except WarehouseError as exc:
            if "in use by another process" in str(exc):
                raise
            pipeline.drop_pending_packages()
            self.reporter.note(f"dropped an interrupted load that could not finish ({exc}); fetching it again")
            return False

    def _step(self, fn: Any, *args: Any) -> Any:
        """Run a dlt step, turning its failures into one clear line."""
        try:
            return fn(*args)
        except OuraEltError:
            raise
        except Exception as exc:  # dlt wraps everything in PipelineStepFailed
            raise WarehouseError(describe_failure(exc, self.where)) from exc

    @staticmethod
    def _record_failure(summary: LoadSummary, name: str, exc: Exception) -> None:
        target = summary.skipped if isinstance(exc, ScopeNotGranted) else summary.failed
        target.setdefault(name, str(exc))
