"""The sandbox world generator: determinism, spec conformance, internal consistency, clock."""

from __future__ import annotations

import itertools
import json
import math
import time
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from sandbox.generate import lifecycle
from sandbox.generate.activity import ACTIVITY_WEIGHTS
from sandbox.generate.sleep import READINESS_WEIGHTS, SLEEP_WEIGHTS, weighted_score
from sandbox.world import COLLECTION_SCHEMAS, DAY_COLLECTIONS, World

SPEC_PATH = Path("/work/shared/oura/openapi-1.35.json")
NOW = datetime(2025, 3, 1, 15, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def world() -> World:
    return World(seed=7, users=2, now=NOW)


def _days(world: World, user: int, count: int, skip: int = 0) -> list[date]:
    start = world.users[user].history_start + timedelta(days=skip)
    return [start + timedelta(days=i) for i in range(count)]


def _local_noon(world: World, user: int, day: date) -> datetime:
    return (
        datetime.combine(day, datetime.min.time(), UTC)
        + timedelta(hours=12)
        - world.utc_offset(user, day)
    )


def _offset_text(offset: timedelta) -> str:
    minutes = int(offset.total_seconds() // 60)
    return f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


# ------------------------------------------------------------------ determinism


def test_same_seed_gives_identical_documents_and_series():
    first, second, other = World(seed=3, now=NOW), World(seed=3, now=NOW), World(seed=4, now=NOW)
    day = first.users[0].history_start + timedelta(days=100)
    assert first.users == second.users
    assert first.users[0].user_id != other.users[0].user_id
    for collection in DAY_COLLECTIONS:
        assert first.documents(0, collection, day) == second.documents(0, collection, day)
    window = (_local_noon(first, 0, day) - timedelta(hours=6), _local_noon(first, 0, day))
    assert list(first.series(0, "heartrate", *window)) == list(
        second.series(0, "heartrate", *window)
    )
    assert first.documents(0, "daily_activity", day) != other.documents(0, "daily_activity", day)
    assert (
        first.documents(0, "sleep_time", day)[0]["id"]
        != other.documents(0, "sleep_time", day)[0]["id"]
    )


def test_documents_are_fresh_copies(world):
    day = world.users[0].history_start + timedelta(days=50)
    docs = world.documents(0, "daily_activity", day)
    docs[0]["met"]["items"].clear()
    docs[0]["steps"] = -1
    again = world.documents(0, "daily_activity", day)[0]
    assert len(again["met"]["items"]) == 1440 and again["steps"] >= 0


# ------------------------------------------------------------------ the spec


@pytest.fixture(scope="module")
def validators():
    if not SPEC_PATH.exists():
        pytest.skip(f"Oura spec not found at {SPEC_PATH}; schema checks need it")
    from jsonschema import Draft202012Validator, FormatChecker
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    spec = json.loads(SPEC_PATH.read_text())
    registry = Registry().with_resource(
        "urn:oura", Resource.from_contents(spec, default_specification=DRAFT202012)
    )
    schemas = spec["components"]["schemas"]
    return {
        collection: (
            Draft202012Validator(
                {"$ref": f"urn:oura#/components/schemas/{name}"},
                registry=registry,
                format_checker=FormatChecker(),
            ),
            set(schemas[name]["properties"]),
        )
        for collection, name in COLLECTION_SCHEMAS.items()
    }


# Fields newer than older documents, absent from those as from Oura's 2024 ones (when each
# is present is tested on its own: test_nights_are_staged_in_30_seconds_...).
NEWER_FIELDS = {"sleep": {"sleep_phase_30_sec"}}


def _check(validators, collection: str, document: dict) -> None:
    from oura_spec import without_known_deviations

    validator, properties = validators[collection]
    valid_form = without_known_deviations(COLLECTION_SCHEMAS[collection], document)
    errors = [f"{list(e.path)}: {e.message[:160]}" for e in validator.iter_errors(valid_form)]
    assert not errors, f"{collection} {document.get('id')}: {errors[:3]}"
    missing = properties - set(document) - NEWER_FIELDS.get(collection, set())
    assert set(document) <= properties and not missing, (
        f"{collection}: fields differ from spec: {set(document) - properties} {missing}"
    )


def test_every_document_validates_against_spec(world, validators):
    seen: Counter = Counter()
    sleep_types: set[str] = set()
    nulls: Counter = Counter()
    heavy = {"daily_activity", "sleep"}  # big arrays: validate a sample of days only
    for user in range(2):
        for number, day in enumerate(_days(world, user, 300)):
            for collection in DAY_COLLECTIONS:
                if collection in heavy and number >= 30:
                    if collection != "sleep":
                        continue
                    docs = [
                        d
                        for d in world.documents(user, collection, day)
                        if d["type"] not in sleep_types
                    ]
                else:
                    docs = world.documents(user, collection, day)
                for document in docs:
                    _check(validators, collection, document)
                    seen[collection] += 1
                    if collection == "sleep":
                        sleep_types.add(document["type"])
                    if collection == "daily_spo2" and document["spo2_percentage"] is None:
                        nulls["spo2_percentage"] += 1
                    if collection == "daily_spo2" and document["spo2_percentage"] == {
                        "average": None
                    }:
                        nulls["spo2_percentage.average"] += 1
                    if collection == "daily_stress" and document["day_summary"] is None:
                        nulls["day_summary"] += 1
        for row in world.series(user, "heartrate", NOW - timedelta(days=2), NOW):
            _check(validators, "heartrate", row)
            seen["heartrate"] += 1
        for row in world.series(user, "ring_battery_level", NOW - timedelta(days=2), NOW):
            _check(validators, "ring_battery_level", row)
            seen["ring_battery_level"] += 1
        for ring in world.ring_configurations(user):
            _check(validators, "ring_configuration", ring)
            seen["ring_configuration"] += 1
        _check(validators, "personal_info", world.personal_info(user))
    assert set(seen) == set(DAY_COLLECTIONS) | {
        "heartrate",
        "ring_battery_level",
        "ring_configuration",
    }
    assert sleep_types == {"long_sleep", "sleep", "late_nap", "rest", "deleted"}
    assert nulls["spo2_percentage"] and nulls["spo2_percentage.average"] and nulls["day_summary"]


def test_types_match_real_payloads(world):
    day = world.users[0].history_start + timedelta(days=40)
    main = next(d for d in world.documents(0, "sleep", day) if d["type"] == "long_sleep")
    assert isinstance(main["average_heart_rate"], float) and isinstance(main["average_hrv"], int)
    assert main["heart_rate"]["interval"] == 300.0 and main["sleep_algorithm_version"] == "v2"
    resilience = world.documents(0, "daily_resilience", day)[0]
    assert all(isinstance(v, float) for v in resilience["contributors"].values())
    assert resilience["level"] in {"limited", "adequate", "solid", "strong", "exceptional"}
    activity = world.documents(0, "daily_activity", day)[0]
    assert all(isinstance(v, float) for v in activity["met"]["items"])
    assert isinstance(activity["steps"], int) and isinstance(activity["average_met_minutes"], float)


# ------------------------------------------------------------ consistency


THIRTY_SECOND_SINCE = date(2025, 6, 1)  # sandbox.generate.sleep.THIRTY_SECOND_STAGING_SINCE


def _shown(group: str) -> str:
    """The stage a 5-minute epoch shows for its 30-second epochs: the most frequent, a tie
    going to the one met first."""
    return Counter(group).most_common(1)[0][0]


def _changes(phases: str, stage: str) -> int:
    return sum((a == stage) != (b == stage) for a, b in itertools.pairwise(phases))


def test_nights_are_staged_in_30_seconds_and_summarized_in_5_minutes():
    """As Oura: durations count the 30-second stages, `sleep_phase_5_min` summarizes them
    (so epochs x 300 s disagree with the durations), and older documents carry no
    `sleep_phase_30_sec` at all."""
    world = World(seed=7, users=1, now=datetime(2025, 9, 1, 12, tzinfo=UTC), history_days=200)
    nights = with_30 = disagreeing = 0
    for day in _days(world, 0, 190):
        for doc in world.documents(0, "sleep", day):
            nights += 1
            tib, phases = doc["time_in_bed"], doc["sleep_phase_5_min"]
            assert ("sleep_phase_30_sec" in doc) == (day >= THIRTY_SECOND_SINCE), day
            durations = {
                "1": doc["deep_sleep_duration"],
                "2": doc["light_sleep_duration"],
                "3": doc["rem_sleep_duration"],
                "4": doc["awake_time"],
            }
            assert all(durations[code] % 30 == 0 for code in "123")
            cut = len(phases) * 300 - tib
            assert 0 <= cut < 300
            # The summary stays within what the dbt reconciliation allows a 5-minute string.
            for code, seconds in durations.items():
                allowed = 150 * _changes(phases, code) + 300 + cut
                assert abs(phases.count(code) * 300 - seconds) <= allowed, (day, code)
            disagreeing += any(phases.count(c) * 300 != durations[c] for c in "123")
            thirty = doc.get("sleep_phase_30_sec")
            if thirty is None:
                continue
            with_30 += 1
            assert len(thirty) == len(doc["movement_30_sec"]) == math.ceil(tib / 30)
            assert set(thirty) <= set("1234")
            for code in "123":
                assert durations[code] == thirty.count(code) * 30
            assert phases == "".join(_shown(thirty[i : i + 10]) for i in range(0, len(thirty), 10))
            first_asleep = next(i for i, s in enumerate(thirty) if s != "4")
            assert doc["latency"] == first_asleep * 30
    assert nights > 150 and 0 < with_30 < nights
    assert disagreeing > nights / 2  # as in Oura's real nights, not equal by construction


def test_hypnogram_reconciles_with_durations_and_samples(world):
    checked = 0
    days = _days(world, 0, 60, skip=20)
    for day in days:
        for doc in world.documents(0, "sleep", day):
            tib, phases = doc["time_in_bed"], doc["sleep_phase_5_min"]
            assert len(phases) == math.ceil(tib / 300)
            assert tib % 300  # never a whole number of 5-minute epochs in these days
            total = (
                doc["deep_sleep_duration"] + doc["light_sleep_duration"] + doc["rem_sleep_duration"]
            )
            assert doc["total_sleep_duration"] == total
            assert doc["awake_time"] == tib - total
            assert doc["efficiency"] == max(1, min(100, round(100 * total / tib)))
            assert "sleep_phase_30_sec" not in doc  # all before THIRTY_SECOND_SINCE
            assert len(doc["movement_30_sec"]) == math.ceil(tib / 30)
            assert set(doc["movement_30_sec"]) <= set("1234") and set(phases) <= set("1234")
            assert len(doc["app_sleep_phase_5_min"]) == len(phases)
            for key in ("heart_rate", "hrv"):
                if doc[key] is not None:
                    assert doc[key]["interval"] == 300.0 and len(doc[key]["items"]) == len(phases)
                    assert (
                        doc[key]["timestamp"]
                        == doc["bedtime_start"][:19] + ".000" + doc["bedtime_start"][19:]
                    )
            values = [v for v in doc["heart_rate"]["items"] if v is not None]
            assert doc["lowest_heart_rate"] == (int(min(values)) if values else None)
            start = datetime.fromisoformat(doc["bedtime_start"])
            end = datetime.fromisoformat(doc["bedtime_end"])
            assert (end - start).total_seconds() == tib
            assert doc["day"] == end.date().isoformat()
            if doc["type"] == "long_sleep":
                assert doc["readiness"] is not None and start.date() < end.date() or start.hour < 4
            else:
                assert doc["readiness"] is None
            checked += 1
    # Every recorded night was checked, and some naps beside them.
    recorded_nights = sum(world.night(0, day).held for day in days)
    assert checked > recorded_nights > 50


def test_readiness_and_daily_sleep_come_from_the_main_sleep(world):
    for day in _days(world, 0, 40, skip=30):
        main = [d for d in world.documents(0, "sleep", day) if d["type"] == "long_sleep"]
        readiness = world.documents(0, "daily_readiness", day)
        daily_sleep = world.documents(0, "daily_sleep", day)
        if not main:
            assert readiness == [] and daily_sleep == []
            continue
        (main,), (readiness,), (daily_sleep,) = main, readiness, daily_sleep
        for key in (
            "contributors",
            "score",
            "temperature_deviation",
            "temperature_trend_deviation",
        ):
            assert readiness[key] == main["readiness"][key]
        assert (
            readiness["timestamp"]
            == daily_sleep["timestamp"]
            == f"{day.isoformat()}T00:00:00+00:00"
        )
        assert readiness["score"] == weighted_score(readiness["contributors"], READINESS_WEIGHTS)
        assert daily_sleep["score"] == weighted_score(daily_sleep["contributors"], SLEEP_WEIGHTS)
        hours = main["total_sleep_duration"] / 3600
        assert daily_sleep["contributors"]["total_sleep"] == max(
            1, min(100, round(100 - (8 - hours) * 18))
        )


def test_daily_activity_shape_and_totals(world):
    for day in _days(world, 1, 20, skip=10):
        (doc,) = world.documents(1, "daily_activity", day)
        offset = _offset_text(world.utc_offset(1, day))
        assert doc["timestamp"] == f"{day.isoformat()}T04:00:00{offset}"
        assert doc["met"]["timestamp"] == f"{day.isoformat()}T04:00:00.000{offset}"
        assert doc["met"]["interval"] == 60.0 and len(doc["met"]["items"]) == 1440
        assert len(doc["class_5_min"]) == 288 and set(doc["class_5_min"]) <= set("012345")
        times = (
            "high_activity_time",
            "medium_activity_time",
            "low_activity_time",
            "sedentary_time",
            "resting_time",
            "non_wear_time",
        )
        assert sum(doc[key] for key in times) == 86400
        assert doc["score"] == weighted_score(doc["contributors"], ACTIVITY_WEIGHTS)
        assert doc["target_meters"] == doc["target_calories"] * 20


def test_offsets_change_during_trips_and_stamp_documents(world):
    days = _days(world, 0, 365)
    offsets = [world.utc_offset(0, day) for day in days]
    assert len(set(offsets)) >= 2
    changes = [i for i in range(1, len(days)) if offsets[i] != offsets[i - 1]]
    assert len(changes) >= 4
    for i in changes[:6]:
        for day in (days[i - 1], days[i]):
            (doc,) = world.documents(0, "daily_activity", day)
            assert doc["timestamp"].endswith(_offset_text(world.utc_offset(0, day)))
            for sleep in world.documents(0, "sleep", day):
                assert sleep["bedtime_end"].endswith(_offset_text(world.utc_offset(0, day)))


def test_user_1_lives_on_us_pacific_time_and_the_history_crosses_daylight_saving():
    """Every world has a person west of UTC (api-reference §12: the real examples are US
    users); with the default history (730 days) their clock changes at home both ways."""
    for seed in (0, 7, 11):
        world = World(seed=seed, users=2, now=NOW)
        offsets = {}
        day = world.users[1].history_start
        while day <= world.local_today(1):
            offsets[day] = world.utc_offset(1, day)
            day += timedelta(days=1)
        at_home = Counter(o for o in offsets.values())
        assert {o for o, _ in at_home.most_common(2)} == {timedelta(hours=-8), timedelta(hours=-7)}
        changes = [
            (day, offsets[day - timedelta(days=1)], offsets[day])
            for day in offsets
            if day - timedelta(days=1) in offsets
            and {offsets[day - timedelta(days=1)], offsets[day]}
            == {timedelta(hours=-8), timedelta(hours=-7)}
        ]
        assert {(old, new) for _, old, new in changes} == {
            (timedelta(hours=-8), timedelta(hours=-7)),
            (timedelta(hours=-7), timedelta(hours=-8)),
        }, seed
        for day, _, new in changes:  # US rules: second Sunday of March, first of November
            assert day.weekday() == 6 and (
                (day.month, new) == (3, timedelta(hours=-7))
                and 8 <= day.day <= 14
                or (day.month, new) == (11, timedelta(hours=-8))
                and day.day <= 7
            ), (seed, day)
            # Local days tile the timeline: the change day is 23 or 25 hours long, no gap.
            before = _local_midnight(world, 1, day - timedelta(days=1))
            assert abs((_local_midnight(world, 1, day) - before) - timedelta(days=1)) == timedelta(
                hours=1
            )


def _local_midnight(world: World, user: int, day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), UTC) - world.utc_offset(user, day)


def test_a_local_evening_west_of_utc_is_the_next_utc_day_but_keeps_its_local_day(world):
    crossing = Counter()
    for day in _days(world, 1, 400, skip=3):
        for collection, field in (
            ("workout", "start_datetime"),
            ("session", "start_datetime"),
            ("sleep", "bedtime_start"),
            ("enhanced_tag", "start_time"),
        ):
            for doc in world.documents(1, collection, day):
                start = datetime.fromisoformat(doc[field])
                if collection == "sleep" and doc["type"] == "long_sleep":
                    # The night belongs to the wake-up day, its start to the evening before.
                    assert start.date() == day - timedelta(days=1) or start.hour < 4
                    assert doc["day"] == day.isoformat()
                    continue
                local_day = start.date()
                if start.tzinfo and start.utcoffset():
                    utc_day = start.astimezone(UTC).date()
                    crossing[collection] += utc_day != local_day
                cursor = doc.get("day") or doc.get("start_day")
                assert cursor == local_day.isoformat(), (collection, doc)
    assert crossing["workout"] > 5 and crossing["sleep"] > 0, crossing


# ------------------------------------------------------------- time series


def test_heart_rate_is_irregular_bounded_and_in_milliseconds(world):
    day = world.users[0].history_start + timedelta(days=200)
    start = datetime(day.year, day.month, day.day, 3, 17, 11, tzinfo=UTC)
    end = start + timedelta(days=3)
    rows = list(world.series(0, "heartrate", start, end))
    stamps = [datetime.fromisoformat(r["timestamp"]) for r in rows]
    assert all(start <= s < end for s in stamps)
    assert stamps == sorted(stamps)
    assert all(r["timestamp"].endswith("+00:00") for r in rows)
    assert all(r["timestamp_unix"] == int(s.timestamp()) * 1000 for r, s in zip(rows, stamps))
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(stamps)]
    assert min(gaps) < 60 and max(gaps) > 600
    assert sum(g % 300 != 0 for g in gaps) > len(gaps) * 0.9
    assert 1500 <= len(rows) <= 4800
    sources = Counter(r["source"] for r in rows)
    assert {"awake", "rest"} <= set(sources)
    assert all(30 <= r["bpm"] <= 220 for r in rows)


