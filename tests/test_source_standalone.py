"""The source as a dlt user runs it: nothing but `dlt` and `oura_source`, credentials through
dlt's own providers, against the local Oura server, into DuckDB and into SQLite through dlt's
`sqlalchemy` destination; each warehouse compared with the server's ground truth, a first run
and a second one after the server's clock moved (restated days and deletions picked up).

No project code runs besides the source: no `pipelines.load`, no locks, no token store.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dlt
import pytest
import sqlalchemy

from bench.truth_compare import compare_warehouse, read_table
from pipelines.oura import oura_source
from pipelines.oura.settings import ALL_NAMES, BY_NAME, DAILY
from sandbox.truth import ALL_COLLECTIONS

README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.fixture
def world(sandbox_factory, monkeypatch):
    """One sandbox person, 20 days; heart-rate pages hold 10,000 samples (so a week of them is
    one request: the second run's count below is about windows, not the server's page size).
    The token and the API reach the source only as a dlt user would configure them."""
    # Seed 38: a document of the last days is deleted at Oura by the next morning.
    sandbox = sandbox_factory(users=1, history_days=20, series_page_size=10_000, seed=38)
    monkeypatch.setenv("SOURCES__OURA__ACCESS_TOKEN", "sandbox-pat-0")
    monkeypatch.setenv("SOURCES__OURA__BASE_URL", sandbox.base_url)
    monkeypatch.setenv("OURA_ELT_NOW", sandbox.world.now.isoformat())
    monkeypatch.setenv("LOAD__WORKERS", "1")  # SQLite takes one writer at a time
    return sandbox


def duckdb_destination(tmp_path: Path) -> tuple[Any, Any]:
    path = tmp_path / "oura.duckdb"
    return dlt.destinations.duckdb(str(path)), lambda table: read_table(path, table)


def sqlite_destination(tmp_path: Path) -> tuple[Any, Any]:
    """SQLite through SQLAlchemy, on a memory-backed folder where there is one: SQLite syncs
    every statement to disk, which on this machine's disks costs seconds per table."""
    folder = Path("/dev/shm") if Path("/dev/shm").is_dir() else tmp_path
    folder = Path(os.path.join(folder, f"oura-sqlite-{os.getpid()}-{tmp_path.name}"))
    folder.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{folder / 'oura.db'}"

    def read(table: str) -> list[dict]:
        engine = sqlalchemy.create_engine(url)
        try:
            with engine.connect() as con:
                con.exec_driver_sql(f"ATTACH DATABASE '{folder / 'oura__oura_raw.db'}' AS oura_raw")
                found = sqlalchemy.inspect(con).get_table_names(schema="oura_raw")
                if table not in found:
                    return []
                meta = sqlalchemy.MetaData()
                spec = sqlalchemy.Table(table, meta, schema="oura_raw", autoload_with=con)
                rows = [dict(r._mapping) for r in con.execute(sqlalchemy.select(spec))]
        finally:
            engine.dispose()
        return [{k: _utc(v) for k, v in row.items()} for row in rows]

    return dlt.destinations.sqlalchemy(url), read


def _utc(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)  # dlt stores instants in UTC
    return value


def assert_equals_truth(read, world) -> None:
    start = min(u.history_start for u in world.users) - timedelta(days=2)
    end = max(world.local_today(i) for i in range(len(world.users)))
    comparison = compare_warehouse(None, world, start, end, read=read)
    assert comparison.total.exact, f"{comparison.total}: " + " | ".join(comparison.examples)
    assert comparison.total.expected > 1000


