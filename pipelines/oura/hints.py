"""dlt column hints of the raw tables, from the collection table in `settings`."""

from __future__ import annotations

from typing import Any, Iterable

from pipelines.oura.settings import (
    DELETED,
    OFFSET_SUFFIX,
    USER_ID,
    Collection,
)

PROGRESS_COLUMNS: dict[str, dict[str, Any]] = {
    USER_ID: {"data_type": "text", "nullable": False},
    "collection": {"data_type": "text", "nullable": False},
    "start_day": {"data_type": "date", "nullable": False},
    "end_day": {"data_type": "date", "nullable": False},
    "loaded_at": {"data_type": "timestamp", "nullable": False},
}


def column_hints(collection: Collection, rows: Iterable[dict] = ()) -> dict[str, dict[str, Any]]:
    """Typed columns of `collection`'s raw table.

    Known fields get their spec types; each instant gets a `<field>_utc_offset`
    text column; `user_id` is required; `_oura_deleted` marks tombstones. Fields
    the API added since (seen in `rows`) that hold lists or samples become JSON
    columns too, so a document never fans out into child tables.
    """
    hints: dict[str, dict[str, Any]] = {USER_ID: {"data_type": "text", "nullable": False}}
    for name, data_type in collection.columns.items():
        hints[name] = {"data_type": data_type}
        if data_type == "timestamp":
            hints[name + OFFSET_SUFFIX] = {"data_type": "text"}
    for name in collection.primary_key:
        hints[name] = {**hints.get(name, {}), "nullable": False}
    hints[DELETED] = {"data_type": "bool", "hard_delete": True}
    for name in _new_json_fields(collection, rows):
        hints[name] = {"data_type": "json"}
    return hints


def _new_json_fields(collection: Collection, rows: Iterable[dict]) -> set[str]:
    known = set(collection.columns)
    found: set[str] = set()
    for row in rows:
        for name, value in row.items():
            if name in known or name in found:
                continue
            if isinstance(value, list) or (isinstance(value, dict) and isinstance(value.get("items"), list)):
                found.add(name)
    return found

