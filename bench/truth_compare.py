"""Compare a loaded warehouse (DuckDB, or BigQuery in the tests) with the sandbox's ground truth.

Independent of the loader's code: documents are flattened and typed here from first
principles. Per raw table, and in total:

- expected: documents the sandbox holds for the compared users and days;
- loaded: rows of those users in the warehouse (duplicates included);
- missing: expected documents with no row;
- duplicated: documents with more than one row (same key);
- stale: rows whose values differ from the document's current version, plus rows
  of documents the sandbox no longer holds (deleted at the source, still stored).

`compare_warehouse` never raises on a difference (the chaos suite tabulates them);
`assert_warehouse_equals_truth` does (tests).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from sandbox.truth import ALL_COLLECTIONS, ground_truth

DATASET = "oura_raw"
JSON_FIELDS = {
    "heart_rate",
    "hrv",
    "met",
    "heart_rate_variability",
    "motion_count",
    "tags",
    "episodes",
}
SERIES_KEYS = {"heartrate": ("timestamp", "source"), "ring_battery_level": ("timestamp",)}
LOADER_COLUMNS = {"_dlt_id", "_dlt_load_id", "_oura_deleted"}
EXAMPLES_KEPT = 5


def table_of(collection: str) -> str:
    """Raw table name of a collection (the route in snake case)."""
    return collection.lower()


def read_table(db: Path | Any, table: str) -> list[dict[str, Any]]:
    """All rows of a raw table (empty if the file or the table does not exist).

    `db` is a DuckDB file, or any warehouse with a `read_table(table)` method of its own
    (the tests' BigQuery project), so one comparison serves both destinations.
    """
    if hasattr(db, "read_table"):
        return db.read_table(table)
    if not Path(db).exists():
        return []
    with duckdb.connect(str(db), read_only=True) as con:
        con.execute("SET enable_progress_bar = false")  # it would print from worker processes
        exists = con.execute(
            "SELECT count(*) FROM information_schema.tables"
            " WHERE table_schema = ? AND table_name = ?",
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
    return (
        json.dumps(value, sort_keys=True, default=str) if isinstance(value, (dict, list)) else value
    )


def truth_by_table(
    world, start: date, end: date, users=None, collections=None
) -> dict[str, list[dict]]:
    """Ground-truth documents per raw table."""
    grouped: dict[str, list[dict]] = defaultdict(list)
    for collection, doc in ground_truth(world, start, end, users=users, collections=collections):
        grouped[table_of(collection)].append(doc)
    return grouped


def key_of(table: str, row: dict) -> tuple:
    """A document's identity: (user_id, id) or, for time series, (user_id, instant[, source])."""
    if table in SERIES_KEYS:
        return (
            row["user_id"],
            *(_instant(row[k]) if k == "timestamp" else row[k] for k in SERIES_KEYS[table]),
        )
    return row["user_id"], row["id"]


def _instant(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


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
    if table in SERIES_KEYS:
        return [
            f"{c}: want {v!r}, got {actual.get(c)!r}"
            for c, v in expected_doc.items()
            if c not in actual or not _same(c, v, actual[c])
        ]
    problems = []
    expected = expected_columns(expected_doc)
    for column, want in expected.items():
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
        return _instant(want) == got.astimezone(UTC)
    if isinstance(got, date) and isinstance(want, str):
        return date.fromisoformat(want) == got
    return want == got


def _offset_text(text: str) -> str | None:
    if text.endswith("Z"):
        return "+00:00"
    tail = text[-6:]
    return tail if tail[0] in "+-" and tail[3] == ":" else None


@dataclass
class Counts:
    """Documents expected, rows loaded, and what is wrong (see the module docstring)."""

    expected: int = 0
    loaded: int = 0
    missing: int = 0
    duplicated: int = 0
    stale: int = 0

    def add(self, other: Counts) -> None:
        """Add `other` into this one."""
        for name in ("expected", "loaded", "missing", "duplicated", "stale"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def exact(self) -> bool:
        """Every document exactly once, current, and nothing else."""
        return not (self.missing or self.duplicated or self.stale)


@dataclass
class Comparison:
    """A warehouse against the ground truth: counts per table and in total, with examples."""

    tables: dict[str, Counts] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)

    @property
    def total(self) -> Counts:
        """The counts summed over tables."""
        out = Counts()
        for counts in self.tables.values():
            out.add(counts)
        return out

    def note(self, text: str) -> None:
        """Keep a few examples of differences (for a failure message)."""
        if len(self.examples) < EXAMPLES_KEPT:
            self.examples.append(text)


def compare_warehouse(
    db: Path | None,
    world,
    start: date,
    end: date,
    users: Iterable[int] | None = None,
    collections: Iterable[str] | None = None,
    read: Callable[[str], list[dict]] | None = None,
) -> Comparison:
    """Count how the warehouse `db` differs from the world's documents in `[start, end]`.

    Args:
        db: the DuckDB file (missing: everything counts as missing), or a warehouse
            with a `read_table` method (see `read_table`).
        world: the sandbox `World` (at its current clock).
        start: first day of the ground truth.
        end: last day of the ground truth.
        users: user indexes compared (default: all of the world's users); rows of
            other users are ignored.
        collections: collections compared (default: all).
        read: reads one raw table's rows (default: from the DuckDB file `db`), for
            warehouses of other kinds.
    """
    read = read or (lambda table: read_table(db, table))
    users = list(users) if users is not None else list(range(len(world.users)))
    collections = list(collections) if collections is not None else list(ALL_COLLECTIONS)
    truth = truth_by_table(world, start, end, users=users, collections=collections)
    user_ids = {world.users[i].user_id for i in users}
    result = Comparison()
    for table in sorted(table_of(c) for c in collections):
        counts = Counts()
        expected = {key_of(table, doc): doc for doc in truth.get(table, [])}
        rows = [r for r in read(table) if r.get("user_id") in user_ids]
        copies = Counter(key_of(table, row) for row in rows)
        counts.expected, counts.loaded = len(expected), len(rows)
        missing = expected.keys() - copies.keys()
        counts.missing = len(missing)
        if missing:
            result.note(f"{table}: {len(missing)} missing, e.g. {sorted(missing, key=repr)[:2]}")
        doubled = [key for key, n in copies.items() if n > 1]
        counts.duplicated = len(doubled)
        if doubled:
            result.note(f"{table}: {len(doubled)} duplicated, e.g. {sorted(doubled, key=repr)[:2]}")
        for row in rows:
            key = key_of(table, row)
            if key not in expected:
                counts.stale += 1
                result.note(f"{table} {key}: stored, but the source no longer has it")
                continue
            problems = mismatches(table, expected[key], row)
            if problems:
                counts.stale += 1
                result.note(f"{table} {key}: " + "; ".join(problems[:3]))
        result.tables[table] = counts
    return result


def assert_warehouse_equals_truth(
    db: Path, world, start: date, end: date, users=None, collections=None
) -> dict:
    """Every ground-truth document exactly once with identical values, and nothing else.

    Returns:
        The number of documents compared per table.

    Raises:
        AssertionError: with the counts and a few examples of what differs.
    """
    comparison = compare_warehouse(db, world, start, end, users=users, collections=collections)
    total = comparison.total
    assert total.exact, f"warehouse differs from the ground truth: {total}; " + " | ".join(
        comparison.examples
    )
    return {table: counts.expected for table, counts in comparison.tables.items()}


def day_before(day: date, days: int = 2) -> date:
    """A few days earlier (ground truth from before a history start covers local-day spill)."""
    return day - timedelta(days=days)
