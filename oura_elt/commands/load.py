"""`oura-elt load`: every Oura collection of one person into DuckDB or BigQuery.

BigQuery uses dlt's usual configuration: `DESTINATION__BIGQUERY__CREDENTIALS__PROJECT_ID`,
`..._PRIVATE_KEY`, `..._CLIENT_EMAIL` (or `.dlt/secrets.toml`, or
`GOOGLE_APPLICATION_CREDENTIALS` pointing at a service-account file), and needs
`pip install 'oura-elt[bigquery]'`.
"""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer
from rich.markup import escape

from oura_elt.console import console, err_console, error_line
from oura_elt.errors import UsageError

if TYPE_CHECKING:
    from pipelines.load import LoadSummary


def _day(text: Optional[str], option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"{option} {text!r} is not a date; use YYYY-MM-DD") from None


def load(
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
        7, "--lookback-days", help="Trailing days fetched again on every run (revisions, late syncs)."
    ),
    destination: str = typer.Option("duckdb", "--destination", help="duckdb or bigquery."),
    duckdb_path: Optional[Path] = typer.Option(
        None, "--duckdb", help="DuckDB file (default: OURA_DUCKDB_PATH, else data/oura.duckdb)."
    ),
) -> None:
    """Load Oura data into the warehouse: a full backfill the first time, then only what changed.

    Every run re-reads the last --lookback-days days, so revised and late-synced
    documents are updated and documents deleted at Oura disappear. An interrupted
    run resumes where it stopped.
    """
    from oura_elt import config
    from pipelines.load import load as run_load
    from pipelines.load import resolve_collections
    from pipelines.oura.warehouse import DESTINATIONS

    first, last = _day(start_date, "--start-date"), _day(end_date, "--end-date")
    if first and last and first > last:
        raise UsageError(f"--start-date {first} is after --end-date {last}")
    if lookback_days < 0:
        raise UsageError(f"--lookback-days {lookback_days} is negative; use 0 or more")
    if destination not in DESTINATIONS:
        raise UsageError(f"--destination {destination!r} is not one of: {', '.join(DESTINATIONS)}")
    if duckdb_path is not None and destination != "duckdb":
        raise UsageError("--duckdb only applies to --destination duckdb")
    names = collections.split(",") if collections is not None else None
    resolve_collections(names)  # fail fast, before any network or warehouse access

    with ProgressReporter() as reporter:
        summary = run_load(
            profile,
            collections=names,
            start_date=first,
            end_date=last,
            lookback_days=lookback_days,
            destination=destination,
            duckdb_path=duckdb_path or (config.default_duckdb_path() if destination == "duckdb" else None),
            reporter=reporter,
        )
    print_summary(summary)
    for message in summary.skipped.values():
        err_console.print(f"[yellow]warning:[/] {escape(message)}", soft_wrap=True)
    for message in summary.failed.values():
        error_line(escape(message))
    if summary.failed:
        raise SystemExit(1)  # the errors are printed; committed data stays, a rerun retries


class ProgressReporter:
    """A rich progress bar per collection (windows fetched, documents), on stderr."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("{task.description:<26}"),
            BarColumn(bar_width=28),
            MofNCompleteColumn(),
            TextColumn("{task.fields[docs]:>9,} docs"),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=err_console,
            transient=False,
        )
        self._tasks: dict[str, Any] = {}
        self._docs: dict[str, int] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> "ProgressReporter":
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def _task(self, collection: str) -> Any:
        with self._lock:
            if collection not in self._tasks:
                self._tasks[collection] = self._progress.add_task(collection, total=0, docs=0, status="")
            return self._tasks[collection]

    def planned(self, collection: str, windows: int) -> None:  # noqa: D102
        task = self._task(collection)
        self._progress.update(task, total=windows, status="" if windows else "[dim]up to date[/]")

    def window_done(self, collection: str, documents: int) -> None:  # noqa: D102
        task = self._task(collection)
        with self._lock:
            self._docs[collection] = docs = self._docs.get(collection, 0) + documents
        self._progress.update(task, advance=1, docs=docs)

    def failed(self, collection: str, message: str, skipped: bool) -> None:  # noqa: D102
        status = "[yellow]skipped (scope)[/]" if skipped else "[red]failed[/]"
        self._progress.update(self._task(collection), status=status)

    def note(self, message: str) -> None:  # noqa: D102
        self._progress.console.print(f"[dim]{escape(message)}[/]", soft_wrap=True)


def print_summary(summary: "LoadSummary") -> None:
    """Documents per table, date range, requests and time."""
    from rich.table import Table

    from pipelines.oura.settings import ALL_NAMES

    table = Table(title=None, show_edge=False, pad_edge=False, box=None)
    table.add_column("table")
    table.add_column("documents", justify="right")
    table.add_column("deleted", justify="right")
    loaded = set(summary.documents) | set(summary.deleted)
    for name in [n for n in ALL_NAMES if n in loaded]:
        table.add_row(name, f"{summary.documents.get(name, 0):,}", f"{summary.deleted.get(name, 0):,}")
    console.print(table)
    span = f"{summary.start}..{summary.end}" if summary.start else "no dated collections"
    retried = f" ({summary.retries} retried)" if summary.retries else ""
    console.print(
        escape(
            f"loaded {summary.total_documents:,} documents for user {summary.user_id}, {span}, "
            f"in {summary.chunks} chunk(s); {summary.requests:,} requests{retried}; "
            f"{summary.seconds:.1f} s -> {summary.destination} ({summary.dataset})"
        ),
        soft_wrap=True,
    )
