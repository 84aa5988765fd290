"""`oura-elt transform --destination bigquery` on the local BigQuery API (`bigquery_emulator`).

Every model the emulator can run is built and every data test on them passes; each model it
cannot run is listed below (`CANNOT_RUN`) with the emulator's error and BigQuery's
documentation of the construct, which is valid BigQuery SQL: those models stay covered by
the offline compile proof (`tests/test_dbt_bigquery.py`). Models downstream of them cannot
run either (their parents' tables do not exist), and are skipped by dbt. If a later
bqemulator runs one of them, this test fails: move it out of the list.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from test_bigquery_load import load_bq

OURA_ELT = str(Path(sys.executable).with_name("oura-elt"))
ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class CannotRun:
    """A model the emulator cannot build, though BigQuery can."""

    construct: str
    emulator_error: str  # a part of the emulator's message
    bigquery_docs: str


LOCAL_DATETIME = CannotRun(
    "DATETIME(timestamp, '+09:00'): the local time of an instant at a UTC offset "
    "(macro bigquery__local_datetime)",
    'time field value out of range: "+',
    "https://cloud.google.com/bigquery/docs/reference/standard-sql/datetime_functions#datetime",
)
WITH_OFFSET = CannotRun(
    "UNNEST(...) AS x WITH OFFSET AS i: an array's elements with their positions "
    "(macros unnest_json_array / json_array_elements)",
    "not found in FROM clause",
    "https://cloud.google.com/bigquery/docs/reference/standard-sql/query-syntax#unnest_operator",
)
INSERT_OVERWRITE = CannotRun(
    "dbt-bigquery's insert_overwrite incremental strategy: DECLARE _dbt_max_partition ... "
    "array_agg(DISTINCT ... IGNORE NULLS) and MERGE ... WHEN NOT MATCHED BY SOURCE",
    "Syntax error",
    "https://cloud.google.com/bigquery/docs/reference/standard-sql/dml-syntax#merge_statement",
)

CANNOT_RUN = {
    "sleep_periods": LOCAL_DATETIME,
    "activity_minutes": LOCAL_DATETIME,
    "workouts": LOCAL_DATETIME,
    "int_sleep_heart_rate_samples_unnested": WITH_OFFSET,
    "int_sleep_hrv_samples_unnested": WITH_OFFSET,
    "int_session_samples_unnested": WITH_OFFSET,
    "int_tags_unnested": WITH_OFFSET,
}
# The second build of the incremental model (its first, a CREATE TABLE AS, runs).
CANNOT_RUN_INCREMENTALLY = {"heart_rate_samples": INSERT_OVERWRITE}


def run_results(target: Path) -> dict[str, tuple[str, str, str]]:
    """(resource type, status, message) of every node of dbt's last invocation, by name."""
    results = json.loads((target / "run_results.json").read_text())["results"]
    manifest = json.loads((target / "manifest.json").read_text())
    nodes = {**manifest["nodes"], **manifest.get("unit_tests", {})}
    return {
        nodes[r["unique_id"]]["name"]: (
            nodes[r["unique_id"]]["resource_type"],
            r["status"],
            r["message"] or "",
        )
        for r in results
    }


def descendants(target: Path, names: set[str]) -> set[str]:
    """Models downstream of the models `names`."""
    manifest = json.loads((target / "manifest.json").read_text())
    children = manifest["child_map"]
    by_name = {
        n["name"]: uid for uid, n in manifest["nodes"].items() if n["resource_type"] == "model"
    }
    found: set[str] = set()
    todo = [by_name[n] for n in names]
    while todo:
        for child in children.get(todo.pop(), []):
            node = manifest["nodes"].get(child)
            if node and node["resource_type"] == "model" and node["name"] not in found:
                found.add(node["name"])
                todo.append(child)
    return found


def transform(bigquery, target: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **bigquery.env, "DBT_TARGET_PATH": str(target), "COLUMNS": "200"}
    return subprocess.run(
        [OURA_ELT, "transform", *args],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )


@dataclass
class Built:
    bigquery: object  # bigquery_emulator.Project
    db: Path  # the same people in DuckDB
    target: Path
    first: subprocess.CompletedProcess
    results: dict


