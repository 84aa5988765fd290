"""The destination side of a load: the dlt pipeline of a profile and warehouse, and its failures.

The source's cursors live in dlt's pipeline state, which dlt commits in the same load
package as the rows and keeps a working copy of in the pipeline's local folder. That
folder is one per profile, warehouse and dataset under `pipelines.core.config.home()`;
a crash leaves either a finished package (the next run loads it first) or nothing,
and a warehouse that was wiped takes the working copy with it (`sync_destination`).
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
from pathlib import Path
from typing import Any

import dlt

from pipelines.core import config, warehouse_file
from pipelines.core.errors import OuraEltError
from pipelines.core.private import private_folder
from pipelines.core.target import DESTINATIONS, duckdb_file
from pipelines.core.warehouse_file import is_lock_conflict
from pipelines.oura.arrow import use_system_memory_pool
from pipelines.oura.dates import DayRange, normalize
from pipelines.oura.settings import PROGRESS_TABLE, USER_ID


class WarehouseError(OuraEltError):
    """The destination could not be opened, read or written."""


class WarehouseLocked(WarehouseError):
    """Another process has the DuckDB file open: a later try may succeed."""


def pipeline_name(profile: str | None) -> str:
    """`oura_<profile>` with anything but letters, digits and `_` replaced."""
    return "oura_" + re.sub(r"[^0-9A-Za-z_]", "_", profile or "default")


def make_destination(
    kind: str, duckdb_path: Path | None, dataset_name: str, pipeline: str | None = None
) -> tuple[Any, str, str]:
    """A dlt destination, where it is (a DuckDB path or a BigQuery project), and a description.

    On BigQuery each merge is one transaction and each pipeline (`pipeline`, default that of
    the default profile) has its own staging dataset (`pipelines.bigquery_destination`).

    Raises:
        WarehouseError: unknown kind, or BigQuery support/credentials missing.
    """
    if kind == "duckdb":
        path = warehouse_file.create(duckdb_file(duckdb_path))  # 0600, in 0700 folders it makes
        # dlt leaves `supports_transactions` unset for DuckDB (dlt 1.31), so a merge's DELETE
        # and INSERT commit one by one: an INSERT that fails (a full disk) or a kill between
        # them leaves the stored rows deleted until a later run. One transaction per job.
        destination = dlt.destinations.duckdb(credentials=str(path), supports_transactions=True)
        return destination, str(path), str(path)
    if kind == "bigquery":
        try:
            import google.cloud.bigquery  # noqa: F401
        except ImportError:
            raise WarehouseError(
                "BigQuery support is not installed;"
                " install it with: pip install 'oura-elt[bigquery]'"
            ) from None
        from pipelines import bigquery_destination

        destination = bigquery_destination.destination(pipeline or pipeline_name(None))
        project = _bigquery_project(destination, dataset_name)
        return destination, f"bigquery:{project}", f"BigQuery project {project}"
    raise WarehouseError(f"unknown destination {kind!r}; use one of: {', '.join(DESTINATIONS)}")


def _bigquery_project(destination: Any, dataset_name: str) -> str:
    """Resolve BigQuery credentials now (a missing one is one clear line up front); the project."""
    resolved = bigquery_configuration(destination, dataset_name)
    return str(getattr(resolved.credentials, "project_id", None) or "default")


def bigquery_configuration(destination: Any, dataset_name: str) -> Any:
    """dlt's resolved BigQuery configuration (credentials, location) for `dataset_name`.

    Raises:
        WarehouseError: a credential is missing, naming which.
    """
    from dlt.common.configuration.exceptions import ConfigurationException

    try:
        return destination.configuration(
            destination.spec()._bind_dataset_name(dataset_name=dataset_name)
        )
    except ConfigurationException as exc:
        missing = getattr(exc, "fields", None) or []
        hint = f" (missing: {', '.join(missing)})" if missing else ""
        raise WarehouseError(
            "BigQuery credentials are not configured" + hint + "; set "
            "DESTINATION__BIGQUERY__CREDENTIALS__PROJECT_ID, __PRIVATE_KEY and __CLIENT_EMAIL, "
            "or GOOGLE_APPLICATION_CREDENTIALS to a service-account file"
        ) from None


def make_pipeline(
    profile: str | None, kind: str, duckdb_path: Path | None, dataset_name: str
) -> tuple[Any, str]:
    """The dlt pipeline for a profile and destination, and the destination's description.

    Its working folder is under `pipelines.core.config.home()`, one per warehouse and
    dataset, so state never lands in `~/.dlt` and two warehouses never share
    pending load packages.
    """
    # Loaded packages and the staging dataset would keep second copies of health data
    # (and of an erased person's rows): drop them once a load has committed.
    os.environ.setdefault("LOAD__DELETE_COMPLETED_JOBS", "true")
    os.environ.setdefault("LOAD__TRUNCATE_STAGING_DATASET", "true")
    # dlt logs failures with tracebacks; ours is the one-line error the caller prints.
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "CRITICAL")
    # dlt's default of up to 20 load jobs at once stays: limiting DuckDB loads to 2 saved
    # about 90 MB of peak memory but made a 10-year backfill twice as slow and a
    # 50-person cohort miss its budget share (bench/README.md).
    use_system_memory_pool()
    destination, where, description = make_destination(
        kind, duckdb_path, dataset_name, pipeline_name(profile)
    )
    pipelines_dir = pipelines_folder(kind, where, dataset_name)
    private_folder(pipelines_dir)  # its load packages hold health data until they are loaded
    pipeline = dlt.pipeline(
        pipeline_name=pipeline_name(profile),
        destination=destination,
        dataset_name=dataset_name,
        pipelines_dir=str(pipelines_dir),
    )
    return pipeline, description


def pipelines_folder(kind: str, where: str, dataset_name: str) -> Path:
    """The dlt working folders of one warehouse (`where`: its resolved DuckDB path or
    BigQuery project) and dataset, under `pipelines.core.config.home()`."""
    key = hashlib.sha1(f"{kind}|{where}|{dataset_name}".encode()).hexdigest()[:12]
    return config.home() / "pipelines" / f"{kind}-{key}"


def folder_lock_path(pipeline: Any) -> Path:
    """The lock file that keeps one dlt pipeline's working folder to one user at a time."""
    from pipelines.core.locks import LOCK_SUFFIX

    return Path(pipeline.pipelines_dir) / f"{pipeline.pipeline_name}{LOCK_SUFFIX}"


