"""`pipelines.transform` and `oura-elt transform` on small, real DuckDB files (no sandbox).

A warehouse the loader never filled still builds (missing raw tables are created empty
from the collection table), a failing dbt test becomes one error line naming it, and a
DuckDB file held by another process is reported as such.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from pipelines.core.errors import OuraEltError, UsageError
from pipelines.oura.settings import ALL_NAMES, COLLECTIONS
from pipelines.transform import MARTS, TransformError, ensure_raw_tables, mart_row_counts, transform

OURA_ELT = Path(sys.executable).with_name("oura-elt")


def empty_warehouse(path: Path) -> Path:
    duckdb.connect(str(path)).close()
    return path


@pytest.fixture(scope="module")
def built_empty(tmp_path_factory):
    """A warehouse the loader never wrote to, after one full build (and its summaries)."""
    folder = tmp_path_factory.mktemp("empty-warehouse")
    db = empty_warehouse(folder / "empty.duckdb")
    first = transform(db, target_path=folder / "dbt")
    again = transform(db, target_path=folder / "dbt", select=["stg_oura__sleep_periods"])
    return db, first, again


@pytest.fixture
def warehouse_copy(built_empty, tmp_path) -> Path:
    """A private copy of the built empty warehouse, free to break."""
    copy = tmp_path / "copy.duckdb"
    shutil.copyfile(built_empty[0], copy)
    return copy


def test_an_empty_warehouse_builds_every_model_and_test(built_empty):
    db, first, again = built_empty

    assert sorted(first.created_raw_tables) == sorted(ALL_NAMES)
    assert first.models == 45
    assert first.unit_tests == 16
    assert first.tests > 150
    assert first.warnings == []
    assert mart_row_counts(db) == {name: 0 for name in MARTS}
    # the second run finds every raw table in place and builds only what was selected
    assert again.created_raw_tables == []
    assert again.models == 1


def test_created_raw_tables_have_the_loaders_columns(tmp_path):
    db = empty_warehouse(tmp_path / "empty.duckdb")
    assert sorted(ensure_raw_tables(db)) == sorted(ALL_NAMES)
    assert ensure_raw_tables(db) == []

    with duckdb.connect(str(db), read_only=True) as con:
        for collection in COLLECTIONS:
            columns = dict(
                con.execute(
                    "select column_name, data_type from information_schema.columns "
                    "where table_schema = 'oura_raw' and table_name = ?",
                    [collection.name],
                ).fetchall()
            )
            assert columns["user_id"] == "VARCHAR"
            assert columns["_oura_deleted"] == "BOOLEAN"
            for name in collection.timestamp_fields:
                assert columns[name] == "TIMESTAMP WITH TIME ZONE"
                assert columns[name + "_utc_offset"] == "VARCHAR"
            for name in collection.json_fields:
                assert columns[name] == "JSON"
            assert set(collection.columns) <= set(columns)


def test_a_failing_data_test_raises_one_line_naming_it(warehouse_copy, tmp_path):
    db = warehouse_copy
    with duckdb.connect(str(db)) as con:
        for _ in range(2):  # the same sleep document twice: its id is no longer unique
            con.execute(
                "insert into oura_raw.sleep (user_id, id, day, type, bedtime_start, bedtime_end) "
                "values ('u1', 'sleep-1', date '2024-03-01', 'long_sleep', "
                "timestamptz '2024-02-29 22:00:00+00', timestamptz '2024-03-01 06:00:00+00')"
            )

    with pytest.raises(TransformError) as caught:
        transform(db, target_path=tmp_path / "dbt", select=["stg_oura__sleep_periods"])

    message = str(caught.value)
    assert "\n" not in message
    assert (
        "test unique_stg_oura__sleep_periods_sleep_period_id:"
        " 1 failing row(s) in stg_oura__sleep_periods" in message
    )
    assert str(tmp_path / "dbt" / "logs" / "dbt.log") in message


def _insert_night(
    con,
    night_id: str,
    day: str,
    tib: int,
    stages_5_min: str,
    stages_30_sec: str | None,
    deep: int,
    light: int,
    rem: int,
) -> None:
    start = f"{day} 00:00:00+00"
    con.execute(
        "insert into oura_raw.sleep (user_id, id, day, type, bedtime_start, "
        "bedtime_start_utc_offset, bedtime_end, time_in_bed, deep_sleep_duration, "
        "light_sleep_duration, rem_sleep_duration, awake_time, total_sleep_duration, "
        "sleep_phase_5_min, sleep_phase_30_sec) values ('u1', ?, ?, 'long_sleep', "
        "cast(? as timestamptz), '+00:00', cast(? as timestamptz) + to_seconds(?), "
        "?, ?, ?, ?, ?, ?, ?, ?)",
        [
            night_id,
            day,
            start,
            start,
            tib,
            tib,
            deep,
            light,
            rem,
            tib - deep - light - rem,
            deep + light + rem,
            stages_5_min,
            stages_30_sec,
        ],
    )


def test_stage_durations_a_hypnogram_cannot_explain_warn_and_name_the_night(
    warehouse_copy, tmp_path
):
    db = warehouse_copy
    thirty = "4" * 4 + "2" * 20 + "1" * 6 + "4" * 4  # 1,000 s in bed: 34 epochs, the last cut
    with duckdb.connect(str(db)) as con:
        # 2024-style: no 30-second string. Deep is 20 epochs (6,000 s) but Oura says 4,000 s:
        # more than 150 s per change (2) + 300 s + the cut last epoch (100 s) allow.
        _insert_night(
            con,
            "night-a",
            "2024-03-01",
            13_100,
            "44" + "1" * 20 + "2" * 20 + "44",
            None,
            deep=4_000,
            light=8_000,
            rem=0,
        )
        # 30-second staging that adds up, and its 5-minute summary within what it allows.
        _insert_night(
            con, "night-b", "2024-03-02", 1_000, "2214", thirty, deep=180, light=600, rem=0
        )
        # The same staging with 300 s of light counted as deep: beyond the cut + 30 s.
        _insert_night(
            con, "night-c", "2024-03-03", 1_000, "2214", thirty, deep=480, light=300, rem=0
        )
    env = {
        **os.environ,
        "DBT_TARGET_PATH": str(tmp_path / "dbt"),
        "DBT_LOG_PATH": str(tmp_path / "dbt" / "logs"),
        "COLUMNS": "200",
    }

    run = subprocess.run(
        [
            OURA_ELT,
            "transform",
            "--duckdb",
            str(db),
            "--select",
            "+sleep_epochs",
            "--select",
            "+sleep_periods",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert run.returncode == 0, run.stderr
    assert "1 warning(s): sleep_epochs_add_up_to_stage_durations" in run.stdout
    warned = sorted(line for line in run.stderr.splitlines() if line.strip())
    assert len(warned) == 4, run.stderr
    named = [
        ("night-a", "2024-03-01", 300, "deep", 6000, 4000, 700),
        ("night-a", "2024-03-01", 300, "light", 6000, 8000, 700),
        ("night-c", "2024-03-03", 30, "deep", 180, 480, 50),
        ("night-c", "2024-03-03", 30, "light", 600, 300, 50),
    ]
    for line, (night, day, seconds, stage, epochs, oura, allowed) in zip(warned, named):
        assert line.startswith("warning: sleep_epochs_add_up_to_stage_durations: user_id=u1, "), (
            line
        )
        assert (
            f"sleep_date={day}, sleep_period_id={night}, sleep_type=long_sleep, "
            f"epoch_seconds={seconds}, compared={stage}, epochs_seconds={epochs}, "
            f"oura_seconds={oura}, gap_seconds={epochs - oura}, allowed_gap_seconds={allowed}"
        ) in line, line
    with duckdb.connect(str(db), read_only=True) as con:
        epochs = con.execute(
            "select sleep_period_id, epoch_seconds, count(*) from oura_marts.sleep_epochs "
            "group by all order by 1"
        ).fetchall()
    assert epochs == [("night-a", 300, 44), ("night-b", 30, 34), ("night-c", 30, 34)]


def test_a_broken_model_raises_one_line_naming_it(warehouse_copy, tmp_path):
    db = warehouse_copy
    with duckdb.connect(str(db)) as con:  # a raw table without the columns staging reads
        con.execute("drop table oura_raw.workout")
        con.execute("create table oura_raw.workout (user_id varchar, id varchar)")

    with pytest.raises(TransformError) as caught:
        transform(db, target_path=tmp_path / "dbt", select=["stg_oura__workouts"])

    message = str(caught.value)
    assert "\n" not in message
    assert "model stg_oura__workouts:" in message
    assert "Referenced column" in message and "not found" in message  # DuckDB's own words


def test_a_warehouse_held_by_another_process_is_reported(tmp_path):
    db = empty_warehouse(tmp_path / "held.duckdb")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import sys, time, duckdb
            con = duckdb.connect({str(db)!r})
            print("ready", flush=True)
            sys.stdin.read()
        """),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(OuraEltError) as caught:
            transform(db, target_path=tmp_path / "dbt")
    finally:
        holder.communicate(timeout=30)
    assert re.search(r"is open in another program \(python[^,]*, PID \d+\)", str(caught.value))
    assert "\n" not in str(caught.value)


