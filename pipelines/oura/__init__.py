"""The Oura dlt source: one merge resource per collection, generated from `settings`.

```python
import dlt
from pipelines.oura import oura_source

pipeline = dlt.pipeline("oura", destination="duckdb", dataset_name="oura_raw")
pipeline.run(oura_source())                      # every collection the login may read
pipeline.run(oura_source().with_resources("sleep", "heartrate"))
```

Each dated resource declares `dlt.sources.incremental` on its cursor (`day`, or the
instant for time series) and keeps it in dlt's pipeline state, committed in the same
load package as the rows. A run asks Oura for the days after the saved cursor up to
today, and again for the last `lookback_days` (Oura restates recent days as rings sync
late), padded for Oura's date quirks and trimmed here: the range is pushed down to the
API (`Incremental.advance`). Restated days are merged, documents Oura no longer returns
become tombstones (dlt `hard_delete`), and the cursor moves to the last day that is
complete everywhere. `start_date`/`end_date` load a closed range without moving it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

import dlt
import pyarrow as pa
from dlt.common.typing import TSecretStrValue
from dlt.sources import DltResource

from pipelines.core.checks import check_at_least, check_day_range
from pipelines.core.clock import current_time
from pipelines.core.config import Endpoints
from pipelines.oura.arrow import key_set, to_table
from pipelines.oura.dates import DayRange
from pipelines.oura.fetch import fetch, tombstones
from pipelines.oura.helpers import OuraClient
from pipelines.oura.history import FLOOR
from pipelines.oura.kinds import day_of, latest_day
from pipelines.oura.ratelimit import shared_budget
from pipelines.oura.rows import key_of, to_row
from pipelines.oura.runtime import Outcome, SourceRuntime
from pipelines.oura.session import Session
from pipelines.oura.settings import (
    DEFAULT_LOOKBACK_DAYS,
    PROGRESS_TABLE,
    SINGLE,
    SOURCE_NAME,
    Collection,
    resolve_collections,
)
from pipelines.oura.shape import PROGRESS_COLUMNS, column_hints, new_json_columns

__all__ = ["SourceRuntime", "oura_documents", "oura_load_records", "oura_source"]


@dlt.source(name=SOURCE_NAME, max_table_nesting=2)
def oura_source(
    access_token: TSecretStrValue | None = dlt.secrets.value,
    profile: str | None = None,
    start_date: date | None = None,
    end_date: date | None = None,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    collections: Sequence[str] | None = None,
    base_url: str | None = None,
    raise_on_failure: bool = True,
    runtime: SourceRuntime | None = None,
) -> Iterator[DltResource]:
    """Every Oura collection the login may read, as merge resources keyed on `user_id`.

    Args:
        access_token: a bearer token (`sources.oura.access_token` in `.dlt/secrets.toml`,
            or `SOURCES__OURA__ACCESS_TOKEN`). Without one: the login saved by
            `oura-elt auth login --profile <profile>` (refreshed as needed), or
            `OURA_ACCESS_TOKEN`.
        profile: a saved login's profile (default `OURA_PROFILE`, else `default`).
        start_date: first day of a closed range to load (default: the saved cursor, or
            where the user's history starts).
        end_date: last day of a closed range (default: today). Either date makes the run
            a backfill that does not move the saved cursor.
        lookback_days: days before the saved cursor read again on every run (Oura restates
            recent days and rings sync late).
        collections: collection names (default: all); `.with_resources(...)` works too.
        base_url: the API (default `OURA_API_BASE_URL`, else `https://api.ouraring.com`).
        raise_on_failure: a collection that still fails after retries fails the run;
            False loads the others and logs it. A scope the login lacks is always only a
            warning.
        runtime: shared objects and progress callbacks of the project's loader.
    """
    chosen = resolve_collections(collections)
    check_at_least(lookback_days, 0, "lookback_days")
    runtime = runtime or SourceRuntime()
    now = runtime.now or current_time()
    lookback = lookback_days if runtime.lookback_days is None else runtime.lookback_days
    backfill = start_date is not None or end_date is not None
    if backfill:
        end_date = end_date or latest_day(now)
        check_day_range(start_date, end_date, ("start_date", "end_date"))
    session = Session(
        _client(access_token, profile, base_url, runtime),
        runtime,
        now,
        start_date,
        raise_on_failure,
        lookback,
    )
    # Time series arrive as Arrow tables: give their rows dlt's load and row ids, like
    # every other table (dbt reads the load id; dlt's merge wants the row id).
    dlt.config["normalize.parquet_normalizer.add_dlt_load_id"] = True
    dlt.config["normalize.parquet_normalizer.add_dlt_id"] = True
    for collection in chosen:
        if collection.dated:
            cursor = _cursor(collection, start_date, end_date if backfill else None)
            yield dlt.resource(_dated, **_hints(collection))(collection, session, cursor=cursor)
        else:
            yield dlt.resource(_undated, **_hints(collection))(collection, session)


@dlt.source(name=SOURCE_NAME, max_table_nesting=2)
def oura_documents(
    documents: dict[str, list[dict]], deleted: dict[str, list[dict]]
) -> Iterator[DltResource]:
    """Documents fetched elsewhere (by id, for webhook events) written like `oura_source`'s.

    Args:
        documents: raw rows (`rows.to_row`) per collection.
        deleted: tombstones (`rows.tombstone`) per collection.
    """
    for collection in resolve_collections([*documents, *deleted]):
        rows = [*documents.get(collection.name, ()), *deleted.get(collection.name, ())]
        yield dlt.resource(_given, **_hints(collection, rows))(collection, rows)


@dlt.source(name=SOURCE_NAME)
def oura_load_records(outcome: Outcome, loaded_at: datetime) -> Iterator[DltResource]:
    """The record of what a source run read, per collection (`_oura_load_progress`): extract
    it right after the run's `oura_source`, into the same package, so it commits with the data.

    Args:
        outcome: the run's `SourceRuntime.outcome`, filled in while it was extracted.
        loaded_at: the run's instant.
    """

    def records() -> Iterator[list[dict]]:
        rows = [
            {
                "user_id": outcome.user_id,
                "collection": name,
                "start_day": first,
                "end_day": outcome.through[name],
                "loaded_at": loaded_at,
            }
            for name, (first, _) in outcome.spans.items()
            if name in outcome.through and outcome.user_id
        ]
        if rows:
            yield rows

    yield dlt.resource(
        records, name=PROGRESS_TABLE, write_disposition="append", columns=PROGRESS_COLUMNS
    )


def _hints(collection: Collection, rows: Sequence[dict] = ()) -> dict[str, Any]:
    return {
        "name": collection.name,
        "write_disposition": {"disposition": "merge", "strategy": "delete-insert"},
        "primary_key": list(collection.primary_key),
        "columns": column_hints(collection, () if collection.kind.samples else rows),
    }


def _cursor(collection: Collection, start: date | None, end: date | None) -> Any:
    """The resource's `dlt.sources.incremental` on its cursor (a day, or the instant of a
    sample: `kinds`); a closed range (`end`) is a stateless backfill `[start, end]`. The range
    is pushed down to the API and trimmed in `_dated`, which moves the cursor (`advance`)."""
    kind = collection.kind
    closed = start is not None or end is not None
    return dlt.sources.incremental[kind.cursor_type](  # type: ignore[name-defined]
        collection.cursor,
        primary_key=(),
        initial_value=kind.value(start or FLOOR) if closed else None,
        end_value=kind.value(end + timedelta(days=1)) if end else None,
    )


def _dated(
    collection: Collection, session: Session, cursor: Any = dlt.sources.incremental("day")
) -> Iterator[Any]:  # noqa: B008 - dlt binds it
    """The documents of `collection` in the days the cursor (or the closed range) gives
    (`cursor` is always passed: the default only tells dlt that this resource is incremental)."""
    cursor.advance(None)  # the range goes to the API and is trimmed here: no dlt filtering
    backfill = cursor.end_value is not None
    saved = None if backfill else cursor.get_state().get("last_value")
    start, end = _asked_range(collection, session, cursor, saved)
    written = False
    with session.guard(collection):
        span = session.span(collection, start, end)
        if span is None:
            session.runtime.reporter.planned(collection.name, 0)
            yield dlt.mark.materialize_table_schema()
            return
        user_id = session.owner()
        windows = list(span.split(collection.window_days))
        session.runtime.reporter.planned(collection.name, len(windows))
        results = _fetched(collection, session, windows, user_id)
        yield []  # the first windows are on their way: let the other resources start theirs
        # What is stored is read only now, while those requests are out: fetching never waits
        # for the warehouse (a loader's lock may hold it through another person's commit).
        stored = session.stored()
        extent = stored.extent(collection) if stored is not None else None
        for window, found in zip(windows, results):
            gone: list[dict] = []
            if extent is not None and window.intersect(extent) is not None:
                gone = tombstones(
                    collection,
                    stored.keys(collection, window),
                    _seen(collection, found),
                    user_id,
                    window,
                )
            rows = found[0] if isinstance(found, tuple) else found
            for batch in (rows, gone):
                if _count(batch):
                    written = True
                    yield _typed(collection, batch)
            session.count_deleted(collection, len(gone))
            session.outcome.through[collection.name] = window.end
            if not backfill:
                through = collection.kind.through(window, session.now)
                cursor.advance(through if saved is None else max(saved, through))
            session.runtime.reporter.window_done(collection.name, _count(rows))
        if collection.name in session.capped:
            session.outcome.remaining.add(collection.name)
    if not written:
        yield dlt.mark.materialize_table_schema()


def _asked_range(
    collection: Collection, session: Session, cursor: Any, saved: Any
) -> tuple[Any, date | None]:
    """(start, end) of what a resource asks for: a closed range as given; else on from the
    saved cursor, and the lookback again (Oura restates recent days); None: from where the
    user's history starts, to today."""
    if cursor.end_value is not None:
        return session.start_date, day_of(cursor.end_value) - timedelta(days=1)
    if saved is None:
        return None, None
    return min(collection.kind.after(saved), session.recent(collection, saved)), None


