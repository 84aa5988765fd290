"""Erasing one person from a BigQuery warehouse: what `pipelines.people.erase_duckdb` does.

The same rows go (`pipelines.people.tables`), found in the raw dataset, dlt's merge
staging datasets (one per pipeline) and dbt's datasets (`<OURA_DBT_SCHEMA>_staging`,
`_intermediate`, `_marts`) through each dataset's `INFORMATION_SCHEMA`, so models added
later are covered without a list. The loader merges every table, so `_dlt_root_id` reaches
child rows at any depth.

Everything runs as one BigQuery script: rows are counted, then deleted, inside one
transaction (`BEGIN TRANSACTION ... COMMIT TRANSACTION`), so a failure changes nothing;
the counts come back as the script's last result. A dry run only counts.

BigQuery keeps deleted rows recoverable through time travel (a dataset's
`max_time_travel_hours`, 2 to 7 days) and then fail-safe (7 more days); the report
says so, as the DuckDB path says whether it rewrote the file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from pipelines.core.errors import OuraEltError
from pipelines.core.target import BIGQUERY, RAW_DATASET
from pipelines.people.leftovers import forget_outside_warehouse, warehouse_lock_or_busy
from pipelines.people.records import ErasureReport
from pipelines.people.tables import (
    STATE_TABLE,
    Dialect,
    WarehouseTable,
    bigquery_sql,
    doomed_ids_sql,
    erasure_steps,
    owned_and_children,
    pipelines_of_loads_sql,
    user_load_ids_sql,
)
from pipelines.transform import DEFAULT_SCHEMA
from pipelines.warehouse import pipeline_name, pipelines_folder

KIND = BIGQUERY
TIME_TRAVEL_NOTE = (
    "BigQuery keeps deleted rows recoverable through time travel (the dataset's "
    "max_time_travel_hours, at most 7 days) and then 7 days of fail-safe"
)
COUNTS = "_oura_erase_counts"
DOOMED = "_oura_erase_doomed"


def erased_datasets(dataset: str = RAW_DATASET, existing: Iterable[str] = ()) -> list[str]:
    """The datasets an erasure looks in: raw, dlt's staging copies (one per pipeline,
    `pipelines.bigquery_destination`, among the `existing` datasets; and the shared one
    older versions used), and dbt's three."""
    prefix = os.environ.get("OURA_DBT_SCHEMA", DEFAULT_SCHEMA)
    per_pipeline = sorted(name for name in existing if name.startswith(f"{dataset}_staging_"))
    return [
        dataset,
        f"{dataset}_staging",
        *per_pipeline,
        f"{prefix}_staging",
        f"{prefix}_intermediate",
        f"{prefix}_marts",
    ]


def erase_user_bigquery(
    user_id: str | None,
    *,
    profile: str | None = None,
    dataset: str = RAW_DATASET,
    dry_run: bool = False,
    client: Any = None,
    lock_timeout: float = 0.0,
) -> ErasureReport:
    """Delete one person's rows from the BigQuery warehouse in one transaction.

    Args:
        user_id: the Oura user id (None: unknown; only `profile`'s pipeline state goes).
        profile: the saved login whose pipeline state goes too.
        dataset: the raw dataset.
        dry_run: count what would go, change nothing.
        client: a `google.cloud.bigquery.Client` (default: from the loader's BigQuery
            configuration, `DESTINATION__BIGQUERY__CREDENTIALS__*`).
        lock_timeout: seconds to wait for the local warehouse lock (0: refuse at once).

    Raises:
        WarehouseBusy: a load or dbt build on this machine holds the warehouse.
        OuraEltError: BigQuery refused (credentials, permissions), in one line.
    """
    bq = client or _client(dataset)
    project = bq.project
    where = f"BigQuery project {project}"
    report = ErasureReport(user_id, where, dry_run=dry_run)
    names = {pipeline_name(profile)} if profile else set()
    with warehouse_lock_or_busy(KIND, None, dataset, lock_timeout, where):
        sql = bigquery_sql(project)
        tables = _tables(bq, project, erased_datasets(dataset, _datasets(bq)))
        raw = [t for t in tables if t.schema == dataset]
        load_ids = _user_load_ids(bq, sql, raw, user_id)
        names |= _pipelines_of_loads(bq, sql, raw, load_ids)
        script = erase_script(
            project, tables, dataset, bool(user_id), bool(names), bool(load_ids), dry_run
        )
        params = {
            "user_id": user_id or "",
            "pipelines": sorted(names),
            "load_ids": sorted(load_ids),
        }
        rows = _run(bq, script, params, "erasing" if not dry_run else "counting")
        report.deleted = {label: int(count) for label, count in rows}
        report.note = TIME_TRAVEL_NOTE if report.total and not dry_run else None
        forget_outside_warehouse(
            report, pipelines_folder(KIND, f"bigquery:{project}", dataset), names
        )
    return report


