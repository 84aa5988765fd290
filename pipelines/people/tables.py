"""The tables an erasure examines and the SQL it runs, written once for DuckDB and BigQuery.

A person's rows are every row with their `user_id` (raw tables, dlt's staging copies,
the loader's records, dbt's models), dlt child rows linked to those rows by
`_dlt_root_id`/`_dlt_parent_id`, the `_dlt_pipeline_state` rows of the pipelines that
loaded them, and the `_dlt_loads` records no remaining row refers to. The statements
below name them; a `Dialect` spells identifiers and parameters for each warehouse.
Parameters: `user_id` (text), `pipelines` and `load_ids` (arrays of text).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pipelines.oura.settings import USER_ID

LOADS_TABLE = "_dlt_loads"
STATE_TABLE = "_dlt_pipeline_state"
LINK_COLUMNS = ("_dlt_root_id", "_dlt_parent_id")  # how dlt ties child rows to their parents


@dataclass(frozen=True)
class WarehouseTable:
    """A table an erasure examines: its schema (a BigQuery dataset), name and columns."""

    schema: str
    name: str
    columns: frozenset[str]

    @property
    def label(self) -> str:
        """`schema.table`, as reports name it."""
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class Dialect:
    """How one warehouse spells a table reference, a named parameter and array membership."""

    ref: Callable[[WarehouseTable], str]
    param: Callable[[str], str]
    in_array: Callable[[str, str], str]  # (column, array parameter) -> predicate


def quote_duckdb(identifier: str) -> str:
    """A DuckDB identifier in double quotes."""
    return '"' + identifier.replace('"', '""') + '"'


DUCKDB_SQL = Dialect(
    ref=lambda t: f"{quote_duckdb(t.schema)}.{quote_duckdb(t.name)}",
    param=lambda name: f"${name}",
    in_array=lambda column, name: f"{column} IN (SELECT unnest(${name}))",
)


def bigquery_sql(project: str) -> Dialect:
    """The BigQuery dialect for tables of `project`."""
    return Dialect(
        ref=lambda t: f"`{project}.{t.schema}.{t.name}`",
        param=lambda name: f"@{name}",
        in_array=lambda column, name: f"{column} IN UNNEST(@{name})",
    )


def find(tables: list[WarehouseTable], schema: str, name: str) -> WarehouseTable | None:
    """The table `schema.name`, if it is among `tables`."""
    return next((t for t in tables if t.schema == schema and t.name == name), None)


def owned_and_children(
    tables: list[WarehouseTable],
) -> tuple[list[WarehouseTable], list[WarehouseTable]]:
    """Tables with a `user_id` column, and dlt child tables linked to rows by id."""
    owned = [t for t in tables if USER_ID in t.columns]
    children = [
        t
        for t in tables
        if USER_ID not in t.columns and "_dlt_id" in t.columns and t.columns & set(LINK_COLUMNS)
    ]
    return owned, children


def user_load_ids_sql(sql: Dialect, raw: list[WarehouseTable]) -> str | None:
    """The distinct dlt load ids of the person's rows in the raw tables (None: no such table)."""
    parts = [
        f"SELECT DISTINCT _dlt_load_id FROM {sql.ref(t)} WHERE {USER_ID} = {sql.param('user_id')}"
        for t in raw
        if USER_ID in t.columns and "_dlt_load_id" in t.columns
    ]
    return " UNION DISTINCT ".join(parts) or None


def pipelines_of_loads_sql(sql: Dialect, state: WarehouseTable) -> str:
    """The pipelines that stored their state in one of the loads `load_ids`."""
    return (
        f"SELECT DISTINCT pipeline_name FROM {sql.ref(state)} "
        f"WHERE {sql.in_array('_dlt_load_id', 'load_ids')}"
    )


def doomed_ids_sql(sql: Dialect, owned: list[WarehouseTable]) -> str | None:
    """The `_dlt_id` of every row of the person's (None: no owned table has one)."""
    parts = [
        f"SELECT _dlt_id AS id FROM {sql.ref(t)} WHERE {USER_ID} = {sql.param('user_id')}"
        for t in owned
        if "_dlt_id" in t.columns
    ]
    return " UNION ALL ".join(parts) or None


def erasure_steps(
    sql: Dialect,
    tables: list[WarehouseTable],
    dataset: str,
    *,
    has_user: bool,
    has_pipelines: bool,
    has_loads: bool,
    doomed: str | None,
) -> list[tuple[WarehouseTable, str]]:
    """What an erasure deletes, in order: (table, WHERE condition) per statement.

    Args:
        sql: the warehouse's dialect.
        tables: every base table examined.
        dataset: the raw dataset (dlt's state and loads live there).
        has_user: the person's user id is known (else only pipeline state goes).
        has_pipelines: pipelines whose state goes are known (`pipelines` parameter).
        has_loads: the person's load ids are known (`load_ids` parameter).
        doomed: a table of the `_dlt_id`s of the person's rows and their children
            (column `id`), when there are child tables.
    """
    owned, children = owned_and_children(tables)
    steps: list[tuple[WarehouseTable, str]] = []
    if has_user:
        if doomed:
            for table in children:
                links = " OR ".join(
                    f"{c} IN (SELECT id FROM {doomed})" for c in LINK_COLUMNS if c in table.columns
                )
                steps.append((table, f"({links})"))
        steps += [(table, f"{USER_ID} = {sql.param('user_id')}") for table in owned]
    state = find(tables, dataset, STATE_TABLE)
    if state is not None and has_pipelines:
        steps.append((state, sql.in_array("pipeline_name", "pipelines")))
    loads = find(tables, dataset, LOADS_TABLE)
    if loads is not None and has_loads:
        # Loads still referenced by a row that stays: rows that go are left out by a filter,
        # so the statement means the same whether it runs after the deletes or (in a dry
        # run) instead of them.
        referenced = [
            f"SELECT _dlt_load_id FROM {sql.ref(t)} WHERE _dlt_load_id IS NOT NULL"
            f"{_stays(sql, t, has_user, doomed, has_pipelines)}"
            for t in tables
            if t.schema == dataset and "_dlt_load_id" in t.columns
        ]
        still_used = (
            f" AND load_id NOT IN ({' UNION DISTINCT '.join(referenced)})" if referenced else ""
        )
        steps.append((loads, f"{sql.in_array('load_id', 'load_ids')}{still_used}"))
    return steps


def _stays(
    sql: Dialect, table: WarehouseTable, has_user: bool, doomed: str | None, has_pipelines: bool
) -> str:
    """A filter keeping only the rows of `table` that the erasure leaves."""
    if table.name == STATE_TABLE and has_pipelines:
        return f" AND NOT ({sql.in_array('pipeline_name', 'pipelines')})"
    if has_user and USER_ID in table.columns:
        return f" AND ({USER_ID} IS NULL OR {USER_ID} != {sql.param('user_id')})"
    if doomed and "_dlt_id" in table.columns and table.columns & set(LINK_COLUMNS):
        return f" AND _dlt_id NOT IN (SELECT id FROM {doomed})"
    return ""


def parameters_of(statement: str, sql: Dialect, values: dict) -> dict:
    """The named parameters `statement` uses, from `values`."""
    return {name: value for name, value in values.items() if sql.param(name) in statement}