def test_no_warehouse_and_unknown_targets_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="no warehouse at .*missing.duckdb; load data first"):
        transform(tmp_path / "missing.duckdb")
    with pytest.raises(UsageError, match="unknown target 'snowflake'"):
        transform(tmp_path / "missing.duckdb", target="snowflake")


def test_the_transform_command_prints_the_marts_and_fails_in_one_line(warehouse_copy, tmp_path):
    db = warehouse_copy
    env = {
        **os.environ,
        "DBT_TARGET_PATH": str(tmp_path / "dbt"),
        "DBT_LOG_PATH": str(tmp_path / "dbt" / "logs"),
        "COLUMNS": "200",
    }

    ok = subprocess.run(
        [OURA_ELT, "transform", "--duckdb", str(db), "--select", "stg_oura__users"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ok.returncode == 0, ok.stderr
    assert "dbt build passed: 1 models, 2 data tests" in ok.stdout
    assert "daily_summary" in ok.stdout and "heart_rate_samples" in ok.stdout  # rows per mart

    with duckdb.connect(str(db)) as con:
        con.execute(
            "insert into oura_raw.personal_info (user_id, id) values ('u1', 'u1'), ('u1', 'u1')"
        )
    failed = subprocess.run(
        [OURA_ELT, "transform", "--duckdb", str(db), "--select", "stg_oura__users"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert failed.returncode == 1
    lines = [line for line in failed.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, failed.stderr
    assert lines[0].startswith("error: dbt build failed: test unique_stg_oura__users_user_id")

    bad = subprocess.run(
        [OURA_ELT, "transform", "--target", "bigquery", "--duckdb", str(db)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2
    assert "--duckdb only applies to --destination duckdb" in bad.stderr
