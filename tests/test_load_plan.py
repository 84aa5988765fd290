"""The source's pure parts: day ranges, cursors, request windows, rows, the rate budget."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from pipelines.core.errors import UsageError
from pipelines.oura.dates import DayRange, normalize, subtract
from pipelines.oura.fetch import window_params
from pipelines.oura.kinds import earliest_day, latest_day
from pipelines.oura.ratelimit import RateBudget, parse_rate
from pipelines.oura.rows import cursor_day, key_of, to_row, utc_offset
from pipelines.oura.settings import BY_NAME, COLLECTIONS, DAILY, SERIES, resolve_collections

D = date.fromisoformat


def test_ranges_normalize_and_subtract():
    ranges = [
        DayRange(D("2024-01-05"), D("2024-01-09")),
        DayRange(D("2024-01-01"), D("2024-01-04")),
    ]
    assert normalize(ranges) == [DayRange(D("2024-01-01"), D("2024-01-09"))]
    left = subtract(
        [DayRange(D("2024-01-01"), D("2024-01-31"))], [DayRange(D("2024-01-10"), D("2024-01-20"))]
    )
    assert left == [
        DayRange(D("2024-01-01"), D("2024-01-09")),
        DayRange(D("2024-01-21"), D("2024-01-31")),
    ]
    assert (
        subtract(
            [DayRange(D("2024-01-01"), D("2024-01-02"))],
            [DayRange(D("2023-12-01"), D("2024-02-01"))],
        )
        == []
    )


def test_a_cursor_moves_only_to_what_is_complete_everywhere():
    now = datetime(2026, 11, 20, 12, tzinfo=UTC)
    assert (earliest_day(now), latest_day(now)) == (D("2026-11-20"), D("2026-11-21"))
    # The lookback is counted back from now: a cursor long ago does not make it reach back.
    assert BY_NAME["sleep"].kind.recent(now, 7) == D("2026-11-13")
    assert BY_NAME["heartrate"].kind.recent(now, 7) == now - timedelta(days=7)
    window = DayRange(D("2026-11-01"), latest_day(now))
    # A day still in progress somewhere (UTC-12) is read again next time: the cursor stops before.
    assert BY_NAME["sleep"].kind.through(window, now) == D("2026-11-20")
    assert BY_NAME["heartrate"].kind.through(window, now) == now  # samples: up to now
    old = DayRange(D("2026-01-01"), D("2026-03-31"))
    assert BY_NAME["sleep"].kind.through(old, now) == old.end
    assert BY_NAME["heartrate"].kind.through(old, now) == datetime(2026, 4, 1, tzinfo=UTC)


def test_chunks_and_windows_cover_every_day_once_in_windows_the_api_accepts():
    span = DayRange(D("2024-01-01"), D("2024-12-31"))
    chunks = list(span.split(90))
    assert all(c.days <= 90 for c in chunks) and chunks[0].start == span.start
    for collection in (BY_NAME["sleep"], BY_NAME["heartrate"]):
        windows = [w for c in chunks for w in c.split(collection.window_days)]
        assert all(w.days <= collection.window_days for w in windows)
        covered = [d for w in windows for d in _days(w)]
        assert covered == _days(span)  # each day exactly once, oldest first


def _days(r: DayRange):
    return [r.start + timedelta(days=i) for i in range(r.days)]


def test_request_windows_are_padded_and_series_stay_under_30_days():
    window = DayRange(D("2024-07-10"), D("2024-07-20"))
    assert window_params(BY_NAME["sleep"], window) == {
        "start_date": "2024-07-08",
        "end_date": "2024-07-22",
    }
    long = DayRange(
        D("2024-07-01"), D("2024-07-01") + timedelta(days=BY_NAME["heartrate"].window_days - 1)
    )
    params = window_params(BY_NAME["heartrate"], long)
    start = datetime.fromisoformat(params["start_datetime"])
    end = datetime.fromisoformat(params["end_datetime"])
    assert start.utcoffset() == timedelta(0) and params["start_datetime"].endswith("+00:00")
    assert start < datetime(2024, 7, 1, tzinfo=UTC) and end - start <= timedelta(days=30)
    assert end > datetime.combine(long.end + timedelta(days=1), datetime.min.time(), UTC)


def test_every_collection_keys_on_user_and_has_a_sensible_window():
    assert len(COLLECTIONS) == 19 and BY_NAME["vo2_max"].route == "vO2_max"
    for c in COLLECTIONS:
        assert c.primary_key[0] == "user_id"
        if c.kind == DAILY:
            assert c.cursor in ("day", "start_day") and c.columns[c.cursor] == "date"
        if c.kind == SERIES:
            assert c.window_days < 30 and c.cursor == "timestamp"


def test_rows_keep_offsets_and_types():
    sleep = BY_NAME["sleep"]
    row = to_row(
        sleep,
        {
            "id": "x",
            "day": "2024-07-27",
            "bedtime_start": "2024-07-26T22:25:28-07:00",
            "bedtime_end": "2024-07-27T05:28:45-07:00",
            "heart_rate": {"items": [None, 1.0]},
        },
        "u",
    )
    assert row["user_id"] == "u" and row["day"] == D("2024-07-27")
    assert row["bedtime_start"] == datetime(2024, 7, 27, 5, 25, 28, tzinfo=UTC)
    assert row["bedtime_start_utc_offset"] == "-07:00"
    assert row["heart_rate"] == {"items": [None, 1.0]}  # samples stay whole (JSON column)
    assert cursor_day(sleep, row) == D("2024-07-27")
    hr = BY_NAME["heartrate"]
    sample = to_row(
        hr, {"bpm": 60, "source": "rest", "timestamp": "2024-07-28T23:59:59+00:00"}, "u"
    )
    assert key_of(hr, sample) == (datetime(2024, 7, 28, 23, 59, 59, tzinfo=UTC), "rest")
    assert cursor_day(hr, sample) == D("2024-07-28")
    assert (
        utc_offset("2024-01-01T00:00:00Z") == "+00:00" and utc_offset("2024-01-01T00:00:00") is None
    )


def test_collections_by_name_accept_the_route_spelling_and_reject_unknown_ones():
    assert [c.name for c in resolve_collections(["vO2_max", "sleep", "sleep"])] == [
        "sleep",
        "vo2_max",
    ]
    with pytest.raises(UsageError, match="unknown collection.*nope.*valid: personal_info"):
        resolve_collections(["sleep", "nope"])


def test_rate_budget_never_exceeds_its_window():
    clock = {"t": 0.0}
    starts: list[float] = []

    def sleep(seconds: float) -> None:
        clock["t"] += seconds

    budget = RateBudget(3, 10.0, clock=lambda: clock["t"], sleep=sleep)
    for _ in range(7):
        budget.acquire()
        starts.append(clock["t"])
    assert starts[:3] == [0.0, 0.0, 0.0]
    for i in range(3, 7):  # the 4th request waits for the 1st to leave the window
        assert starts[i] - starts[i - 3] >= 10.0
    budget.pause(30)
    before = clock["t"]
    budget.acquire()
    assert clock["t"] - before >= 30.0
    assert parse_rate("4500/300") == (4500, 300.0)
    with pytest.raises(ValueError):
        parse_rate("lots")
