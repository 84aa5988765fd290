"""`oura-elt export`: every mart to Parquet or CSV files, for pandas, spreadsheets and BI tools."""

from __future__ import annotations

from pathlib import Path

import typer

from oura_elt.commands.options import DestinationOpt, DuckdbOpt, needs_duckdb
from oura_elt.console import console


def export(
    fmt: str = typer.Option("parquet", "--format", metavar="parquet|csv", help="File format."),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Folder for <mart>.<format> files (default: export/ beside the warehouse).",
    ),
    duckdb_path: DuckdbOpt = None,
    destination: DestinationOpt = "duckdb",
) -> None:
    """Write every mart to <out>/<mart>.parquet (or .csv), replacing files of the same name.

    Each file is written under a temporary name and renamed into place; other files in
    the folder are left alone. Instants are in UTC.
    """
    from rich.table import Table

    from oura_elt.export import default_out_dir, export_marts
    from oura_elt.report.marts import resolve_warehouse
    from pipelines.transform import MARTS

    needs_duckdb(
        destination,
        "export",
        "export the oura_marts dataset with BigQuery's "
        "EXPORT DATA or read it with your BI tool's BigQuery connector",
    )
    where = resolve_warehouse(duckdb_path)
    folder = out if out is not None else default_out_dir(where)
    with console.status(f"exporting the marts as {fmt}"):
        counts = export_marts(where, folder, fmt)
    table = Table(show_edge=False, pad_edge=False, box=None)
    table.add_column("mart")
    table.add_column("rows", justify="right")
    table.add_column("file")
    for mart, rows in counts.items():
        table.add_row(mart, f"{rows:,}", f"{mart}.{fmt}")
    console.print(table)
    missing = [mart for mart in MARTS if mart not in counts]
    if missing:
        console.print(f"[yellow]not built, not exported:[/] {', '.join(missing)}", soft_wrap=True)
    console.print(
        f"exported {len(counts)} marts ({sum(counts.values()):,} rows) to {folder}", soft_wrap=True
    )
