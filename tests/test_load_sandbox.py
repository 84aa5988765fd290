"""`pipelines.load.load` against the real sandbox server, into real DuckDB files.

Ground truth is the sandbox's `World`; every comparison is exact (every document
once, identical values, nothing else).
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from conftest import CLOCK
from load_truth import assert_warehouse_equals_truth, day_before, read_table, snapshot

from oura_elt.commands.sandbox import sandbox_endpoints
from pipelines.auth import StaticTokenProvider
from pipelines.load import load
from pipelines.oura.helpers import RetryPolicy
from pipelines.oura.kinds import latest_day
from pipelines.oura.ratelimit import RateBudget
from pipelines.oura.settings import ALL_NAMES, BY_NAME, DAILY

FAST_RETRIES = RetryPolicy(backoff_seconds=0.01, max_backoff_seconds=0.05, read_timeout=5)


def run_load(sandbox, db, user=0, **kwargs):
    """One user's load with a static sandbox token."""
    kwargs.setdefault("now", sandbox.world.now)
    kwargs.setdefault("policy", FAST_RETRIES)
    kwargs.setdefault("provider", StaticTokenProvider(f"sandbox-pat-{user}", profile=f"user{user}"))
    kwargs.setdefault("budget", RateBudget(10_000, 1))
    return load(
        f"user{user}", endpoints=sandbox_endpoints(sandbox.base_url), duckdb_path=db, **kwargs
    )


def truth_span(world):
    """The whole history of every user, through the latest local today."""
    start = day_before(min(u.history_start for u in world.users))
    return start, latest_day(world.now)


def test_full_load_of_two_users_equals_the_ground_truth(sandbox, tmp_path):
    db = tmp_path / "oura.duckdb"
    summaries = [run_load(sandbox, db, user) for user in (0, 1)]

    counts = assert_warehouse_equals_truth(db, sandbox.world, *truth_span(sandbox.world))
    assert (
        counts["heartrate"] > 10_000 and counts["sleep"] > 60 and counts["ring_configuration"] >= 2
    )
    for user, summary in zip((0, 1), summaries):
        assert summary.ok and not summary.skipped
        assert summary.user_id == sandbox.world.users[user].user_id
        assert summary.start <= sandbox.world.users[user].history_start
    with duckdb.connect(str(db), read_only=True) as con:
        types = dict(
            con.execute(
                "SELECT table_name || '.' || column_name, data_type"
                " FROM information_schema.columns WHERE table_schema = 'oura_raw'"
            ).fetchall()
        )
        tables = {
            t
            for (t,) in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'oura_raw'"
            ).fetchall()
        }
    assert set(ALL_NAMES) <= tables  # every collection has its table, even when empty
    assert not any(
        "__" in t for t in tables - {"_dlt_loads"}
    )  # no child tables: one row per document
    assert types["sleep.day"] == "DATE" and types["enhanced_tag.start_day"] == "DATE"
    assert types["sleep.bedtime_start"] == "TIMESTAMP WITH TIME ZONE"
    assert types["sleep.bedtime_start_utc_offset"] == "VARCHAR"
    assert (
        types["heartrate.timestamp"] == "TIMESTAMP WITH TIME ZONE"
        and types["heartrate.bpm"] == "BIGINT"
    )
    assert types["sleep.heart_rate"] == "JSON" and types["tag.tags"] == "JSON"
    assert types["daily_readiness.contributors__hrv_balance"] == "BIGINT"
    assert types["sleep.average_heart_rate"] == "DOUBLE"


def test_the_default_worlds_people_load_exactly_across_the_us_persons_clock_change(
    sandbox_factory, tmp_path
):
    """The default world (seed 0, two people): user 1 lives on US Pacific time and the
    window holds a clock change at home (2026-11-01, -07:00 to -08:00)."""
    sb = sandbox_factory(seed=0, users=2, history_days=70)
    world = sb.world
    offsets = {world.utc_offset(1, date(2026, 10, 31)), world.utc_offset(1, date(2026, 11, 1))}
    assert offsets == {timedelta(hours=-7), timedelta(hours=-8)}
    assert world.users[1].history_start < date(2026, 10, 31)
    db = tmp_path / "oura.duckdb"
    summaries = [run_load(sb, db, user) for user in (0, 1)]
    assert all(summary.ok for summary in summaries)
    counts = assert_warehouse_equals_truth(db, world, *truth_span(world))
    assert counts["daily_activity"] > 100 and counts["heartrate"] > 50_000


