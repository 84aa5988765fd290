"""`refresh`: the nightly run. Every profile's recent days, then one `dbt build`.

Each profile's load re-reads its lookback window (revisions, late ring syncs,
deletions) and anything a crashed run left unsettled, retrying with backoff.
Profiles fan out with bounded concurrency under one shared request budget. The
`dbt build` runs once after the loads (never beside one: both hold the
warehouse lock), even if some profiles failed, so the others' new data is
modelled; the flow then fails naming the profiles that did not load. A failing
dbt model or test fails the flow. After the build it checks freshness: each person
whose newest data is older than `stale_after_hours` is logged, and the flow ends
Failed naming them (or, with `fail_when_stale=False`, in a Completed state named
"Stale" whose message names them): never a silent success.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect import flow
from prefect.states import Completed

from flows.cohort import resolve_profiles, run_cohort
from flows.tasks import StaleData, check_freshness, load_window, retry_options
from pipelines.oura.settings import DEFAULT_CHUNK_DAYS, DEFAULT_LOOKBACK_DAYS

DEFAULT_MAX_PARALLEL = 2
DEFAULT_STALE_AFTER_HOURS = 36.0


@flow(name="refresh", description="Load every profile's recent Oura days, then dbt build.")
def refresh(
    profiles: list[str] | None = None,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    destination: str = "duckdb",
    duckdb_path: str | None = None,
    api_base_url: str | None = None,
    run_dbt: bool = True,
    max_parallel: int = DEFAULT_MAX_PARALLEL,
    rate_limit: str | None = None,
    token_block: str | None = None,
    stale_after_hours: float | None = DEFAULT_STALE_AFTER_HOURS,
    fail_when_stale: bool = True,
) -> Any:
    """Refresh profiles: load the lookback window (and whatever is still missing), then dbt build.

    Args:
        profiles: login profiles (default: every saved login).
        lookback_days: trailing days fetched again (revisions, late syncs, deletions).
        destination: "duckdb" or "bigquery".
        duckdb_path: DuckDB file (default: `OURA_DUCKDB_PATH`, else `data/oura.duckdb`).
        api_base_url: Oura API base URL (default: `OURA_API_BASE_URL`, else Oura's).
        run_dbt: run `dbt build` after the loads.
        max_parallel: profiles loading at once.
        rate_limit: `"<requests>/<seconds>"` for the whole run (default:
            `OURA_ELT_RATE_LIMIT`, else 90 % of Oura's per-application limit).
        token_block: name of a Prefect Secret block holding an access token, for
            workers without the token store (one profile only).
        stale_after_hours: after the build, a person whose newest data (the ring's last
            report) is older than this is stale (None: not checked).
        fail_when_stale: end Failed when someone is stale; False ends in a Completed
            state named "Stale" instead. Either way the state's message names them.

    Returns:
        The loads' summaries per profile and the dbt result (in a "Stale" state when
        someone's data is stale and `fail_when_stale` is False).

    Raises:
        OuraEltError: a profile failed to load (after retries) or dbt failed.
        StaleData: someone's data is stale (with `fail_when_stale`).
    """
    report = run_cohort(
        "refresh",
        _recent_days_loader(api_base_url, lookback_days, token_block),
        profiles=profiles,
        token_block=token_block,
        destination=destination,
        duckdb_path=duckdb_path,
        rate_limit=rate_limit,
        max_parallel=max_parallel,
        run_dbt=run_dbt,
    )
    if stale_after_hours is None or report.dbt is None:
        return report  # the marts were not rebuilt: nothing new to judge
    return _judge_freshness(
        report, profiles, token_block, destination, duckdb_path, stale_after_hours, fail_when_stale
    )


def _recent_days_loader(
    api_base_url: str | None, lookback_days: int, token_block: str | None
) -> Callable[[str, Any, Any], Any]:
    """How `run_cohort` starts one profile's load: a retried `load` task run of its recent days."""
    load = load_window.with_options(**retry_options())
    return lambda profile, target, budget: load.submit(
        profile,
        target=target,
        budget=budget,
        api_base_url=api_base_url,
        lookback_days=lookback_days,
        chunk_days=DEFAULT_CHUNK_DAYS,
        token_block=token_block,
    )


def _judge_freshness(
    report: Any,
    profiles: list[str] | None,
    token_block: str | None,
    destination: str,
    duckdb_path: str | None,
    stale_after_hours: float,
    fail_when_stale: bool,
) -> Any:
    """The report, or (someone's data stale) a failure or a "Stale" state naming them."""
    from pipelines.core.target import Target

    stale = check_freshness(
        Target.of(destination, duckdb_path),
        resolve_profiles(profiles, token_block),
        stale_after_hours,
    )
    if not stale:
        return report
    message = (
        f"refresh: the data of {len(stale)} profile(s) is older than "
        f"{stale_after_hours:g} h: {'; '.join(stale)}"
    )
    if fail_when_stale:
        raise StaleData(message)
    return Completed(name="Stale", message=message, data=report)
