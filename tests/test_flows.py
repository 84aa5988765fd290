"""The Prefect flows against the local Oura server, real DuckDB files and real Prefect.

Flow runs go to one temporary Prefect server per session (`prefect_test_harness`);
the served-deployment test starts its own real `prefect server start` through
`oura-elt schedule`. Users log in through the real OAuth flow (the test plays the
browser) unless a test is about something else.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

# Prefect reads its settings when it is first imported: give it a home of its own first.
if "PREFECT_HOME" not in os.environ:
    os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="oura-elt-prefect-")
    atexit.register(shutil.rmtree, os.environ["PREFECT_HOME"], ignore_errors=True)

import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urljoin

import duckdb
import pytest
import requests
from conftest import CLOCK
from load_truth import assert_warehouse_equals_truth, day_before

from oura_elt.commands.sandbox import sandbox_endpoints
from pipelines.auth import TokenStore
from pipelines.core.config import project_root
from pipelines.core.errors import OuraEltError

FAST = {"rate_limit": "100000/1"}  # tests about something else: no client-side throttling


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect server for every flow run of the session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield


@pytest.fixture
def flow_env(prefect_harness, monkeypatch):
    """The sandbox's clock for the loader, and task retries without waiting."""
    monkeypatch.setenv("OURA_ELT_NOW", CLOCK.isoformat())
    monkeypatch.setenv("OURA_ELT_TASK_RETRY_DELAY", "0")


def logged_in_sandbox(sandbox_factory, users: int, **settings):
    """A sandbox whose users are all logged in (profiles user0, user1, ...) via OAuth."""
    from pipelines.auth import login

    callback = f"http://127.0.0.1:{free_port()}/callback/"
    sb = sandbox_factory(users=users, redirect_uris=(callback,), **settings)
    for index in range(users):

        def browse(url: str, index: int = index) -> None:
            def go() -> None:
                consent = requests.get(
                    f"{url}&sandbox_user={index}", allow_redirects=False, timeout=30
                )
                requests.get(urljoin(url, consent.headers["location"]), timeout=30)

            threading.Thread(target=go, daemon=True).start()

        record = login(
            f"user{index}",
            endpoints=sandbox_endpoints(sb.base_url),
            redirect_uri=callback,
            open_browser=False,
            show_url=browse,
            timeout=30,
        )
        assert record.user_id == sb.world.users[index].user_id
    return sb


def whole_history(world):
    from pipelines.oura.kinds import latest_day

    return day_before(min(u.history_start for u in world.users)), latest_day(world.now)


# ------------------------------------------------------------------ small pieces


def test_the_warehouse_lock_makes_writers_take_turns(tmp_path):
    from pipelines.core.target import Target, warehouse_lock

    target = Target.of("duckdb", tmp_path / "w.duckdb")
    assert target.lock_path == tmp_path / "w.duckdb.lock"
    order = []
    with warehouse_lock(target):
        other = threading.Thread(target=lambda: _hold(target, order))
        other.start()
        time.sleep(0.3)
        order.append("first done")
    other.join(timeout=10)
    assert order == ["first done", "second"]
    with warehouse_lock(target):  # a second holder gives up after its timeout, in one clear line
        result = []
        thread = threading.Thread(target=lambda: result.append(_try_lock(target)))
        thread.start()
        thread.join(timeout=10)
    assert isinstance(result[0], OuraEltError) and "stayed locked" in str(result[0])


def test_bigquery_commits_share_the_lock_that_dbt_and_erasures_hold_alone():
    """Loads into BigQuery hold the warehouse lock shared: any number at once; a dbt build
    (or an erasure) holds it alone, so it waits for, or refuses beside, a commit in flight."""
    from pipelines.core.target import Target, warehouse_lock
    from pipelines.people import WarehouseBusy
    from pipelines.people.leftovers import warehouse_lock_or_busy

    bigquery = Target.of("bigquery")
    with bigquery.commit_lock(timeout=0.2), bigquery.commit_lock(timeout=0.2):  # two at once
        assert isinstance(_try_lock(bigquery), OuraEltError)  # a dbt build waits
        with pytest.raises(WarehouseBusy):
            with warehouse_lock_or_busy("bigquery", None, "oura_raw", 0.0, "BigQuery"):
                pass
    with warehouse_lock(bigquery):  # a build under way: a commit waits, then says so
        result = []
        thread = threading.Thread(target=lambda: result.append(_try_commit(bigquery)))
        thread.start()
        thread.join(timeout=10)
        assert isinstance(result[0], OuraEltError) and "stayed locked" in str(result[0])
    with bigquery.commit_lock(timeout=0.2):
        pass  # free again


