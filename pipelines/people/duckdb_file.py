"""A DuckDB warehouse file as the people functions use it: open, list, rewrite."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipelines.core import warehouse_file
from pipelines.core.private import private_scratch
from pipelines.core.warehouse_file import WarehouseInUse
from pipelines.people.records import ErasureReport, WarehouseBusy
from pipelines.people.tables import WarehouseTable, quote_duckdb


@contextlib.contextmanager
def connect(path: Path, *, read_only: bool) -> Iterator[Any]:
    """A DuckDB connection (`pipelines.core.warehouse_file.connect`); a file another
    program holds is `WarehouseBusy`."""
    try:
        con = warehouse_file.connect(path, read_only=read_only)
    except WarehouseInUse as exc:
        raise WarehouseBusy(path, exc.cause, exc.advice) from None
    try:
        yield con
    finally:
        con.close()


def check_writable(path: Path, lock_path: Path) -> None:
    """Before the write lock is taken (its file made): a file another program holds is
    `WarehouseBusy`, one that is not a DuckDB database an `OuraEltError`."""
    try:
        warehouse_file.check(path, write=True, lock_path=lock_path)
    except WarehouseInUse as exc:
        raise WarehouseBusy(path, exc.cause, exc.advice) from None


def base_tables(con: Any) -> list[WarehouseTable]:
    """Every base table of the open file (views hold no rows), with its columns."""
    rows = con.execute(
        "SELECT c.table_schema, c.table_name, list(c.column_name) "
        "FROM information_schema.columns AS c JOIN information_schema.tables AS t "
        "ON t.table_catalog = c.table_catalog AND t.table_schema = c.table_schema "
        "AND t.table_name = c.table_name "
        "WHERE t.table_type = 'BASE TABLE' AND t.table_catalog = current_database() "
        "GROUP BY 1, 2 ORDER BY 1, 2"
    ).fetchall()
    return [WarehouseTable(schema, name, frozenset(columns)) for schema, name, columns in rows]


def compact_database(con: Any, path: Path, report: ErasureReport) -> None:
    """Rewrite the open database into a new file that replaces `path` (free blocks, where
    deleted rows' bytes linger, are not copied); on failure `report.compact_problem` says why."""
    with contextlib.ExitStack() as stack:
        try:  # DuckDB makes the copy with the umask's mode: in a folder only we may enter
            folder = stack.enter_context(private_scratch(path.parent))
        except OSError as exc:
            report.compact_problem = f"could not rewrite {path}: {exc.strerror or exc}"
            return
        copy = _copy_database(con, path, folder / path.name, report)
        if copy is not None:
            con.close()
            _swap_in(copy, path, report)


def _copy_database(con: Any, path: Path, copy: Path, report: ErasureReport) -> Path | None:
    """Copy the open database into the new file `copy`."""
    import duckdb

    alias = "_oura_compacted"
    try:
        con.execute(f"ATTACH '{str(copy).replace(chr(39), chr(39) * 2)}' AS {alias}")
        try:
            catalog = con.execute("SELECT current_database()").fetchone()[0]
            con.execute(f"COPY FROM DATABASE {quote_duckdb(catalog)} TO {alias}")
        finally:
            con.execute(f"DETACH {alias}")
    except duckdb.Error as exc:
        _remove_copy(copy)
        report.compact_problem = f"could not rewrite {path}: {str(exc).splitlines()[0]}"
        return None
    return copy


def _swap_in(copy: Path, path: Path, report: ErasureReport) -> None:
    """Atomically replace the warehouse file with its compacted copy."""
    try:
        shutil.copymode(path, copy)
        with open(copy, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(copy, path)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except OSError as exc:
        _remove_copy(copy)
        report.compact_problem = f"could not replace {path} with its rewritten copy: {exc}"
        return
    report.compacted = True


def _remove_copy(copy: Path) -> None:
    for leftover in (copy, copy.with_name(copy.name + ".wal")):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()
