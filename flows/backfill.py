"""`backfill`: a date range (default: each user's whole history) in chunks, then one `dbt build`.

Per profile, the range is cut into `chunk_days` chunks, oldest first, each its
own task run (retried with backoff) that loads and commits that chunk. The
loader records what is committed in the warehouse itself, so a retried chunk
fetches only what is missing and a re-run backfill skips the chunks already
loaded: crash at chunk 40 of 60, run again, and it goes on from chunk 40.
Profiles fan out like `refresh`'s, under one shared request budget.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.cohort import CohortReport, run_cohort
from flows.tasks import find_history_start, load_window, retry_options
from pipelines.core.checks import check_at_least, check_day_range
from pipelines.core.errors import UsageError
from pipelines.core.target import Target
from pipelines.oura.dates import DayRange
from pipelines.oura.settings import COLLECTIONS, DEFAULT_CHUNK_DAYS, DEFAULT_LOOKBACK_DAYS

DEFAULT_MAX_PARALLEL = 2


def chunks_of(first: date, last: date, chunk_days: int) -> list[DayRange]:
    """`first..last` in consecutive chunks of at most `chunk_days` days, oldest first."""
    if chunk_days < 1:
        raise UsageError("chunk_days must be at least 1")
    return list(DayRange(first, last).split(chunk_days)) if first <= last else []


@task(name="backfill profile", task_run_name="backfill {profile}", cache_policy=NO_CACHE)
def backfill_profile(
    profile: str,
    *,
    target: Target,
    budget: Any,
    start_date: date | None,
    end_date: date | None,
    chunk_days: int,
    lookback_days: int,
    api_base_url: str | None,
    token_block: str | None,
) -> list[Any]:
    """One profile's chunks, in order; each chunk is a nested, retried task run.

    Returns:
        The `LoadSummary` of every chunk.
    """
    from pipelines.core.clock import current_time
    from pipelines.oura.kinds import latest_day

    retrying = retry_options()
    first = start_date or find_history_start.with_options(**retrying)(
        profile, budget=budget, api_base_url=api_base_url, token_block=token_block
    )
    last = end_date or latest_day(current_time())
    chunks = chunks_of(first, last, chunk_days)
    get_run_logger().info(
        "%s: %s..%s in %d chunk(s) of up to %d days", profile, first, last, len(chunks), chunk_days
    )
    load = load_window.with_options(**retrying)
    common = dict(
        target=target,
        budget=budget,
        api_base_url=api_base_url,
        chunk_days=chunk_days,
        token_block=token_block,
    )
    if start_date or end_date:  # a closed range: each chunk is loaded as it is asked
        return [
            load(
                profile,
                start_date=chunk.start,
                end_date=chunk.end,
                lookback_days=lookback_days,
                **common,
            )
            for chunk in chunks
        ]
    return _load_history(load, profile, chunks, lookback_days, common)


def _load_history(
    load: Any, profile: str, chunks: list[DayRange], lookback_days: int, common: dict[str, Any]
) -> list[Any]:
    """The whole history, incrementally: each chunk moves the saved cursors to its end, so a
    re-run skips the chunks already loaded. The first chunk also loads the undated
    collections; the last one, which reaches today, reads the lookback again."""
    dated = [c.name for c in COLLECTIONS if c.dated]
    return [
        load(
            profile,
            until=chunk.end,
            chunk_label=str(chunk),
            lookback_days=lookback_days if chunk is chunks[-1] else 0,
            collections=None if number == 0 else dated,
            **common,
        )
        for number, chunk in enumerate(chunks)
    ]


@flow(
    name="backfill",
    description="Load a date range of Oura data in resumable chunks, then dbt build.",
)
def backfill(
    profiles: list[str] | None = None,
    start_date: date | None = None,
    end_date: date | None = None,
    chunk_days: int = DEFAULT_CHUNK_DAYS,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    destination: str = "duckdb",
    duckdb_path: str | None = None,
    api_base_url: str | None = None,
    run_dbt: bool = True,
    max_parallel: int = DEFAULT_MAX_PARALLEL,
    rate_limit: str | None = None,
    token_block: str | None = None,
) -> CohortReport:
    """Backfill profiles chunk by chunk, then dbt build.

    Args:
        profiles: login profiles (default: every saved login).
        start_date: first day (default: the start of each user's history).
        end_date: last day (default: today, in the latest time zone on Earth).
        chunk_days: days per chunk (one task run, one commit each).
        lookback_days: trailing days that count as unsettled (fetched again later).
        destination: "duckdb" or "bigquery".
        duckdb_path: DuckDB file (default: `OURA_DUCKDB_PATH`, else `data/oura.duckdb`).
        api_base_url: Oura API base URL (default: `OURA_API_BASE_URL`, else Oura's).
        run_dbt: run `dbt build` after the loads.
        max_parallel: profiles loading at once.
        rate_limit: `"<requests>/<seconds>"` for the whole run (default:
            `OURA_ELT_RATE_LIMIT`, else 90 % of Oura's per-application limit).
        token_block: name of a Prefect Secret block holding an access token (one profile).

    Returns:
        The chunks' summaries per profile and the dbt result.

    Raises:
        UsageError: start_date after end_date, or chunk_days < 1.
        OuraEltError: a profile failed to load (after retries) or dbt failed.
    """
    check_day_range(start_date, end_date, ("start_date", "end_date"))
    check_at_least(chunk_days, 1, "chunk_days")
    return run_cohort(
        "backfill",
        _profile_backfiller(
            start_date, end_date, chunk_days, lookback_days, api_base_url, token_block
        ),
        profiles=profiles,
        token_block=token_block,
        destination=destination,
        duckdb_path=duckdb_path,
        rate_limit=rate_limit,
        max_parallel=max_parallel,
        run_dbt=run_dbt,
    )


def _profile_backfiller(
    start_date: date | None,
    end_date: date | None,
    chunk_days: int,
    lookback_days: int,
    api_base_url: str | None,
    token_block: str | None,
) -> Callable[[str, Any, Any], Any]:
    """How `run_cohort` starts one profile's backfill: a `backfill profile` task run."""
    return lambda profile, target, budget: backfill_profile.submit(
        profile,
        target=target,
        budget=budget,
        start_date=start_date,
        end_date=end_date,
        chunk_days=chunk_days,
        lookback_days=lookback_days,
        api_base_url=api_base_url,
        token_block=token_block,
    )