def test_duckdb_commits_take_turns(tmp_path):
    from pipelines.core.target import Target

    duck = Target.of("duckdb", tmp_path / "w.duckdb")
    with duck.commit_lock(timeout=0.2):
        assert isinstance(_try_commit(duck), OuraEltError)


def _try_commit(target):
    try:
        with target.commit_lock(timeout=0.2):
            return AssertionError("the commit lock was free while held")
    except OuraEltError as exc:
        return exc


def _hold(target, order):
    from pipelines.core.target import warehouse_lock

    with warehouse_lock(target):
        order.append("second")


def _try_lock(target):
    from pipelines.core.target import warehouse_lock

    try:
        with warehouse_lock(target, timeout=0.2):
            return AssertionError("the lock was free while held")
    except OuraEltError as exc:
        return exc


def test_the_nightly_schedule_runs_in_its_time_zone():
    from flows.schedule import describe_nightly, next_nightly_run

    winter = next_nightly_run(
        "30 5 * * *", "Europe/Helsinki", after=datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
    )
    assert (winter.isoformat(), winter.utcoffset().total_seconds()) == (
        "2026-11-22T05:30:00+02:00",
        7200,
    )
    # The night Finland moves its clocks forward: still 05:30 local, now UTC+3.
    spring = next_nightly_run(
        "30 5 * * *", "Europe/Helsinki", after=datetime(2026, 3, 28, 4, 0, tzinfo=UTC)
    )
    assert spring.isoformat() == "2026-03-29T05:30:00+03:00"
    line = describe_nightly(
        "30 5 * * *", "Europe/Helsinki", after=datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
    )
    assert "oura-nightly" in line and "2026-11-22 05:30 EET" in line
    with pytest.raises(OuraEltError, match="unknown time zone"):
        next_nightly_run("30 5 * * *", "Mars/Olympus")
    with pytest.raises(OuraEltError, match="invalid cron"):
        next_nightly_run("30 25 * * *", "UTC")


def test_prefect_yaml_declares_the_served_deployments():
    import yaml
    from prefect.cli.deploy._models import PrefectYamlModel

    from flows.schedule import (
        BACKFILL,
        DEFAULT_CRON,
        NIGHTLY,
        RENEW_CRON,
        RENEW_WEBHOOKS,
        deployments,
    )

    declared = yaml.safe_load((project_root() / "prefect.yaml").read_text())
    PrefectYamlModel.model_validate(declared)  # what `prefect deploy` accepts
    in_yaml = {d["name"]: d for d in declared["deployments"]}
    served = {d.name: d for d in deployments(timezone_name="Europe/Helsinki", webhooks=True)}
    assert set(in_yaml) == set(served) == {NIGHTLY, BACKFILL, RENEW_WEBHOOKS}
    assert {d.name for d in deployments(timezone_name="Europe/Helsinki")} == {NIGHTLY, BACKFILL}
    assert [s["cron"] for s in in_yaml[RENEW_WEBHOOKS]["schedules"]] == [RENEW_CRON]
    for name, deployment in served.items():
        path, function = in_yaml[name]["entrypoint"].split(":")
        assert deployment.entrypoint == path.removesuffix(".py").replace("/", ".") + "." + function
    assert [s["cron"] for s in in_yaml[NIGHTLY]["schedules"]] == [DEFAULT_CRON]
    nightly_schedules = [s.schedule for s in served[NIGHTLY].schedules]
    assert [(s.cron, s.timezone) for s in nightly_schedules] == [(DEFAULT_CRON, "Europe/Helsinki")]
    assert in_yaml[BACKFILL]["schedules"] == [] and not served[BACKFILL].schedules