@pytest.fixture(scope="module")
def built(local_bigquery, tmp_path_factory) -> Built:
    """Two people loaded into BigQuery and into a DuckDB file, then `oura-elt transform
    --destination bigquery` once (the emulator's dbt build takes most of a minute)."""
    from conftest import CLOCK, SandboxHandle
    from test_load_cli import cli_env

    from sandbox.runner import start_in_thread
    from sandbox.server import SandboxSettings

    base = tmp_path_factory.mktemp("bq-transform")
    bigquery = local_bigquery.project("transformmodule")
    running = start_in_thread(SandboxSettings(users=2, history_days=20, now=CLOCK, seed=7))
    try:
        sandbox = SandboxHandle(running)
        db = base / "oura.duckdb"
        for user in (0, 1):
            done = load_bq(sandbox, bigquery, base / f"home{user}", token=f"sandbox-pat-{user}")
            assert done.returncode == 0, done.stderr
            done = subprocess.run(
                [OURA_ELT, "load", "--profile", f"user{user}"],
                check=False,
                capture_output=True,
                text=True,
                timeout=300,
                env=cli_env(sandbox, base / f"d{user}", db, token=f"sandbox-pat-{user}"),
            )
            assert done.returncode == 0, done.stderr
    finally:
        running.stop()
    target = base / "dbt"
    first = transform(bigquery, target, "--destination", "bigquery")
    return Built(bigquery, db, target, first, run_results(target))


def test_every_model_the_emulator_can_run_builds_and_its_data_tests_pass(built):
    results = built.results
    failed = {
        name: message
        for name, (kind, status, message) in results.items()
        if status in ("error", "fail")
    }
    assert set(failed) == set(CANNOT_RUN), {n: m for n, m in failed.items() if n not in CANNOT_RUN}
    for name, why in CANNOT_RUN.items():
        assert why.emulator_error in failed[name], (name, failed[name])
        assert why.bigquery_docs.startswith("https://cloud.google.com/bigquery/docs/")
    assert built.first.returncode == 1 and "dbt build failed" in built.first.stderr
    blocked = descendants(built.target, set(CANNOT_RUN))
    models = {n: s for n, (kind, s, _) in results.items() if kind == "model"}
    assert {n for n, s in models.items() if s == "skipped"} == blocked - set(CANNOT_RUN)
    ran = {n for n, s in models.items() if s == "success"}
    every_model = {p.stem for p in (ROOT / "dbt_project" / "models").rglob("*.sql")}
    assert set(models) == every_model  # each model of the project ran, failed or was skipped
    assert len(ran) + len(CANNOT_RUN) + len(blocked - set(CANNOT_RUN)) == len(models)
    assert {
        "daily_summary",
        "score_contributors",
        "heart_rate_samples",
        "users",
        "stg_oura__sleep_periods",
        "int_sleep_phases_exploded",
        "data_coverage",
        "data_freshness",
    } <= ran, sorted(ran)
    tests = {n: s for n, (kind, s, _) in results.items() if kind == "test"}
    assert (
        set(tests.values()) <= {"pass", "skipped"} and sum(s == "pass" for s in tests.values()) > 80
    )
    print(
        f"built {len(ran)} of {len(models)} models, "
        f"{sum(s == 'pass' for s in tests.values())} data tests passed; "
        f"cannot run: {sorted(CANNOT_RUN)}; blocked by them: {sorted(blocked - set(CANNOT_RUN))}"
    )
    bq = built.bigquery
    rows = bq.query(
        f"SELECT COUNT(*), COUNT(DISTINCT user_id) FROM `{bq.name}.oura_marts.daily_summary`"
    )
    assert rows[0][0] > 20 and rows[0][1] == 2


def test_the_incremental_model_builds_once_and_its_second_build_is_listed(built, tmp_path):
    """`--target` still works (the older name of `--destination`)."""
    again = transform(
        built.bigquery, tmp_path / "dbt", "--target", "bigquery", "--select", "heart_rate_samples"
    )
    results = run_results(tmp_path / "dbt")
    assert again.returncode == 1
    for name, why in CANNOT_RUN_INCREMENTALLY.items():
        assert built.results[name][1] == "success"  # the first build
        _, status, message = results[name]
        assert status == "error" and why.emulator_error in message, message


def test_marts_the_emulator_builds_equal_the_duckdb_build(built, tmp_path):
    """The same people in DuckDB: `daily_summary`, `score_contributors` and `users` hold the
    same rows."""
    local = subprocess.run(
        [OURA_ELT, "transform", "--duckdb", str(built.db), "--destination", "duckdb"],
        env={**os.environ, "DBT_TARGET_PATH": str(tmp_path / "dk")},
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert local.returncode == 0, local.stderr
    for mart, key in (
        ("score_contributors", ("user_id", "score_date", "score_type", "contributor")),
        ("users", ("user_id",)),
        ("daily_summary", ("user_id", "summary_date")),
    ):
        with duckdb.connect(str(built.db), read_only=True) as con:
            cursor = con.execute(f"SELECT * FROM oura_marts.{mart}")
            names = [d[0] for d in cursor.description]
            expected = sorted(
                (dict(zip(names, r)) for r in cursor.fetchall()),
                key=lambda r: tuple(str(r[k]) for k in key),
            )
        got = sorted(
            built.bigquery.read_table(mart, "oura_marts"),
            key=lambda r: tuple(str(r[k]) for k in key),
        )
        assert len(got) == len(expected) > 0
        assert [{k: r[k] for k in names} for r in got] == expected, mart