def test_both_shapes_of_an_empty_spo2_day_load_as_no_value(sandbox_factory, tmp_path):
    """Content-free SpO2 days come as `"spo2_percentage": null` and as
    `{"average": null}` (api-reference §12); both load, as a null average."""
    sb = sandbox_factory(users=1, history_days=400)
    db = tmp_path / "oura.duckdb"
    run_load(sb, db, collections=["daily_spo2"])
    assert_warehouse_equals_truth(db, sb.world, *truth_span(sb.world), collections=["daily_spo2"])
    shapes: dict[str, list[str]] = {"null": [], "empty": [], "value": []}
    day = sb.world.users[0].history_start
    while day <= sb.world.local_today(0):
        for doc in sb.world.documents(0, "daily_spo2", day):
            held = doc["spo2_percentage"]
            kind = "null" if held is None else "value" if held["average"] is not None else "empty"
            shapes[kind].append(doc["id"])
        day += timedelta(days=1)
    assert all(shapes.values()), {kind: len(ids) for kind, ids in shapes.items()}
    with duckdb.connect(str(db), read_only=True) as con:
        averages = dict(
            con.execute("SELECT id, spo2_percentage__average FROM oura_raw.daily_spo2").fetchall()
        )
    for kind in ("null", "empty"):  # `null`, and `{"average": null}`
        assert [averages[i] for i in shapes[kind]] == [None] * len(shapes[kind]), kind
    assert all(averages[i] is not None for i in shapes["value"])


def test_a_second_run_asks_about_once_per_collection_and_changes_nothing(sandbox_factory, tmp_path):
    sandbox = sandbox_factory(users=1, history_days=25)
    db = tmp_path / "oura.duckdb"
    run_load(sandbox, db)
    before = snapshot(db, ALL_NAMES)
    sandbox.reset_stats()

    summary = run_load(sandbox, db)

    stats = sandbox.stats()
    for collection in BY_NAME.values():
        asked = stats.get(f"user:0:route:{collection.route}", 0)
        if collection.kind == DAILY or collection.name in ("personal_info", "ring_configuration"):
            assert asked == 1, f"{collection.name}: {asked} requests"
        else:  # a week of samples: one window, a few pages
            assert 1 <= asked <= 10, f"{collection.name}: {asked} requests"
    assert summary.chunks == 1 and summary.requests == stats["requests"]
    assert snapshot(db, ALL_NAMES) == before
    assert not summary.deleted


CHURNING = ("sleep", "workout", "tag", "enhanced_tag")


def _doomed_documents(world, user, clock):
    """Documents visible at `clock` that the sandbox deletes by two days later."""
    world.set_now(clock)
    today = world.local_today(user)
    visible = {
        (c, d["id"])
        for c in CHURNING
        for day in (today - timedelta(days=1), today)
        for d in world.documents(user, c, day)
    }
    world.set_now(clock + timedelta(days=2, hours=3))
    later = {
        (c, d["id"])
        for c in CHURNING
        for day in (today - timedelta(days=1), today)
        for d in world.documents(user, c, day)
    }
    world.set_now(clock)
    return visible - later


def test_revisions_late_documents_and_deletions_are_picked_up(sandbox, tmp_path):
    world = sandbox.world
    clock = next(
        CLOCK - timedelta(days=k)
        for k in range(40)
        if _doomed_documents(world, 0, CLOCK - timedelta(days=k))
    )
    doomed = _doomed_documents(world, 0, clock)
    sandbox.admin("clock", {"now": clock.isoformat()})
    db = tmp_path / "oura.duckdb"
    collections = [*CHURNING, "daily_activity"]
    run_load(sandbox, db, collections=collections)
    stored = {(t, r["id"]) for t in CHURNING for r in read_table(db, t)}
    assert doomed <= stored
    old_activity = {r["id"]: r["steps"] for r in read_table(db, "daily_activity")}

    sandbox.advance(days=2, seconds=3 * 3600)
    summary = run_load(sandbox, db, collections=collections)

    assert_warehouse_equals_truth(db, world, *truth_span(world), users=[0], collections=collections)
    stored = {(t, r["id"]) for t in CHURNING for r in read_table(db, t)}
    assert not doomed & stored, "documents deleted at Oura are still in the warehouse"
    assert sum(summary.deleted.values()) >= len(doomed)
    new_activity = {r["id"]: r["steps"] for r in read_table(db, "daily_activity")}
    revised = [i for i in old_activity if new_activity.get(i) != old_activity[i]]
    assert revised, "recent daily_activity documents are revised by the sandbox; none changed"