def test_fan_out_keeps_at_most_max_parallel_profiles_running(flow_env):
    from prefect import flow, task

    from flows.cohort import fan_out, outcomes

    running, peak, lock = [0], [0], threading.Condition()

    @task
    def work(profile: str) -> str:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
            lock.notify_all()
            # The first stays until a second one runs beside it, however slowly a busy
            # machine starts task runs (a fixed sleep alone let it finish first).
            lock.wait_for(lambda: peak[0] >= 2, timeout=30)
        time.sleep(0.2)  # (a third one, were fan_out to start it, would overlap these)
        with lock:
            running[0] -= 1
        if profile == "p3":
            raise RuntimeError("p3 broke")
        return profile.upper()

    @flow
    def cohort(profiles: list[str], max_parallel: int):
        return outcomes(fan_out(work.submit, profiles, max_parallel))

    results, failures = cohort([f"p{i}" for i in range(6)], 2)
    assert peak[0] == 2
    assert results == {"p0": "P0", "p1": "P1", "p2": "P2", "p4": "P4", "p5": "P5"}
    assert failures == {"p3": "p3 broke"}


# ------------------------------------------------------------------ the flows


def test_refresh_loads_every_profile_and_a_failing_dbt_test_fails_it(
    sandbox_factory, tmp_path, flow_env
):
    """(The served-deployment test below shows a refresh whose dbt build passes.)"""
    from flows.refresh import refresh

    sb = logged_in_sandbox(sandbox_factory, users=2, history_days=30)
    db = tmp_path / "oura.duckdb"

    report = refresh(duckdb_path=str(db), api_base_url=sb.base_url, run_dbt=False, **FAST)

    assert sorted(report.summaries) == ["user0", "user1"] and report.dbt is None
    assert all(s.ok for runs in report.summaries.values() for s in runs)
    assert_warehouse_equals_truth(db, sb.world, *whole_history(sb.world))

    # An old document twice (outside the lookback: the loader leaves it alone), and a
    # profile that never logged in: dbt's uniqueness test fails the flow, and the
    # profile's login error is not retried.
    with duckdb.connect(str(db)) as con:
        con.execute(
            "INSERT INTO oura_raw.daily_activity SELECT * FROM oura_raw.daily_activity "
            "WHERE day = (SELECT min(day) FROM oura_raw.daily_activity) LIMIT 1"
        )
    state = refresh(
        profiles=["user0", "ghost"],
        duckdb_path=str(db),
        api_base_url=sb.base_url,
        return_state=True,
        **FAST,
    )
    assert state.is_failed()
    with pytest.raises(OuraEltError) as failed:
        state.result()
    message = str(failed.value)
    assert message.startswith(
        "refresh: 1 of 2 profile(s) failed: ghost: no saved login for profile 'ghost'"
    )
    assert "dbt build failed" in message
    assert _task_run_counts(state)["load ghost"] == 1


def test_refresh_ends_in_a_state_naming_the_people_whose_data_is_stale(
    sandbox_factory, tmp_path, flow_env, monkeypatch
):
    from gap_fixture import HISTORY_START, REFERENCE, SEED, gap_sync

    from flows.refresh import refresh
    from flows.tasks import StaleData
    from sandbox.world import World

    # user2's ring stopped syncing 60 hours ago (users from 2 on have sync gaps).
    stopped, _ = gap_sync(World(seed=SEED, users=3, now=REFERENCE, history_start=HISTORY_START))
    clock = stopped + timedelta(hours=60)
    monkeypatch.setenv("OURA_ELT_NOW", clock.isoformat())
    sb = logged_in_sandbox(
        sandbox_factory, users=3, seed=SEED, now=clock, history_start=HISTORY_START
    )
    db = tmp_path / "oura.duckdb"

    failed = refresh(duckdb_path=str(db), api_base_url=sb.base_url, return_state=True, **FAST)

    assert failed.is_failed()
    with pytest.raises(StaleData) as stale:
        failed.result()
    message = str(stale.value)
    assert message.startswith(
        "refresh: the data of 1 profile(s) is older than 36 h: user2 "
        "(the ring last reported 60 h ago"
    ), message
    assert "user0" not in message and "user1" not in message
    assert failed.message and "user2" in failed.message

    # A warning instead of a failure: a Completed state named Stale that still names them,
    # and a threshold above the gap is a plain success.
    warned = refresh(
        duckdb_path=str(db),
        api_base_url=sb.base_url,
        fail_when_stale=False,
        return_state=True,
        **FAST,
    )
    assert warned.is_completed() and warned.name == "Stale"
    assert "user2 (the ring last reported 60 h ago" in warned.message
    assert sorted(warned.result().summaries) == ["user0", "user1", "user2"]
    calm = refresh(
        duckdb_path=str(db),
        api_base_url=sb.base_url,
        stale_after_hours=72,
        return_state=True,
        **FAST,
    )
    assert calm.is_completed() and calm.name == "Completed"


