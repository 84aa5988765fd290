"""Time-series rows as Arrow tables: dlt's fast path (Parquet files, no per-row normalizing).

Heart rate alone is about a thousand rows per day and person; as Python rows dlt
spends most of a load turning them into SQL text. As Arrow tables they load as
Parquet, an order of magnitude faster. Columns follow the collection's types; a
field the API adds later is kept with the type Arrow infers for it.

The fetcher builds these tables page by page (`page_table`), column by column
from the decoded page, with instants parsed by Arrow: no dict per sample.
"""

from __future__ import annotations

import os
import re
from collections.abc import Hashable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.oura.dates import DayRange
from pipelines.oura.rows import to_row
from pipelines.oura.settings import OFFSET_SUFFIX, TS, USER_ID, Collection
from pipelines.oura.shape import ARROW_TYPES, arrow_types


def use_system_memory_pool() -> None:
    """Allocate Arrow buffers with malloc, unless `ARROW_DEFAULT_MEMORY_POOL` says otherwise.

    Arrow's default pool (mimalloc) keeps freed memory for reuse: over a load of
    many chunks it held about 120 MB more than malloc, and was no faster.
    """
    if not os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        pa.set_memory_pool(pa.system_memory_pool())


def to_table(collection: Collection, rows: list[dict[str, Any]]) -> pa.Table:
    """An Arrow table of `rows` (all keys of all rows; key columns not nullable)."""
    types = arrow_types(collection)
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    ordered = [n for n in types if n in names] + [n for n in names if n not in types]
    required = set(collection.primary_key)
    fields, arrays = [], []
    for name in ordered:
        values = [row.get(name) for row in rows]
        array = pa.array(values, type=types.get(name))
        if pa.types.is_null(array.type):
            continue  # a new field that is null everywhere: nothing to type it by yet
        fields.append(pa.field(name, array.type, nullable=name not in required))
        arrays.append(array)
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


# ------------------------------------------------------------- time series, page by page

_PLAIN_OFFSET = re.compile(r"[+-]\d{2}:\d{2}")


def page_table(collection: Collection, docs: list[Any], user_id: str) -> pa.Table:
    """The raw rows of one page of samples as an Arrow table, without a dict per sample.

    Equal to `to_table` of `rows.to_row` of every sample: one column per field
    (`pa.array` with the collection's type, as `to_table` does), instants parsed
    by Arrow and their offset kept as written. A page that does not fit this
    shape (an instant without "+HH:MM", a missing key, a value of the wrong type,
    nested objects or day fields) goes through `to_row` and `to_table` instead,
    so odd pages behave, and fail, exactly as they always did.
    """
    table = _columns_of(collection, docs, user_id) if docs else None
    if table is None:
        table = to_table(collection, [to_row(collection, doc, user_id) for doc in docs])
    return table


def _columns_of(collection: Collection, docs: list[Any], user_id: str) -> pa.Table | None:
    """The fast path of `page_table`; None when the page needs the row path."""
    if collection.date_fields or collection.nested_objects:
        return None
    try:
        names = dict.fromkeys(docs[0])
        names.update(dict.fromkeys(sorted(set().union(*docs) - names.keys())))
        owner = pa.repeat(pa.scalar(user_id, pa.string()), len(docs))
        columns: dict[str, pa.Array] = {USER_ID: owner}
        types = arrow_types(collection)
        generated = {USER_ID, *(name + OFFSET_SUFFIX for name in collection.timestamp_fields)}
        for name in names:
            if name in generated:
                continue  # the loader's own columns: the row path overwrites them too
            values = [doc.get(name) for doc in docs]
            if name in collection.timestamp_fields:
                instants = _instants(values)
                if instants is None:
                    return None
                columns[name], columns[name + OFFSET_SUFFIX] = instants
                continue
            array = pa.array(values, type=types.get(name))
            if not pa.types.is_null(array.type):
                columns[name] = array
    except (TypeError, ValueError, AttributeError, pa.ArrowException):
        return None  # not a list of flat samples: the row path raises what it always raised
    required = set(collection.primary_key)
    if any(name not in columns or columns[name].null_count for name in required):
        return None  # the row path names the missing key
    ordered = [n for n in types if n in columns] + [n for n in columns if n not in types]
    fields = [pa.field(n, columns[n].type, nullable=n not in required) for n in ordered]
    return pa.Table.from_arrays([columns[n] for n in ordered], schema=pa.schema(fields))


def _instants(values: list[Any]) -> tuple[pa.Array, pa.Array] | None:
    """UTC instants and "+HH:MM" offsets of ISO strings that all end in "+HH:MM"; else None."""
    text = pa.array(values)
    if not pa.types.is_string(text.type) or text.null_count:
        return None
    offsets = pc.utf8_slice_codeunits(text, -6)
    if not all(_PLAIN_OFFSET.fullmatch(o) for o in pc.unique(offsets).to_pylist()):
        return None
    return pc.cast(text, ARROW_TYPES[TS]), offsets


def inside(collection: Collection, table: pa.Table, window: DayRange) -> pa.Table:
    """The samples whose UTC day is in `window` (`rows.cursor_day` of a sample)."""
    lo, hi = window.utc_bounds()
    cursor = table[collection.cursor]
    kind = cursor.type
    after_lo = pc.greater_equal(cursor, pa.scalar(lo, kind))
    return table.filter(pc.and_(after_lo, pc.less(cursor, pa.scalar(hi, kind))))


def one_per_key(collection: Collection, table: pa.Table) -> pa.Table:
    """One row per key, the last one sent (as the row path's dict by key keeps it)."""
    keys = [n for n in collection.primary_key if n != USER_ID]
    position = "_oura_position"
    order = pa.array(range(table.num_rows), pa.int64())
    indexed = table.select(keys).append_column(position, order)
    last = indexed.group_by(keys, use_threads=False).aggregate([(position, "max")])
    if last.num_rows == table.num_rows:
        return table
    kept = last[position + "_max"]
    return table.take(kept.take(pc.sort_indices(kept)))


def key_set(collection: Collection, table: pa.Table) -> set[tuple[Hashable, ...]]:
    """The keys of `table` (without `user_id`), comparable with `stored.StoredDocuments.keys`."""
    keys = [n for n in collection.primary_key if n != USER_ID]
    return set(zip(*(table[n].to_pylist() for n in keys)))
