"""`oura-elt load` as a user runs it: a real process, a real sandbox, a real DuckDB file.

Covers the crash story (kill -9 mid-backfill, then a rerun gives exactly the ground
truth without fetching finished chunks again), one-line errors, and that no token
ever shows up in output, the warehouse or the pipeline's working files.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from conftest import CLOCK
from load_truth import assert_warehouse_equals_truth, read_table
from test_load_sandbox import truth_span

KILL_COLLECTIONS = ["daily_sleep", "sleep", "workout", "ring_battery_level"]


def cli_env(sandbox, home: Path, db: Path, token: str = "sandbox-pat-0") -> dict[str, str]:
    """Environment of a user pointing the CLI at the sandbox with a static token."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OURA_")}
    env.update(
        OURA_API_BASE_URL=sandbox.base_url,
        OURA_ACCESS_TOKEN=token,
        OURA_ELT_HOME=str(home),
        OURA_DUCKDB_PATH=str(db),
        OURA_ELT_NOW=sandbox.world.now.isoformat(),
        COLUMNS="120",
    )
    return env


def oura_elt(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `oura-elt ...` to completion."""
    return subprocess.run(
        [sys.executable, "-m", "oura_elt.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_kill_9_mid_backfill_then_rerun_gives_exactly_the_ground_truth(sandbox_factory, tmp_path):
    sandbox = sandbox_factory(users=1, history_days=365)
    sandbox.faults(latency_ms=5)
    db, home = tmp_path / "oura.duckdb", tmp_path / "home"
    first, last = sandbox.world.users[0].history_start, truth_span(sandbox.world)[1]
    chunks = -(-((last - first).days + 1) // 90)  # 5
    args = ["load", "--collections", ",".join(KILL_COLLECTIONS), "--start-date", first.isoformat()]
    rng = random.Random()
    wait_for, extra = rng.randint(2, chunks - 2), rng.uniform(0.0, 0.6)
    process = subprocess.Popen(
        [sys.executable, "-m", "oura_elt.cli", *args],
        env=cli_env(sandbox, home, db),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: list[str] = []
    threading.Thread(target=lambda: seen.extend(process.stderr), daemon=True).start()
    deadline = time.monotonic() + 120
    while sum("committing" in line for line in seen) < wait_for:
        assert process.poll() is None, f"finished before the kill point: {''.join(seen)[-500:]}"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(extra)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    point = f"killed {extra:.2f} s after the note of chunk {wait_for}/{chunks}"
    assert process.returncode == -signal.SIGKILL, f"the load ended before it could be {point}"

    with duckdb.connect(str(db), read_only=True) as con:  # finished chunks are committed
        committed = con.execute(
            "SELECT count(*) FROM oura_raw._oura_load_progress p JOIN oura_raw._dlt_loads l "
            "ON l.load_id = p._dlt_load_id WHERE l.status = 0 AND p.collection = 'daily_sleep'"
        ).fetchone()[0]
    assert committed >= wait_for - 1, point
    sandbox.faults()
    sandbox.reset_stats()

    rerun = oura_elt(*args, env=cli_env(sandbox, home, db))

    assert rerun.returncode == 0, rerun.stderr
    asked = sandbox.stats().get("user:0:route:daily_sleep", 0)
    assert asked <= chunks - committed, (
        f"{point}: finished chunks fetched again ({asked} of {chunks})"
    )
    assert_warehouse_equals_truth(db, sandbox.world, first, last, collections=KILL_COLLECTIONS)


def test_ctrl_c_mid_load_says_what_is_committed_and_the_same_command_resumes(
    sandbox_factory, tmp_path
):
    """A real SIGINT to the console script between chunks: exit 130 and one line whose
    figures are the warehouse's own; the same command then completes the ground truth."""
    sandbox = sandbox_factory(users=1, history_days=365)
    sandbox.faults(latency_ms=5)
    db, home = tmp_path / "oura.duckdb", tmp_path / "home"
    first, last = sandbox.world.users[0].history_start, truth_span(sandbox.world)[1]
    args = ["load", "--collections", ",".join(KILL_COLLECTIONS), "--start-date", first.isoformat()]
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("oura-elt")), *args],
        env=cli_env(sandbox, home, db),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        # A shell that starts the test run in the background ignores SIGINT for its children.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(process.stderr), daemon=True)
    reader.start()
    deadline = time.monotonic() + 120
    while not any("committing" in line and "(2/" in line for line in seen):
        assert process.poll() is None, f"finished before chunk 2: {''.join(seen)[-500:]}"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    sandbox.faults(latency_ms=3000)  # what is left now takes far longer than the signal
    os.kill(process.pid, signal.SIGINT)
    assert process.wait(timeout=120) == 130
    reader.join(timeout=30)

    output = "".join(seen)
    said = [line.strip() for line in seen if line.startswith("interrupted:")]
    assert "Traceback" not in output and "error:" not in output, output[-2000:]
    assert len(said) == 1 and said[0].endswith(
        "; run the same command to resume (it fetches only what is missing)"
    ), output[-2000:]
    user_id = sandbox.world.users[0].user_id
    claimed = re.search(
        rf"{db} holds what was committed \(user {user_id}: ([\d,]+) documents, "
        r"days (\S+) \.\. (\S+)\)",
        said[0],
    )
    assert claimed, said[0]  # chunk 1 was committed before chunk 2 was announced
    with duckdb.connect(str(db), read_only=True) as con:
        tables = [
            t
            for (t,) in con.execute(
                "SELECT table_name FROM information_schema.columns WHERE table_schema = 'oura_raw' "
                "AND column_name = 'user_id' AND table_name <> '_oura_load_progress'"
            ).fetchall()
        ]
        documents = sum(
            con.execute(
                f'SELECT count(*) FROM oura_raw."{t}" WHERE user_id = ?', [user_id]
            ).fetchone()[0]
            for t in tables
        )
        days = con.execute(
            "SELECT min(p.start_day), max(p.end_day) FROM oura_raw._oura_load_progress p "
            "JOIN oura_raw._dlt_loads l ON l.load_id = p._dlt_load_id WHERE l.status = 0"
        ).fetchone()
    assert int(claimed.group(1).replace(",", "")) == documents > 0
    assert (claimed.group(2), claimed.group(3)) == (days[0].isoformat(), days[1].isoformat())
    assert days[1] < last  # the interruption left days to load

    sandbox.faults()
    rerun = oura_elt(*args, env=cli_env(sandbox, home, db))
    assert rerun.returncode == 0, rerun.stderr
    assert_warehouse_equals_truth(db, sandbox.world, first, last, collections=KILL_COLLECTIONS)


