"""Oura's real 2024 responses through the whole product, as a user runs it.

`examples_server` serves `../shared/oura/examples/ourabridge/` (a US user who travelled:
two nights, two activity days, 577 heart-rate samples; read at test time, never copied)
on loopback. The installed console script then runs `oura-elt load --start-date
2024-06-01 --end-date 2024-08-31`, `oura-elt transform`, `oura-elt report` and
`oura-elt export` against it, each a real process, and the marts are checked against the
documents themselves: each night's day, bedtime in the user's own offset, stage durations,
epochs with their samples, daily_summary scores, the heart-rate samples, activity minutes.

The examples hold no `personal_info` and no `ring_configuration`: the server answers
those with a bare user id and an empty list (see `examples_server`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from examples_server import EXAMPLES_DIR, USER_ID, ExamplesServer, load_examples

OURA_ELT = Path(sys.executable).with_name("oura-elt")
TOKEN = "examples-token"
FIRST, LAST = "2024-06-01", "2024-08-31"
PHASES = {"1": "deep", "2": "light", "3": "rem", "4": "awake"}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (EXAMPLES_DIR / "sleep.json").exists(),
        reason=f"the real Oura examples are not at {EXAMPLES_DIR} (set OURA_EXAMPLES_DIR)",
    ),
]


@pytest.fixture(scope="module")
def docs() -> dict[str, list[dict]]:
    return load_examples()


@pytest.fixture(scope="module")
def product(docs, tmp_path_factory) -> dict:
    """The four commands' results (load, transform, report, export) and the warehouse."""
    folder = tmp_path_factory.mktemp("real-examples")
    db = folder / "oura.duckdb"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OURA_")}
    with ExamplesServer(docs, TOKEN) as server:
        env.update(
            OURA_API_BASE_URL=server.base_url,
            OURA_ACCESS_TOKEN=TOKEN,
            OURA_ELT_HOME=str(folder / "home"),
            OURA_DUCKDB_PATH=str(db),
            DBT_TARGET_PATH=str(folder / "dbt"),
            DBT_LOG_PATH=str(folder / "dbt" / "logs"),
            COLUMNS="200",
        )
        runs = {"load": _run(env, "load", "--start-date", FIRST, "--end-date", LAST)}
        requests = list(server.requests)
    runs["transform"] = _run(env, "transform")
    runs["report"] = _run(env, "report", "--out", str(folder / "report.html"))
    runs["export"] = _run(env, "export", "--out", str(folder / "export"))
    return {"db": db, "folder": folder, "runs": runs, "requests": requests}


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(OURA_ELT), *args], check=False, env=env, capture_output=True, text=True, timeout=600
    )


def _ok(run: subprocess.CompletedProcess) -> None:
    assert run.returncode == 0, (
        f"{run.args[1]} exited {run.returncode}:\n{run.stdout}\n{run.stderr}"
    )


def query(db: Path, sql: str, *params) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def local(instant: str) -> datetime:
    """The wall-clock time of an ISO instant in its own offset."""
    return datetime.fromisoformat(instant).replace(tzinfo=None)


def offset(instant: str) -> str:
    return instant[-6:]


def test_the_load_is_exact(product, docs):
    _ok(product["runs"]["load"])
    db = product["db"]
    for route, documents in docs.items():
        if route == "heartrate":
            continue
        stored = {row[0] for row in query(db, f"select id from oura_raw.{route}")}
        assert stored == {d["id"] for d in documents}, route
    [(samples,)] = query(db, "select count(*) from oura_raw.heartrate")
    assert samples == len(docs["heartrate"]) == 577
    assert {u for (u,) in query(db, "select distinct user_id from oura_raw.sleep")} == {USER_ID}
    assert any(path.endswith("/personal_info") for path in product["requests"])


def test_transform_builds_and_tests_every_model_on_real_nights(product):
    run = product["runs"]["transform"]
    _ok(run)
    assert "dbt build passed" in run.stdout
    # Both nights reconcile within what a 5-minute summary allows: no warning either.
    assert "warning" not in run.stdout + run.stderr, run.stdout


def test_each_night_keeps_its_day_bedtime_in_the_users_offset_and_durations(product, docs):
    _ok(product["runs"]["transform"])
    rows = query(
        product["db"],
        "select sleep_period_id, sleep_date, sleep_type, is_main_sleep, bedtime_start_local, "
        "bedtime_start_utc_offset, bedtime_end_local, bedtime_end_utc_offset, time_in_bed_seconds, "
        "total_sleep_seconds, deep_sleep_seconds, light_sleep_seconds, rem_sleep_seconds, "
        "awake_seconds, latency_seconds, epoch_count, epoch_seconds from oura_marts.sleep_periods",
    )
    expected = {
        d["id"]: (
            date.fromisoformat(d["day"]),
            d["type"],
            True,
            local(d["bedtime_start"]),
            offset(d["bedtime_start"]),
            local(d["bedtime_end"]),
            offset(d["bedtime_end"]),
            d["time_in_bed"],
            d["total_sleep_duration"],
            d["deep_sleep_duration"],
            d["light_sleep_duration"],
            d["rem_sleep_duration"],
            d["awake_time"],
            d["latency"],
            len(d["sleep_phase_5_min"]),
            300,
        )
        for d in docs["sleep"]
    }
    assert {row[0]: row[1:] for row in rows} == expected
    assert {row[5] for row in rows} == {"-07:00"}  # the examples' own offset, not UTC


