"""Options and checks shared by several commands, so each one reads and fails the same way.

An option used by more than one command is declared here once, as an `Annotated`
alias (the names are a contract: scripts and the Prefect deployments pass them).
Value checks raise `UsageError`, which the CLI prints as one line; click's own
range errors print a usage block instead, so ranges are checked here too.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pipelines.core.checks import check_at_least, check_day_range
from pipelines.core.errors import UsageError

if TYPE_CHECKING:
    from pipelines.core.target import Target

DUCKDB_HELP = "DuckDB file (default: OURA_DUCKDB_PATH, else data/oura.duckdb)."

ProfileOpt = Annotated[
    str | None,
    typer.Option(
        "--profile",
        "-p",
        metavar="NAME",
        help="Login profile (oura-elt auth login --profile). OURA_ACCESS_TOKEN overrides it.",
    ),
]
CollectionsOpt = Annotated[
    str | None,
    typer.Option(
        "--collections",
        metavar="NAMES",
        help="Comma-separated collections, e.g. sleep,daily_readiness (default: all).",
    ),
]
StartDateOpt = Annotated[
    str | None,
    typer.Option(
        "--start-date",
        metavar="DATE",
        help="First day, YYYY-MM-DD (default: the start of the user's history).",
    ),
]
EndDateOpt = Annotated[
    str | None,
    typer.Option(
        "--end-date",
        metavar="DATE",
        help="Last day, YYYY-MM-DD (default: today where it began first, UTC+14, so nobody's "
        "today is left out).",
    ),
]
LookbackOpt = Annotated[
    int,
    typer.Option(
        "--lookback-days",
        metavar="DAYS",
        help="Trailing days fetched again on every run (revisions, late syncs).",
    ),
]
DestinationOpt = Annotated[
    str, typer.Option("--destination", metavar="duckdb|bigquery", help="Where the data goes.")
]
DuckdbOpt = Annotated[Path | None, typer.Option("--duckdb", metavar="PATH", help=DUCKDB_HELP)]


def port_option(default: int, help: str) -> typer.models.OptionInfo:
    """`--port`: 1 to 65535, refused otherwise (the system would wrap 70000 to 4464)."""
    return typer.Option(default, "--port", min=1, max=65535, metavar="PORT", help=help)


def parse_day(text: str | None, option: str) -> date | None:
    """A YYYY-MM-DD option value (None stays None), or one clear error line."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"{option} {text!r} is not a date; use YYYY-MM-DD") from None


def day_range(start_date: str | None, end_date: str | None) -> tuple[date | None, date | None]:
    """`--start-date` and `--end-date` parsed, the first not after the last."""
    first, last = parse_day(start_date, "--start-date"), parse_day(end_date, "--end-date")
    check_day_range(first, last)
    return first, last


def check_lookback(days: int) -> int:
    """`--lookback-days`: 0 or more."""
    return check_at_least(days, 0, "--lookback-days")


def check_destination(
    destination: str, duckdb_path: Path | None, duckdb_option: str = "--duckdb"
) -> Target:
    """A known destination, and a DuckDB file only for the duckdb one; the `Target`."""
    from pipelines.core.target import Target

    return Target.of(destination, duckdb_path, duckdb_option=duckdb_option)


def needs_duckdb(destination: str, command: str, instead: str) -> None:
    """One line for a command that reads the marts of a DuckDB file only.

    Raises:
        UsageError: `destination` is not duckdb (or not a known destination).
    """
    from pipelines.core.target import DUCKDB, check_destination

    if check_destination(destination) != DUCKDB:
        raise UsageError(
            f"oura-elt {command} reads the marts of a DuckDB file; on {destination} {instead}"
        )


def collection_names(collections: str | None) -> list[str] | None:
    """`--collections` as names, checked before any network or warehouse access."""
    from pipelines.oura.settings import resolve_collections

    names = collections.split(",") if collections is not None else None
    resolve_collections(names)
    return names


def with_old_name(value, old_value, *, name: str, old: str, default=None):
    """The value of an option that keeps a hidden older spelling (`--duckdb-path` for
    `--duckdb`, `--target` for `--destination`): either works, both only when they agree."""
    if old_value is None:
        return value
    if value != default and value != old_value:
        raise UsageError(f"{name} and {old} (its old name) say different things")
    return old_value