def _task_run_counts(state) -> dict[str, int]:
    """run_count of every task run of a flow run, by task run name."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(
                id=FlowRunFilterId(any_=[state.state_details.flow_run_id])
            )
        )
    return {run.name: run.run_count for run in runs}


def test_backfill_retries_a_failed_chunk_and_a_rerun_skips_loaded_chunks(
    sandbox_factory, tmp_path, flow_env, monkeypatch
):
    from prefect.blocks.system import Secret

    from flows.backfill import backfill
    from pipelines.core.clock import current_time
    from pipelines.oura.kinds import earliest_day

    # The token comes from a Prefect Secret block (one person: profile `default`).
    Secret(value="sandbox-pat-0").save("oura-sandbox-token", overwrite=True)
    sb = sandbox_factory(
        users=1, history_days=40, seed=32
    )  # seed 32: ring set up a week before the data
    params = dict(
        api_base_url=sb.base_url,
        chunk_days=20,
        run_dbt=False,
        token_block="oura-sandbox-token",
        **FAST,
    )

    # The first chunk's daily_sleep answers 500 five times: the loader's own retries (five
    # here, to keep the test short) give up, the chunk's task fails, Prefect retries it,
    # and only daily_sleep is asked again.
    monkeypatch.setenv("OURA_ELT_HTTP_ATTEMPTS", "5")
    sb.faults(error_5xx=1.0, routes=["daily_sleep"], max_faults=5)
    db = tmp_path / "oura.duckdb"
    state = backfill(duckdb_path=str(db), return_state=True, **params)

    assert state.is_completed()
    chunks = state.result().summaries["default"]
    assert len(chunks) == 3 and [c.start for c in chunks] == sorted(c.start for c in chunks)
    stats = sb.stats()
    assert stats["fault:error_5xx"] == 5
    assert stats["route:daily_sleep"] == len(chunks) + 5  # one window per chunk, 5 refused
    runs = _task_run_counts(state)
    assert [runs[f"load default {c.start}..{c.end}"] for c in chunks] == [2, 1, 1]
    retried = chunks[0]  # the summary of its second, successful attempt
    assert retried.requests == 3, "the retry fetched more than daily_sleep (and who the user is)"
    assert {t for t, n in retried.documents.items() if n} == {
        "personal_info",
        "ring_configuration",
        "daily_sleep",
    }
    assert all(c.requests > 10 for c in chunks[1:])
    assert_warehouse_equals_truth(db, sb.world, *whole_history(sb.world))

    # Run it again (as after a crash): the chunks already loaded are not fetched again.
    sb.faults()
    sb.reset_stats()
    again = backfill(duckdb_path=str(db), **params)
    settled = earliest_day(current_time()) - timedelta(days=7)  # older than the lookback
    old = [s for s in again.summaries["default"] if s.end < settled]
    assert len(old) == len(chunks) - 1
    assert all(s.requests <= 2 for s in old), [
        (s.start, s.requests) for s in old
    ]  # who am I + rings
    # Nothing dated again; personal_info and ring_configuration with the first chunk only.
    assert all(
        {t for t, n in s.documents.items() if n} <= {"personal_info", "ring_configuration"}
        for s in old
    )
    assert old[0].total_documents == 2 and sum(s.total_documents for s in old) == 2
    assert_warehouse_equals_truth(db, sb.world, *whole_history(sb.world))


def test_a_cohort_shares_one_budget_and_never_hits_the_application_limit(
    sandbox_factory, tmp_path, flow_env, monkeypatch
):
    """Four people backfilled in one run under ONE budget of 24 requests per 2 s, against an
    application limit that the budget keeps to whatever the machine's timing.

    The client counts a request when it starts, the server when it arrives. A request the
    server counts in a window either started within it (at most the budget's 24 did) or
    was still on its way when the window opened: at most one per thread that sends
    requests. So with the limit at 24 plus those threads no scheduling delay can make the
    server refuse one (and no clock needs to be lucky), while four budgets of 24 (one per
    person) would far exceed it. The budget's own count shows that it held requests back."""
    from flows.backfill import backfill
    from pipelines.load import DEFAULT_WORKERS
    from pipelines.oura import ratelimit
    from pipelines.oura.kinds import latest_day

    parallel, budget = 4, ratelimit.RateBudget(24, 2)
    senders = parallel * (DEFAULT_WORKERS + 1)  # each load's fetch workers and its own thread
    limit = budget.max_requests + senders
    sb = logged_in_sandbox(
        sandbox_factory, users=4, history_days=30, app_limit=limit, rate_window_seconds=2
    )
    sb.reset_stats()
    monkeypatch.setattr(ratelimit, "_shared", budget)  # the run's budget (no rate_limit given)
    last = latest_day(sb.world.now)
    first = last - timedelta(days=9)
    db = tmp_path / "oura.duckdb"

    report = backfill(
        start_date=first,
        end_date=last,
        duckdb_path=str(db),
        api_base_url=sb.base_url,
        run_dbt=False,
        max_parallel=parallel,
    )

    stats = sb.stats()
    assert sorted(report.summaries) == ["user0", "user1", "user2", "user3"]
    assert stats["requests"] > limit, "too few requests for the limit to matter"
    assert budget.waited_seconds > 0  # the budget held requests back...
    assert stats.get("status:429", 0) == 0 and stats.get("limited:application", 0) == 0  # ...enough
    assert all(s.retries == 0 for runs in report.summaries.values() for s in runs)
    assert_warehouse_equals_truth(db, sb.world, first, last)


def test_a_cohort_into_bigquery_commits_at_the_same_time_and_equals_the_ground_truth(
    sandbox_factory, tmp_path, flow_env, bigquery
):
    """Five people backfilled into BigQuery (the local BigQuery API) through the Prefect flow.

    BigQuery has no single-writer file, so commits must not take turns: the proxy holds
    user0's first merge until another person's load package has completed (committed in
    `_dlt_loads`). Were commits serialized, none could complete while user0's is under
    way, and the hold would end empty-handed. The run's own records (dlt's `_dlt_loads`: a
    package's load id is its creation time, `inserted_at` its commit) then show another
    person's package completing between user0's creation and commit."""
    from flows.backfill import backfill
    from pipelines.oura.kinds import latest_day

    sb = logged_in_sandbox(sandbox_factory, users=5, history_days=20)
    last = latest_day(sb.world.now)
    first = last - timedelta(days=9)
    proxy = bigquery.service.proxy

    def completions() -> int:  # load packages committed so far (dlt's `_dlt_loads` inserts)
        return sum(bool(re.match(r"\s*INSERT INTO \S*_dlt_loads", q)) for q in proxy.queries)

    held: dict = {}

    def hold_user0(sql: str) -> str:
        if "oura_raw_staging_oura_user0" not in sql or "DELETE FROM" not in sql or held:
            return sql
        held["completions_before"] = seen = completions()
        deadline = time.monotonic() + 120  # ample: the other commits take seconds
        while completions() == seen and time.monotonic() < deadline:
            time.sleep(0.05)
        held["completions_during"] = completions() - seen
        return sql

    proxy.hooks.append(hold_user0)
    try:
        report = backfill(
            start_date=first,
            end_date=last,
            destination="bigquery",
            api_base_url=sb.base_url,
            run_dbt=False,
            max_parallel=5,
            **FAST,
        )
    finally:
        proxy.hooks.remove(hold_user0)

    assert sorted(report.summaries) == [f"user{i}" for i in range(5)]
    assert held and held["completions_during"] >= 1, held  # another commit finished meanwhile
    assert_warehouse_equals_truth(bigquery, sb.world, first, last)
    raw = f"`{bigquery.name}.oura_raw"
    rows = bigquery.query(
        f"SELECT p.user_id, l.load_id, l.inserted_at FROM {raw}._dlt_loads` AS l "
        f"JOIN (SELECT DISTINCT user_id, _dlt_load_id FROM {raw}._oura_load_progress`) AS p "
        "ON p._dlt_load_id = l.load_id"
    )
    spans = {
        uid: (datetime.fromtimestamp(float(load_id), UTC), done) for uid, load_id, done in rows
    }
    assert len(spans) == 5
    start0, end0 = spans[sb.world.users[0].user_id]
    during = [uid for uid, (start, end) in spans.items() if start0 < end < end0]
    assert during, f"no package completed during user0's {start0}..{end0}: {spans}"
    edges = sorted(
        [(start, 1) for start, _ in spans.values()] + [(end, -1) for _, end in spans.values()]
    )
    open_at_once = max(sum(step for _, step in edges[: i + 1]) for i in range(len(edges)))
    print(
        f"{len(during)} package(s) committed during user0's; "
        f"up to {open_at_once} of 5 commits at once"
    )


# ------------------------------------------------------------------ oura-elt schedule


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_served_deployment_fires_on_a_real_prefect_server(
    sandbox_factory, tmp_path, isolated_home
):
    """`oura-elt schedule --interval` starts a real Prefect server, serves oura-nightly,
    and the scheduled refresh loads the user's data and builds the models (its state is
    COMPLETED only if dbt passed); stopping the command stops the server."""
    from pipelines.transform import mart_row_counts

    sb = logged_in_sandbox(sandbox_factory, users=1, history_days=14)
    db = (
        tmp_path / "warehouse.duckdb"
    )  # TODO: oura.duckdb trips mart_row_counts (catalog "oura" = schema "oura")
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        OURA_ELT_HOME=str(isolated_home),
        OURA_API_BASE_URL=sb.base_url,
        OURA_ELT_NOW=CLOCK.isoformat(),
        OURA_ELT_TASK_RETRY_DELAY="0",
        PYTHONUNBUFFERED="1",
    )
    log = tmp_path / "schedule.log"
    with open(log, "wb") as out:
        command = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "oura_elt.cli",
                "schedule",
                "--interval",
                "5",
                "--port",
                str(port),
                "--duckdb",
                str(db),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        run = _wait_for_flow_run(api, command, log, timeout=240)
        assert run["state_type"] == "COMPLETED", _tail(log)
        assert run["deployment_id"] and run["parameters"]["duckdb_path"] == str(db)
        logs = requests.post(
            f"{api}/logs/filter", json={"logs": {"flow_run_id": {"any_": [run["id"]]}}}, timeout=10
        ).json()
        assert any(
            e["message"].startswith("user0: ") and " documents" in e["message"] for e in logs
        )
        token = TokenStore("user0").load().access_token
        assert token not in json.dumps(run) and token not in json.dumps(logs)
    finally:
        _stop(command)
    assert not _answers(api), "the Prefect server outlived `oura-elt schedule`"
    assert (isolated_home / "prefect" / "server.log").exists()  # its own PREFECT_HOME
    assert_warehouse_equals_truth(db, sb.world, *whole_history(sb.world))
    marts = mart_row_counts(db)  # the run's dbt build passed
    assert marts["users"] == 1 and marts["daily_summary"] > 0


