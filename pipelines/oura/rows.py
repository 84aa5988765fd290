"""Oura documents as raw rows: owner, typed dates and instants, keys and cursor days.

A row is the document itself plus `user_id`, with `day`-like fields as `date`,
instants as aware `datetime` (stored as UTC) and each instant's original offset
kept beside it in `<field>_utc_offset` ("-07:00"). Everything else (numbers,
nested objects, samples) is left for dlt: nested objects are flattened into
columns, samples and lists go whole into JSON columns (see `settings`).
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from datetime import UTC, date, datetime
from typing import Any

from pipelines.oura.settings import DELETED, OFFSET_SUFFIX, USER_ID, Collection

_OFFSET = re.compile(r"(Z|[+-]\d{2}:?\d{2})$")


def utc_offset(text: str) -> str | None:
    """The offset an ISO instant was written with, as "+HH:MM"; None if it has none."""
    match = _OFFSET.search(text)
    if not match:
        return None
    raw = match.group(1)
    if raw == "Z":
        return "+00:00"
    return raw if ":" in raw else f"{raw[:3]}:{raw[3:]}"


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant as an aware datetime (no offset: read as UTC)."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def to_row(collection: Collection, doc: dict[str, Any], user_id: str) -> dict[str, Any]:
    """The raw row of one document of `collection` owned by `user_id`."""
    row = dict(doc)
    row[USER_ID] = user_id
    _drop_null_objects(row, collection.nested_objects, "")
    for name in collection.date_fields:
        value = row.get(name)
        if isinstance(value, str):
            row[name] = date.fromisoformat(value[:10])
    for name in collection.timestamp_fields:
        value = row.get(name)
        if isinstance(value, str):
            row[name] = parse_instant(value)
            row[name + OFFSET_SUFFIX] = utc_offset(value)
        elif value is None and name in row:
            row[name + OFFSET_SUFFIX] = None
    return row


def _drop_null_objects(obj: dict[str, Any], paths: frozenset[str], prefix: str) -> None:
    """Remove null nested objects: their flattened columns are already typed (and null)."""
    if not paths:
        return
    for name in list(obj):
        path = prefix + name
        if path not in paths:
            continue
        value = obj[name]
        if value is None:
            del obj[name]
        elif isinstance(value, dict):
            obj[name] = value = dict(value)
            _drop_null_objects(value, paths, path + "__")


def cursor_day(collection: Collection, row: dict[str, Any]) -> date | None:
    """The day a row belongs to for windows: its cursor day, or the UTC day of a sample."""
    value = row.get(collection.cursor) if collection.cursor else None
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).date()
    if isinstance(value, date):
        return value
    if collection.kind.samples:
        return parse_instant(value).astimezone(UTC).date()
    return date.fromisoformat(str(value)[:10])


def key_of(collection: Collection, row: dict[str, Any]) -> tuple[Hashable, ...]:
    """The row's primary key without `user_id`, comparable with `warehouse` keys."""
    return tuple(_key_part(row.get(name)) for name in collection.primary_key if name != USER_ID)


def _key_part(value: Any) -> Hashable:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, str) and len(value) > 10 and value[10:11] == "T":
        return parse_instant(value).astimezone(UTC)
    return value


def tombstone(
    collection: Collection, key: tuple[Hashable, ...], day: date | None, user_id: str
) -> dict:
    """A row that makes the merge delete the stored document with `key`."""
    names = [name for name in collection.primary_key if name != USER_ID]
    row: dict[str, Any] = {USER_ID: user_id, **dict(zip(names, key)), DELETED: True}
    if collection.cursor and collection.cursor not in row and day is not None:
        row[collection.cursor] = day
    return row
