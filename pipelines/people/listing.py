"""`oura-elt users`: saved logins joined with what the warehouse holds per `user_id`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipelines.auth.store import TokenRecord, TokenStore, list_profiles
from pipelines.core.errors import OuraEltError
from pipelines.core.target import RAW_DATASET, duckdb_file
from pipelines.oura.settings import PROGRESS_TABLE, USER_ID
from pipelines.people.duckdb_file import base_tables, connect
from pipelines.people.records import UserInfo
from pipelines.people.tables import DUCKDB_SQL, LOADS_TABLE, STATE_TABLE, find
from pipelines.warehouse import pipeline_name


def list_users(
    duckdb_path: Path | str | None = None,
    dataset: str = RAW_DATASET,
    *,
    read_warehouse: bool = True,
) -> list[UserInfo]:
    """Saved logins with their user id, scopes, expiry and last load; then warehouse-only users.

    Reads token files and the warehouse only (no network). A login saved without a
    user id gets the one its pipeline loaded, if the warehouse knows it.

    Args:
        duckdb_path: DuckDB file (default `pipelines.core.target.duckdb_file()`).
        dataset: the raw dataset (schema).
        read_warehouse: False lists the saved logins alone.

    Returns:
        Profiles sorted by name, then users that have rows but no saved login.

    Raises:
        WarehouseBusy: the DuckDB file is locked by a running load or dbt build.
    """
    loaded: dict[str, dict[str, Any]] = {}
    by_pipeline: dict[str, set[str]] = {}
    path = duckdb_file(duckdb_path)
    if read_warehouse and path.is_file():
        with connect(path, read_only=True) as con:
            loaded = _loaded_users(con, dataset)
            by_pipeline = pipeline_users(con, dataset)

    people: list[UserInfo] = []
    seen: set[str] = set()
    for profile in list_profiles():
        try:
            record = TokenStore(profile).load()
        except OuraEltError as exc:
            people.append(UserInfo(profile, None, problem=str(exc)))
            continue
        if record is None:  # logged out meanwhile
            continue
        user_id = record.user_id or only(by_pipeline.get(pipeline_name(profile), set()))
        facts = loaded.get(user_id or "", {})
        if user_id:
            seen.add(user_id)
        people.append(_info(profile, user_id, record, facts))
    for user_id in sorted(set(loaded) - seen):
        people.append(_info(None, user_id, None, loaded[user_id]))
    return people


def pipeline_users(con: Any, dataset: str) -> dict[str, set[str]]:
    """Per dlt pipeline name, the user ids of the loads that stored its state."""
    tables = base_tables(con)
    state, progress = find(tables, dataset, STATE_TABLE), find(tables, dataset, PROGRESS_TABLE)
    if not (state and progress):
        return {}
    rows = con.execute(
        f"SELECT DISTINCT s.pipeline_name, p.{USER_ID} FROM {DUCKDB_SQL.ref(state)} AS s "
        f"JOIN {DUCKDB_SQL.ref(progress)} AS p ON p._dlt_load_id = s._dlt_load_id"
    ).fetchall()
    found: dict[str, set[str]] = {}
    for name, user_id in rows:
        found.setdefault(name, set()).add(user_id)
    return found


def only(values: set[str]) -> str | None:
    """The one value of a set, or None when there are none or several."""
    return next(iter(values)) if len(values) == 1 else None


def _info(
    profile: str | None, user_id: str | None, record: TokenRecord | None, facts: dict
) -> UserInfo:
    return UserInfo(
        profile=profile,
        user_id=user_id,
        scopes=record.scopes if record else (),
        expires_at=record.expires_at if record else None,
        relogin_required=record.relogin_required if record else False,
        last_load_at=facts.get("last_load_at"),
        documents=facts.get("documents", 0),
        first_day=facts.get("first_day"),
        last_day=facts.get("last_day"),
    )


def _loaded_users(con: Any, dataset: str) -> dict[str, dict[str, Any]]:
    """Per user id: documents stored, latest completed load, first and last day loaded."""
    tables = base_tables(con)
    raw = [
        t
        for t in tables
        if t.schema == dataset and USER_ID in t.columns and t.name != PROGRESS_TABLE
    ]
    found: dict[str, dict[str, Any]] = {}
    if raw:
        union = " UNION ALL ".join(f"SELECT {USER_ID} AS u FROM {DUCKDB_SQL.ref(t)}" for t in raw)
        counts = con.execute(f"SELECT u, count(*) FROM ({union}) GROUP BY u").fetchall()
        for user_id, count in counts:
            found.setdefault(user_id, {})["documents"] = int(count)
    progress, loads = find(tables, dataset, PROGRESS_TABLE), find(tables, dataset, LOADS_TABLE)
    if progress and loads:
        rows = con.execute(
            f"SELECT p.{USER_ID}, max(l.inserted_at), min(p.start_day), max(p.end_day) "
            f"FROM {DUCKDB_SQL.ref(progress)} AS p JOIN {DUCKDB_SQL.ref(loads)} AS l "
            "ON l.load_id = p._dlt_load_id AND l.status = 0 GROUP BY 1"
        ).fetchall()
        for user_id, last_load_at, first_day, last_day in rows:
            found.setdefault(user_id, {}).update(
                last_load_at=last_load_at, first_day=first_day, last_day=last_day
            )
    for facts in found.values():
        facts.setdefault("documents", 0)
    return found