def _stop(command: subprocess.Popen) -> None:
    """SIGTERM, as a service manager would; if that hangs, kill it and everything it started."""
    import psutil

    children = psutil.Process(command.pid).children(recursive=True)
    command.send_signal(signal.SIGTERM)
    try:
        command.wait(timeout=60)
    except subprocess.TimeoutExpired:
        for process in [psutil.Process(command.pid), *children]:
            try:
                process.kill()
            except psutil.NoSuchProcess:
                pass
        command.wait(timeout=10)
        pytest.fail("oura-elt schedule did not stop on SIGTERM")


def _wait_for_flow_run(api: str, command: subprocess.Popen, log: Path, timeout: float) -> dict:
    """The first finished run of oura-nightly (polling the Prefect API)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if command.poll() is not None:
            pytest.fail(f"oura-elt schedule exited with {command.returncode}:\n{_tail(log)}")
        try:
            runs = requests.post(
                f"{api}/flow_runs/filter", json={"sort": "START_TIME_ASC", "limit": 20}, timeout=5
            ).json()
        except (requests.RequestException, ValueError):
            runs = []
        finished = [r for r in runs if r.get("state_type") in ("COMPLETED", "FAILED", "CRASHED")]
        if finished:
            return finished[0]
        time.sleep(1)
    pytest.fail(f"no scheduled run finished within {timeout:g} s:\n{_tail(log)}")


def _answers(api: str) -> bool:
    try:
        requests.get(f"{api}/health", timeout=2)
    except requests.RequestException:
        return False
    return True


def _tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
