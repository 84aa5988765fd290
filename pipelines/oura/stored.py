"""What the destination already holds of one user: for deletions and still-open periods.

Oura has no change feed for the date routes: a document deleted at Oura is simply not
returned any more. So every window the source reads again is compared with what the
destination holds for that window; what is stored but was not returned gets a
tombstone. The queries are plain SQL through dlt's SQL client, portable across
DuckDB, BigQuery and SQLAlchemy destinations.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

from pipelines.oura.dates import DayRange
from pipelines.oura.runtime import Query
from pipelines.oura.settings import USER_ID, Collection

Key = tuple[Hashable, ...]
Stored = list[tuple[Key, "date | None"]]


@contextmanager
def reader(pipeline: Any) -> Iterator[Query]:
    """One connection for several queries: yields `query(sql, *args) -> rows`.

    `{table:<name>}` in the SQL becomes the qualified table name and `{col:<name>}`
    an escaped column name; a missing table or dataset gives no rows (nothing was
    loaded yet).
    """
    from dlt.destinations.exceptions import DatabaseUndefinedRelation

    with pipeline.sql_client() as client:

        def query(sql: str, *args: Any) -> list[tuple]:
            rendered = re.sub(
                r"\{(table|col):([A-Za-z0-9_]+)\}",
                lambda m: (
                    client.make_qualified_table_name(m.group(2))
                    if m.group(1) == "table"
                    else client.escape_column_name(m.group(2))
                ),
                sql,
            )
            try:
                with client.execute_query(rendered, *args) as cursor:
                    return list(cursor.fetchall())
            except DatabaseUndefinedRelation:
                return []

        yield query


class StoredDocuments:
    """Reads one user's stored documents through `open_reader` (one connection per call)."""

    def __init__(self, open_reader: Callable[[], Any], user_id: str) -> None:
        self._open = open_reader
        self.user_id = user_id

    def extent(self, collection: Collection) -> DayRange | None:
        """The first and last cursor day stored for the user (None: nothing stored)."""
        cursor = collection.cursor
        sql = (
            f"SELECT MIN({{col:{cursor}}}), MAX({{col:{cursor}}}) FROM {{table:{collection.name}}} "
            f"WHERE {{col:{USER_ID}}} = %s"
        )
        with self._open() as query:
            rows = query(sql, self.user_id)
        if not rows or rows[0][0] is None:
            return None
        return DayRange(cursor_day(rows[0][0]), cursor_day(rows[0][1]))

    def newest(self, collection: Collection) -> datetime | date | None:
        """The newest cursor value stored for the user (an instant for a time series)."""
        sql = (
            f"SELECT MAX({{col:{collection.cursor}}}) FROM {{table:{collection.name}}} "
            f"WHERE {{col:{USER_ID}}} = %s"
        )
        with self._open() as query:
            rows = query(sql, self.user_id)
        return key_value(rows[0][0]) if rows and rows[0][0] is not None else None

    def oldest_open(self, collection: Collection) -> date | None:
        """The oldest cursor day of a stored document still open (`Collection.open_end`)."""
        sql = (
            f"SELECT MIN({{col:{collection.cursor}}}) FROM {{table:{collection.name}}} "
            f"WHERE {{col:{USER_ID}}} = %s AND {{col:{collection.open_end}}} IS NULL"
        )
        with self._open() as query:
            rows = query(sql, self.user_id)
        return as_date(rows[0][0]) if rows and rows[0][0] is not None else None

    def keys(self, collection: Collection, span: DayRange | None) -> Stored:
        """Keys (without `user_id`) and cursor days of the user's stored rows in `span`
        (None: every row, for undated collections)."""
        keys = [name for name in collection.primary_key if name != USER_ID]
        cursor = collection.cursor
        selected = keys + ([cursor] if cursor and cursor not in keys else [])
        columns = ", ".join(f"{{col:{name}}}" for name in selected)
        sql = f"SELECT {columns} FROM {{table:{collection.name}}} WHERE {{col:{USER_ID}}} = %s"
        args: list[Any] = [self.user_id]
        if span is not None and cursor:
            lo, hi, upper = collection.kind.stored_bounds(span)
            sql += f" AND {{col:{cursor}}} >= %s AND {{col:{cursor}}} {upper} %s"
            args += [lo, hi]
        with self._open() as query:
            records = query(sql, *args)
        out: Stored = []
        for record in records:
            values = dict(zip(selected, record))
            key = tuple(key_value(values[name]) for name in keys)
            out.append((key, cursor_day(values[cursor]) if cursor else None))
        return out


def key_value(value: Any) -> Hashable:
    """A stored key part comparable with `rows.key_of`: instants as aware UTC datetimes."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    if isinstance(value, str) and len(value) > 10 and value[10:11] in ("T", " "):
        moment = datetime.fromisoformat(value)
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    return value


def cursor_day(value: Any) -> date | None:
    """The day a stored cursor value belongs to (the UTC day of an instant)."""
    if value is None:
        return None
    moment = key_value(value)
    if isinstance(moment, datetime):
        return moment.date()
    return as_date(moment)


def as_date(value: Any) -> date:
    """A stored day as a `date` (DATE, TIMESTAMP or ISO text, as destinations return them)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
