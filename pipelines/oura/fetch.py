"""Fetching one request window: the padded query, every page, trimmed rows, seen keys.

For every window the padded request is read to the last page; documents whose
cursor day is inside the window become rows, all others only count as *seen*.
Time series go page by page straight into Arrow tables (`arrow.page_table`):
a million samples never become a million dicts. A document stored for a day inside
a fetched window that the API did not return at all (padding included) was deleted
at Oura: it gets a tombstone, and the merge removes it (dlt `hard_delete`).
"""

from __future__ import annotations

from collections.abc import Hashable
from datetime import date
from typing import Any

import pyarrow as pa

from pipelines.oura.arrow import inside, one_per_key, page_table
from pipelines.oura.dates import DayRange
from pipelines.oura.helpers import CollectionFailed, OuraClient
from pipelines.oura.rows import cursor_day, key_of, to_row, tombstone
from pipelines.oura.settings import USER_ID, Collection

Key = tuple[Hashable, ...]
Stored = list[tuple[Key, "date | None"]]


def window_params(collection: Collection, window: DayRange) -> dict[str, str]:
    """The padded query of one request window (`kinds`)."""
    if not collection.dated:
        raise ValueError(f"{collection.name} is not asked for by date window")
    return collection.kind.params(window)


def fetch(client: OuraClient, collection: Collection, window: DayRange, user_id: str) -> Any:
    """One window of a dated collection: (rows, seen keys) of documents, or an Arrow table
    of samples (None: none)."""
    if collection.kind.samples:
        return fetch_series_window(client, collection, window, user_id)
    return fetch_window(client, collection, window, user_id)


def fetch_window(
    client: OuraClient, collection: Collection, window: DayRange, user_id: str
) -> tuple[list[dict], set[Key]]:
    """Rows of `window` (trimmed on the cursor day) and the keys of everything returned."""
    rows: dict[Key, dict] = {}
    seen: set[Key] = set()
    for page in client.pages(collection, window_params(collection, window)):
        for doc in page:
            row = to_row(collection, doc, user_id)
            key = _checked_key(collection, row)
            seen.add(key)
            day = cursor_day(collection, row)
            if day is not None and day in window:
                rows[key] = row
    return list(rows.values()), seen


def fetch_series_window(
    client: OuraClient, collection: Collection, window: DayRange, user_id: str
) -> pa.Table | None:
    """`fetch_window` for time series, page by page into Arrow (no dict per sample): the
    samples of the window's UTC days, one per key (None: no sample).

    The keys returned are those of the table (`arrow.key_set`), built only when something
    is stored for the window: a sample inside the window is never only in the padding.
    """
    tables: list[pa.Table] = []
    for page in client.pages(collection, window_params(collection, window)):
        if not page:
            continue
        try:
            table = page_table(collection, page, user_id)
        except pa.ArrowException as exc:
            reason = f"a page holds values of unexpected types ({exc})"
            raise CollectionFailed(collection.name, reason) from None
        _checked_keys(collection, table)
        tables.append(inside(collection, table, window))
    if not tables:
        return None
    return one_per_key(collection, pa.concat_tables(tables, promote_options="permissive"))


def fetch_everything(client: OuraClient, collection: Collection, user_id: str) -> list[dict]:
    """All documents of an undated list route (`ring_configuration`), one row per key."""
    rows: dict[Key, dict] = {}
    for page in client.pages(collection, {}):
        for doc in page:
            row = to_row(collection, doc, user_id)
            rows[_checked_key(collection, row)] = row
    return list(rows.values())


def _checked_key(collection: Collection, row: dict) -> Key:
    key = key_of(collection, row)
    if any(part is None for part in key):
        fields = ", ".join(n for n in collection.primary_key if n != USER_ID)
        raise CollectionFailed(
            collection.name, f"the API returned a document without its key ({fields})"
        )
    return key


def _checked_keys(collection: Collection, table: pa.Table) -> None:
    """`_checked_key` for a whole table of samples."""
    names = [n for n in collection.primary_key if n != USER_ID]
    if any(n not in table.column_names or table[n].null_count for n in names):
        reason = f"the API returned a document without its key ({', '.join(names)})"
        raise CollectionFailed(collection.name, reason)


def tombstones(
    collection: Collection,
    stored: Stored,
    seen: set[Key],
    user_id: str,
    window: DayRange | None = None,
) -> list[dict]:
    """A tombstone for every stored key (in `window`, if given) that the API did not return."""
    return [
        tombstone(collection, key, day, user_id)
        for key, day in stored
        if key not in seen and (window is None or (day is not None and day in window))
    ]
