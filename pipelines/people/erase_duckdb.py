"""Erasing one person from a DuckDB warehouse, in one transaction, then from the disk image."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from pipelines.core.locks import warehouse_lock_path
from pipelines.core.target import DUCKDB, RAW_DATASET, duckdb_file
from pipelines.people.duckdb_file import base_tables, check_writable, compact_database, connect
from pipelines.people.leftovers import (
    forget_outside_warehouse,
    local_pipelines_with,
    pipelines_dir,
    warehouse_lock_or_busy,
)
from pipelines.people.records import ErasureReport
from pipelines.people.tables import (
    DUCKDB_SQL,
    LINK_COLUMNS,
    STATE_TABLE,
    WarehouseTable,
    doomed_ids_sql,
    erasure_steps,
    find,
    owned_and_children,
    parameters_of,
    pipelines_of_loads_sql,
    user_load_ids_sql,
)
from pipelines.warehouse import pipeline_name


def erase_user(
    user_id: str | None,
    *,
    profile: str | None = None,
    duckdb_path: Path | str | None = None,
    dataset: str = RAW_DATASET,
    dry_run: bool = False,
    compact: bool = True,
    lock_timeout: float = 0.0,
) -> ErasureReport:
    """Delete one person's rows from the DuckDB file in one transaction, and their pipeline state.

    Deleted: the rows `pipelines.people.tables` describes. After the commit, the
    pipelines' working folders (which keep copies of loaded packages) are removed.
    Other people's rows are never touched.

    DuckDB only marks deleted rows free; their bytes stay in the file until reused.
    With `compact` the file is then rewritten (`COPY FROM DATABASE` into a new file
    that atomically replaces it), so the person's data is gone from the disk image
    too. That needs free space for a second copy; if it fails, the rows are still
    deleted and `compact_problem` says why.

    Args:
        user_id: the Oura user id (None: unknown; only `profile`'s pipeline state goes).
        profile: the saved login whose pipeline state goes too.
        duckdb_path: the DuckDB file (default `pipelines.core.target.duckdb_file()`).
        dataset: the raw dataset.
        dry_run: count what would go, change nothing.
        compact: rewrite the file after deleting rows.
        lock_timeout: seconds to wait for the warehouse lock (0: refuse at once).

    Raises:
        WarehouseBusy: a load or dbt build holds the warehouse lock or the file.
    """
    path = duckdb_file(duckdb_path)
    report = ErasureReport(user_id, str(path), dry_run=dry_run, warehouse_found=path.is_file())
    names = {pipeline_name(profile)} if profile else set()
    load_ids: set[str] = set()
    if report.warehouse_found:  # a held or foreign file: one line, before the lock file is made
        check_writable(path, warehouse_lock_path(DUCKDB, path, dataset))
    with warehouse_lock_or_busy(DUCKDB, path, dataset, lock_timeout, path):
        if report.warehouse_found:
            with connect(path, read_only=False) as con:
                con.begin()
                try:
                    load_ids = _user_load_ids(con, dataset, user_id)
                    names |= _pipelines_of_loads(con, dataset, load_ids)
                    report.deleted = _delete_rows(con, dataset, user_id, load_ids, names)
                except BaseException:
                    con.rollback()
                    raise
                if dry_run:
                    con.rollback()
                else:
                    con.commit()
                    if compact and report.total:
                        compact_database(con, path, report)
        folders = pipelines_dir(path, dataset)
        forget_outside_warehouse(report, folders, names | local_pipelines_with(folders, load_ids))
    return report


def _user_load_ids(con: Any, dataset: str, user_id: str | None) -> set[str]:
    """dlt load ids of the person's rows in the raw dataset."""
    raw = [t for t in base_tables(con) if t.schema == dataset]
    sql = user_load_ids_sql(DUCKDB_SQL, raw)
    if not user_id or sql is None:
        return set()
    return {r[0] for r in con.execute(sql, {"user_id": user_id}).fetchall() if r[0] is not None}


def _pipelines_of_loads(con: Any, dataset: str, load_ids: set[str]) -> set[str]:
    """Pipelines that stored their state in one of these loads (so they loaded this person)."""
    state = find(base_tables(con), dataset, STATE_TABLE)
    if state is None or not load_ids:
        return set()
    sql = pipelines_of_loads_sql(DUCKDB_SQL, state)
    return {r[0] for r in con.execute(sql, {"load_ids": sorted(load_ids)}).fetchall()}


def _delete_rows(
    con: Any, dataset: str, user_id: str | None, load_ids: set[str], names: set[str]
) -> dict[str, int]:
    """The deletes, inside the caller's transaction; rows per table."""
    tables = base_tables(con)
    owned, children = owned_and_children(tables)
    values = {"user_id": user_id, "pipelines": sorted(names), "load_ids": sorted(load_ids)}
    doomed = None
    if user_id and children:
        doomed = f"_oura_erase_{uuid.uuid4().hex[:8]}"  # _dlt_id of every row that goes
        sources = doomed_ids_sql(DUCKDB_SQL, owned) or "SELECT NULL::VARCHAR AS id WHERE false"
        con.execute(f"CREATE TEMP TABLE {doomed} AS {sources}", {"user_id": user_id})
        _collect_children(con, children, doomed)
    deleted: dict[str, int] = {}
    steps = erasure_steps(
        DUCKDB_SQL,
        tables,
        dataset,
        has_user=bool(user_id),
        has_pipelines=bool(names),
        has_loads=bool(load_ids),
        doomed=doomed,
    )
    for table, where in steps:
        statement = f"DELETE FROM {DUCKDB_SQL.ref(table)} WHERE {where}"
        cursor = con.execute(statement, parameters_of(statement, DUCKDB_SQL, values))
        deleted[table.label] = deleted.get(table.label, 0) + _count(cursor)
    if doomed:
        con.execute(f"DROP TABLE {doomed}")
    return deleted


def _collect_children(con: Any, children: list[WarehouseTable], doomed: str) -> None:
    """Add child rows linked to doomed rows until nothing new turns up (any nesting depth)."""
    for _ in range(len(children) + 1):
        added = 0
        for table in children:
            links = " OR ".join(
                f"{c} IN (SELECT id FROM {doomed})" for c in LINK_COLUMNS if c in table.columns
            )
            added += _count(
                con.execute(
                    f"INSERT INTO {doomed} SELECT _dlt_id FROM {DUCKDB_SQL.ref(table)} "
                    f"WHERE ({links}) AND _dlt_id NOT IN (SELECT id FROM {doomed})"
                )
            )
        if not added:
            return


def _count(cursor: Any) -> int:
    row = cursor.fetchone()
    return int(row[0]) if row and row[0] is not None else 0
