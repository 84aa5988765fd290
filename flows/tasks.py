"""The flows' tasks: one load window of one profile, the history start, and `dbt build`.

Each task calls one importable function (`pipelines.load.load`,
`pipelines.load.history_start`, `pipelines.transform.transform`) while holding
the warehouse lock where it writes. Network tasks retry with exponential
backoff, except for failures a retry cannot fix (a missing or revoked login, a
lapsed membership, bad arguments). Tasks take live objects (the shared request
budget), so they are never cached by their inputs (`NO_CACHE`): resumability is
the loader's own progress record in the warehouse, not a Prefect cache.
"""

from __future__ import annotations

import os
from datetime import date
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import task_run as current_task_run

from pipelines.core.config import Endpoints
from pipelines.core.errors import OuraEltError, UsageError
from pipelines.core.target import Target
from pipelines.oura.runtime import NullReporter
from pipelines.oura.settings import DEFAULT_CHUNK_DAYS, DEFAULT_LOOKBACK_DAYS

RETRIES_ENV = "OURA_ELT_TASK_RETRIES"
RETRY_DELAY_ENV = "OURA_ELT_TASK_RETRY_DELAY"  # seconds before the first retry; doubles
DEFAULT_RETRIES = 3
DEFAULT_RETRY_DELAY_SECONDS = 60.0


class LoadIncomplete(OuraEltError):
    """A load ran but some collections failed; what was committed stays (a retry resumes)."""


def retry_options() -> dict[str, Any]:
    """Task retries for network work: `OURA_ELT_TASK_RETRIES` (default 3) with delays
    starting at `OURA_ELT_TASK_RETRY_DELAY` seconds (default 60) and doubling, +-30 % jitter.

    Raises:
        UsageError: a variable is not a number.
    """
    try:
        retries = int(os.environ.get(RETRIES_ENV) or DEFAULT_RETRIES)
        first = float(os.environ.get(RETRY_DELAY_ENV) or DEFAULT_RETRY_DELAY_SECONDS)
    except ValueError:
        raise UsageError(
            f"{RETRIES_ENV} must be an integer and {RETRY_DELAY_ENV} a number of seconds"
        ) from None
    if retries < 0 or first < 0:
        raise UsageError(f"{RETRIES_ENV} and {RETRY_DELAY_ENV} must not be negative")
    return {
        "retries": retries,
        "retry_delay_seconds": [first * 2**attempt for attempt in range(retries)] or 0,
        "retry_jitter_factor": 0.3 if first else None,
    }


def worth_retrying(_task: Any, _task_run: Any, state: Any) -> bool:
    """Retry unless the failure needs a person (login, membership, arguments)."""
    from pipelines.auth import NotLoggedIn, ReloginRequired
    from pipelines.oura.helpers import AuthRejected, MembershipLapsed

    try:
        state.result()
    except (UsageError, NotLoggedIn, ReloginRequired, MembershipLapsed, AuthRejected):
        return False
    except BaseException:  # noqa: BLE001 - everything else is worth another try
        return True
    return True


def endpoints_for(api_base_url: str | None) -> Endpoints:
    """The environment's endpoints, with another API base URL if one is given."""
    from dataclasses import replace

    endpoints = Endpoints.from_env()
    return replace(endpoints, api_base_url=api_base_url.rstrip("/")) if api_base_url else endpoints


def provider_for(profile: str, endpoints: Endpoints, token_block: str | None) -> Any:
    """The profile's token provider: its saved login, or an access token kept in a
    Prefect `Secret` block (for workers without the token store). The token is read
    here, inside the task, so it never becomes a parameter or a log line."""
    from pipelines.auth import StaticTokenProvider, token_provider

    if not token_block:
        return token_provider(profile, endpoints)
    from prefect.blocks.system import Secret

    try:
        token = Secret.load(token_block).get()
    except ValueError:
        raise UsageError(
            f"no Prefect Secret block named {token_block!r}; create it first"
        ) from None
    if not isinstance(token, str) or not token.strip():
        raise UsageError(f"Prefect Secret block {token_block!r} does not hold an access token")
    return StaticTokenProvider(token.strip(), profile=profile)


class RunLogReporter(NullReporter):
    """Forwards the loader's notes and failures to the task run's log."""

    def __init__(self, logger: Any) -> None:
        self._log = logger

    def failed(self, collection: str, message: str, skipped: bool) -> None:  # noqa: D102
        (self._log.info if skipped else self._log.warning)(message)

    def note(self, message: str) -> None:  # noqa: D102
        self._log.info(message)


def _load_run_name() -> str:
    params = current_task_run.parameters
    first, last = params.get("start_date"), params.get("end_date")
    span = f" {first or '…'}..{last or '…'}" if first or last else ""
    if params.get("chunk_label"):
        span = f" {params['chunk_label']}"
    return f"load {params.get('profile')}{span}"


