"""`oura-elt transform` (dbt build of the models) and `oura-elt run` (load, then transform)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from oura_elt.console import console, err_console, error_line
from oura_elt.errors import UsageError

TargetOpt = typer.Option("duckdb", "--target", help="dbt target: duckdb or bigquery (see dbt_project/profiles.yml).")
SelectOpt = typer.Option(
    None, "--select", "-s", help="dbt selection, e.g. daily_summary+ (repeatable; default: everything)."
)
FullRefreshOpt = typer.Option(False, "--full-refresh", help="Rebuild incremental models (heart_rate_samples) from scratch.")
DuckdbOpt = typer.Option(None, "--duckdb", help="DuckDB file (default: OURA_DUCKDB_PATH, else data/oura.duckdb).")


def transform(
    duckdb_path: Optional[Path] = DuckdbOpt,
    target: str = TargetOpt,
    select: Optional[list[str]] = SelectOpt,
    full_refresh: bool = FullRefreshOpt,
) -> None:
    """Build the models with dbt: staging, intermediate and marts, with every data and unit test.

    The marts (daily_summary, sleep_periods, sleep_epochs, heart_rate_samples, ...) land in
    the `oura_marts` schema of the same warehouse. A failing model or test stops with one line
    naming it.
    """
    _check_target(target, duckdb_path)
    summary = _build(duckdb_path, target, select, full_refresh)
    _print(summary)


def run(
    profile: Optional[str] = typer.Option(
        None, "--profile", help="Login profile (oura-elt auth login --profile). OURA_ACCESS_TOKEN overrides it."
    ),
    collections: Optional[str] = typer.Option(
        None, "--collections", help="Comma-separated collections, e.g. sleep,daily_readiness (default: all)."
    ),
    start_date: Optional[str] = typer.Option(
        None, "--start-date", help="First day, YYYY-MM-DD (default: the start of the user's history)."
    ),
    end_date: Optional[str] = typer.Option(None, "--end-date", help="Last day, YYYY-MM-DD (default: today)."),
    lookback_days: int = typer.Option(
        7, "--lookback-days", min=0, help="Trailing days fetched again on every run (revisions, late syncs)."
    ),
    destination: str = typer.Option("duckdb", "--destination", help="duckdb or bigquery (also the dbt target)."),
    duckdb_path: Optional[Path] = DuckdbOpt,
    select: Optional[list[str]] = SelectOpt,
    full_refresh: bool = FullRefreshOpt,
) -> None:
    """Load (like `oura-elt load`), then transform (like `oura-elt transform`).

    The models are built even when a collection failed to load (what was committed is
    consistent); the command then exits non-zero with the load's error lines.
    """
    from oura_elt import config
    from oura_elt.commands.load import ProgressReporter, print_summary
    from pipelines.load import load, resolve_collections

    _check_target(destination, duckdb_path)
    first, last = _parse_day(start_date, "--start-date"), _parse_day(end_date, "--end-date")
    if first and last and first > last:
        raise UsageError(f"--start-date {first} is after --end-date {last}")
    names = collections.split(",") if collections is not None else None
    resolve_collections(names)
    if destination == "duckdb":
        duckdb_path = Path(duckdb_path or config.default_duckdb_path())

    with ProgressReporter() as reporter:
        loaded = load(
            profile,
            collections=names,
            start_date=first,
            end_date=last,
            lookback_days=lookback_days,
            destination=destination,
            duckdb_path=duckdb_path,
            reporter=reporter,
        )
    print_summary(loaded)
    for message in loaded.skipped.values():
        err_console.print(f"[yellow]warning:[/] {message}", soft_wrap=True)

    summary = _build(duckdb_path, destination, select, full_refresh)
    _print(summary)
    for message in loaded.failed.values():
        error_line(message)
    if loaded.failed:
        raise typer.Exit(1)


def _parse_day(text: Optional[str], option: str) -> Any:
    from datetime import date

    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"{option} {text!r} is not a date; use YYYY-MM-DD") from None


def _check_target(target: str, duckdb_path: Optional[Path]) -> None:
    from oura_elt.transform import TARGETS

    if target not in TARGETS:
        raise UsageError(f"--target {target!r} is not one of: {', '.join(TARGETS)}")
    if duckdb_path is not None and target != "duckdb":
        raise UsageError("--duckdb only applies to the duckdb target")


def _build(duckdb_path: Optional[Path], target: str, select: Optional[list[str]], full_refresh: bool) -> Any:
    from oura_elt.transform import transform as run_transform

    with console.status("dbt build: models, data tests and unit tests") as status:
        return run_transform(
            duckdb_path,
            target=target,
            select=select or None,
            full_refresh=full_refresh,
            progress=lambda line: status.update(f"dbt build: {line}"),
        )


def _print(summary: Any) -> None:
    from rich.table import Table

    from oura_elt.transform import mart_row_counts

    if summary.created_raw_tables:
        console.print(
            f"[dim]created empty raw tables (never loaded): {', '.join(summary.created_raw_tables)}[/]",
            soft_wrap=True,
        )
    if summary.target == "duckdb":
        table = Table(show_edge=False, pad_edge=False, box=None)
        table.add_column("mart")
        table.add_column("rows", justify="right")
        for name, rows in mart_row_counts(summary.where).items():
            table.add_row(name, f"{rows:,}")
        console.print(table)
    warned = f", {len(summary.warnings)} warning(s): {', '.join(summary.warnings)}" if summary.warnings else ""
    console.print(
        f"dbt build passed: {summary.models} models, {summary.tests} data tests, "
        f"{summary.unit_tests} unit tests{warned}; {summary.seconds:.1f} s -> {summary.where}",
        soft_wrap=True,
    )