def erase_script(
    project: str,
    tables: list[WarehouseTable],
    dataset: str,
    has_user: bool,
    has_pipelines: bool,
    has_loads: bool,
    dry_run: bool,
) -> str:
    """The BigQuery script that counts (and unless `dry_run`, deletes) one person's rows.

    Parameters: `@user_id` (STRING), `@pipelines` and `@load_ids` (ARRAY<STRING>). Its
    last statement returns (table label, rows) for every table examined.
    """
    sql = bigquery_sql(project)
    owned, children = owned_and_children(tables)
    steps = [f"CREATE TEMP TABLE {COUNTS} (label STRING, n INT64);"]
    sources = doomed_ids_sql(sql, owned)
    doomed = DOOMED if has_user and sources and children else None
    if doomed:
        steps.append(f"CREATE TEMP TABLE {DOOMED} AS {sources};")
    body: list[str] = []
    for table, where in erasure_steps(
        sql,
        tables,
        dataset,
        has_user=has_user,
        has_pipelines=has_pipelines,
        has_loads=has_loads,
        doomed=doomed,
    ):
        ref = sql.ref(table)
        body.append(
            f"INSERT INTO {COUNTS} SELECT '{table.label}', COUNT(*) FROM {ref} WHERE {where};"
        )
        if not dry_run:
            body.append(f"DELETE FROM {ref} WHERE {where};")
    if dry_run:
        steps += body
    else:
        steps += ["BEGIN TRANSACTION;", *body, "COMMIT TRANSACTION;"]
    steps.append(f"SELECT label, n FROM {COUNTS} ORDER BY label;")
    return "\n".join(steps)


# ---------------------------------------------------------------------------- reading


def _tables(client: Any, project: str, datasets: Iterable[str]) -> list[WarehouseTable]:
    """Base tables (views hold no rows) of the datasets that exist, with their columns."""
    found: list[WarehouseTable] = []
    for dataset in datasets:
        schema = f"`{project}.{dataset}.INFORMATION_SCHEMA"
        query = (
            f"SELECT c.table_name, c.column_name FROM {schema}.COLUMNS` AS c "
            f"JOIN {schema}.TABLES` AS t ON t.table_name = c.table_name "
            "WHERE t.table_type = 'BASE TABLE' ORDER BY c.table_name"
        )
        try:
            rows = _run(client, query, {}, f"listing the tables of {dataset}", missing_ok=True)
        except _Missing:
            continue  # no such dataset (dbt never ran, say)
        columns: dict[str, set[str]] = {}
        for table, column in rows:
            columns.setdefault(table, set()).add(column)
        found += [
            WarehouseTable(dataset, name, frozenset(cols)) for name, cols in sorted(columns.items())
        ]
    return found


def _user_load_ids(
    client: Any, sql: Dialect, raw: list[WarehouseTable], user_id: str | None
) -> set[str]:
    query = user_load_ids_sql(sql, raw)
    if not user_id or query is None:
        return set()
    rows = _run(client, query, {"user_id": user_id}, "finding the person's loads")
    return {r[0] for r in rows if r[0] is not None}


def _pipelines_of_loads(
    client: Any, sql: Dialect, raw: list[WarehouseTable], load_ids: set[str]
) -> set[str]:
    state = next((t for t in raw if t.name == STATE_TABLE), None)
    if state is None or not load_ids:
        return set()
    query = pipelines_of_loads_sql(sql, state)
    return {
        r[0]
        for r in _run(
            client, query, {"load_ids": sorted(load_ids)}, "finding the person's pipelines"
        )
    }


def _datasets(client: Any) -> list[str]:
    """The project's dataset names."""
    from google.api_core.exceptions import GoogleAPIError

    try:
        return [d.dataset_id for d in client.list_datasets()]
    except GoogleAPIError as exc:
        message = getattr(exc, "message", None) or str(exc)
        first = message.splitlines()[0]
        raise OuraEltError(f"BigQuery refused listing the datasets: {first}") from None


class _Missing(Exception):
    """A dataset or table that does not exist."""


def _run(
    client: Any, sql: str, params: dict[str, Any], what: str, missing_ok: bool = False
) -> list[tuple]:
    """Run a query or script with named parameters; its (last) result as tuples.

    Raises:
        _Missing: with `missing_ok`, a dataset or table that does not exist.
        OuraEltError: anything else BigQuery refused, in one line.
    """
    from google.api_core.exceptions import GoogleAPIError, NotFound
    from google.cloud import bigquery

    query_parameters = [
        bigquery.ArrayQueryParameter(name, "STRING", value)
        if isinstance(value, list)
        else bigquery.ScalarQueryParameter(name, "STRING", value)
        for name, value in params.items()
        if f"@{name}" in sql
    ]
    try:
        job = client.query(
            sql, job_config=bigquery.QueryJobConfig(query_parameters=query_parameters)
        )
        return [tuple(row) for row in job.result()]
    except NotFound as exc:
        if missing_ok:
            raise _Missing() from None
        raise OuraEltError(f"BigQuery refused {what}: {getattr(exc, 'message', exc)}") from None
    except GoogleAPIError as exc:
        message = getattr(exc, "message", None) or str(exc)
        raise OuraEltError(f"BigQuery refused {what}: {message.splitlines()[0]}") from None


def _client(dataset: str) -> Any:
    """A BigQuery client with the loader's credentials and project."""
    try:
        from google.cloud import bigquery
    except ImportError:
        raise OuraEltError(
            "BigQuery support is not installed; install it with: pip install 'oura-elt[bigquery]'"
        ) from None
    import dlt

    from pipelines.warehouse import bigquery_configuration

    resolved = bigquery_configuration(
        dlt.destinations.bigquery(), dataset
    )  # a missing credential: one line
    credentials = resolved.credentials
    return bigquery.Client(
        project=credentials.project_id,
        credentials=credentials.to_native_credentials(),
        location=getattr(resolved, "location", None),
    )