def test_sleep_heart_rate_rows_match_the_sleep_document(world):
    day = world.users[1].history_start + timedelta(days=120)
    main = next(d for d in world.documents(1, "sleep", day) if d["type"] == "long_sleep")
    start, end = (
        datetime.fromisoformat(main["bedtime_start"]),
        datetime.fromisoformat(main["bedtime_end"]),
    )
    rows = list(world.series(1, "heartrate", start, end))
    items = [v for v in main["heart_rate"]["items"] if v is not None]
    assert len(items) - 1 <= len(rows) <= len(items)
    for row in rows:
        epoch = int((datetime.fromisoformat(row["timestamp"]) - start).total_seconds() // 300)
        assert abs(row["bpm"] - main["heart_rate"]["items"][epoch]) <= 1
        stage = main["sleep_phase_5_min"][epoch]
        assert row["source"] in ({"awake", "rest"} if stage == "4" else {"rest", "sleep"})
    assert Counter(r["source"] for r in rows).most_common(1)[0][0] == "rest"


def test_night_heart_rate_is_labelled_like_real_nights(world):
    """Real nights (api-reference §12): all `rest` but a few `awake`; `sleep` is rare."""
    labels: Counter = Counter()
    nights_saying_sleep = 0
    for user in range(2):
        for day in _days(world, user, 250, skip=5):
            for doc in world.documents(user, "sleep", day):
                if doc["type"] not in ("long_sleep", "sleep", "late_nap"):
                    continue
                bed = (
                    datetime.fromisoformat(doc["bedtime_start"]),
                    datetime.fromisoformat(doc["bedtime_end"]),
                )
                night = Counter(r["source"] for r in world.series(user, "heartrate", *bed))
                assert set(night) <= {"rest", "awake", "sleep"}
                assert not ("sleep" in night and night["rest"] > night["sleep"]), night
                nights_saying_sleep += "sleep" in night
                labels += night
    total = sum(labels.values())
    assert labels["rest"] > 0.85 * total
    assert 0.01 * total < labels["awake"] < 0.10 * total
    assert 0 < nights_saying_sleep < 0.06 * 500


def test_series_stops_at_now_and_history_start(world):
    rows = list(world.series(0, "heartrate", NOW - timedelta(hours=5), NOW + timedelta(days=2)))
    assert rows and datetime.fromisoformat(rows[-1]["timestamp"]) <= NOW
    first_day = world.users[0].history_start
    early = datetime.combine(first_day, datetime.min.time(), UTC) - timedelta(days=3)
    rows = list(world.series(0, "ring_battery_level", early, early + timedelta(days=5)))
    local_midnight = datetime.combine(first_day, datetime.min.time(), UTC) - world.utc_offset(
        0, first_day
    )
    assert rows and datetime.fromisoformat(rows[0]["timestamp"]) >= local_midnight
    assert all(0 <= r["level"] <= 100 for r in rows)
    latest = world.latest(0, "heartrate")
    assert latest is not None and datetime.fromisoformat(latest["timestamp"]) <= NOW


def test_series_is_a_lazy_generator(world):
    stream = world.series(0, "heartrate", NOW - timedelta(days=30), NOW)
    first = next(stream)
    assert datetime.fromisoformat(first["timestamp"]) >= NOW - timedelta(days=30)
    with pytest.raises(ValueError):
        world.series(0, "sleep", NOW - timedelta(days=1), NOW)
    with pytest.raises(ValueError):
        world.series(0, "heartrate", datetime(2025, 1, 1), NOW)


# ------------------------------------------------------------------- ids


def test_find_document_round_trip_and_rejects_foreign_ids(world):
    day = world.users[1].history_start + timedelta(days=90)
    for collection in ("daily_activity", "sleep", "daily_readiness", "sleep_time", "daily_stress"):
        for doc in world.documents(1, collection, day):
            assert world.find_document(collection, doc["id"]) == (1, doc)
            assert (
                world.find_document(
                    "daily_spo2" if collection != "daily_spo2" else "tag", doc["id"]
                )
                is None
            )
            assert uuid.UUID(doc["id"]).version == 4
    ring = world.ring_configurations(0)[0]
    assert world.find_document("ring_configuration", ring["id"]) == (0, ring)
    for text in (str(uuid.uuid4()) for _ in range(200)):
        assert world.find_document("sleep", text) is None
    for text in ("", "not-a-uuid", "daily_sleep-1-2021-1-1", ring["id"].upper()):
        assert world.find_document("ring_configuration", text) is None
    assert World(seed=8, now=NOW).find_document("ring_configuration", ring["id"]) is None
    assert world.user_index(world.users[1].user_id) == 1
    assert world.personal_info(1)["id"] == world.users[1].user_id
    assert world.user_index(str(uuid.uuid4())) is None


# ------------------------------------------------------------------ clock


def test_nothing_exists_after_local_today_or_before_history(world):
    for user in range(2):
        today = world.local_today(user)
        for collection in DAY_COLLECTIONS:
            assert world.documents(user, collection, today + timedelta(days=1)) == []
            assert (
                world.documents(
                    user, collection, world.users[user].history_start - timedelta(days=1)
                )
                == []
            )


def test_today_is_partial_and_sleep_waits_for_wake_up():
    world = World(seed=11, users=1, now=NOW)
    day = world.users[0].history_start + timedelta(days=300)
    main = next(
        d
        for d in World(seed=11, users=1, now=NOW).documents(0, "sleep", day)
        if d["type"] == "long_sleep"
    )
    wake = datetime.fromisoformat(main["bedtime_end"])
    world.set_now(wake - timedelta(minutes=1))
    assert world.local_today(0) == day
    assert [d for d in world.documents(0, "sleep", day) if d["type"] == "long_sleep"] == []
    assert (
        world.documents(0, "daily_readiness", day) == []
        and world.documents(0, "daily_sleep", day) == []
    )
    world.set_now(wake + timedelta(minutes=1))
    assert world.find_document("sleep", main["id"]) is not None
    assert len(world.documents(0, "daily_sleep", day)) == 1
    world.set_now(_local_noon(world, 0, day))
    (activity,) = world.documents(0, "daily_activity", day)
    assert len(activity["met"]["items"]) == 8 * 60 and len(activity["class_5_min"]) == 96
    assert (
        activity["steps"]
        < world.documents(0, "daily_activity", day - timedelta(days=1))[0]["steps"] * 3
    )
    hr = list(
        world.series(0, "heartrate", world.now - timedelta(hours=2), world.now + timedelta(hours=2))
    )
    assert hr and all(datetime.fromisoformat(r["timestamp"]) <= world.now for r in hr)


def test_advance_moves_the_clock_and_history_start_stays_fixed():
    world = World(seed=5, users=2, now=NOW)
    starts = [user.history_start for user in world.users]
    today = world.local_today(0)
    assert world.documents(0, "sleep_time", today + timedelta(days=1)) == []
    world.advance(timedelta(days=1))
    assert world.now == NOW + timedelta(days=1) and world.local_today(0) == today + timedelta(
        days=1
    )
    assert len(world.documents(0, "sleep_time", today + timedelta(days=1))) == 1
    assert [user.history_start for user in world.users] == starts
    assert starts[0] == NOW.date() - timedelta(days=730) and 0 <= (starts[1] - starts[0]).days <= 60
    with pytest.raises(ValueError):
        world.set_now(datetime(2025, 1, 1))


def test_revisions_keep_ids_change_values_and_settle():
    world = World(seed=5, users=1, now=NOW)
    day = world.users[0].history_start + timedelta(days=250)
    snapshots = {}
    for later in (0, 1, 2, 3, 10):
        world.set_now(_local_noon(world, 0, day + timedelta(days=later)) + timedelta(hours=11))
        snapshots[later] = {
            c: world.documents(0, c, day) for c in ("daily_activity", "sleep", "daily_readiness")
        }
    ids = {
        later: {c: [d["id"] for d in docs] for c, docs in snap.items()}
        for later, snap in snapshots.items()
    }
    assert ids[0]["daily_activity"] == ids[3]["daily_activity"]
    assert snapshots[0]["daily_activity"] != snapshots[3]["daily_activity"]
    steps = [snapshots[later]["daily_activity"][0]["steps"] for later in (0, 1, 2, 3)]
    assert steps == sorted(steps) and steps[0] < steps[3]
    main = {
        later: next(d for d in snapshots[later]["sleep"] if d["type"] == "long_sleep")
        for later in (0, 3)
    }
    assert (
        main[0]["id"] == main[3]["id"]
        and main[0]["sleep_phase_5_min"] != main[3]["sleep_phase_5_min"]
    )
    assert snapshots[3] == snapshots[10]


def _available_at(doc: dict) -> datetime:
    text = (
        doc.get("bedtime_end")
        or doc.get("end_datetime")
        or doc.get("end_time")
        or doc.get("timestamp")
    )
    return datetime.fromisoformat(text or doc["start_time"])


def test_deletions_and_late_arrivals_happen_as_the_clock_moves():
    world = World(seed=2, users=1, now=NOW, history_days=730)
    start = world.users[0].history_start
    found = Counter()
    for collection in ("tag", "enhanced_tag", "workout", "sleep"):
        for offset in range(730):
            if found[(collection, "deleted")] and found[(collection, "late")]:
                break
            day = start + timedelta(days=offset)
            seen = {}
            for later in (0, 1, 2):  # r = 0 just before local midnight, r = 1 and 2 at local noon
                clock = _local_noon(world, 0, day + timedelta(days=later)) + timedelta(
                    hours=11.9 if later == 0 else 0
                )
                world.set_now(clock)
                seen[later] = {d["id"]: d for d in world.documents(0, collection, day)}
            world.set_now(NOW)
            settled = {d["id"] for d in world.documents(0, collection, day)}
            day_end = _local_noon(world, 0, day) + timedelta(hours=11.9)
            for doc_id in set(seen[0]) - settled:
                assert doc_id in seen[1] and doc_id not in seen[2]
                assert world.find_document(collection, doc_id) is None
                found[(collection, "deleted")] += 1
            for doc_id in set(seen[1]) - set(seen[0]):
                if _available_at(seen[1][doc_id]) <= day_end:
                    assert doc_id in settled and world.find_document(collection, doc_id) is not None
                    found[(collection, "late")] += 1
    for collection in ("tag", "enhanced_tag", "workout", "sleep"):
        assert found[(collection, "deleted")] >= 1, collection
        assert found[(collection, "late")] >= 1, collection


def test_rest_mode_period_stays_open_while_it_lasts():
    world = World(seed=7, users=1, now=NOW)
    start = world.users[0].history_start
    day, period = next(
        (d, docs[0])
        for d in (start + timedelta(days=i) for i in range(700))
        if (docs := world.documents(0, "rest_mode_period", d))
    )
    assert period["end_day"] is not None and len(period["episodes"]) >= 2
    world.set_now(datetime.fromisoformat(period["episodes"][1]["timestamp"]) + timedelta(minutes=5))
    (ongoing,) = world.documents(0, "rest_mode_period", day)
    assert (
        ongoing["id"] == period["id"] and ongoing["end_day"] is None and ongoing["end_time"] is None
    )
    assert ongoing["episodes"] == period["episodes"][:2]


def test_generation_is_fast_enough():
    world = World(seed=9, users=1, now=NOW)
    days = _days(world, 0, 30, skip=100)
    began = time.perf_counter()
    for day in days:
        for collection in DAY_COLLECTIONS:
            world.documents(0, collection, day)
    documents_seconds = time.perf_counter() - began
    began = time.perf_counter()
    rows = sum(
        1
        for _ in world.series(
            0, "heartrate", _local_noon(world, 0, days[0]), _local_noon(world, 0, days[-1])
        )
    )
    series_seconds = time.perf_counter() - began
    # Measured about 3 ms per user-day and 3 ms per day of heart rate; generous for slow CI.
    assert documents_seconds < 1.5 and series_seconds < 1.5 and rows > 29 * 500


def test_churn_rates_are_small():
    rates = lifecycle.CHURN_RATES
    assert all(0 <= deleted <= 0.06 and 0 <= late <= 0.06 for deleted, late in rates.values())


# ------------------------------------------------------- why a night is empty


def _class_at(world: World, user: int, moment: datetime) -> str | None:
    """The 5-minute activity class covering `moment` (activity days start 04:00 local)."""
    for shift in (-1, 0, 1):
        day = moment.date() + timedelta(days=shift)
        for doc in world.documents(user, "daily_activity", day):
            origin = datetime.fromisoformat(doc["timestamp"])
            index = int((moment - origin).total_seconds() // 300)
            if 0 <= index < len(doc["class_5_min"]):
                return doc["class_5_min"][index]
    return None


def _night_evidence(world: World, user: int, day: date) -> tuple[Counter, Counter]:
    """(activity classes, heart-rate sources) over the night that ends on `day`."""
    night = world.night(user, day)
    start, end = (datetime.fromtimestamp(ts, UTC) for ts in (night.start, night.end))
    classes = Counter(
        _class_at(world, user, start + timedelta(minutes=m))
        for m in range(2, int((end - start).total_seconds() // 60) - 2, 5)
    )
    sources = Counter(row["source"] for row in world.series(user, "heartrate", start, end))
    return classes, sources


def test_nights_without_a_document_are_unworn_or_unrecorded_with_matching_evidence(world):
    found = Counter()
    for day in _days(world, 0, 400, skip=3):
        night = world.night(0, day)
        if night.held:
            continue
        assert [d for d in world.documents(0, "sleep", day) if d["type"] == "long_sleep"] == []
        for collection in ("daily_sleep", "daily_readiness", "daily_spo2"):
            assert world.documents(0, collection, day) == [], (day, collection)
        classes, sources = _night_evidence(world, 0, day)
        hours = (night.end - night.start) / 3600
        if not night.worn:  # ring off: non-wear all night, not one heart-rate sample
            assert set(classes) == {"0"} and not sources, (day, classes, sources)
            found["not_worn"] += 1
        else:  # worn, no record: resting all night, a resting sample about every 5 minutes
            assert classes["1"] >= 0.9 * sum(classes.values()), (day, classes)
            assert set(sources) == {"rest"} and sources["rest"] >= 11 * hours, (day, sources)
            found["no_record"] += 1
    assert found["not_worn"] >= 5 and found["no_record"] >= 3, found


def _gapped_world(seed: int = 7) -> tuple[World, tuple[datetime, datetime]]:
    """A world whose user 2 has a sync gap of at least two days, and that gap."""
    world = World(seed=seed, users=3, now=NOW)
    start = world.users[2].history_start + timedelta(days=20)
    gaps = world.sync_gaps(2, start, start + timedelta(days=300))
    stopped, resumed = next(g for g in gaps if g[1] - g[0] >= timedelta(days=2))
    return world, (stopped, resumed)


def test_only_users_from_2_on_have_sync_gaps_and_they_are_short():
    world = World(seed=7, users=3, now=NOW)
    for user in range(3):
        start = world.users[user].history_start
        gaps = world.sync_gaps(user, start, start + timedelta(days=700))
        if user < 2:
            assert gaps == []
        else:
            assert 10 <= len(gaps) <= 40
            assert all(timedelta(hours=30) <= b - a <= timedelta(hours=120) for a, b in gaps)


def test_a_ring_that_stops_syncing_delivers_nothing_new_then_everything_when_it_syncs():
    world, (stopped, resumed) = _gapped_world()
    inside = stopped + (resumed - stopped) * 0.9
    world.set_now(inside)
    assert world.last_sync(2) == stopped and world.last_sync(1) == inside
    contact = world.last_ring_contact(2)
    assert stopped - timedelta(minutes=40) <= contact <= stopped
    rows = list(world.series(2, "heartrate", stopped - timedelta(days=1), inside))
    assert rows and datetime.fromisoformat(rows[-1]["timestamp"]) <= stopped
    first = stopped.date() - timedelta(days=1)
    held_then = {}  # from about when the ring stopped syncing through (the clock's) today
    for day in (first + timedelta(days=n) for n in range((world.local_today(2) - first).days + 1)):
        sleep_then = [d for d in world.documents(2, "sleep", day) if d["type"] == "long_sleep"]
        held_then[day] = bool(sleep_then)
        begins = datetime.combine(day, datetime.min.time(), UTC) - world.utc_offset(2, day)
        if begins > stopped:  # nothing of a day that began after the ring stopped syncing
            assert world.documents(2, "daily_activity", day) == [], day
            assert sleep_then == []
    world.set_now(resumed + timedelta(hours=1))
    assert world.last_sync(2) == resumed + timedelta(hours=1)
    late = [
        day
        for day in held_then
        if not held_then[day] and world.night(2, day).held and day < world.local_today(2)
    ]
    assert late, "no night of the gap arrived late"
    for day in late:
        assert [d for d in world.documents(2, "sleep", day) if d["type"] == "long_sleep"]
        assert world.documents(2, "daily_activity", day)
    after = list(world.series(2, "heartrate", stopped, resumed))
    assert len(after) > 200 * (resumed - stopped).days  # the gap's samples arrived


def test_the_ground_truth_names_every_empty_night_and_late_nights_turn_present():
    from sandbox.truth import NO_RECORD, NOT_SYNCED_YET, NOT_WORN, PRESENT, sleep_statuses

    world, (stopped, resumed) = _gapped_world()
    first = world.users[2].history_start
    world.set_now(stopped + (resumed - stopped) * 0.9)
    inside = sleep_statuses(world, 2, first, world.local_today(2))
    assert set(inside.values()) == {PRESENT, NOT_WORN, NO_RECORD, NOT_SYNCED_YET}
    waiting = [day for day, status in inside.items() if status == NOT_SYNCED_YET]
    assert len(waiting) >= 2 and waiting == sorted(waiting)
    assert waiting[-1] == world.local_today(2)  # the tail: nothing since the ring stopped
    world.set_now(resumed + timedelta(days=1))
    after = sleep_statuses(world, 2, first, world.local_today(2))
    for day in waiting:  # each night has arrived, or is known to be missing for good
        night = world.night(2, day)
        assert after[day] == (PRESENT if night.held else NOT_WORN if not night.worn else NO_RECORD)
    assert sum(after[day] == PRESENT for day in waiting) >= 1
    assert {day: after[day] for day in inside if day not in waiting} == {
        day: status for day, status in inside.items() if day not in waiting
    }
