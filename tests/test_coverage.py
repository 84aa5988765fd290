"""`data_coverage` and `data_freshness` against the sandbox's ground truth, and
`dbt source freshness` through the project's runner, on a warehouse the real loader and
the real `dbt build` made (`gap_fixture`): user 2's ring had stopped syncing 2.5 days
before the load.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import duckdb
import pytest
from gap_fixture import GAP_USER, USERS, build_marts, gap_warehouse, load_everyone, sandbox_settings

from sandbox.truth import NOT_SYNCED_YET, PRESENT, SLEEP_STATUSES, sleep_statuses

pytestmark = pytest.mark.slow

FRESHNESS_TABLES = [
    "_oura_load_progress",
    "daily_activity",
    "daily_readiness",
    "daily_sleep",
    "heartrate",
    "ring_battery_level",
    "sleep",
]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    return gap_warehouse(tmp_path_factory)


def mart_statuses(db, user_id: str) -> dict:
    with duckdb.connect(str(db), read_only=True) as con:
        return dict(
            con.execute(
                "select coverage_date, sleep_status from oura_marts.data_coverage"
                " where user_id = ?",
                [user_id],
            ).fetchall()
        )


def test_every_days_sleep_status_equals_the_ground_truth(warehouse):
    world = warehouse.world()
    seen = Counter()
    for user in range(USERS):
        first, last = world.users[user].history_start, world.local_today(user)
        truth = sleep_statuses(world, user, first, last)
        mart = mart_statuses(warehouse.db, world.users[user].user_id)
        assert mart == truth, {
            d: (mart.get(d), truth.get(d))
            for d in mart.keys() | truth.keys()
            if mart.get(d) != truth.get(d)
        }
        seen.update(truth.values())
    assert set(seen) == set(SLEEP_STATUSES), seen  # every case is there to compare
    waiting = [
        d
        for d, s in mart_statuses(warehouse.db, world.users[GAP_USER].user_id).items()
        if s == NOT_SYNCED_YET
    ]
    assert len(waiting) >= 2  # the ring stopped 60 hours before the load


def test_the_evidence_beside_each_status_tells_the_cases_apart(warehouse):
    with duckdb.connect(str(warehouse.db), read_only=True) as con:
        rows = con.execute(
            "select sleep_status, min(night_rest_heart_rate_sample_count), "
            "max(night_rest_heart_rate_sample_count), max(night_non_wear_share), "
            "bool_and(is_worn_at_night), bool_or(is_worn_at_night), "
            "bool_and(ring_last_contact_at < night_over_at) "
            "from oura_marts.data_coverage group by 1"
        ).fetchall()
    evidence = {row[0]: row[1:] for row in rows}
    assert evidence["not_worn"][1] == 0 and evidence["not_worn"][4] is False  # no resting samples
    assert evidence["not_worn"][2] > 0.25  # non-wear through the night
    assert evidence["no_record"][0] >= 40 and evidence["no_record"][3] is True  # worn all night
    assert evidence["not_synced_yet"][5] is True  # the ring went quiet before the night was over
    assert evidence["present"][5] is False


def test_after_the_ring_syncs_the_waiting_nights_arrive_and_turn_present(warehouse, tmp_path):
    from sandbox.runner import start_in_thread

    world = warehouse.world()
    user_id = world.users[GAP_USER].user_id
    before = mart_statuses(warehouse.db, user_id)
    waiting = sorted(d for d, s in before.items() if s == NOT_SYNCED_YET)
    db = warehouse.copy(tmp_path)
    later = warehouse.resumed + timedelta(days=1)
    running = start_in_thread(sandbox_settings(later))
    try:
        load_everyone(running.base_url, db, warehouse.home, later)  # the nightly load, later
    finally:
        running.stop()
    build_marts(db, later, tmp_path / "dbt")

    world.set_now(later)
    after = mart_statuses(db, user_id)
    assert after == sleep_statuses(
        world, GAP_USER, world.users[GAP_USER].history_start, world.local_today(GAP_USER)
    )
    arrived = [d for d in waiting if after[d] == PRESENT]
    assert len(arrived) >= 2 and all(after[d] != NOT_SYNCED_YET for d in waiting), after
    assert {d: after[d] for d in before if d not in waiting} == {
        d: s for d, s in before.items() if d not in waiting
    }


def test_freshness_names_the_newest_document_and_the_last_load_per_collection(warehouse):
    world = warehouse.world()
    with duckdb.connect(str(warehouse.db), read_only=True) as con:
        rows = con.execute(
            "select user_id, collection_name, newest_document_at, last_loaded_at, "
            "last_load_end_date, checked_at, document_lag_seconds "
            "from oura_marts.data_freshness where collection_name = 'heartrate'"
        ).fetchall()
        newest = dict(
            con.execute(
                "select user_id, max(timestamp) from oura_raw.heartrate group by 1"
            ).fetchall()
        )
        per_user = dict(
            con.execute(
                "select user_id, count(*) from oura_marts.data_freshness group by 1"
            ).fetchall()
        )
    assert len(rows) == USERS and set(per_user.values()) == {17}  # every dated collection
    for user_id, _, newest_at, loaded_at, end_date, checked_at, lag in rows:
        assert newest_at == newest[user_id]
        assert loaded_at == checked_at == warehouse.clock
        assert end_date >= warehouse.clock.date()
        assert lag == int((warehouse.clock - newest_at).total_seconds())
    gap_lag = {r[0]: r[6] for r in rows}[world.users[GAP_USER].user_id]
    # the ring stopped syncing 60 h before the load; its last sample came shortly before
    assert timedelta(hours=60) <= timedelta(seconds=gap_lag) < timedelta(hours=61)
    assert all(
        lag < 3600
        for user_id, lag in ((r[0], r[6]) for r in rows)
        if user_id != world.users[GAP_USER].user_id
    )


def test_dbt_source_freshness_runs_through_the_runner_against_the_raw_tables(
    warehouse, tmp_path, monkeypatch
):
    from pipelines.transform import source_freshness

    db = warehouse.copy(tmp_path)
    results = {}
    for hours in (0, 50, 100):
        monkeypatch.setenv("OURA_ELT_NOW", (warehouse.clock + timedelta(hours=hours)).isoformat())
        results[hours] = {r.table: r for r in source_freshness(db, target_path=tmp_path / "dbt")}
    assert sorted(results[0]) == FRESHNESS_TABLES
    with duckdb.connect(str(db), read_only=True) as con:
        [(newest,)] = con.execute("select max(timestamp) from oura_raw.heartrate").fetchall()
    heartrate = results[0]["heartrate"]
    assert heartrate.newest_at == newest and heartrate.checked_at == warehouse.clock
    assert heartrate.age_seconds == (warehouse.clock - newest).total_seconds()
    assert {r.status for r in results[0].values()} == {"pass"}
    # The project's thresholds: 36 h / 72 h for samples and the last load, 48 h / 96 h for
    # documents of a day (measured from the start of their day).
    for hours, found in results.items():
        for table, result in found.items():
            warn, error = (
                (36, 72)
                if table in ("heartrate", "ring_battery_level", "_oura_load_progress")
                else (48, 96)
            )
            age = result.age_seconds / 3600
            expected = "pass" if age < warn else "warn" if age < error else "error"
            assert result.status == expected, (hours, table, age)
    assert results[50]["heartrate"].status == results[50]["_oura_load_progress"].status == "warn"
    assert {r.status for r in results[100].values()} == {"error"}
    assert (tmp_path / "dbt" / "sources.json").is_file()  # dbt's own artifact, as by hand
