"""Run the flows in this process (the CLI and `make demo`), with Prefect set up first.

A bare flow run talks to `PREFECT_API_URL` if set, else to a temporary local
Prefect server (about 15 s to start on a fresh `PREFECT_HOME`).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from flows.server import prepare_prefect_env
from pipelines.oura.settings import DEFAULT_CHUNK_DAYS


def run_backfill(
    profile: str,
    *,
    start_date: date | None = None,
    end_date: date | None = None,
    duckdb_path: Path | str | None = None,
    api_base_url: str | None = None,
    chunk_days: int = DEFAULT_CHUNK_DAYS,
    run_dbt: bool = True,
) -> Any:
    """One profile's backfill through the `backfill` flow (chunked task runs, then dbt build).

    Args:
        profile: login profile.
        start_date: first day (default: the start of the user's history).
        end_date: last day (default: today).
        duckdb_path: DuckDB file (default: `OURA_DUCKDB_PATH`, else `data/oura.duckdb`).
        api_base_url: Oura API base URL (e.g. the sandbox's).
        chunk_days: days per chunk.
        run_dbt: run `dbt build` afterwards.

    Returns:
        The flow's `flows.cohort.CohortReport` (summaries per chunk, dbt result).

    Raises:
        OuraEltError: the load or dbt failed (one line).
    """
    prepare_prefect_env()
    from flows.backfill import backfill

    return backfill(
        profiles=[profile],
        start_date=start_date,
        end_date=end_date,
        chunk_days=chunk_days,
        duckdb_path=str(duckdb_path) if duckdb_path else None,
        api_base_url=api_base_url,
        run_dbt=run_dbt,
        max_parallel=1,
    )


def nightly_preview(cron: str | None = None, timezone_name: str | None = None) -> str:
    """One line: when and where `oura-nightly` would run (next run in its time zone)."""
    prepare_prefect_env()
    from flows.schedule import DEFAULT_CRON, describe_nightly

    return describe_nightly(cron or DEFAULT_CRON, timezone_name)
