"""`transform(...)`: `dbt build` of `dbt_project/` on the warehouse the loader wrote.

The one entry point for the CLI (`oura-elt transform`, `oura-elt run`), Prefect flows
and benchmarks. dbt runs in this process (`dbtRunner`) with the project's own
`profiles.yml`; every model, data test and unit test is built or run, and the first
failure becomes one `OuraEltError` line that names it.

Before dbt runs on DuckDB, any raw table the loader never created (a collection not
loaded yet, a scope the user did not grant) is created empty, with the columns the
collection table in `pipelines.oura.settings` gives it, so staging always builds.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pipelines.core import config
from pipelines.core.errors import OuraEltError, UsageError
from pipelines.core.target import DESTINATIONS, RAW_DATASET, duckdb_file
from pipelines.core.warehouse_file import is_lock_conflict

TARGETS = DESTINATIONS  # dbt targets are named after the destinations
# Schemas are `<base>_staging`, `<base>_intermediate` and `<base>_marts` (dbt's custom
# schemas). Never a bare `oura`: in `oura.duckdb` that name is also the catalog's, and
# `oura.daily_summary` would be ambiguous in every query tool.
DEFAULT_SCHEMA = "oura"
MARTS = (
    "daily_summary",
    "score_contributors",
    "sleep_periods",
    "sleep_epochs",
    "heart_rate_samples",
    "workouts",
    "activity_minutes",
    "sessions",
    "tags",
    "users",
    "data_coverage",
    "data_freshness",
)

# dbt reads its profile from the environment; invocations in one process take turns.
_DBT_LOCK = threading.Lock()
# Start of the lines dbt_project/macros/log_warned_rows.sql logs for a test that warned.
WARNED_ROW = "warned row of "


class TransformError(OuraEltError):
    """`dbt build` failed: a model, a data test or a unit test, or dbt itself."""


@dataclass
class TransformSummary:
    """What a `dbt build` did.

    Attributes:
        target: the dbt target ("duckdb" or "bigquery").
        where: the DuckDB file, or "BigQuery".
        models: models built.
        tests: data tests passed (warnings included).
        unit_tests: unit tests passed.
        warnings: tests that ended in a warning (severity warn), by name.
        warned_rows: the first rows each of those tests found ("column=value, ..."), by
            test name: what a warning is about, e.g. the night whose durations disagree.
        created_raw_tables: raw tables created empty before the build.
        seconds: wall time of the build.
    """

    target: str
    where: str
    models: int = 0
    tests: int = 0
    unit_tests: int = 0
    warnings: list[str] = field(default_factory=list)
    warned_rows: dict[str, list[str]] = field(default_factory=dict)
    created_raw_tables: list[str] = field(default_factory=list)
    seconds: float = 0.0


def project_dir() -> Path:
    """The dbt project (`dbt_project/` beside the packages)."""
    return config.project_root() / "dbt_project"


def transform(
    duckdb_path: Path | str | None = None,
    *,
    target: str = "duckdb",
    select: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    full_refresh: bool = False,
    raw_dataset: str = RAW_DATASET,
    schema: str = DEFAULT_SCHEMA,
    target_path: Path | str | None = None,
    progress: Callable[[str], None] | None = None,
) -> TransformSummary:
    """Run `dbt build` (models, data tests, unit tests) on the warehouse, holding its
    write lock (`pipelines.core.locks`) so that no load commits beside it.

    Args:
        duckdb_path: DuckDB file written by the loader (default: `OURA_DUCKDB_PATH`,
            else `data/oura.duckdb`); made absolute before dbt sees it.
        target: "duckdb" or "bigquery" (BigQuery reads `OURA_BIGQUERY_*`, see
            `dbt_project/profiles.yml`).
        select: dbt node selection (`--select`), e.g. ["daily_summary+"].
        exclude: dbt node exclusion (`--exclude`). Unit tests are always excluded on
            BigQuery: their fixtures are DuckDB SQL, and they test logic, not data.
        full_refresh: rebuild incremental models from scratch.
        raw_dataset: schema/dataset of the raw tables.
        schema: base name of the model schemas/datasets: the marts go to `<schema>_marts`.
        target_path: dbt's artifacts folder (default `dbt_project/target`, or
            `DBT_TARGET_PATH`); dbt's log then goes to `<target_path>/logs`.
        progress: called with one short line per finished node.

    Returns:
        The summary: models built, tests passed, warnings, seconds.

    Raises:
        UsageError: unknown target, or no warehouse file to transform.
        TransformError: a model, test or unit test failed, or dbt could not run;
            one line naming the failed node.
    """
    env, summary = _prepare(duckdb_path, target, raw_dataset, schema, create_raw_tables=False)
    args = _build_args(target, target_path, select, exclude, full_refresh)

    from pipelines.core import locks, warehouse_file

    started = time.monotonic()
    path = duckdb_file(duckdb_path) if target == "duckdb" else None
    if path is not None:  # a foreign or held file: one line, before the lock file is made
        lock_path = locks.warehouse_lock_path(target, path, raw_dataset)
        warehouse_file.check(path, write=True, lock_path=lock_path)
    with locks.warehouse_lock(target, path, raw_dataset):  # never beside a load's commit
        if path is not None:
            summary.created_raw_tables = ensure_raw_tables(path, raw_dataset)
        result = run_dbt(args, env, progress, summary.warned_rows)
    summary.seconds = time.monotonic() - started
    _count(result, summary)
    return summary


def _build_args(
    target: str,
    target_path: Path | str | None,
    select: Sequence[str] | None,
    exclude: Sequence[str] | None,
    full_refresh: bool,
) -> list[str]:
    """The arguments of `dbt build` for this target and node selection."""
    args = ["build", *_common_args(target, target_path)]
    if select:
        # Only tests whose every parent is selected: a relationships test into a model
        # outside the selection may point at a table not built yet.
        args += ["--select", *select, "--indirect-selection", "cautious"]
    exclude = list(exclude or ())
    if target == "bigquery":
        # Unit tests are development checks with DuckDB fixtures; BigQuery runs the data tests.
        exclude.append("resource_type:unit_test")
    if exclude:
        args += ["--exclude", *exclude]
    if full_refresh:
        args.append("--full-refresh")
    return args


def generate_docs(
    duckdb_path: Path | str | None = None,
    *,
    target: str = "duckdb",
    raw_dataset: str = RAW_DATASET,
    schema: str = DEFAULT_SCHEMA,
    target_path: Path | str | None = None,
) -> Path:
    """Run `dbt docs generate` (after a build) and return the folder with `index.html`.

    Serve it with `dbt docs serve --project-dir dbt_project --profiles-dir dbt_project`,
    or open the folder's `index.html` through any static file server.

    Raises:
        UsageError: unknown target, or no warehouse file.
        TransformError: dbt failed.
    """
    env, _ = _prepare(duckdb_path, target, raw_dataset, schema)
    run_dbt(["docs", "generate", *_common_args(target, target_path)], env)
    return _target_dir(target_path)


def compile_project(
    duckdb_path: Path | str | None = None,
    *,
    target: str = "duckdb",
    target_path: Path | str | None = None,
    exclude: Sequence[str] | None = None,
    raw_dataset: str = RAW_DATASET,
    schema: str = DEFAULT_SCHEMA,
) -> Path:
    """Run `dbt compile` and return the folder of compiled SQL (`<target>/compiled/oura`).

    Compiling reads no data, but dbt still looks up relations (`is_incremental()`), so the
    target's connection settings must be valid.

    Raises:
        UsageError: unknown target, or no warehouse file (duckdb).
        TransformError: dbt failed.
    """
    env, _ = _prepare(duckdb_path, target, raw_dataset, schema)
    args = ["compile", *_common_args(target, target_path)]
    if exclude:
        args += ["--exclude", *exclude]
    run_dbt(args, env)
    return _target_dir(target_path) / "compiled" / "oura"


def run_dbt(
    args: list[str],
    env: dict[str, str],
    progress: Callable[[str], None] | None = None,
    warned_rows: dict[str, list[str]] | None = None,
    *,
    failed_nodes_ok: bool = False,
) -> Any:
    """Invoke dbt in-process with `env` set for the call; raise `TransformError` on failure.

    Args:
        args: dbt's command line.
        env: environment variables set for the call.
        progress: called with one short line per finished node.
        warned_rows: filled with the rows the tests that warned logged, by test name.
        failed_nodes_ok: return the result when dbt ran but some nodes failed (a stale
            source in `dbt source freshness`); only dbt failing to run raises.

    Returns:
        dbt's `dbtRunnerResult` of a successful invocation.
    """
    from dbt.cli.main import dbtRunner

    callbacks = [_progress_callback(progress)] if progress else []
    if warned_rows is not None:
        callbacks.append(_warned_rows_callback(warned_rows))
    started = time.time()
    with _DBT_LOCK, _environment(env):
        try:
            result = dbtRunner(callbacks=callbacks).invoke(args)
        finally:
            _release_duckdb()
        details = _details(_log_file(args), started)
    if result.exception is not None:
        reason = _describe_exception(result.exception)
        if "credentials" in reason.lower() and "bigquery" in args:
            reason += (
                " (set OURA_BIGQUERY_METHOD and its credentials, or "
                "GOOGLE_APPLICATION_CREDENTIALS: see dbt_project/profiles.yml)"
            )
        raise TransformError(f"dbt {args[0]} could not run: {reason}{details}")
    if not result.success and not failed_nodes_ok:
        raise TransformError(_describe_failures(args[0], result.result, details))
    return result


@dataclass(frozen=True)
class SourceFreshness:
    """How fresh one raw table is, as `dbt source freshness` measured it.

    Attributes:
        table: the raw table (source table name).
        status: "pass", "warn", "error" (older than the table's thresholds in
            `dbt_project/models/staging/__oura__sources.yml`) or "runtime error" (not measured).
        newest_at: the newest value of the table's `loaded_at_field` (None: empty or not measured).
        checked_at: "now" of the check (OURA_ELT_NOW when set).
        age_seconds: `checked_at - newest_at` in seconds.
        message: dbt's message for a runtime error.
    """

    table: str
    status: str
    newest_at: datetime | None = None
    checked_at: datetime | None = None
    age_seconds: float | None = None
    message: str | None = None


def source_freshness(
    duckdb_path: Path | str | None = None,
    *,
    target: str = "duckdb",
    raw_dataset: str = RAW_DATASET,
    schema: str = DEFAULT_SCHEMA,
    target_path: Path | str | None = None,
) -> list[SourceFreshness]:
    """Run `dbt source freshness` on the raw tables that have thresholds, under the
    warehouse's write lock (dbt-duckdb opens the file for writing), and return one result
    per table; a stale table is a result, not an exception.

    The thresholds and the field each table is measured on live in the project
    (`models/staging/__oura__sources.yml`): the newest document of the tables a worn ring
    fills every day, and the last load (`_oura_load_progress.loaded_at`). "Now" is
    `OURA_ELT_NOW` when set. dbt also writes `sources.json` to its target folder.

    Raises:
        UsageError: unknown target, or no warehouse file.
        TransformError: dbt could not run.
    """
    env, _ = _prepare(duckdb_path, target, raw_dataset, schema, create_raw_tables=False)
    args = ["source", "freshness", *_common_args(target, target_path)]
    args += ["--output", str(_target_dir(target_path) / "sources.json")]
    from pipelines.core import locks, warehouse_file

    path = duckdb_file(duckdb_path) if target == "duckdb" else None
    if path is not None:  # a foreign or held file: one line, before the lock file is made
        warehouse_file.check(
            path, write=True, lock_path=locks.warehouse_lock_path(target, path, raw_dataset)
        )
    with locks.warehouse_lock(target, path, raw_dataset):
        if path is not None:  # a table never loaded is there, empty: measured as no rows
            ensure_raw_tables(path, raw_dataset)
        result = run_dbt(args, env, failed_nodes_ok=True)
    found = []
    for item in _results(result.result):
        node = getattr(item, "node", None)
        if str(getattr(node, "resource_type", "")) != "source":
            continue  # the project's on-run-end hook
        status = str(getattr(item, "status", "runtime error"))
        newest, age = getattr(item, "max_loaded_at", None), getattr(item, "age", None)
        measured = status in ("pass", "warn", "error")
        message = None if measured else _first_line(item.message or status)
        if newest is not None and newest.year < 1970:  # dbt's stand-in for no rows at all
            newest, age, message = None, None, "the table has no rows"
        found.append(
            SourceFreshness(
                table=node.name,
                status=status,
                newest_at=newest,
                checked_at=getattr(item, "snapshotted_at", None),
                age_seconds=age,
                message=message,
            )
        )
    return sorted(found, key=lambda r: r.table)


def ensure_raw_tables(duckdb_path: Path, raw_dataset: str = RAW_DATASET) -> list[str]:
    """Create, empty, every raw table the loader has not created yet.

    Columns and types come from `pipelines.oura.settings.COLLECTIONS` (plus `user_id`,
    the `_utc_offset` of every instant, the tombstone flag and dlt's own columns), the
    same table the loader's column hints come from. Existing tables are left alone.

    Returns:
        Names of the tables created.

    Raises:
        OuraEltError: the DuckDB file cannot be opened: another program holds it, or it is
            not a DuckDB file (`pipelines.core.warehouse_file`).
    """
    from pipelines.core import warehouse_file
    from pipelines.oura.settings import COLLECTIONS
    from pipelines.oura.shape import duckdb_ddl

    con = warehouse_file.connect(duckdb_path, read_only=False)
    created: list[str] = []
    try:
        existing = {
            name
            for (name,) in con.execute(
                "select table_name from information_schema.tables where table_schema = ?",
                [raw_dataset],
            ).fetchall()
        }
        missing = [c for c in COLLECTIONS if c.name not in existing]
        if not missing:
            return created
        con.execute(f'create schema if not exists "{raw_dataset}"')
        for collection in missing:
            ddl = duckdb_ddl(collection)
            con.execute(f'create table if not exists "{raw_dataset}"."{collection.name}" ({ddl})')
            created.append(collection.name)
    finally:
        con.close()
    return created


def marts_schema(schema: str = DEFAULT_SCHEMA) -> str:
    """The schema/dataset the marts are built in."""
    return f"{schema}_marts"


def mart_row_counts(duckdb_path: Path | str, schema: str = DEFAULT_SCHEMA) -> dict[str, int]:
    """Rows per mart in a built DuckDB warehouse (marts not built are left out)."""
    import duckdb

    schema = marts_schema(schema)
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        built = {
            name
            for (name,) in con.execute(
                "select table_name from information_schema.tables where table_schema = ?", [schema]
            ).fetchall()
        }
        return {
            name: con.execute(f'select count(*) from "{schema}"."{name}"').fetchone()[0]
            for name in MARTS
            if name in built
        }


def recent_daily_summary(
    duckdb_path: Path | str, days: int = 7, schema: str = DEFAULT_SCHEMA
) -> list[dict]:
    """The last `days` days of `daily_summary` per user, newest first (for summaries)."""
    import duckdb

    schema = marts_schema(schema)
    query = f"""
        select user_id, summary_date, sleep_score, readiness_score, activity_score, steps,
               total_sleep_seconds, average_hrv_ms, lowest_heart_rate_bpm, resilience_level
        from "{schema}".daily_summary
        qualify row_number() over (partition by user_id order by summary_date desc) <= ?
        order by user_id, summary_date desc
    """
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        cursor = con.execute(query, [days])
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]


# ------------------------------------------------------------------ helpers


def _prepare(
    duckdb_path: Path | str | None,
    target: str,
    raw_dataset: str,
    schema: str,
    create_raw_tables: bool = True,
) -> tuple[dict[str, str], TransformSummary]:
    """The environment dbt's profile reads, and a summary naming the warehouse (with the raw
    tables never loaded created empty, unless the caller does it under the write lock)."""
    if target not in TARGETS:
        raise UsageError(f"unknown target {target!r}; use one of: {', '.join(TARGETS)}")
    config.telemetry_off()
    env = {"OURA_DBT_TARGET": target, "OURA_RAW_DATASET": raw_dataset, "OURA_DBT_SCHEMA": schema}
    summary = TransformSummary(target=target, where="BigQuery")
    if target == "duckdb":
        path = duckdb_file(duckdb_path)
        if not path.exists():
            raise UsageError(
                f"no warehouse at {path}; load data first with: oura-elt load --duckdb {path}"
            )
        summary.where = str(path)
        if create_raw_tables:
            summary.created_raw_tables = ensure_raw_tables(path, raw_dataset)
        env["OURA_DUCKDB_PATH"] = str(path)
    return env, summary


def _target_dir(target_path: Path | str | None) -> Path:
    folder = Path(target_path or os.environ.get("DBT_TARGET_PATH") or "target")
    return folder if folder.is_absolute() else project_dir() / folder


def _common_args(target: str, target_path: Path | str | None) -> list[str]:
    args = [
        "--project-dir",
        str(project_dir()),
        "--profiles-dir",
        str(project_dir()),
        "--target",
        target,
        "--log-level",
        "none",  # our own lines on the console,
        "--log-level-file",
        "info",
    ]  # dbt's in the log a failure points at (no rows in it)
    if target_path:
        args += ["--target-path", str(target_path), "--log-path", str(Path(target_path) / "logs")]
    return args


class _environment:
    """Set environment variables for the duration of a block, then restore them."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.saved: dict[str, str | None] = {}

    def __enter__(self) -> None:
        for name, value in self.values.items():
            self.saved[name] = os.environ.get(name)
            os.environ[name] = value

    def __exit__(self, *exc: object) -> None:
        for name, value in self.saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _progress_callback(progress: Callable[[str], None]) -> Callable[[Any], None]:
    def on_event(event: Any) -> None:
        if event.info.name != "NodeFinished":
            return
        node = event.data.node_info
        progress(f"{node.resource_type} {node.node_name}: {node.node_status}")

    return on_event


