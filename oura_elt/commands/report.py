"""`oura-elt report`: one self-contained HTML page of charts from the marts."""

from __future__ import annotations

from pathlib import Path

import typer

from oura_elt.commands.options import DestinationOpt, DuckdbOpt, needs_duckdb, parse_day
from oura_elt.console import console


def report(
    profile: str | None = typer.Option(
        None,
        "--profile",
        "-p",
        metavar="NAME",
        help="Only this profile (or Oura user id); default: everyone in the warehouse.",
    ),
    days: int = typer.Option(
        90, "--days", help="Days shown, ending on the latest day with data (7 or more)."
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="HTML file, or a folder for oura-report.html (default: beside the warehouse).",
    ),
    night: str | None = typer.Option(
        None,
        "--night",
        metavar="DATE",
        help="Night whose hypnogram to show, as its wake-up day YYYY-MM-DD (default: the latest).",
    ),
    duckdb_path: DuckdbOpt = None,
    destination: DestinationOpt = "duckdb",
) -> None:
    """Write an HTML report: score trends, HRV, sleep timing, a night's hypnogram, weekly summaries.

    The page is one file that needs no network (open it on a phone, attach it to a
    mail). It reads only the marts, so run `oura-elt transform` after loading.
    With several people in the warehouse it opens with an overview of everyone.
    """
    from oura_elt.report import write_report

    needs_duckdb(
        destination, "report", "point a BI tool at the oura_marts dataset (docs/bi-tools.md)"
    )
    wanted = parse_day(night, "--night")
    with console.status("writing the report"):
        path = write_report(duckdb_path, out, profile=profile, days=days, night=wanted)
    size = path.stat().st_size / 1_000_000
    console.print(f"report written: {path} ({size:.1f} MB); open it in a browser", soft_wrap=True)
