"""`oura-elt transform` (dbt build of the models) and `oura-elt run` (load, then transform)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from oura_elt.commands.options import (
    CollectionsOpt,
    DuckdbOpt,
    EndDateOpt,
    LookbackOpt,
    ProfileOpt,
    StartDateOpt,
    check_destination,
    with_old_name,
)
from oura_elt.console import console, err_console, error_line
from pipelines.core.config import DEFAULT_LOOKBACK_DAYS

TargetOpt = typer.Option(
    "duckdb",
    "--destination",
    metavar="duckdb|bigquery",
    help="duckdb or bigquery: the warehouse the loader wrote, also the dbt target (see "
    "dbt_project/profiles.yml).",
)
OldTargetOpt = typer.Option(
    None, "--target", hidden=True, help="The old name of --destination (still works)."
)
SelectOpt = typer.Option(
    None,
    "--select",
    "-s",
    metavar="SELECTOR",
    help="dbt selection, e.g. daily_summary+ (repeatable; default: everything).",
)
FullRefreshOpt = typer.Option(
    False, "--full-refresh", help="Rebuild incremental models (heart_rate_samples) from scratch."
)


def transform(
    duckdb_path: DuckdbOpt = None,
    target: str = TargetOpt,
    select: list[str] | None = SelectOpt,
    full_refresh: bool = FullRefreshOpt,
    old_target: str | None = OldTargetOpt,
) -> None:
    """Build the models with dbt: staging, intermediate and marts, with every data and unit test.

    The marts (daily_summary, sleep_periods, sleep_epochs, heart_rate_samples, ...) land in
    the `oura_marts` schema of the same warehouse. A failing model or test stops with one line
    naming it.
    """
    target = with_old_name(
        target, old_target, name="--destination", old="--target", default="duckdb"
    )
    check_destination(target, duckdb_path)
    summary = _build(duckdb_path, target, select, full_refresh)
    _print(summary)


def run(
    profile: ProfileOpt = None,
    collections: CollectionsOpt = None,
    start_date: StartDateOpt = None,
    end_date: EndDateOpt = None,
    lookback_days: LookbackOpt = DEFAULT_LOOKBACK_DAYS,
    destination: Annotated[
        str,
        typer.Option(
            "--destination",
            metavar="duckdb|bigquery",
            help="Where the data goes (also the dbt target).",
        ),
    ] = "duckdb",
    duckdb_path: DuckdbOpt = None,
    select: list[str] | None = SelectOpt,
    full_refresh: bool = FullRefreshOpt,
) -> None:
    """Load (like `oura-elt load`), then transform (like `oura-elt transform`).

    The models are built even when a collection failed to load (what was committed is
    consistent); the command then exits non-zero with the load's error lines.
    """
    from oura_elt.commands.load import load_and_print
    from pipelines.core.target import Target

    check_destination(destination, duckdb_path)
    loaded = load_and_print(
        profile, collections, start_date, end_date, lookback_days, destination, duckdb_path
    )
    duckdb_path = Target.of(destination, duckdb_path).duckdb_path

    summary = _build(duckdb_path, destination, select, full_refresh)
    _print(summary)
    for message in loaded.failed.values():
        error_line(escape(message))
    if loaded.failed:
        raise typer.Exit(1)


def _build(
    duckdb_path: Path | None, target: str, select: list[str] | None, full_refresh: bool
) -> Any:
    from pipelines.transform import transform as run_transform

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

    from pipelines.transform import mart_row_counts

    if summary.created_raw_tables:
        console.print(
            "[dim]created empty raw tables (never loaded): "
            f"{', '.join(summary.created_raw_tables)}[/]",
            soft_wrap=True,
        )
    if summary.target == "duckdb":
        table = Table(show_edge=False, pad_edge=False, box=None)
        table.add_column("mart")
        table.add_column("rows", justify="right")
        for name, rows in mart_row_counts(summary.where).items():
            table.add_row(name, f"{rows:,}")
        console.print(table)
    warned = (
        f", {len(summary.warnings)} warning(s): {', '.join(summary.warnings)}"
        if summary.warnings
        else ""
    )
    console.print(
        f"dbt build passed: {summary.models} models, {summary.tests} data tests, "
        f"{summary.unit_tests} unit tests{warned}; {summary.seconds:.1f} s -> {summary.where}",
        soft_wrap=True,
    )
    for test, rows in summary.warned_rows.items():
        for row in rows:
            err_console.print(f"[yellow]warning:[/] {escape(test)}: {escape(row)}", soft_wrap=True)
