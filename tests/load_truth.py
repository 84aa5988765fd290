"""Compare a loaded DuckDB warehouse with the sandbox's ground truth, independently of the
loader's own code: documents are flattened and typed here from first principles."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable

import duckdb

from sandbox.truth import ground_truth

DATASET = "oura_raw"
JSON_FIELDS = {"heart_rate", "hrv", "met", "heart_rate_variability", "motion_count", "tags", "episodes"}
SERIES_KEYS = {"heartrate": ("timestamp", "source"), "ring_battery_level": ("timestamp",)}
LOADER_COLUMNS = {"_dlt_id", "_dlt_load_id", "_oura_deleted"}


def table_of(collection: str) -> str:
    """Raw table name of a collection (the route in snake case)."""
    return collection.lower()


def read_table(db: Path, table: str) -> list[dict[str, Any]]:
    """All rows of a raw table (empty if it does not exist)."""
    with duckdb.connect(str(db), read_only=True) as con:
        exists = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            [DATASET, table],
        ).fetchone()[0]
        if not exists:
            return []
        cursor = con.execute(f'SELECT * FROM {DATASET}."{table}"')
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, record)) for record in cursor.fetchall()]


def snapshot(db: Path, tables: Iterable[str]) -> dict[str, list[tuple]]:
    """Table contents without dlt's bookkeeping columns, sorted (for 'nothing changed')."""
    out = {}
    for table in tables:
        rows = [
            tuple(sorted((k, _freeze(v)) for k, v in row.items() if k not in LOADER_COLUMNS))
            for row in read_table(db, table)
        ]
        out[table] = sorted(rows, key=repr)
    return out


def _freeze(value: Any) -> Any:
    return json.dumps(value, sort_keys=True, default=str) if isinstance(value, (dict, list)) else value


def truth_by_table(world, start: date, end: date, users=None, collections=None) -> dict[str, list[dict]]:
    """Ground-truth documents per raw table."""
    grouped: dict[str, list[dict]] = defaultdict(list)
    for collection, doc in ground_truth(world, start, end, users=users, collections=collections):
        grouped[table_of(collection)].append(doc)
    return grouped


def key_of(table: str, row: dict) -> tuple:
    """A document's identity: (user_id, id) or, for time series, (user_id, instant[, source])."""
    if table in SERIES_KEYS:
        return (row["user_id"], *(_instant(row[k]) if k == "timestamp" else row[k] for k in SERIES_KEYS[table]))
    return row["user_id"], row["id"]


def _instant(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc)
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)


def expected_columns(doc: dict) -> dict[str, Any]:
    """A document flattened the way the raw tables are meant to hold it."""
    out: dict[str, Any] = {}

    def walk(obj: dict, prefix: str) -> None:
        for name, value in obj.items():
            column = prefix + name
            if isinstance(value, dict) and name not in JSON_FIELDS:
                walk(value, column + "__")
            else:
                out[column] = value

    walk(doc, "")
    return out


def mismatches(table: str, expected_doc: dict, actual: dict) -> list[str]:
    """Differences between one ground-truth document and its warehouse row."""
    problems = []
    for column, want in expected_columns(expected_doc).items():
        if column not in actual:
            nested = [v for k, v in actual.items() if k.startswith(column + "__")]
            if want is None and all(v is None for v in nested):
                continue
            problems.append(f"{column}: missing column (want {want!r})")
            continue
        got = actual[column]
        if not _same(column, want, got):
            problems.append(f"{column}: want {want!r}, got {got!r}")
        if isinstance(want, str) and isinstance(got, datetime):
            offset = actual.get(column + "_utc_offset")
            if offset != _offset_text(want):
                problems.append(f"{column}_utc_offset: want {_offset_text(want)!r}, got {offset!r}")
    expected = expected_columns(expected_doc)
    for column, got in actual.items():
        if column in LOADER_COLUMNS or column.endswith("_utc_offset") or column in expected:
            continue
        if any(column.startswith(k + "__") for k in expected):
            continue
        if got is not None:
            problems.append(f"{column}: unexpected value {got!r}")
    return problems


def _same(column: str, want: Any, got: Any) -> bool:
    if column in JSON_FIELDS:
        return (json.loads(got) if isinstance(got, str) else got) == want
    if isinstance(got, datetime) and isinstance(want, str):
        return _instant(want) == got.astimezone(timezone.utc)
    if isinstance(got, date) and isinstance(want, str):
        return date.fromisoformat(want) == got
    return want == got


def _offset_text(text: str) -> str | None:
    if text.endswith("Z"):
        return "+00:00"
    tail = text[-6:]
    return tail if tail[0] in "+-" and tail[3] == ":" else None


def assert_warehouse_equals_truth(db: Path, world, start: date, end: date, users=None, collections=None) -> dict:
    """Every ground-truth document exactly once with identical values, and nothing else.

    Returns the number of documents compared per table.
    """
    truth = truth_by_table(world, start, end, users=users, collections=collections)
    user_ids = {world.users[i].user_id for i in (users if users is not None else range(len(world.users)))}
    counts = {}
    tables = {table_of(c) for c in collections} if collections else set(truth) | _all_tables()
    for table in sorted(tables):
        expected = {key_of(table, doc): doc for doc in truth.get(table, [])}
        rows = [r for r in read_table(db, table) if r["user_id"] in user_ids]
        actual: dict[tuple, dict] = {}
        duplicates = []
        for row in rows:
            key = key_of(table, row)
            if key in actual:
                duplicates.append(key)
            actual[key] = row
        assert not duplicates, f"{table}: {len(duplicates)} duplicate rows, e.g. {duplicates[:3]}"
        missing = expected.keys() - actual.keys()
        extra = actual.keys() - expected.keys()
        assert not missing, f"{table}: {len(missing)} documents missing, e.g. {sorted(missing, key=repr)[:3]}"
        assert not extra, f"{table}: {len(extra)} rows not in the ground truth, e.g. {sorted(extra, key=repr)[:3]}"
        if table in SERIES_KEYS:
            for key, doc in expected.items():
                row = actual[key]
                assert all(_same(c, v, row[c]) for c, v in doc.items()), f"{table} {key}: {doc} != {row}"
        else:
            for key, doc in expected.items():
                problems = mismatches(table, doc, actual[key])
                assert not problems, f"{table} {key}: " + "; ".join(problems[:5])
        counts[table] = len(expected)
    return counts


def _all_tables() -> set[str]:
    from sandbox.truth import ALL_COLLECTIONS

    return {table_of(c) for c in ALL_COLLECTIONS}


def day_before(day: date, days: int = 2) -> date:
    """A few days earlier (ground truth from before a history start covers local-day spill)."""
    return day - timedelta(days=days)