def test_no_token_appears_in_output_tables_or_working_files(sandbox, tmp_path):
    token = "sandbox-pat-0"
    db, home = tmp_path / "oura.duckdb", tmp_path / "home"
    sandbox.faults(error_5xx=0.3, malformed=0.2, max_faults=3, seed=5)
    start = (sandbox.world.now - timedelta(days=12)).date().isoformat()
    good = oura_elt(
        "load",
        "--collections",
        "daily_sleep,heartrate,personal_info",
        "--start-date",
        start,
        env=cli_env(sandbox, home, db),
    )
    assert good.returncode == 0, good.stderr
    bad = oura_elt("load", env=cli_env(sandbox, home, db, token="sandbox-pat-not-a-user-0123"))
    assert bad.returncode != 0 and "sandbox-pat-not-a-user-0123" not in bad.stdout + bad.stderr

    output = good.stdout + good.stderr + bad.stdout + bad.stderr
    assert token not in output
    with duckdb.connect(str(db), read_only=True) as con:
        tables = [
            t
            for (t,) in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'oura_raw'"
            ).fetchall()
        ]
        for table in tables:
            dump = repr(con.execute(f'SELECT * FROM oura_raw."{table}"').fetchall())
            assert token not in dump, table
    for path in home.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path


def run_main(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """`oura-elt ...` in this process (the console script's entry point): code, stdout, stderr."""
    from oura_elt.cli import main

    monkeypatch.setattr(sys, "argv", ["oura-elt", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    captured = capsys.readouterr()
    return exited.value.code, captured.out, captured.err


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """A static token and an API address where nothing listens."""
    monkeypatch.setenv("OURA_ACCESS_TOKEN", "sandbox-pat-0")
    monkeypatch.setenv("OURA_API_BASE_URL", "http://127.0.0.1:9")
    return tmp_path


@pytest.mark.parametrize(
    "args, message",
    [
        (["--start-date", "2024-02-30"], "--start-date '2024-02-30' is not a date"),
        (["--end-date", "yesterday"], "--end-date 'yesterday' is not a date"),
        (["--start-date", "2025-02-01", "--end-date", "2025-01-01"], "is after --end-date"),
        (["--collections", "sleep,steps"], "unknown collection(s): steps; valid: personal_info"),
        (["--destination", "snowflake"], "is not one of: duckdb, bigquery"),
        (["--lookback-days", "-3"], "--lookback-days -3 is negative"),
        (["--start-date", "2999-01-01"], "--start-date 2999-01-01 is in the future"),
        (["--start-date", "2999-01-01", "--end-date", "2999-01-31"], "2999-01-01 is in the future"),
    ],
)
def test_bad_input_is_one_clear_line(offline, monkeypatch, capsys, args, message):
    code, _, err = run_main(
        monkeypatch, capsys, "load", "--duckdb", str(offline / "x.duckdb"), *args
    )
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("error:") and message in lines[0], err
    assert not (offline / "x.duckdb").exists()  # nothing was touched


def test_an_unreachable_api_is_one_clear_line(offline, monkeypatch, capsys):
    code, _, err = run_main(monkeypatch, capsys, "load", "--duckdb", str(offline / "x.duckdb"))
    assert code == 1
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        "error: cannot reach the Oura API at http://127.0.0.1:9"
        " (connection refused or host unknown); check the network or OURA_API_BASE_URL"
    ], err


def test_bigquery_without_credentials_is_one_clear_line(offline, monkeypatch, capsys):
    for name in list(os.environ):
        if name.startswith("DESTINATION__") or name == "GOOGLE_APPLICATION_CREDENTIALS":
            monkeypatch.delenv(name)
    code, _, err = run_main(monkeypatch, capsys, "load", "--destination", "bigquery")
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1, err
    assert (
        "BigQuery support is not installed" in lines[0]
        or "BigQuery credentials are not configured" in lines[0]
    )


def test_the_cli_summarises_and_a_failed_collection_exits_non_zero(sandbox, tmp_path):
    db, home = tmp_path / "oura.duckdb", tmp_path / "home"
    sandbox.faults(repeat_token=1.0, routes=["heartrate"])  # fails fast: re-asking needs no backoff
    start = (CLOCK - timedelta(days=10)).date()
    result = oura_elt(
        "load",
        "--collections",
        "daily_sleep,heartrate",
        "--lookback-days",
        "3",
        "--start-date",
        start.isoformat(),
        env=cli_env(sandbox, home, db),
    )
    assert result.returncode == 1
    assert "daily_sleep" in result.stdout and "requests" in result.stdout
    assert f"{start}..{(CLOCK + timedelta(hours=14)).date()}" in result.stdout
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")] == [
        "error: heartrate: the API repeated a next_token 3 times (pagination loop);"
        " stopped this collection"
    ]
    assert len(read_table(db, "daily_sleep")) >= 10  # the other collection loaded
