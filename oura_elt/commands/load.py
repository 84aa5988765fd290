"""`oura-elt load`: every Oura collection of one person into DuckDB or BigQuery.

BigQuery uses dlt's usual configuration: `DESTINATION__BIGQUERY__CREDENTIALS__PROJECT_ID`,
`..._PRIVATE_KEY`, `..._CLIENT_EMAIL` (or `.dlt/secrets.toml`, or
`GOOGLE_APPLICATION_CREDENTIALS` pointing at a service-account file), and needs
`pip install 'oura-elt[bigquery]'`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from oura_elt.commands.options import (
    CollectionsOpt,
    DestinationOpt,
    DuckdbOpt,
    EndDateOpt,
    LookbackOpt,
    ProfileOpt,
    StartDateOpt,
    check_destination,
    check_lookback,
    collection_names,
    day_range,
)
from oura_elt.console import console, err_console, error_line
from pipelines.core.config import DEFAULT_LOOKBACK_DAYS
from pipelines.core.errors import OuraEltError

if TYPE_CHECKING:
    from pipelines.core.target import Target
    from pipelines.load import LoadSummary


def load(
    profile: ProfileOpt = None,
    collections: CollectionsOpt = None,
    start_date: StartDateOpt = None,
    end_date: EndDateOpt = None,
    lookback_days: LookbackOpt = DEFAULT_LOOKBACK_DAYS,
    destination: DestinationOpt = "duckdb",
    duckdb_path: DuckdbOpt = None,
) -> None:
    """Load Oura data into the warehouse: a full backfill the first time, then only what changed.

    Every run re-reads the last --lookback-days days, so revised and late-synced
    documents are updated and documents deleted at Oura disappear. An interrupted
    run resumes where it stopped.
    """
    summary = load_and_print(
        profile, collections, start_date, end_date, lookback_days, destination, duckdb_path
    )
    for message in summary.failed.values():
        error_line(escape(message))
    if summary.failed:
        raise SystemExit(1)  # the errors are printed; committed data stays, a rerun retries


def load_and_print(
    profile: str | None,
    collections: str | None,
    start_date: str | None,
    end_date: str | None,
    lookback_days: int,
    destination: str,
    duckdb_path: Any,
) -> LoadSummary:
    """`oura-elt load` but its error lines (also the first half of `oura-elt run`): the
    options and the warehouse checked before any network, the load with its progress, then
    the summary and the skipped collections' warnings. The failed ones are the caller's."""
    from pipelines.load import load as run_load

    first, last = day_range(start_date, end_date)
    check_lookback(lookback_days)
    target = check_destination(destination, duckdb_path)
    names = collection_names(collections)  # fail fast, before any network or warehouse access
    target.check(write=True)  # a DuckDB file held by another program, or not one: one line

    with until_interrupted(target), ProgressReporter() as reporter:
        summary = run_load(
            profile,
            collections=names,
            start_date=first,
            end_date=last,
            lookback_days=lookback_days,
            destination=destination,
            duckdb_path=duckdb_path,
            reporter=reporter,
        )
    print_summary(summary)
    for message in summary.skipped.values():
        err_console.print(f"[yellow]warning:[/] {escape(message)}", soft_wrap=True)
    return summary


@contextmanager
def until_interrupted(target: Target) -> Iterator[None]:
    """Ctrl-C during a load: one line saying what the warehouse holds, and exit 130.

    dlt turns a Ctrl-C during a commit into its own error (the signal is its cause), so
    both forms are caught. What each finished chunk committed stays, with its progress,
    so the same command resumes where this one stopped.
    """
    started = datetime.now(UTC)
    try:
        yield
    except KeyboardInterrupt:
        pass
    except OuraEltError as exc:
        if not _caused_by_interrupt(exc):
            raise
    else:
        return
    err_console.print(
        f"interrupted: {escape(_committed(target, started))}; "
        "run the same command to resume (it fetches only what is missing)",
        soft_wrap=True,
    )
    raise typer.Exit(130)


def _caused_by_interrupt(exc: BaseException) -> bool:
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):  # dlt's SignalReceivedException is one too
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


def _committed(target: Target, since: datetime) -> str:
    """What the warehouse holds of the people this run loaded (as `oura-elt users` says)."""
    if target.duckdb_path is None:
        return "every chunk committed before it stays in the warehouse"
    from pipelines.people import list_users

    try:
        people = list_users(target.duckdb_path)
    except OuraEltError:
        return f"every chunk committed before it stays in {target.duckdb_path}"
    loaded = [p for p in people if p.last_load_at is not None and p.last_load_at >= since]
    if not loaded:
        return f"no chunk was committed to {target.duckdb_path} by this run"
    held = "; ".join(
        f"user {p.user_id}: {p.documents:,} documents, days {p.first_day} .. {p.last_day}"
        for p in loaded
    )
    return f"{target.duckdb_path} holds what was committed ({held})"


class ProgressReporter:
    """A rich progress bar per collection (windows fetched, documents), on stderr."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

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
        self._planned: dict[str, int] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> ProgressReporter:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def _task(self, collection: str) -> Any:
        with self._lock:
            if collection not in self._tasks:
                self._tasks[collection] = self._progress.add_task(
                    collection, total=0, docs=0, status=""
                )
            return self._tasks[collection]

    def planned(self, collection: str, windows: int) -> None:  # noqa: D102
        task = self._task(collection)  # a load of several chunks plans each one in turn
        with self._lock:
            self._planned[collection] = total = self._planned.get(collection, 0) + windows
        self._progress.update(task, total=total, status="" if total else "[dim]up to date[/]")

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


def print_summary(summary: LoadSummary) -> None:
    """Documents per table, date range, requests and time."""
    from rich.table import Table

    from pipelines.oura.settings import ALL_NAMES

    table = Table(title=None, show_edge=False, pad_edge=False, box=None)
    table.add_column("table")
    table.add_column("documents", justify="right")
    table.add_column("deleted", justify="right")
    loaded = set(summary.documents) | set(summary.deleted)
    for name in [n for n in ALL_NAMES if n in loaded]:
        table.add_row(
            name, f"{summary.documents.get(name, 0):,}", f"{summary.deleted.get(name, 0):,}"
        )
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
