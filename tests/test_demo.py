"""`oura-elt demo`, the README's first command, end to end in a scratch folder.

It starts the sandbox, logs in through OAuth2, loads through the Prefect `backfill`
flow (a temporary Prefect server), builds the marts and prints them. Two weeks of
history keep it short; `make demo` loads two years the same way.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

pytestmark = pytest.mark.slow

DAYS = 14


def test_the_demo_loads_through_the_backfill_flow_and_builds_the_marts(tmp_path):
    env = {**os.environ, "COLUMNS": "120"}
    run = subprocess.run(
        [str(Path(sys.executable).with_name("oura-elt")), "demo", "--days", str(DAYS)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-3000:]
    assert "for flow 'backfill'" in out and "Flow run" in out
    assert "dbt build passed" in out
    assert "oura-nightly: refresh at" in out and "next run" in out

    db = tmp_path / "data" / "demo" / "oura.duckdb"
    with duckdb.connect(str(db), read_only=True) as con:
        days = con.sql(
            "select count(*), count(distinct summary_date) from oura_marts.daily_summary"
        ).fetchone()
        raw_days = con.sql("select count(distinct day) from oura_raw.daily_activity").fetchone()[0]
        progress = con.sql("select count(*) from oura_raw._oura_load_progress").fetchone()[0]
    assert days[0] == days[1] >= DAYS - 1, days  # one row per day
    assert raw_days >= DAYS - 1
    assert progress > 0
    # The printed last week comes from the mart: its newest day is on screen.
    with duckdb.connect(str(db), read_only=True) as con:
        newest = con.sql("select max(summary_date) from oura_marts.daily_summary").fetchone()[0]
    assert str(newest) in out
    report = tmp_path / "data" / "demo" / "oura-report.html"
    assert f"report: {report}" in out.replace("\n", "") or "oura-report.html" in out
    assert report.stat().st_size > 100_000 and "<html" in report.read_text()[:2000].lower()
    # Everything the demo wrote stays under data/demo.
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["demo"]
