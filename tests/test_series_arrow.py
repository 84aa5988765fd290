"""Time series go from a decoded page straight into Arrow columns (`arrow.page_table`);
the result must equal the row path (`rows.to_row` then `arrow.to_table`) sample for sample,
and the window trimming, key de-duplication and seen keys must match the row path too."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pyarrow as pa
import pytest

from pipelines.oura.arrow import inside, key_set, one_per_key, page_table, to_table
from pipelines.oura.dates import DayRange
from pipelines.oura.rows import cursor_day, key_of, to_row
from pipelines.oura.settings import BY_NAME

HR = BY_NAME["heartrate"]
BATTERY = BY_NAME["ring_battery_level"]


def _hr(ts: str, bpm: int | None = 60, source: str | None = "rest", **extra) -> dict:
    return {"bpm": bpm, "source": source, "timestamp": ts, "timestamp_unix": 1, **extra}


def _row_path(collection, docs: list[dict]) -> pa.Table:
    return to_table(collection, [to_row(collection, d, "u1") for d in docs])


def _as_sorted_rows(table: pa.Table) -> list[dict]:
    return sorted(table.to_pylist(), key=lambda r: (r["timestamp"], str(r.get("source"))))


PAGES = {
    "utc": [_hr("2026-01-02T03:04:05+00:00"), _hr("2026-01-02T03:09:05+00:00", 72, "awake")],
    "offsets and fractions": [
        _hr("2026-01-02T03:04:05-07:00"),
        _hr("2026-01-02T03:04:05.250+05:30", 90),
    ],
    "a new field, null in some samples": [
        _hr("2026-01-02T03:04:05+00:00", confidence=0.5),
        _hr("2026-01-02T03:05:05+00:00"),
    ],
    "a new field, null everywhere": [_hr("2026-01-02T03:04:05+00:00", note=None)],
    "a null bpm": [_hr("2026-01-02T03:04:05+00:00", None)],
    "Z and +HHMM (row path)": [_hr("2026-01-02T03:04:05Z"), _hr("2026-01-02T03:04:05+0100")],
    "user_id and offset sent by the API": [
        _hr("2026-01-02T03:04:05+02:00", user_id="intruder", timestamp_utc_offset="bogus")
    ],
}


@pytest.mark.parametrize("name", PAGES)
def test_page_table_equals_the_row_path(name):
    docs = PAGES[name]
    fast, slow = page_table(HR, docs, "u1"), _row_path(HR, docs)
    assert fast.schema == slow.schema
    assert _as_sorted_rows(fast) == _as_sorted_rows(slow)


def test_offset_column_keeps_the_written_offset_and_the_instant_is_utc():
    table = page_table(HR, PAGES["offsets and fractions"], "u1")
    rows = table.to_pylist()
    assert [r["timestamp_utc_offset"] for r in rows] == ["-07:00", "+05:30"]
    assert rows[0]["timestamp"] == datetime(2026, 1, 2, 10, 4, 5, tzinfo=UTC)
    assert rows[1]["timestamp"] == datetime(2026, 1, 1, 21, 34, 5, 250000, tzinfo=UTC)
    assert table.schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
    assert not table.schema.field("source").nullable and table.schema.field("bpm").nullable


def test_battery_samples_take_the_fast_path_too():
    docs = [
        {
            "timestamp": "2026-01-02T03:04:05+00:00",
            "timestamp_unix": 1,
            "level": 80,
            "charging": False,
            "in_charger": None,
        }
    ]
    fast, slow = page_table(BATTERY, docs, "u1"), _row_path(BATTERY, docs)
    assert fast.schema == slow.schema and fast.to_pylist() == slow.to_pylist()


@pytest.mark.parametrize("missing", ["source", "timestamp"])
def test_a_sample_without_its_key_fails_as_the_row_path_does(missing):
    from pipelines.oura.fetch import _checked_key, _checked_keys
    from pipelines.oura.helpers import CollectionFailed

    docs = [_hr("2026-01-02T03:04:05+00:00"), {**_hr("2026-01-02T03:05:05+00:00"), missing: None}]
    with pytest.raises(CollectionFailed) as slow:
        for doc in docs:
            _checked_key(HR, to_row(HR, doc, "u1"))
    with pytest.raises(CollectionFailed) as fast:
        _checked_keys(HR, page_table(HR, docs, "u1"))
    assert str(fast.value) == str(slow.value) and "without its key" in str(fast.value)
    _checked_keys(HR, page_table(HR, docs[:1], "u1"))  # a page with its keys passes


def test_trim_dedup_and_seen_keys_match_the_row_path():
    window = DayRange(date(2026, 1, 2), date(2026, 1, 3))
    pages = [
        [
            _hr("2026-01-01T23:59:59+00:00"),
            _hr("2026-01-02T00:00:00+00:00", 61),
            _hr("2026-01-02T01:00:00-05:00", 62),
        ],  # 06:00Z on the 2nd
        [
            _hr("2026-01-02T00:00:00+00:00", 70),  # the same key again: the last one wins
            _hr("2026-01-02T00:00:00+00:00", 71, "awake"),  # same instant, other source: kept
            _hr("2026-01-03T23:59:59+00:00"),
            _hr("2026-01-04T00:00:00+00:00"),
            _hr("2026-01-03T20:00:00-05:00"),
        ],  # 01:00Z on the 4th: outside
    ]
    # the row path, as `fetch_window` does it
    rows, seen = {}, set()
    for page in pages:
        for doc in page:
            row = to_row(HR, doc, "u1")
            key = key_of(HR, row)
            seen.add(key)
            if cursor_day(HR, row) in window:
                rows[key] = row
    expected = to_table(HR, list(rows.values()))
    # the Arrow path, as `fetch_series_window` does it
    tables, fast_seen = [], set()
    for page in pages:
        table = page_table(HR, page, "u1")
        fast_seen |= key_set(HR, table)
        tables.append(inside(HR, table, window))
    got = one_per_key(HR, pa.concat_tables(tables, promote_options="permissive"))
    assert fast_seen == seen
    assert got.num_rows == 4
    assert _as_sorted_rows(got) == _as_sorted_rows(expected)
    assert sorted(r["bpm"] for r in got.to_pylist()) == [60, 62, 70, 71]