def _fetched(
    collection: Collection, session: Session, windows: list[DayRange], user_id: str
) -> Iterator[Any]:
    """What `fetch` returns for each window, in order: asked for now, or taken from what the
    caller asked for ahead (`SourceRuntime.prefetched`)."""
    client, ahead = session.client, session.runtime.prefetched
    return session.in_order(
        ahead.pop((collection.name, w), None) or partial(fetch, client, collection, w, user_id)
        for w in windows
    )


def _seen(collection: Collection, found: Any) -> set:
    """The keys the API returned for a window (a time series: those of its table)."""
    if isinstance(found, tuple):
        return found[1]
    return key_set(collection, found) if found is not None else set()


def _undated(collection: Collection, session: Session) -> Iterator[Any]:
    """`personal_info` (one object) or every `ring_configuration` document."""
    session.runtime.reporter.planned(collection.name, 1)
    written = False
    with session.guard(collection):
        user_id = session.owner()
        if collection.kind == SINGLE:
            rows = [to_row(collection, session.personal_info(), user_id)]
            gone: list[dict] = []
        else:
            rows = session.rings()
            stored = session.stored()
            held = stored.keys(collection, None) if stored is not None else []
            gone = tombstones(collection, held, {key_of(collection, r) for r in rows}, user_id)
            session.count_deleted(collection, len(gone))
        for batch in (rows, gone):
            if batch:
                written = True
                yield batch
        session.runtime.reporter.window_done(collection.name, len(rows))
    if not written:
        yield dlt.mark.materialize_table_schema()