@pytest.mark.parametrize(
    "destination", [duckdb_destination, sqlite_destination], ids=["duckdb", "sqlite"]
)
def test_a_plain_dlt_pipeline_loads_exactly_the_ground_truth(world, tmp_path, destination):
    target, read = destination(tmp_path)
    doomed = start_where_the_next_day_deletes_something(world)
    pipeline = dlt.pipeline(
        "oura_standalone",
        destination=target,
        dataset_name="oura_raw",
        pipelines_dir=str(tmp_path / "dlt"),
    )

    info = pipeline.run(oura_source())
    assert not info.has_failed_jobs
    assert_equals_truth(read, world.world)
    assert doomed <= stored_ids(read, doomed)
    state = pipeline.state["sources"]["oura"]["resources"]
    # Daily cursors stop at the day still in progress somewhere (UTC-12); series at now.
    in_progress = (world.world.now.astimezone(UTC) - timedelta(hours=12)).date()
    assert state["sleep"]["incremental"]["day"]["last_value"] == in_progress
    assert state["heartrate"]["incremental"]["timestamp"]["last_value"] == world.world.now

    # The next morning: one request per collection (restated days and deletions included).
    world.advance(days=1)
    world.reset_stats()
    os.environ["OURA_ELT_NOW"] = world.world.now.isoformat()
    pipeline.run(oura_source())
    stats = world.stats()
    asked = {c.name: stats.get(f"user:0:route:{c.route}", 0) for c in BY_NAME.values()}
    assert all(1 <= n <= 2 for n in asked.values()), asked
    assert sum(n for name, n in asked.items() if BY_NAME[name].kind == DAILY) == sum(
        1 for c in BY_NAME.values() if c.kind == DAILY
    )
    assert_equals_truth(read, world.world)
    assert not doomed & stored_ids(read, doomed), "documents deleted at Oura are still stored"


CHURNING = ("sleep", "workout", "tag", "enhanced_tag")  # collections the sandbox deletes from


def start_where_the_next_day_deletes_something(sandbox) -> set[tuple[str, str]]:
    """Set the server's clock back to the latest moment whose next day deletes a document
    (so the second run must remove it); the (collection, id) pairs it deletes."""
    world = sandbox.world
    latest = world.now
    for back in range(10):
        clock = latest - timedelta(days=back)
        world.set_now(clock)
        today = world.local_today(0)
        days = [today - timedelta(days=k) for k in range(3)]

        def visible(collections=CHURNING, days=days):
            return {
                (c, d["id"])
                for c in collections
                for day in days
                for d in world.documents(0, c, day)
            }

        now_seen = visible()
        world.set_now(clock + timedelta(days=1))
        gone = now_seen - visible()
        world.set_now(clock)
        if gone:
            sandbox.admin("clock", {"now": clock.isoformat()})
            os.environ["OURA_ELT_NOW"] = clock.isoformat()
            return gone
    raise AssertionError("no day of the last ten deletes a document: the test would prove nothing")


def stored_ids(read, pairs: set[tuple[str, str]]) -> set[tuple[str, str]]:
    tables = {table for table, _ in pairs}
    return {(t, row["id"]) for t in tables for row in read(t)}


def test_with_resources_and_a_closed_range_leave_the_cursor_alone(world, tmp_path):
    target, read = duckdb_destination(tmp_path)
    pipeline = dlt.pipeline(
        "oura_parts",
        destination=target,
        dataset_name="oura_raw",
        pipelines_dir=str(tmp_path / "dlt"),
    )
    pipeline.run(oura_source().with_resources("sleep", "heartrate"))
    tables = {t["name"] for t in pipeline.default_schema.data_tables()}
    assert {"sleep", "heartrate"} <= tables and "daily_sleep" not in tables
    cursor = pipeline.state["sources"]["oura"]["resources"]["sleep"]["incremental"]["day"]
    saved = cursor["last_value"]

    first = world.world.users[0].history_start
    pipeline.run(
        oura_source(start_date=first, end_date=first + timedelta(days=3), collections=["sleep"])
    )
    again = pipeline.state["sources"]["oura"]["resources"]["sleep"]["incremental"]["day"]
    assert again["last_value"] == saved  # a closed range is a backfill: the cursor stays