def _warned_rows_callback(found: dict[str, list[str]]) -> Callable[[Any], None]:
    def on_event(event: Any) -> None:
        if event.info.name != "JinjaLogInfo" or not event.data.msg.startswith(WARNED_ROW):
            return
        test, _, row = event.data.msg[len(WARNED_ROW) :].partition(": ")
        found.setdefault(test, []).append(row)

    return on_event


def _results(run_result: Any) -> Iterator[Any]:
    return iter(getattr(run_result, "results", None) or ())


def _count(result: Any, summary: TransformSummary) -> None:
    for item in _results(result.result):
        kind = item.node.resource_type
        status = str(item.status)
        if kind in ("model", "seed", "snapshot") and status == "success":
            summary.models += 1
        elif kind == "test" and status in ("pass", "warn"):
            summary.tests += 1
            if status == "warn":
                summary.warnings.append(item.node.name)
        elif kind == "unit_test" and status == "pass":
            summary.unit_tests += 1


def _release_duckdb() -> None:
    """Close the DuckDB database dbt-duckdb keeps open after an invocation.

    dbt-duckdb caches one database instance per process; left open, it holds the file's
    lock and makes the next open in this process with other settings fail ("Can't open a
    connection to same database file with a different configuration"): the loader's next
    run in a long-lived worker, or a read-only summary right after the build.
    """
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # pragma: no cover - dbt-duckdb is a dependency
        return
    with DuckDBConnectionManager._LOCK:
        environment = DuckDBConnectionManager._ENV
        DuckDBConnectionManager._ENV = None
        if environment is not None:
            environment.close()


