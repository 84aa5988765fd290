"""`oura-elt load --destination bigquery` against the local BigQuery API (`bigquery_emulator`):
the same ground-truth comparison as the DuckDB tests, on a first run, a rerun after the
clock moves, and a run killed with SIGKILL then rerun; and each merge is atomic (a failure
between its DELETE and INSERT leaves the stored rows)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from datetime import date
from pathlib import Path

from load_truth import assert_warehouse_equals_truth, snapshot
from test_load_sandbox import truth_span

OURA_ELT = str(Path(sys.executable).with_name("oura-elt"))
SOME = ["daily_activity", "daily_sleep", "sleep", "workout", "tag", "heartrate"]


def bq_env(sandbox, bigquery, home: Path, token: str = "sandbox-pat-0") -> dict[str, str]:
    """A user's environment: the CLI pointed at the sandbox (a static token) and at BigQuery."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OURA_")}
    env.update(bigquery.env)
    env.update(
        OURA_API_BASE_URL=sandbox.base_url,
        OURA_ACCESS_TOKEN=token,
        OURA_ELT_HOME=str(home),
        OURA_ELT_NOW=sandbox.world.now.isoformat(),
        COLUMNS="120",
    )
    return env


def load_bq(
    sandbox, bigquery, home: Path, *args: str, token: str = "sandbox-pat-0", timeout: float = 300
) -> subprocess.CompletedProcess:
    """`oura-elt load --destination bigquery --profile userN` with sandbox user N's token."""
    profile = "user" + token.rsplit("-", 1)[1]
    return subprocess.run(
        [OURA_ELT, "load", "--destination", "bigquery", "--profile", profile, *args],
        env=bq_env(sandbox, bigquery, home, token),
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class Hold:
    """A proxy hook (a fault, not a correction) that stops the first query `when` picks until
    the test releases it; `drop` then answers the client with an error instead of sending it."""

    def __init__(self, when) -> None:
        self.when = when
        self.reached = threading.Event()
        self.released = threading.Event()
        self.drop = False
        self._lock = threading.Lock()
        self._taken = False

    def __call__(self, sql: str) -> str:
        with self._lock:
            take = not self._taken and self.when(sql)
            self._taken = self._taken or take
        if take:
            self.reached.set()
            assert self.released.wait(600), "the held query was never released"
            if self.drop:
                raise RuntimeError("dropped by the test")
        return sql

    def release(self, drop: bool = False) -> None:
        self.drop = drop
        self.released.set()


def is_merge(sql: str, project: str, table: str | None = None) -> bool:
    """A loader's merge script (into `table`) in `project`."""
    target = f"`{project}`.`oura_raw`.`{table}`" if table else f"`{project}`.`oura_raw`."
    return f"DELETE FROM {target}" in sql and "INSERT INTO" in sql


def test_first_run_and_a_rerun_after_the_clock_moves_equal_the_ground_truth(
    sandbox_factory, bigquery, tmp_path
):
    sandbox = sandbox_factory(users=2, history_days=30)
    homes = [tmp_path / "home0", tmp_path / "home1"]
    for user, home in enumerate(homes):
        done = load_bq(sandbox, bigquery, home, token=f"sandbox-pat-{user}")
        assert done.returncode == 0, done.stderr
        assert f"-> BigQuery project {bigquery.name} (oura_raw)" in " ".join(done.stdout.split())

    counts = assert_warehouse_equals_truth(bigquery, sandbox.world, *truth_span(sandbox.world))
    assert (
        counts["heartrate"] > 10_000 and counts["sleep"] > 30 and counts["ring_configuration"] >= 2
    )
    assert bigquery.datasets() == [
        "oura_raw",
        "oura_raw_staging_oura_user0",
        "oura_raw_staging_oura_user1",
    ]
    merges = [q for q in bigquery.service.proxy.queries if is_merge(q, bigquery.name)]
    assert merges and all(
        q.lstrip().startswith("BEGIN TRANSACTION;")
        and q.rstrip().rstrip(";").endswith("COMMIT TRANSACTION")
        for q in merges
    )
    before = snapshot(bigquery, SOME)

    sandbox.advance(days=2, seconds=3 * 3600)  # restatements, late documents, deletions
    for user, home in enumerate(homes):
        rerun = load_bq(sandbox, bigquery, home, token=f"sandbox-pat-{user}")
        assert rerun.returncode == 0, rerun.stderr

    assert_warehouse_equals_truth(bigquery, sandbox.world, *truth_span(sandbox.world))
    after = snapshot(bigquery, SOME)
    changed = [t for t in SOME if after[t] != before[t]]
    assert "daily_activity" in changed and "heartrate" in changed, changed


def test_a_load_killed_with_sigkill_then_rerun_equals_the_ground_truth(
    sandbox_factory, bigquery, tmp_path
):
    """Killed while the first merge of the second chunk is held in BigQuery (by the proxy: no
    timing luck); the first chunk stays committed, the rerun finishes the second from its
    load package and fetches only the chunks after it."""
    sandbox = sandbox_factory(users=1, history_days=250)  # three chunks of 90 days
    proxy = bigquery.service.proxy
    loads = f"INSERT INTO `{bigquery.name}`.`oura_raw`.`_dlt_loads`"

    def completed() -> bool:  # a load package of this project's has been committed
        return any(q.lstrip().startswith(loads) for q in proxy.queries)

    hold = Hold(lambda sql: is_merge(sql, bigquery.name) and completed())
    proxy.hooks.append(hold)
    home = tmp_path / "home"
    first = sandbox.world.users[0].history_start
    args = [
        "load",
        "--destination",
        "bigquery",
        "--collections",
        "daily_sleep,sleep,workout",
        "--start-date",
        first.isoformat(),
    ]
    process = subprocess.Popen(
        [OURA_ELT, *args],
        env=bq_env(sandbox, bigquery, home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert hold.reached.wait(300), "the second chunk's merge never came"
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=60) == -signal.SIGKILL
    finally:
        hold.release(drop=True)
        proxy.hooks.remove(hold)
    committed = bigquery.query(
        f"SELECT COUNT(*) FROM `{bigquery.name}.oura_raw._oura_load_progress` AS p "
        f"JOIN `{bigquery.name}.oura_raw._dlt_loads` AS l ON l.load_id = p._dlt_load_id "
        "WHERE l.status = 0 AND p.collection = 'daily_sleep'"
    )[0][0]
    assert committed == 1  # the first of three chunks
    sandbox.reset_stats()

    rerun = subprocess.run(
        [OURA_ELT, *args],
        env=bq_env(sandbox, bigquery, home),
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert rerun.returncode == 0, rerun.stderr
    summary = re.search(r"(\d{4}-\d\d-\d\d)\.\.(\d{4}-\d\d-\d\d), in (\d+) chunk", rerun.stdout)
    last = date.fromisoformat(summary.group(2))
    chunks = -(-((last - first).days + 1) // 90)
    # The held chunk's load package is finished, not fetched again; only later chunks are fetched.
    assert int(summary.group(3)) == chunks - committed - 1 >= 1, rerun.stdout
    assert sandbox.stats().get("user:0:route:daily_sleep", 0) == chunks - committed - 1
    assert_warehouse_equals_truth(
        bigquery,
        sandbox.world,
        *truth_span(sandbox.world),
        collections=["daily_sleep", "sleep", "workout"],
    )


def fail_after_delete(project: str, table: str):
    """A fault: BigQuery fails the merge into `table` right after its DELETE statement."""

    def hook(sql: str) -> str:
        if not is_merge(sql, project, table):
            return sql
        at = sql.index(f"DELETE FROM `{project}`.`oura_raw`.`{table}`")
        end = sql.index(";", at) + 1
        return sql[:end] + "\nSELECT ERROR('injected fault between DELETE and INSERT');" + sql[end:]

    return hook


def test_a_failure_between_a_merges_delete_and_insert_leaves_the_stored_rows(
    sandbox_factory, bigquery, tmp_path
):
    sandbox = sandbox_factory(users=1, history_days=20)
    home = tmp_path / "home"
    collections = "daily_activity,daily_sleep"
    first = load_bq(sandbox, bigquery, home, "--collections", collections)
    assert first.returncode == 0, first.stderr
    stored = snapshot(bigquery, ["daily_activity"])["daily_activity"]
    assert len(stored) > 15

    sandbox.advance(days=2, seconds=3 * 3600)  # recent days are restated: the merge replaces rows
    proxy = bigquery.service.proxy
    fault = fail_after_delete(bigquery.name, "daily_activity")
    proxy.hooks.append(fault)
    try:
        failed = load_bq(sandbox, bigquery, home, "--collections", collections)
    finally:
        proxy.hooks.remove(fault)

    assert failed.returncode != 0 and "injected fault" in failed.stderr, failed.stderr
    assert len([q for q in proxy.queries if is_merge(q, bigquery.name, "daily_activity")]) >= 2
    assert snapshot(bigquery, ["daily_activity"])["daily_activity"] == stored  # nothing deleted
    rerun = load_bq(sandbox, bigquery, home, "--collections", collections)
    assert rerun.returncode == 0, rerun.stderr
    assert_warehouse_equals_truth(
        bigquery,
        sandbox.world,
        *truth_span(sandbox.world),
        collections=["daily_activity", "daily_sleep"],
    )
    assert snapshot(bigquery, ["daily_activity"])["daily_activity"] != stored
