"""The raw tables' shape, defined once and rendered for dlt, Arrow and DuckDB.

A raw table holds one document per row: `user_id` (its owner, part of every key), the
collection's own fields with their spec types (`settings.Collection.columns`), beside
every instant its written offset (`<field>_utc_offset`), and the tombstone flag
`_oura_deleted` that makes a merge delete a stored document (dlt's `hard_delete`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pyarrow as pa

from pipelines.oura.settings import (
    DELETED,
    OFFSET_SUFFIX,
    TS,
    USER_ID,
    B,
    Collection,
    D,
    F,
    I,
    J,
    T,
)

# The dlt data types used in `settings`, as Arrow and DuckDB spell them (JSON: text in Arrow).
ARROW_TYPES: dict[str, pa.DataType] = {
    T: pa.string(),
    D: pa.date32(),
    TS: pa.timestamp("us", tz="UTC"),
    I: pa.int64(),
    F: pa.float64(),
    B: pa.bool_(),
}
DUCKDB_TYPES: dict[str, str] = {
    T: "VARCHAR",
    D: "DATE",
    TS: "TIMESTAMP WITH TIME ZONE",
    I: "BIGINT",
    F: "DOUBLE",
    B: "BOOLEAN",
    J: "JSON",
}
# dlt's own columns of a raw table, as the loader writes them.
DLT_COLUMNS: dict[str, str] = {"_dlt_load_id": T, "_dlt_id": T}

PROGRESS_COLUMNS: dict[str, dict[str, Any]] = {
    USER_ID: {"data_type": T, "nullable": False},
    "collection": {"data_type": T, "nullable": False},
    "start_day": {"data_type": D, "nullable": False},
    "end_day": {"data_type": D, "nullable": False},
    "loaded_at": {"data_type": TS, "nullable": False},
}


def raw_columns(collection: Collection) -> dict[str, str]:
    """Every column of `collection`'s raw table and its dlt data type, in table order."""
    columns = {USER_ID: T}
    for name, data_type in collection.columns.items():
        columns[name] = data_type
        if data_type == TS:
            columns[name + OFFSET_SUFFIX] = T
    columns[DELETED] = B
    return columns


def column_hints(collection: Collection, rows: Iterable[dict] = ()) -> dict[str, dict[str, Any]]:
    """dlt column hints of `collection`'s raw table.

    Known fields get their spec types; the key columns are required; `_oura_deleted`
    is dlt's `hard_delete` flag. Fields the API added since (seen in `rows`) that hold
    lists or samples become JSON columns too, so a document never fans out into child
    tables.
    """
    hints: dict[str, dict[str, Any]] = {
        name: {"data_type": data_type} for name, data_type in raw_columns(collection).items()
    }
    for name in (USER_ID, *collection.primary_key):
        hints[name]["nullable"] = False
    hints[DELETED]["hard_delete"] = True
    hints.update(new_json_columns(collection, rows))
    return hints


def arrow_types(collection: Collection) -> dict[str, pa.DataType]:
    """Arrow types of `collection`'s raw columns (JSON fields have none: Arrow infers them)."""
    return {
        name: ARROW_TYPES[data_type]
        for name, data_type in raw_columns(collection).items()
        if data_type in ARROW_TYPES
    }


def duckdb_ddl(collection: Collection) -> str:
    """The column list of an empty raw table in DuckDB, dlt's own columns included."""
    columns = {**raw_columns(collection), **DLT_COLUMNS}
    return ", ".join(f'"{name}" {DUCKDB_TYPES[data_type]}' for name, data_type in columns.items())


def new_json_columns(collection: Collection, rows: Iterable[dict]) -> dict[str, dict[str, Any]]:
    """JSON hints for fields the API added since the spec that hold lists or samples."""
    return {name: {"data_type": J} for name in _new_json_fields(collection, rows)}


def _new_json_fields(collection: Collection, rows: Iterable[dict]) -> set[str]:
    known = set(collection.columns)
    found: set[str] = set()
    for row in rows:
        for name, value in row.items():
            if name in known or name in found:
                continue
            if isinstance(value, list) or (
                isinstance(value, dict) and isinstance(value.get("items"), list)
            ):
                found.add(name)
    return found