def test_dlt_pipeline_info_shows_the_resources_and_their_cursors(world, tmp_path):
    target, _ = duckdb_destination(tmp_path)
    pipeline = dlt.pipeline(
        "oura_info",
        destination=target,
        dataset_name="oura_raw",
        pipelines_dir=str(tmp_path / "dlt"),
    )
    pipeline.run(oura_source(collections=["daily_sleep", "heartrate"]))

    dlt_cli = Path(sys.executable).with_name("dlt")
    shown = subprocess.run(
        [
            str(dlt_cli),
            "pipeline",
            "--pipelines-dir",
            str(tmp_path / "dlt"),
            "oura_info",
            "info",
            "-v",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "RUNTIME__DLTHUB_TELEMETRY": "false"},
    )
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert "daily_sleep" in out and "heartrate" in out
    assert "last_value" in out and "2026-11-20" in out
    assert "sandbox-pat-0" not in out + shown.stderr


def test_the_token_is_never_written_or_printed(world, tmp_path, capfd):
    target, _ = duckdb_destination(tmp_path)
    pipeline = dlt.pipeline(
        "oura_secret",
        destination=target,
        dataset_name="oura_raw",
        pipelines_dir=str(tmp_path / "dlt"),
    )
    pipeline.run(oura_source(collections=["daily_sleep"]))
    out, err = capfd.readouterr()
    assert "sandbox-pat-0" not in out + err
    assert "sandbox-pat-0" not in json.dumps(pipeline.state, default=str)
    for path in (tmp_path / "dlt").rglob("*"):
        if path.is_file():
            assert b"sandbox-pat-0" not in path.read_bytes(), path
    assert b"sandbox-pat-0" not in (tmp_path / "oura.duckdb").read_bytes()


def test_the_readme_example_runs_as_written(world, tmp_path):
    """README's "Use the source in your own dlt pipeline" block, run as written (only its
    DuckDB file and dlt's working folder are pointed into the test's folder)."""
    text = README.read_text()
    block = text.split("## Use the source in your own dlt pipeline", 1)[1].split("```python", 1)[1]
    code = block.split("```", 1)[0]
    env = {
        **os.environ,
        "DLT_DATA_DIR": str(tmp_path / "dlt-home"),
        "PYTHONPATH": str(README.parent),
    }
    ran = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert "sandbox-pat-0" not in ran.stdout + ran.stderr
    assert list(tmp_path.glob("*.duckdb")), "the example wrote no DuckDB file"


def test_every_collection_is_a_resource():
    source = oura_source(access_token="x", base_url="http://127.0.0.1:9")
    assert sorted(source.resources) == sorted(ALL_NAMES)
    assert sorted(c.lower() for c in ALL_COLLECTIONS) == sorted(ALL_NAMES)  # the server's too


def test_one_pipeline_keeps_one_persons_cursors(sandbox_factory, tmp_path, monkeypatch):
    """A second person's token through the same pipeline would go on from the first person's
    cursors and miss their history: it is refused, naming both."""
    sandbox = sandbox_factory(users=2, history_days=5)
    monkeypatch.setenv("SOURCES__OURA__BASE_URL", sandbox.base_url)
    monkeypatch.setenv("OURA_ELT_NOW", sandbox.world.now.isoformat())
    target, _ = duckdb_destination(tmp_path)
    pipeline = dlt.pipeline(
        "oura_shared",
        destination=target,
        dataset_name="oura_raw",
        pipelines_dir=str(tmp_path / "dlt"),
    )
    pipeline.run(oura_source(access_token="sandbox-pat-0", collections=["daily_sleep"]))
    with pytest.raises(Exception) as refused:
        pipeline.run(oura_source(access_token="sandbox-pat-1", collections=["daily_sleep"]))
    users = [u.user_id for u in sandbox.world.users]
    assert f"belong to Oura user {users[0]}, but the token is user {users[1]}'s" in str(
        refused.value
    )
