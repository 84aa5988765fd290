"""Opening a built warehouse to read its marts, and the people in it.

Shared by the report and the exports: one read-only DuckDB connection (so a report
never blocks, nor is blocked by, another reader), in UTC, with one clear line for
every way it can fail: no file, a file a load is writing, marts never built.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from pipelines.core import warehouse_file
from pipelines.core.errors import OuraEltError, UsageError
from pipelines.core.target import RAW_DATASET, duckdb_file
from pipelines.transform import MARTS, marts_schema

SCHEMA = marts_schema()
RAW_SCHEMA = RAW_DATASET


def resolve_warehouse(duckdb_path: Path | str | None) -> Path:
    """The DuckDB file to read: the given one, else `OURA_DUCKDB_PATH`, else `data/oura.duckdb`."""
    return duckdb_file(duckdb_path)


@contextmanager
def open_marts(duckdb_path: Path | str | None) -> Iterator[Any]:
    """A read-only connection to a warehouse whose marts are built.

    Args:
        duckdb_path: the DuckDB file (default: see `resolve_warehouse`).

    Yields:
        A DuckDB connection with the session time zone set to UTC.

    Raises:
        UsageError: there is no such file.
        OuraEltError: the file cannot be opened (another program is writing it, or it
            is not a DuckDB file: `pipelines.core.warehouse_file`), or its marts were
            never built.
    """
    path = resolve_warehouse(duckdb_path)
    if not path.exists():
        raise UsageError(
            f"no warehouse at {path}; load data first with: oura-elt load --duckdb {path}"
        )
    con = warehouse_file.connect(path, read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        missing = [
            name for name in ("daily_summary", "sleep_periods") if name not in built_marts(con)
        ]
        if missing:
            raise OuraEltError(
                f"the marts are not built in {path} (no {SCHEMA}.{missing[0]}); "
                f"build them with: oura-elt transform --duckdb {path}"
            )
        yield con
    finally:
        con.close()


def built_marts(con: Any) -> list[str]:
    """The marts of `pipelines.transform.MARTS` that exist in the warehouse, in that order."""
    found = {
        name
        for (name,) in con.execute(
            "select table_name from information_schema.tables where table_schema = ?", [SCHEMA]
        ).fetchall()
    }
    return [name for name in MARTS if name in found]


@dataclass(frozen=True)
class Person:
    """Someone with rows in `daily_summary`.

    Attributes:
        user_id: Oura user id.
        profiles: login profiles whose loads stored this user's data (may be empty).
        first_day: first day in daily_summary.
        last_day: last day in daily_summary.
    """

    user_id: str
    profiles: tuple[str, ...]
    first_day: date
    last_day: date

    @property
    def label(self) -> str:
        """The profile name(s) when known, else the user id."""
        return ", ".join(self.profiles) if self.profiles else self.user_id


def people(con: Any) -> list[Person]:
    """Everyone in `daily_summary`, by profile name (then user id)."""
    names = profile_names(con)
    rows = con.execute(
        "select user_id, min(summary_date), max(summary_date) "
        f"from {SCHEMA}.daily_summary group by user_id"
    ).fetchall()
    found = [
        Person(user_id, tuple(names.get(user_id, ())), first, last) for user_id, first, last in rows
    ]
    return sorted(found, key=lambda p: (not p.profiles, p.label))


def choose(everyone: list[Person], profile: str | None, where: Path | str) -> list[Person]:
    """The people a report covers: everyone, or the one `profile` names.

    `profile` matches a profile name (as given to `oura-elt load --profile`) or an Oura
    user id.

    Raises:
        OuraEltError: the warehouse has no rows in daily_summary.
        UsageError: no one matches `profile`.
    """
    if not everyone:
        raise OuraEltError(
            f"{SCHEMA}.daily_summary in {where} has no rows; "
            "load data, then run: oura-elt transform"
        )
    if profile is None:
        return everyone
    wanted = pipeline_name(profile)
    chosen = [
        person
        for person in everyone
        if profile == person.user_id or any(pipeline_name(p) == wanted for p in person.profiles)
    ]
    if not chosen:
        known = ", ".join(person.label for person in everyone)
        raise UsageError(f"no data of profile {profile!r} in {where}; the warehouse has: {known}")
    return chosen[:1]


def profile_names(con: Any) -> dict[str, list[str]]:
    """Profile names per user id, from the loader's bookkeeping in the raw schema.

    Each profile loads through its own dlt pipeline (`oura_<profile>`), whose state rows
    share a load id with the loader's progress rows, which carry the user id. A saved
    login whose pipeline name matches gives the profile's exact spelling; otherwise the
    name is the pipeline's without its `oura_` prefix. Warehouses without that
    bookkeeping (a dataset loaded by other means) give no names.
    """
    from pipelines.auth.store import list_profiles

    tables = {
        name
        for (name,) in con.execute(
            "select table_name from information_schema.tables where table_schema = ?", [RAW_SCHEMA]
        ).fetchall()
    }
    if not {"_dlt_pipeline_state", "_oura_load_progress"} <= tables:
        return {}
    rows = con.execute(
        f"select distinct s.pipeline_name, p.user_id from {RAW_SCHEMA}._dlt_pipeline_state as s "
        f"join {RAW_SCHEMA}._oura_load_progress as p on p._dlt_load_id = s._dlt_load_id"
    ).fetchall()
    saved = {pipeline_name(profile): profile for profile in list_profiles()}
    names: dict[str, list[str]] = {}
    for pipeline, user_id in sorted(rows):
        name = saved.get(pipeline) or pipeline.removeprefix("oura_")
        names.setdefault(user_id, []).append(name)
    return names


def pipeline_name(profile: str | None) -> str:
    """The loader's dlt pipeline name of a profile.

    The same as `pipelines.warehouse.pipeline_name`, which is not imported here
    because importing it loads dlt (seconds) for one regular expression.
    """
    return "oura_" + re.sub(r"[^0-9A-Za-z_]", "_", profile or "default")