def finish_pending(pipeline: Any) -> bool:
    """Load packages a crashed run left behind; True if there were any."""
    if not pipeline.has_pending_data:
        return False
    pipeline.run()
    return True


def recorded_ranges(pipeline: Any, user_id: str) -> dict[str, list[DayRange]]:
    """Per collection, the days committed loads read for `user_id` (`_oura_load_progress`
    rows of completed loads only: a record is committed with the data it describes)."""
    from pipelines.oura.stored import as_date, reader

    with reader(pipeline) as query:
        rows = query(
            "SELECT p.{col:collection}, p.{col:start_day}, p.{col:end_day} "
            "FROM {table:" + PROGRESS_TABLE + "} AS p JOIN {table:_dlt_loads} AS l "
            "ON l.{col:load_id} = p.{col:_dlt_load_id} "
            "WHERE p.{col:user_id} = %s AND l.{col:status} = 0",
            user_id,
        )
    found: dict[str, list[DayRange]] = {}
    for collection, start, end in rows:
        found.setdefault(collection, []).append(DayRange(as_date(start), as_date(end)))
    return {name: normalize(ranges) for name, ranges in found.items()}


def stored_rows(
    pipeline: Any, tables: list[str], user_id: str, load_ids: list[str]
) -> dict[str, int]:
    """Rows per table that the loads `load_ids` wrote for `user_id` and that are still stored
    (a document merged twice in one load counts once)."""
    from pipelines.oura.stored import reader

    if not load_ids:
        return {}
    marks = ", ".join(["%s"] * len(load_ids))
    counts: dict[str, int] = {}
    with reader(pipeline) as query:
        for table in tables:
            rows = query(
                f"SELECT COUNT(*) FROM {{table:{table}}} WHERE {{col:{USER_ID}}} = %s "
                f"AND {{col:_dlt_load_id}} IN ({marks})",
                user_id,
                *load_ids,
            )
            counts[table] = int(rows[0][0]) if rows else 0
    return counts


def failure(exc: BaseException, where: str) -> WarehouseError:
    """The error of a failed dlt step (`WarehouseLocked` when another process holds the file)."""
    text = describe_failure(exc, where)
    return WarehouseLocked(text) if text.endswith(_IN_USE) else WarehouseError(text)


_IN_USE = "is in use by another process (DuckDB allows one writer); try again when it finishes"


def describe_failure(exc: BaseException, where: str) -> str:
    """One line for a failed load step, without stack traces or secrets."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    root: BaseException | None = exc
    innermost = exc
    seen: set[int] = set()
    while root is not None and id(root) not in seen:
        seen.add(id(root))
        message = str(root)
        if is_lock_conflict(message):
            return f"{where} {_IN_USE}"
        if "No space left on device" in message or getattr(root, "errno", None) == errno.ENOSPC:
            return (
                f"loading into {where} failed: the disk is full (No space left on device);"
                " free space and run again"
            )
        if "Read-only file system" in message or getattr(root, "errno", None) == errno.EROFS:
            return (
                f"loading into {where} failed: the file system is read-only; choose a writable path"
            )
        innermost = root
        root = root.__cause__ or root.__context__
    # dlt's own message ends "... with exception:" and puts the cause after it: name the cause.
    cause = (
        str(innermost).strip().splitlines()[0]
        if innermost is not exc and str(innermost).strip()
        else ""
    )
    if cause and cause not in text:
        text = f"{text.removesuffix(':').strip()} ({type(innermost).__name__}: {cause})"
    return f"loading into {where} failed: {text[:400]}"