def _typed(collection: Collection, batch: Any) -> Any:
    """A batch as dlt gets it: time series as Arrow; documents with fields the API added
    since the spec that hold lists typed as JSON (never child tables)."""
    if collection.kind.samples:
        return to_table(collection, batch) if isinstance(batch, list) else batch
    extra = new_json_columns(collection, batch)
    return dlt.mark.with_hints(batch, dlt.mark.make_hints(columns=extra)) if extra else batch


def _given(collection: Collection, rows: list[dict]) -> Iterator[Any]:
    if rows:
        yield to_table(collection, rows) if collection.kind.samples else rows


def _count(batch: Any) -> int:
    if batch is None:
        return 0
    return batch.num_rows if isinstance(batch, pa.Table) else len(batch)


def _client(
    access_token: Any, profile: str | None, base_url: str | None, runtime: SourceRuntime
) -> OuraClient:
    """The user's API client: the runtime's token provider, else the access token, else the
    saved login of `profile` (or `OURA_ACCESS_TOKEN`)."""
    from pipelines.auth import StaticTokenProvider, token_provider

    if runtime.client is not None:
        return runtime.client
    endpoints = Endpoints.from_env()
    api = (base_url or endpoints.api_base_url).rstrip("/")
    provider = runtime.provider
    if provider is None and access_token:
        provider = StaticTokenProvider(str(access_token), profile=profile)
    if provider is None:
        provider = token_provider(
            profile,
            Endpoints(
                api,
                endpoints.authorize_url,
                endpoints.token_url,
                endpoints.revoke_url,
                endpoints.client_id,
                endpoints.client_secret,
            ),
        )
    budget = runtime.budget or shared_budget()
    return OuraClient(api, provider, budget, runtime.policy, pool_size=runtime.workers)