def _log_file(args: list[str]) -> Path:
    """Where dbt wrote its log for this call (`--log-path`, DBT_LOG_PATH, or the project's)."""
    if "--log-path" in args:
        folder = Path(args[args.index("--log-path") + 1])
    else:
        folder = Path(os.environ.get("DBT_LOG_PATH") or project_dir() / "logs")
    return folder / "dbt.log"


def _details(log_file: Path, since: float) -> str:
    """ "; details in <dbt.log>" when dbt wrote its log during this run (it does not when it
    fails before starting, e.g. without BigQuery credentials), else ""."""
    try:
        written = log_file.stat().st_mtime >= since - 1  # (file systems keep mtime coarsely)
    except OSError:
        written = False
    return f"; details in {log_file}" if written else ""


def _describe_failures(command: str, run_result: Any, details: str) -> str:
    failed = [
        r for r in _results(run_result) if str(r.status) in ("error", "fail", "runtime error")
    ]
    if not failed:
        return f"dbt {command} failed{details}"
    first = failed[0]
    node = first.node
    kind = {"unit_test": "unit test", "test": "test"}.get(
        str(node.resource_type), str(node.resource_type)
    )
    if str(first.status) == "fail" and kind == "test":
        what = f"{first.failures} failing row(s)"
        parent = _tested_model(node)
        if parent:
            what += f" in {parent}"
    else:
        what = _first_line(first.message or "failed")
    more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
    return f"dbt {command} failed: {kind} {node.name}: {what}{more}{details}"


def _tested_model(node: Any) -> str | None:
    attached = getattr(node, "attached_node", None)
    if attached:
        return attached.split(".")[-1]
    refs = getattr(node, "depends_on", None)
    nodes = list(getattr(refs, "nodes", None) or ())
    return nodes[0].split(".")[-1] if nodes else None


def _describe_exception(exc: BaseException) -> str:
    text = _first_line(str(exc))
    if is_lock_conflict(text):
        return (
            "another process (a load or a query tool?) holds the DuckDB file;"
            " wait for it to finish and retry"
        )
    return text


_HEADER = re.compile(r"^(runtime|database|compilation|parsing) error( in .*)?:?$", re.IGNORECASE)


def _first_line(text: str) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    # dbt heads database errors with "Runtime Error in model x (path)": the node is named
    # already, the useful part is the next line.
    while len(lines) > 1 and _HEADER.match(lines[0]):
        lines.pop(0)
    line = lines[0] if lines else "unknown error"
    return line if len(line) <= 300 else line[:297] + "..."
