"""The Oura dlt source: one merge resource per collection, generated from `settings`.

The source loads one *chunk* that `pipelines.oura.extract.ChunkFetcher` has
fetched: each collection's trimmed rows plus tombstones of documents Oura no
longer returns (dropped by the merge through the `hard_delete` column), and the
progress rows that commit with them. Orchestration (which chunks, in which
order, resuming after a crash) lives in `pipelines.load`.
"""

from __future__ import annotations

from typing import Any, Iterator

import dlt
import pyarrow as pa
from dlt.sources import DltResource

from pipelines.oura.arrow import to_table
from pipelines.oura.extract import ChunkBatch, CollectionBatch
from pipelines.oura.hints import PROGRESS_COLUMNS, column_hints
from pipelines.oura.settings import COLLECTIONS, PROGRESS_TABLE, SERIES, SOURCE_NAME


@dlt.source(name=SOURCE_NAME, max_table_nesting=2)
def oura_source(batch: ChunkBatch) -> Iterator[DltResource]:
    """Resources of one fetched chunk: a merge table per collection, and progress.

    Args:
        batch: rows, tombstones and progress of one chunk for one user.
    """
    # Time series arrive as Arrow tables; give them dlt's load and row ids like every other table.
    dlt.config["normalize.parquet_normalizer.add_dlt_load_id"] = True
    dlt.config["normalize.parquet_normalizer.add_dlt_id"] = True
    for collection in COLLECTIONS:
        part = batch.parts.get(collection.name)
        if part is None:
            continue
        yield dlt.resource(
            _documents,
            name=collection.name,
            write_disposition={"disposition": "merge", "strategy": "delete-insert"},
            primary_key=list(collection.primary_key),
            columns=column_hints(collection, part.rows if collection.kind != SERIES else ()),
        )(part)
    yield dlt.resource(
        _progress_rows, name=PROGRESS_TABLE, write_disposition="append", columns=PROGRESS_COLUMNS
    )(batch.progress)


def _documents(part: CollectionBatch) -> Iterator[Any]:
    if part.materialize and not (part.documents or part.tombstones):
        yield dlt.mark.materialize_table_schema()
    tables = [table for table in part.tables if table.num_rows]
    if tables:  # time series fetched straight into Arrow, one table per window
        yield pa.concat_tables(tables, promote_options="permissive")
    for rows in (part.rows, part.tombstones):
        if rows:
            yield to_table(part.collection, rows) if part.collection.kind == SERIES else rows


def _progress_rows(rows: list[dict]) -> Iterator[list[dict]]:
    if rows:
        yield rows
