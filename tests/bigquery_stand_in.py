"""A stand-in for `google.cloud.bigquery.Client`, because BigQuery cannot run here.

It runs the BigQuery SQL it is given, translated to DuckDB by sqlglot, on a DuckDB
file laid out as BigQuery names things: the file's catalog is the project and its
schemas are the datasets (`project.dataset.table`). Each dataset gets the two
`INFORMATION_SCHEMA` views the code reads. Query parameters are bound by name;
scripts run statement by statement and return the last result, as BigQuery does.
What it proves: the statements parse as BigQuery SQL, and deleting what they say
leaves the same rows as the DuckDB path. What it cannot: BigQuery's permissions,
quotas, DML limits or pricing.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
from google.api_core.exceptions import NotFound


class StandInBigQuery:
    """`query(sql, job_config).result()` over DuckDB; `project` is the file's stem."""

    def __init__(self, path: Path) -> None:
        self.project = path.stem
        self.con = duckdb.connect(str(path))
        self.scripts: list[str] = []
        schemas = [r[0] for r in self.con.execute(
            "SELECT schema_name FROM information_schema.schemata WHERE catalog_name = current_database()"
        ).fetchall()]
        for schema in schemas:
            where = f"table_catalog = current_database() AND table_schema = '{schema}'"
            self.con.execute(
                f'CREATE OR REPLACE VIEW "{schema}"."INFORMATION_SCHEMA.COLUMNS" AS '
                f"SELECT table_name, column_name, data_type FROM information_schema.columns WHERE {where}"
            )
            self.con.execute(
                f'CREATE OR REPLACE VIEW "{schema}"."INFORMATION_SCHEMA.TABLES" AS '
                f"SELECT table_name, table_type FROM information_schema.tables WHERE {where}"
            )

    def query(self, sql: str, job_config: Any = None) -> "_Job":
        self.scripts.append(sql)
        params = {}
        for param in getattr(job_config, "query_parameters", None) or []:
            params[param.name] = list(param.values) if hasattr(param, "values") else param.value
        result: list[tuple] = []
        session = self.con.cursor()  # a job's own session: its temp tables end with it
        try:
            for statement in sqlglot.transpile(sql, read="bigquery", write="duckdb"):
                names = set(re.findall(r"\$(\w+)", statement))
                try:
                    cursor = session.execute(statement, {name: params[name] for name in names})
                except duckdb.CatalogException as exc:
                    raise NotFound(str(exc).splitlines()[0]) from None
                if cursor.description:
                    result = cursor.fetchall()
        finally:
            session.close()
        return _Job(result)

    def close(self) -> None:
        self.con.close()


class _Job:
    def __init__(self, rows: list[tuple]) -> None:
        self.rows = rows

    def result(self) -> list[tuple]:
        return self.rows