@task(
    name="load",
    task_run_name=_load_run_name,
    cache_policy=NO_CACHE,
    retry_condition_fn=worth_retrying,
)
def load_window(
    profile: str,
    *,
    target: Target,
    budget: Any,
    api_base_url: str | None = None,
    start_date: date | None = None,
    end_date: date | None = None,
    until: date | None = None,
    chunk_label: str | None = None,
    collections: list[str] | None = None,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    chunk_days: int = DEFAULT_CHUNK_DAYS,
    token_block: str | None = None,
) -> Any:
    """Load one profile's days into the target (`pipelines.load.load`), which holds the
    target's commit lock only while it writes, so loads of a cohort fetch at the same time
    (and on BigQuery also commit at the same time: `Target.commit_lock`).

    Args:
        until: the last day of an incremental chunk (a backfill of the whole history);
            `start_date`/`end_date` load a closed range instead.
        chunk_label: the chunk's days, for the task run's name.
        collections: the collections to load (default: all).

    Returns:
        The loader's `LoadSummary`.

    Raises:
        LoadIncomplete: some collections failed (the retry fetches only what is missing).
    """
    from pipelines.load import load

    logger = get_run_logger()
    endpoints = endpoints_for(api_base_url)
    provider = provider_for(profile, endpoints, token_block)
    summary = load(
        profile,
        start_date=start_date,
        end_date=end_date,
        until=until,
        collections=collections,
        lookback_days=lookback_days,
        destination=target.destination,
        duckdb_path=target.duckdb_path,
        dataset_name=target.dataset,
        endpoints=endpoints,
        provider=provider,
        budget=budget,
        chunk_days=chunk_days,
        reporter=RunLogReporter(logger),
        warehouse_lock=target.commit_lock,
    )
    _log_summary(logger, profile, summary)
    if not summary.ok:
        failed = "; ".join(summary.failed.values())
        raise LoadIncomplete(
            f"profile '{profile}': {len(summary.failed)} collection(s) failed: {failed}"
        )
    return summary


def _log_summary(logger: Any, profile: str, summary: Any) -> None:
    """One line of a load's figures in the task run's log."""
    logger.info(
        "%s: %d documents, %d deleted, %d requests (%d retried), days %s..%s, %.1f s",
        profile,
        summary.total_documents,
        sum(summary.deleted.values()),
        summary.requests,
        summary.retries,
        summary.start,
        summary.end,
        summary.seconds,
    )


@task(
    name="find history start",
    task_run_name="find history start {profile}",
    cache_policy=NO_CACHE,
    retry_condition_fn=worth_retrying,
)
def find_history_start(
    profile: str, *, budget: Any, api_base_url: str | None = None, token_block: str | None = None
) -> date:
    """The first day of the profile's history (`pipelines.load.history_start`)."""
    from pipelines.load import history_start

    endpoints = endpoints_for(api_base_url)
    first = history_start(endpoints, provider_for(profile, endpoints, token_block), budget)
    get_run_logger().info("%s: history starts %s", profile, first)
    return first


@task(name="dbt build", task_run_name="dbt build", cache_policy=NO_CACHE)
def dbt_build(target: Target) -> Any:
    """`dbt build` on the target (`pipelines.transform.transform`, which holds its lock).

    A failing model or test raises, so the flow fails.
    """
    from pipelines.transform import transform

    logger = get_run_logger()
    summary = transform(  # holds the warehouse lock itself
        duckdb_path=target.duckdb_path,
        target=target.destination,
        raw_dataset=target.dataset,
        progress=logger.debug,
    )
    logger.info(
        "dbt build passed on %s: %d models, %d tests, %d unit tests, %.1f s",
        target,
        summary.models,
        summary.tests,
        summary.unit_tests,
        summary.seconds,
    )
    for test, rows in summary.warned_rows.items():
        for row in rows:
            logger.warning("dbt test %s warned: %s", test, row)
    return summary


class StaleData(OuraEltError):
    """The refresh ran, but some people's newest data is older than the flow's maximum age."""


@task(name="check freshness", task_run_name="check freshness", cache_policy=NO_CACHE)
def check_freshness(target: Target, profiles: list[str], stale_after_hours: float) -> list[str]:
    """Log the raw tables `dbt source freshness` finds stale, and every one of `profiles`
    whose newest data (the ring's last report, `pipelines.status`) is older than
    `stale_after_hours`; return one line per stale person, naming them.

    Reads the warehouse only, after the build (DuckDB; BigQuery is not checked yet).
    """
    from datetime import timedelta

    from pipelines.status import read_status
    from pipelines.transform import source_freshness

    logger = get_run_logger()
    if not target.is_duckdb:
        logger.info("freshness is checked on DuckDB warehouses only: %s was not checked", target)
        return []
    for table in source_freshness(target.duckdb_path, raw_dataset=target.dataset):
        age = table.message
        if table.age_seconds is not None:
            age = f"{table.age_seconds / 3600:.1f} h old"
        (logger.info if table.status == "pass" else logger.warning)(
            "source freshness of %s: %s (%s)", table.table, table.status, age
        )
    status = read_status(
        target.duckdb_path, max_age=timedelta(hours=stale_after_hours), dataset=target.dataset
    )
    stale = []
    for person in status.stale:
        if person.profile not in profiles:
            continue  # not refreshed by this run
        if person.ring_last_contact_at is None:
            line = f"{person.label} (no data)"
        else:
            hours = person.age_seconds / 3600
            line = (
                f"{person.label} (the ring last reported {hours:.0f} h ago, "
                f"{person.ring_last_contact_at:%Y-%m-%d %H:%M} UTC)"
            )
        logger.warning("stale data: %s", line)
        stale.append(line)
    return stale
