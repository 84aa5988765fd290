"""`dbt build` on two years of two sandbox users, loaded by the real loader.

One warehouse per module: the sandbox serves two users with two years of history, both
are loaded with `pipelines.load.load`, then `pipelines.transform.transform` builds every
model and runs every data test and unit test. The checks here recompute from the raw
tables, in Python, what the marts promise: one daily_summary row per covered user-day,
the main sleep, one epoch per hypnogram character, nulls kept inside samples, heart-rate
samples equal to the raw ones, and an incremental build that rewrites only the days it
must and drops a person-day deleted at Oura. OURA_ELT_DBT_TEST_DAYS shortens the history
for quick local iterations.
"""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from marts_fixture import load_sandbox_users, sandbox_world

from pipelines.transform import (
    MARTS,
    generate_docs,
    mart_row_counts,
    recent_daily_summary,
    transform,
)
from sandbox.generate.profile import US_RESIDENT
from sandbox.truth import ground_truth

USERS = 2
HISTORY_DAYS = int(os.environ.get("OURA_ELT_DBT_TEST_DAYS", "730"))
DAILY_TABLES = (
    "daily_activity",
    "daily_readiness",
    "daily_sleep",
    "daily_spo2",
    "daily_stress",
    "daily_resilience",
    "daily_cardiovascular_age",
    "vo2_max",
    "sleep_time",
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(warehouse path, dbt target folder, build summary) of the module's warehouse."""
    folder = tmp_path_factory.mktemp("dbt-build")
    db = load_sandbox_users(folder, USERS, HISTORY_DAYS)
    target = folder / "dbt"
    return db, target, transform(db, target_path=target)


def query(db: Path, sql: str, *params) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def test_every_model_data_test_and_unit_test_passes(built):
    db, _, summary = built
    assert summary.models == 45
    assert summary.unit_tests == 16
    assert summary.tests > 200
    assert summary.warnings == []
    assert summary.created_raw_tables == []  # the loader created every table
    rows = mart_row_counts(db)
    assert set(rows) == set(MARTS)
    assert all(count > 0 for count in rows.values()), rows


def test_daily_summary_has_one_row_per_user_day_any_daily_collection_covers(built):
    db, _, _ = built
    expected: set[tuple] = set()
    for table in DAILY_TABLES:
        expected |= set(query(db, f"select user_id, day from oura_raw.{table}"))
    expected |= set(query(db, "select user_id, day from oura_raw.sleep where type != 'deleted'"))

    actual = query(db, "select user_id, summary_date from oura_marts.daily_summary")

    assert len(actual) == len(set(actual))
    assert set(actual) == expected
    assert {user for user, _ in actual} == {
        user for (user,) in query(db, "select user_id from oura_raw.personal_info")
    }


def test_the_main_sleep_is_the_long_sleep_else_the_longest_period_not_deleted(built):
    db, _, _ = built
    periods = defaultdict(list)
    for row in query(
        db,
        "select user_id, day, id, type, total_sleep_duration, time_in_bed, bedtime_start "
        "from oura_raw.sleep where type != 'deleted'",
    ):
        periods[(row[0], row[1])].append(row)
    expected = {
        key: max(rows, key=lambda r: (r[3] == "long_sleep", r[4] or 0, r[5] or 0, r[6]))[2]
        for key, rows in periods.items()
    }
    actual = dict(
        ((u, d), p)
        for u, d, p in query(
            db,
            "select user_id, summary_date, main_sleep_period_id from oura_marts.daily_summary "
            "where main_sleep_period_id is not null",
        )
    )

    assert actual == expected
    if HISTORY_DAYS >= 365:
        naps_only = [
            key for key, rows in periods.items() if all(r[3] != "long_sleep" for r in rows)
        ]
        assert naps_only, "two years of the sandbox have days without a long sleep"


def _allowed_gap(phases: str, code: str, epoch_seconds: int, time_in_bed: int) -> int:
    """What tests/reconciliation/sleep_epochs_add_up_to_stage_durations.sql allows."""
    cut = max(len(phases) * epoch_seconds - time_in_bed, 0)
    if epoch_seconds == 30:
        return cut + 30
    changes = sum((a == code) != (b == code) for a, b in zip(phases, phases[1:]))
    return cut + 300 + 150 * changes


def test_sleep_epochs_are_one_per_character_of_the_finest_hypnogram(built):
    db, _, summary = built
    raw = {
        row[0]: row[1:]
        for row in query(
            db,
            "select id, sleep_phase_30_sec, sleep_phase_5_min, time_in_bed, deep_sleep_duration, "
            "light_sleep_duration, rem_sleep_duration, awake_time from oura_raw.sleep",
        )
    }
    epochs = defaultdict(Counter)
    for pid, seconds, phase, n in query(
        db,
        "select sleep_period_id, epoch_seconds, sleep_phase_code, count(*) "
        "from oura_marts.sleep_epochs group by all",
    ):
        epochs[pid][seconds, phase] = n

    expected_warnings, gaps = set(), Counter()
    for pid, (thirty, five, tib, deep, light, rem, awake) in raw.items():
        used, seconds = (thirty, 30) if thirty else (five or "", 300)
        assert epochs[pid] == Counter((seconds, code) for code in used), pid
        for phases, size in ((thirty, 30), (five, 300)):
            if not phases:
                continue
            if not 0 <= len(phases) * size - tib < size:
                expected_warnings.add((pid, size, "time_in_bed"))
            for code, duration in (("1", deep), ("2", light), ("3", rem), ("4", awake)):
                gap = phases.count(code) * size - duration
                gaps[size, gap != 0] += 1
                if abs(gap) > _allowed_gap(phases, code, size, tib):
                    expected_warnings.add((pid, size, code))

    if HISTORY_DAYS >= 365:  # the history reaches back before sleep_phase_30_sec existed
        assert {seconds for counts in epochs.values() for seconds, _ in counts} == {30, 300}
    # Like Oura's, the sandbox's 5-minute strings disagree with the durations most of the time;
    # its 30-second ones add up.
    assert gaps[300, True] > gaps[300, False] / 2
    assert gaps[30, True] <= len(raw)  # at most the stage holding the cut last epoch
    stages = {"deep": "1", "light": "2", "rem": "3", "awake": "4", "time_in_bed": "time_in_bed"}
    warned = {
        (cells["sleep_period_id"], int(cells["epoch_seconds"]), stages[cells["compared"]])
        for row in summary.warned_rows.get("sleep_epochs_add_up_to_stage_durations", [])
        for cells in [dict(cell.split("=", 1) for cell in row.split(", "))]
    }
    assert warned == expected_warnings


def test_nulls_inside_sleep_samples_stay_null(built):
    db, _, _ = built
    nulls = items = 0
    for (sample,) in query(
        db, "select heart_rate from oura_raw.sleep where heart_rate is not null"
    ):
        values = json.loads(sample)["items"]
        items += len(values)
        nulls += sum(v is None for v in values)
    [(rows, null_rows)] = query(
        db,
        "select count(*), count(*) - count(heart_rate_bpm) "
        "from oura_intermediate.int_sleep_heart_rate_samples_unnested",
    )

    assert nulls > 0, "the sandbox should send nulls inside samples"
    assert (rows, null_rows) == (items, nulls)


def test_activity_minutes_take_every_met_item_and_class(built):
    db, _, _ = built
    per_day = query(
        db,
        "select coalesce(json_array_length(met, '$.items'), 0), coalesce(length(class_5_min), 0), "
        "coalesce(len(list_filter(cast(met->'items' as double[]), x -> x is not null)), 0) "
        "from oura_raw.daily_activity",
    )
    [(minutes, with_met, with_class, classes)] = query(
        db,
        "select count(*), count(met), count(activity_class_code), "
        "count(distinct daily_activity_id || '/' || class_index) from oura_marts.activity_minutes",
    )

    assert minutes == sum(max(met, 5 * chars) for met, chars, _ in per_day)
    assert with_met == sum(non_null for _, _, non_null in per_day)
    assert with_class == 5 * sum(chars for _, chars, _ in per_day)
    assert classes == sum(chars for _, chars, _ in per_day)


def test_heart_rate_samples_equal_the_raw_samples(built):
    db, _, _ = built
    raw = query(db, "select count(*), sum(bpm) from oura_raw.heartrate")
    mart = query(db, "select count(*), sum(heart_rate_bpm) from oura_marts.heart_rate_samples")
    assert raw == mart


# --------------------------------------- the person on US Pacific time (sandbox user 1)


@pytest.fixture(scope="module")
def us_truth():
    """(user id, {collection: [documents]}) of the US person, as the sandbox served them."""
    world = sandbox_world(USERS, HISTORY_DAYS)
    user = world.users[US_RESIDENT]
    found = defaultdict(list)
    for collection, doc in ground_truth(
        world,
        user.history_start - timedelta(days=2),
        world.local_today(US_RESIDENT),
        users=[US_RESIDENT],
        collections=[
            c
            for c in DAILY_TABLES + ("sleep", "workout", "session", "tag", "enhanced_tag")
            if c != "vo2_max"
        ]
        + ["vO2_max"],
    ):
        found[collection].append(doc)
    return user.user_id, found


def _local(text: str) -> datetime:
    """A document's local wall time (what the marts' `*_local` columns hold)."""
    return datetime.fromisoformat(text).replace(tzinfo=None)


def test_every_mart_puts_the_us_persons_documents_on_the_day_oura_gave_them(built, us_truth):
    db, _, _ = built
    user_id, truth = us_truth
    day_of = {
        doc["id"]: date.fromisoformat(doc.get("day") or doc["start_day"])
        for docs in truth.values()
        for doc in docs
    }
    checks = {
        "sleep_periods": "select sleep_period_id, sleep_date from oura_marts.sleep_periods",
        "sleep_epochs": "select distinct sleep_period_id, sleep_date from oura_marts.sleep_epochs",
        "workouts": "select workout_id, workout_date from oura_marts.workouts",
        "sessions": "select session_id, session_date from oura_marts.sessions",
        "tags": "select distinct tag_document_id, tag_date from oura_marts.tags",
        "score_contributors": (
            "select distinct document_id, score_date from oura_marts.score_contributors"
        ),
        "activity_minutes": (
            "select distinct daily_activity_id, activity_date from oura_marts.activity_minutes"
        ),
    }
    for mart, sql in checks.items():
        rows = query(db, f"{sql} where user_id = ?", user_id)
        assert rows, mart
        wrong = [(i, got, day_of.get(i)) for i, got in rows if day_of.get(i) != got]
        assert not wrong, f"{mart}: {len(wrong)} rows off Oura's day, e.g. {wrong[:3]}"
    # Every day Oura gave a daily document or a (not deleted) sleep period is a summary row.
    expected = {
        day_of[d["id"]]
        for c, docs in truth.items()
        for d in docs
        if c in DAILY_TABLES + ("vO2_max", "sleep") and d.get("type") != "deleted"
    }
    summary = [
        d
        for (d,) in query(
            db, "select summary_date from oura_marts.daily_summary where user_id = ?", user_id
        )
    ]
    assert sorted(summary) == sorted(expected)
    evening = [
        w
        for w in truth["workout"]
        if _local(w["start_datetime"]).date()
        != datetime.fromisoformat(w["start_datetime"]).astimezone(UTC).date()
    ]
    assert len(evening) >= 10, "the US person's evening workouts begin on the next UTC day"


def test_the_us_persons_local_evenings_are_assigned_as_oura_assigns_them(built, us_truth):
    """West of UTC a local evening is the next UTC day; the marts keep Oura's local day."""
    db, _, _ = built
    user_id, truth = us_truth
    # Workouts: the day of the local start, at its local wall time.
    marts = {
        w: (d, local)
        for w, d, local in query(
            db,
            "select workout_id, workout_date, started_local from oura_marts.workouts "
            "where user_id = ?",
            user_id,
        )
    }
    for doc in truth["workout"]:
        start = datetime.fromisoformat(doc["start_datetime"])
        assert marts[doc["id"]] == (date.fromisoformat(doc["day"]), _local(doc["start_datetime"]))
        assert start.date() == date.fromisoformat(doc["day"])
    # Sleep: a night belongs to its wake-up day; an evening nap to the day it was taken.
    sleeps = {
        p: (d, local)
        for p, d, local in query(
            db,
            "select sleep_period_id, sleep_date, bedtime_start_local from oura_marts.sleep_periods "
            "where user_id = ?",
            user_id,
        )
    }
    evening_naps = nights_from_the_evening = 0
    for doc in truth["sleep"]:
        day, local = sleeps[doc["id"]]
        assert (day, local) == (date.fromisoformat(doc["day"]), _local(doc["bedtime_start"]))
        if doc["type"] == "long_sleep" and local.date() < day:
            nights_from_the_evening += 1
        if doc["type"] == "late_nap":
            assert local.date() == day and local.hour >= 16
            evening_naps += 1
    assert nights_from_the_evening > 100 and evening_naps > 0
    # Activity minutes: 04:00 to 04:00 local; evening minutes stay on the activity day.
    activity = {d["id"]: d for d in truth["daily_activity"]}
    per_day = query(
        db,
        "select daily_activity_id, activity_date, min(minute_start_local), "
        "max(minute_start_local), count(*), "
        "min(timezone('UTC', minute_start_at)), "
        "count(*) filter (where cast(timezone('UTC', minute_start_at) as date) > activity_date "
        "and hour(minute_start_local) between 16 and 23) "
        "from oura_marts.activity_minutes where user_id = ? group by all",
        user_id,
    )
    with_minutes = {i for i, d in activity.items() if d["met"]["items"] or d["class_5_min"]}
    assert {row[0] for row in per_day} == with_minutes  # today may have no minute yet
    evening_minutes = 0
    for doc_id, day, first, last, minutes, first_utc, next_utc_day in per_day:
        doc = activity[doc_id]
        stamp = datetime.fromisoformat(doc["timestamp"])
        assert day == date.fromisoformat(doc["day"])
        assert (
            first
            == _local(doc["timestamp"])
            == datetime.combine(day, datetime.min.time()) + timedelta(hours=4)
        )
        assert first_utc == stamp.astimezone(UTC).replace(tzinfo=None)
        assert last < first + timedelta(days=1)
        assert minutes == max(len(doc["met"]["items"]), 5 * len(doc["class_5_min"] or ""))
        evening_minutes += next_utc_day
    assert evening_minutes > 100 * 60, "evening minutes of the US person fall on the next UTC day"


def test_the_us_persons_daily_summary_has_no_gap_or_double_day_at_a_clock_change(built, us_truth):
    db, _, _ = built
    user_id, truth = us_truth
    world = sandbox_world(USERS, HISTORY_DAYS)
    rows = query(
        db,
        "select summary_date, bedtime_start_utc_offset, steps from "
        "oura_marts.daily_summary where user_id = ? order by summary_date",
        user_id,
    )
    days = [d for d, _, _ in rows]
    assert days == [days[0] + timedelta(days=i) for i in range(len(days))], "a gap or a double day"
    at_home = {timedelta(hours=-8), timedelta(hours=-7)}
    changes = [
        d
        for d in days[1:]
        if {world.utc_offset(US_RESIDENT, d - timedelta(days=1)), world.utc_offset(US_RESIDENT, d)}
        == at_home
    ]
    if not changes:
        pytest.skip(f"{HISTORY_DAYS} days of history hold no clock change at home (printed reason)")
    steps = {date.fromisoformat(d["day"]): d["steps"] for d in truth["daily_activity"]}
    by_day = {d: (offset, s) for d, offset, s in rows}
    for change in changes:
        around = [change + timedelta(days=k) for k in (-2, -1, 0, 1, 2)]
        assert all(by_day[d][1] == steps[d] for d in around), change
        before, after = by_day[change - timedelta(days=2)][0], by_day[change + timedelta(days=1)][0]
        assert {before, after} == {"-07:00", "-08:00"}, (change, before, after)


def test_both_shapes_of_an_empty_spo2_day_are_no_value_in_the_marts(built):
    db, _, _ = built
    world = sandbox_world(USERS, HISTORY_DAYS)
    empty, values = defaultdict(set), {}
    for _, doc in ground_truth(
        world,
        world.users[0].history_start,
        max(world.local_today(u) for u in range(USERS)),
        collections=["daily_spo2"],
    ):
        key, held = (doc["user_id"], date.fromisoformat(doc["day"])), doc["spo2_percentage"]
        if held is None or held["average"] is None:
            empty["null" if held is None else "average null"].add(key)
        else:
            values[key] = held["average"]
    if len(empty) < 2:
        pytest.skip(f"{HISTORY_DAYS} days hold one shape of empty SpO2 day only (printed reason)")
    summary = {
        (u, d): v
        for u, d, v in query(
            db, "select user_id, summary_date, spo2_average_percent from oura_marts.daily_summary"
        )
    }
    staged = {
        (u, d): v
        for u, d, v in query(
            db,
            "select user_id, spo2_date, spo2_average_percent "
            "from oura_staging.stg_oura__daily_spo2_averages",
        )
    }
    for shape, days in empty.items():
        assert all(
            key in summary and summary[key] is None and key in staged and staged[key] is None
            for key in days
        ), shape
    assert values and all(summary.get(key) == value for key, value in values.items())


def test_recent_daily_summary_gives_the_last_week_per_user(built):
    db, _, _ = built
    rows = recent_daily_summary(db, days=7)
    assert len(rows) == 7 * USERS
    assert rows[0]["summary_date"] >= rows[1]["summary_date"]
    assert {"sleep_score", "readiness_score", "activity_score", "steps"} <= set(rows[0])


def test_docs_generate_describes_every_mart_and_column(built):
    db, target, _ = built
    folder = generate_docs(db, target_path=target)
    catalog = json.loads((folder / "catalog.json").read_text())
    manifest = json.loads((folder / "manifest.json").read_text())

    assert (folder / "index.html").exists()
    for name in MARTS:
        node = manifest["nodes"][f"model.oura.{name}"]
        assert node["description"].startswith("Grain: one row per"), name
        built_columns = set(catalog["nodes"][f"model.oura.{name}"]["columns"])
        described = {c for c, spec in node["columns"].items() if spec.get("description")}
        assert built_columns == described, (name, built_columns ^ described)


def test_an_incremental_build_rewrites_only_the_days_it_must(built):
    """Runs last in the module: it revises raw samples and rebuilds heart_rate_samples."""
    db, target, _ = built
    days = [
        d
        for (d,) in query(
            db, "select distinct measured_date from oura_marts.heart_rate_samples order by 1"
        )
    ]
    revised_day, untouched_day, emptied_day = days[10], days[20], days[30]
    with duckdb.connect(str(db)) as con:
        # The loader re-fetched one old day: new load id, one sample revised, one gone.
        con.execute(
            """
            update oura_raw.heartrate set _dlt_load_id = '9999999999.5', bpm = bpm + 1
            where cast(timezone('UTC', "timestamp") as date) = ?""",
            [revised_day],
        )
        con.execute(
            """
            delete from oura_raw.heartrate where (user_id, "timestamp") in (
                select user_id, min("timestamp") from oura_raw.heartrate
                where cast(timezone('UTC', "timestamp") as date) = ? group by user_id limit 1)""",
            [revised_day],
        )
        # Every sample of one person's old day deleted at Oura and the day re-read: the
        # day's raw rows are gone, and no raw row of it has a new load id.
        [(emptied_user,)] = con.execute(
            "select min(user_id) from oura_raw.heartrate"
            " where cast(timezone('UTC', \"timestamp\") as date) = ?",
            [emptied_day],
        ).fetchall()
        con.execute(
            """
            delete from oura_raw.heartrate
            where user_id = ? and cast(timezone('UTC', "timestamp") as date) = ?""",
            [emptied_user, emptied_day],
        )
        # A mark on a day nobody touched: only a full rebuild would erase it.
        con.execute(
            "update oura_marts.heart_rate_samples set heart_rate_bpm = -1 where measured_date = ?",
            [untouched_day],
        )

    transform(db, target_path=target, select=["heart_rate_samples"], exclude=["test_type:singular"])

    raw_day = query(
        db,
        "select count(*), sum(bpm) from oura_raw.heartrate "
        "where cast(timezone('UTC', \"timestamp\") as date) = ?",
        revised_day,
    )
    mart_day = query(
        db,
        "select count(*), sum(heart_rate_bpm) from oura_marts.heart_rate_samples "
        "where measured_date = ?",
        revised_day,
    )
    assert mart_day == raw_day
    emptied = query(
        db,
        "select count(*) from oura_marts.heart_rate_samples"
        " where user_id = ? and measured_date = ?",
        emptied_user,
        emptied_day,
    )
    assert emptied == [(0,)], "the samples of a day deleted at Oura must leave the mart"
    others = query(
        db,
        "select count(*) from oura_marts.heart_rate_samples"
        " where user_id <> ? and measured_date = ?",
        emptied_user,
        emptied_day,
    )
    assert others == query(
        db,
        "select count(*) from oura_raw.heartrate where user_id <> ? "
        "and cast(timezone('UTC', \"timestamp\") as date) = ?",
        emptied_user,
        emptied_day,
    )
    assert others[0][0] > 0, "the other person's samples of that day stay"
    [(marked,)] = query(
        db, "select count(*) from oura_marts.heart_rate_samples where heart_rate_bpm = -1"
    )
    assert marked > 0, "an incremental build must not rebuild untouched days"

    transform(db, target_path=target, select=["heart_rate_samples"], full_refresh=True)
    assert query(
        db, "select count(*) from oura_marts.heart_rate_samples where heart_rate_bpm = -1"
    ) == [(0,)]
    assert query(db, "select count(*), sum(bpm) from oura_raw.heartrate") == query(
        db, "select count(*), sum(heart_rate_bpm) from oura_marts.heart_rate_samples"
    )
