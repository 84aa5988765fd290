"""`oura-elt export`: every mart to Parquet or CSV, and the marts into pandas.

The files are read back with DuckDB and pandas (pyarrow) and compared with the marts:
same rows, same columns, same values, instants in UTC.
"""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest
import typer
from marts_fixture import built_marts
from typer.testing import CliRunner

from oura_elt.commands.export import export as export_command
from oura_elt.export import export_marts
from pipelines.core.errors import OuraEltError, UsageError
from pipelines.transform import MARTS, mart_row_counts

pytestmark = pytest.mark.slow  # the shared warehouse is a real load and dbt build


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    return built_marts(tmp_path_factory)


@pytest.fixture(scope="module")
def parquet(warehouse, tmp_path_factory) -> tuple[Path, dict[str, int]]:
    folder = tmp_path_factory.mktemp("parquet")
    return folder, export_marts(warehouse, folder, "parquet")


def columns(con, relation: str) -> list[str]:
    return [row[0] for row in con.execute(f"describe {relation}").fetchall()]


def test_parquet_files_hold_every_mart_row_for_row(warehouse, parquet):
    folder, counts = parquet
    assert list(counts) == list(MARTS)
    assert counts == mart_row_counts(warehouse)
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{m}.parquet" for m in MARTS)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for mart in MARTS:
            file = f"'{folder / mart}.parquet'"
            assert con.execute(f"select count(*) from {file}").fetchone()[0] == counts[mart]
            assert columns(con, file) == columns(con, f"oura_marts.{mart}"), mart
            # Same rows, not only as many: nothing in the mart is missing from the file.
            assert (
                con.execute(
                    f"select count(*) from (from oura_marts.{mart} except all from {file})"
                ).fetchone()[0]
                == 0
            ), mart


def test_parquet_instants_are_the_same_instants(warehouse, parquet):
    folder, _ = parquet
    with duckdb.connect(str(warehouse), read_only=True) as con:
        mart = con.execute(
            "select min(measured_at), max(measured_at), sum(heart_rate_bpm) "
            "from oura_marts.heart_rate_samples"
        ).fetchone()
        exported = con.execute(
            f"select min(measured_at), max(measured_at), sum(heart_rate_bpm) "
            f"from '{folder / 'heart_rate_samples.parquet'}'"
        ).fetchone()
    assert exported == mart


def test_csv_files_have_a_header_and_utc_instants(warehouse, tmp_path):
    counts = export_marts(warehouse, tmp_path, "csv")
    assert counts == mart_row_counts(warehouse)
    with open(tmp_path / "sleep_periods.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert list(rows[0]) == columns(con, "oura_marts.sleep_periods")
        for mart in MARTS:
            read = f"read_csv('{tmp_path / mart}.csv', header = true)"
            assert con.execute(f"select count(*) from {read}").fetchone()[0] == counts[mart], mart
    assert len(rows) == counts["sleep_periods"]
    assert all(row["bedtime_start_at"].endswith("+00") for row in rows)


def test_a_second_export_replaces_its_files_and_leaves_others_alone(warehouse, tmp_path):
    (tmp_path / "users.parquet").write_text("stale")
    (tmp_path / "notes.txt").write_text("mine")
    counts = export_marts(warehouse, tmp_path, "parquet")
    again = export_marts(warehouse, tmp_path, "parquet")
    assert again == counts
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert (tmp_path / "users.parquet").read_bytes()[:4] == b"PAR1"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [*(f"{m}.parquet" for m in MARTS), "notes.txt"]
    )


def test_pandas_reads_the_warehouse_and_the_files(warehouse, parquet):
    import pandas as pd

    # The three lines of docs/bi-tools.md and the README.
    con = duckdb.connect(str(warehouse), read_only=True)
    df = con.sql("select * from oura_marts.daily_summary").df()
    con.close()

    folder, counts = parquet
    from_file = pd.read_parquet(folder / "daily_summary.parquet")
    assert len(df) == len(from_file) == counts["daily_summary"]
    assert list(df.columns) == list(from_file.columns)
    assert df["sleep_score"].sum() == from_file["sleep_score"].sum()


def test_unknown_format_and_a_file_for_a_folder_are_refused(warehouse, tmp_path):
    with pytest.raises(UsageError, match="--format 'xlsx' is not one of: parquet, csv"):
        export_marts(warehouse, tmp_path, "xlsx")
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(UsageError, match="is a file; give a folder"):
        export_marts(warehouse, blocker, "csv")
    with pytest.raises(OuraEltError, match="cannot create"):
        export_marts(warehouse, blocker / "sub", "csv")


def test_no_warehouse_or_no_marts_is_one_line(tmp_path):
    with pytest.raises(UsageError, match="no warehouse at"):
        export_marts(tmp_path / "none.duckdb", tmp_path / "out", "csv")
    db = tmp_path / "raw.duckdb"
    duckdb.connect(str(db)).close()
    with pytest.raises(OuraEltError, match="build them with: oura-elt transform"):
        export_marts(db, tmp_path / "out", "csv")
    assert not (tmp_path / "out").exists()


def test_the_command_prints_rows_per_mart(warehouse, tmp_path):
    app = typer.Typer()
    app.command("export")(export_command)
    app.command("unused")(lambda: None)
    result = CliRunner().invoke(
        app,
        ["export", "--format", "csv", "--out", str(tmp_path / "x"), "--duckdb", str(warehouse)],
        terminal_width=200,
    )
    assert result.exit_code == 0, result.output
    counts = mart_row_counts(warehouse)
    assert f"{counts['heart_rate_samples']:,}" in result.output
    assert f"exported {len(MARTS)} marts ({sum(counts.values()):,} rows)" in result.output
    assert (tmp_path / "x" / "daily_summary.csv").is_file()


@pytest.mark.parametrize("command", ["export", "report"])
def test_export_and_report_say_in_one_line_that_they_need_duckdb(command, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    oura_elt = str(Path(sys.executable).with_name("oura-elt"))
    result = subprocess.run(
        [oura_elt, command, "--destination", "bigquery"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    prefix = f"error: oura-elt {command} reads the marts of a DuckDB file; on bigquery "
    assert lines[0].startswith(prefix)
    assert "oura_marts" in lines[0]