@pytest.mark.parametrize("hour", [1, 13, 23])
def test_today_is_never_lost(sandbox_factory, tmp_path, hour):
    """Whatever the hour and the user's offset, today's documents are loaded."""
    clock = CLOCK.replace(hour=hour, minute=30)
    sb = sandbox_factory(users=2, history_days=10, now=clock)
    db = tmp_path / "oura.duckdb"
    for user in (0, 1):
        run_load(sb, db, user, collections=["daily_activity", "daily_stress", "heartrate"])
    active = [u for u in (0, 1) if sb.world.users[u].history_start < sb.world.local_today(u)]
    assert 0 in active
    for user in active:
        today = sb.world.local_today(user)
        assert_warehouse_equals_truth(
            db,
            sb.world,
            *truth_span(sb.world),
            users=[user],
            collections=["daily_activity", "daily_stress"],
        )
        days = {
            r["day"]
            for r in read_table(db, "daily_activity")
            if r["user_id"] == sb.world.users[user].user_id
        }
        assert today in days
        latest_hr = max(
            r["timestamp"]
            for r in read_table(db, "heartrate")
            if r["user_id"] == sb.world.users[user].user_id
        )
        assert clock - latest_hr < timedelta(hours=1)


def test_an_explicit_range_loads_exactly_that_range(sandbox, tmp_path):
    db = tmp_path / "oura.duckdb"
    start = CLOCK.date() - timedelta(days=20)
    end = CLOCK.date() - timedelta(days=12)
    summary = run_load(
        sandbox, db, start_date=start, end_date=end, collections=["sleep", "workout", "heartrate"]
    )
    assert (summary.start, summary.end) == (start, end)
    assert_warehouse_equals_truth(
        db, sandbox.world, start, end, users=[0], collections=["sleep", "workout", "heartrate"]
    )


@pytest.mark.parametrize("seed", [7, 3])  # seed 3: the ring's set-up time is unknown, so probe
def test_history_start_is_found_from_rings_or_by_probing(sandbox_factory, tmp_path, seed):
    from pipelines.load import history_start

    sb = sandbox_factory(users=1, history_days=60, seed=seed)
    rings = sb.world.ring_configurations(0)
    first = history_start(
        sandbox_endpoints(sb.base_url),
        StaticTokenProvider("sandbox-pat-0"),
        RateBudget(10_000, 1),
        sb.world.now,
    )
    actual = sb.world.users[0].history_start
    if any(r["set_up_at"] is None for r in rings):
        # Probing finds the oldest local day; the load starts a day before it, where that
        # day's time series begin in UTC for anyone east of Greenwich.
        assert first == actual - timedelta(days=1)
    else:
        assert actual - timedelta(days=301) <= first <= actual  # a day before the ring's set-up
    summary = run_load(sb, tmp_path / "oura.duckdb", collections=["daily_activity"])
    assert summary.start == first
    assert_warehouse_equals_truth(
        tmp_path / "oura.duckdb", sb.world, *truth_span(sb.world), collections=["daily_activity"]
    )