def test_sleep_epochs_are_the_five_minute_hypnogram_with_its_samples(product, docs):
    _ok(product["runs"]["transform"])
    for doc in docs["sleep"]:
        rows = query(
            product["db"],
            "select epoch_index, epoch_seconds, epoch_start_local, sleep_phase, heart_rate_bpm, "
            "hrv_ms, sleep_date from oura_marts.sleep_epochs where sleep_period_id = ? "
            "order by epoch_index",
            doc["id"],
        )
        start = local(doc["bedtime_start"])
        hypnogram = doc["sleep_phase_5_min"]
        assert rows == [
            (
                i,
                300,
                start + timedelta(seconds=300 * i),
                PHASES[code],
                doc["heart_rate"]["items"][i],
                doc["hrv"]["items"][i],
                date.fromisoformat(doc["day"]),
            )
            for i, code in enumerate(hypnogram)
        ]


def test_daily_summary_has_the_documents_days_and_scores(product, docs):
    _ok(product["runs"]["transform"])
    days: dict[date, dict] = {}
    for route in docs:
        for doc in docs[route]:
            if "day" in doc and route != "heartrate":
                days.setdefault(date.fromisoformat(doc["day"]), {})
    for route, column in (
        ("daily_sleep", "sleep"),
        ("daily_readiness", "readiness"),
        ("daily_activity", "activity"),
    ):
        for doc in docs[route]:
            days[date.fromisoformat(doc["day"])][column] = doc["score"]
    for doc in docs["daily_activity"]:
        days[date.fromisoformat(doc["day"])]["steps"] = doc["steps"]
    for doc in docs["daily_spo2"]:
        days[date.fromisoformat(doc["day"])]["spo2"] = doc["spo2_percentage"]["average"]
    for doc in docs["daily_resilience"]:
        days[date.fromisoformat(doc["day"])]["resilience"] = doc["level"]
    for doc in docs["sleep"]:
        days[date.fromisoformat(doc["day"])]["main"] = doc["id"]
        days[date.fromisoformat(doc["day"])]["deep"] = doc["deep_sleep_duration"]

    rows = query(
        product["db"],
        "select summary_date, sleep_score, readiness_score, activity_score, steps, "
        "spo2_average_percent, resilience_level, main_sleep_period_id, deep_sleep_seconds, user_id "
        "from oura_marts.daily_summary",
    )
    assert {row[0]: row[1:] for row in rows} == {
        day: (
            v.get("sleep"),
            v.get("readiness"),
            v.get("activity"),
            v.get("steps"),
            v.get("spo2"),
            v.get("resilience"),
            v.get("main"),
            v.get("deep"),
            USER_ID,
        )
        for day, v in days.items()
    }


def test_heart_rate_samples_are_every_real_sample(product, docs):
    _ok(product["runs"]["transform"])
    rows = query(
        product["db"],
        "select measured_at, heart_rate_bpm, heart_rate_source from oura_marts.heart_rate_samples",
    )
    assert len(rows) == len(docs["heartrate"]) == 577
    assert set(rows) == {
        (datetime.fromisoformat(d["timestamp"]), d["bpm"], d["source"]) for d in docs["heartrate"]
    }


def test_activity_minutes_are_the_met_items_and_the_five_minute_classes(product, docs):
    _ok(product["runs"]["transform"])
    for doc in docs["daily_activity"]:
        rows = query(
            product["db"],
            "select minute_index, minute_start_local, met, activity_class_code "
            "from oura_marts.activity_minutes where daily_activity_id = ? order by minute_index",
            doc["id"],
        )
        start, items = local(doc["met"]["timestamp"]), doc["met"]["items"]
        assert len(items) == len(doc["class_5_min"]) * 5 == 1440
        assert rows == [
            (i, start + timedelta(minutes=i), met, doc["class_5_min"][i // 5])
            for i, met in enumerate(items)
        ]


def test_report_and_export_read_the_real_marts(product, docs):
    for name in ("transform", "report", "export"):
        _ok(product["runs"][name])
    page = (product["folder"] / "report.html").read_text()
    latest = max(d["day"] for d in docs["sleep"])
    assert f'data-night="{latest}"' in page
    assert f'data-user-id="{USER_ID}"' in page
    export = product["folder"] / "export"
    with duckdb.connect(str(product["db"]), read_only=True) as con:
        marts = {
            name
            for (name,) in con.execute(
                "select table_name from information_schema.tables where table_schema = 'oura_marts'"
            ).fetchall()
        }
        assert {path.stem for path in export.glob("*.parquet")} == marts
        assert {"sleep_periods", "sleep_epochs", "daily_summary", "heart_rate_samples"} <= marts
        for mart in marts:
            file = f"'{export / mart}.parquet'"
            [(rows,)] = con.execute(f"select count(*) from {file}").fetchall()
            [(expected,)] = con.execute(f"select count(*) from oura_marts.{mart}").fetchall()
            assert rows == expected, mart
        [(epochs,)] = con.execute(
            f"select count(*) from '{export / 'sleep_epochs'}.parquet'"
        ).fetchall()
    assert epochs == sum(len(d["sleep_phase_5_min"]) for d in docs["sleep"])