def test_loads_into_one_warehouse_commit_in_turn(sandbox, tmp_path):
    """Two people's loads at once into one DuckDB file: never two holders of the warehouse
    at once, both succeed, and the warehouse equals the ground truth."""
    import threading
    from contextlib import contextmanager

    from pipelines.core import locks

    db = tmp_path / "oura.duckdb"
    holders: list[str] = []
    most_at_once = 0

    def lock_for(name):
        @contextmanager
        def hold():
            nonlocal most_at_once
            with locks.warehouse_lock("duckdb", db, "oura_raw"):
                holders.append(name)
                most_at_once = max(most_at_once, len(holders))
                try:
                    yield
                finally:
                    holders.remove(name)

        return hold

    results = {}

    def run(user):
        name = f"user{user}"
        results[name] = run_load(sandbox, db, user, chunk_days=15, warehouse_lock=lock_for(name))

    threads = [threading.Thread(target=run, args=(u,)) for u in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert all(results[f"user{u}"].ok for u in (0, 1)), results
    assert most_at_once == 1
    assert_warehouse_equals_truth(db, sandbox.world, *truth_span(sandbox.world))


def test_a_load_fetches_while_the_warehouse_is_locked(sandbox, tmp_path):
    """Requests go out while the warehouse lock is held: a load takes the lock only to read
    what is stored and to commit, so another writer's commit never stops its fetching. The
    gate below, the load's own lock, holds it at the load's first read of what is stored
    (after its first windows were planned) until the server sees a new request (each takes
    200 ms). Were fetching to need the lock, no request could arrive and the gate would give
    up after 60 s."""
    from contextlib import contextmanager

    from pipelines.core import locks
    from pipelines.oura.runtime import NullReporter

    db = tmp_path / "oura.duckdb"
    sandbox.faults(latency_ms=200)
    planned = False
    arrived: list[bool] = []

    class Watch(NullReporter):
        def planned(self, collection, windows):
            nonlocal planned
            planned = planned or windows > 0

    def served() -> int:
        return sandbox.state.stats["requests"]

    @contextmanager
    def gate():
        with locks.warehouse_lock("duckdb", db, "oura_raw"):
            if planned and not arrived:
                before = served()
                deadline = time.monotonic() + 60
                while served() == before and time.monotonic() < deadline:
                    time.sleep(0.01)
                arrived.append(served() > before)
            yield

    summary = run_load(
        sandbox,
        db,
        0,
        collections=["daily_sleep", "sleep", "heartrate", "daily_activity"],
        start_date=sandbox.world.users[0].history_start,
        chunk_days=10,
        warehouse_lock=gate,
        reporter=Watch(),
    )
    assert summary.ok, summary
    assert summary.chunks > 1
    assert arrived == [True]


def test_a_second_load_of_the_same_profile_waits_for_the_first(sandbox, tmp_path):
    from pipelines.core import locks
    from pipelines.warehouse import make_pipeline

    db = tmp_path / "oura.duckdb"
    pipeline, _ = make_pipeline("user0", "duckdb", db, "oura_raw")
    folder_lock = Path(pipeline.pipelines_dir) / f"{pipeline.pipeline_name}{locks.LOCK_SUFFIX}"
    import threading

    done = threading.Event()
    with locks.hold(folder_lock, "test"):
        thread = threading.Thread(
            target=lambda: (run_load(sandbox, db, 0, collections=["daily_sleep"]), done.set())
        )
        thread.start()
        assert not done.wait(3), "the load ran while another load of its profile held the folder"
    thread.join(timeout=120)
    assert done.is_set()


def test_one_document_by_id_and_a_gone_one_is_none(sandbox):
    """What the webhook worker fetches: a document by id; a 404 for an id is an answer."""
    from pipelines.core.errors import OuraEltError
    from pipelines.oura.helpers import OuraClient

    day = sandbox.world.users[0].history_start + timedelta(days=3)
    listed = sandbox.get(
        "/v2/usercollection/sleep",
        start_date=day.isoformat(),
        end_date=(day + timedelta(days=2)).isoformat(),
    ).json()["data"]
    assert listed
    client = OuraClient(
        sandbox.base_url, StaticTokenProvider("sandbox-pat-0"), RateBudget(10_000, 1), FAST_RETRIES
    )
    try:
        assert client.fetch_document(BY_NAME["sleep"], listed[0]["id"]) == listed[0]
        assert client.fetch_document(BY_NAME["sleep"], "no-such/document") is None
    finally:
        client.close()
    rejected = OuraClient(
        sandbox.base_url, StaticTokenProvider("not-a-token"), RateBudget(10_000, 1), FAST_RETRIES
    )
    try:
        with pytest.raises(OuraEltError):  # other failures are still failures, not "gone"
            rejected.fetch_document(BY_NAME["sleep"], listed[0]["id"])
    finally:
        rejected.close()


def test_days_a_ring_delivers_after_more_than_the_lookback_are_still_read(tmp_path):
    """A ring that stops syncing for days, then catches up after more than the lookback has
    passed: the next load reads again from a lookback before the ring's last contact, so the
    late days are not settled unread (user 2 of the gap world; a lookback of the 3 days the
    sandbox restates, loads 3.5 days or more apart around a sync gap of 3 days or more)."""
    from gap_fixture import GAP_USER, gap_sync, sandbox_settings

    from sandbox.runner import start_in_thread
    from sandbox.world import World

    world = World(seed=7, users=3, now=CLOCK, history_start=date(2026, 7, 25))
    stopped, resumed = gap_sync(world)
    db = tmp_path / "oura.duckdb"
    later = resumed + timedelta(days=3)
    for clock in (stopped + timedelta(hours=60), later):
        running = start_in_thread(sandbox_settings(clock))
        try:
            handle = type(
                "Handle", (), {"base_url": running.base_url, "world": running.sandbox.world}
            )
            summary = run_load(handle, db, GAP_USER, lookback_days=3, now=clock)
            assert summary.ok, summary.failed
        finally:
            running.stop()
    truth = World(seed=7, users=3, now=later, history_start=date(2026, 7, 25))
    assert_warehouse_equals_truth(db, truth, *truth_span(truth), users=[GAP_USER])
