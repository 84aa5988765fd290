"""The people in a warehouse: who is authorized, what is loaded, and erasing one of them.

Every raw row carries the Oura `user_id` of its owner, so one DuckDB warehouse holds
many people side by side. This module answers `oura-elt users`:

- `list_users` joins the saved logins (`pipelines.auth.store`) with what the warehouse
  holds per `user_id`: documents stored, the latest completed load (dlt's `_dlt_loads`
  joined with the loader's `_oura_load_progress`) and the days it covers.
- `erase_user` deletes one person's rows, in one transaction, from every table of the
  DuckDB file that has a `user_id` column (raw tables, dlt's merge staging copies,
  the loader's progress, dbt's marts), from dlt child tables linked to those rows by
  `_dlt_root_id`/`_dlt_parent_id`, and the bookkeeping of that person's loads
  (`_dlt_pipeline_state` of their pipelines, `_dlt_loads` records no row refers to
  any more). It then rewrites the file, so the deleted rows' bytes do not linger in
  its free blocks, and removes those pipelines' local working folders, whose completed
  load packages still hold copies of the data, so a person added again starts clean.
- `remove_user` is the command's whole job: erase (optionally), then revoke and forget
  the saved login (`pipelines.auth.logout`).

Erasure holds the warehouse's write lock (`pipelines.locks.warehouse_lock`) and
refuses, rather than waits, while a load or dbt build holds it or has the file open.
BigQuery warehouses are erased by `pipelines.erase_bigquery`, with the same rules.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from oura_elt import config
from oura_elt.errors import OuraEltError, UsageError
from pipelines.auth.logout import logout
from pipelines.auth.store import TokenRecord, TokenStore, list_profiles, validate_profile
from pipelines.oura.settings import DATASET_NAME, PROGRESS_TABLE, USER_ID

DUCKDB_KIND = "duckdb"
LOADS_TABLE = "_dlt_loads"
STATE_TABLE = "_dlt_pipeline_state"
LINK_COLUMNS = ("_dlt_root_id", "_dlt_parent_id")  # how dlt ties child rows to their parents


class WarehouseBusy(OuraEltError):
    """The warehouse is being written by a load or a dbt build; nothing was changed.

    Attributes:
        path: the DuckDB file (or the BigQuery project).
    """

    def __init__(self, path: Path | str) -> None:
        super().__init__(
            f"{path} is in use by a running load or dbt build; nothing was changed; "
            "try again when it has finished"
        )
        self.path = path


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class UserInfo:
    """One person: a saved login, rows in the warehouse, or both.

    Attributes:
        profile: the saved login's name (None: rows in the warehouse but no login).
        user_id: Oura user id (None: never identified).
        scopes: granted scopes (bare names).
        expires_at: access token expiry, epoch seconds (None: unknown or no login).
        relogin_required: the refresh token was rejected; only `auth login` helps.
        problem: why the login could not be read, if it could not.
        last_load_at: when the latest completed load of this user committed.
        documents: documents stored in the raw tables.
        first_day: first day loaded (any collection).
        last_day: last day loaded (any collection).
    """

    profile: str | None
    user_id: str | None
    scopes: tuple[str, ...] = ()
    expires_at: float | None = None
    relogin_required: bool = False
    problem: str | None = None
    last_load_at: datetime | None = None
    documents: int = 0
    first_day: date | None = None
    last_day: date | None = None


@dataclass
class ErasureReport:
    """What `erase_user` deleted (or would delete, with `dry_run`).

    Attributes:
        user_id: the person erased (None: unknown, so no data rows were touched).
        where: the DuckDB file.
        deleted: rows per table (`schema.table`), every table examined, zeros included.
        pipelines: dlt pipelines whose state rows and working folders were removed.
        folders: working folders removed from disk.
        dry_run: True if nothing was actually changed.
        warehouse_found: False if the DuckDB file does not exist.
        compacted: the file was rewritten without the deleted rows' bytes.
        compact_problem: why rewriting the file failed, if it did (the rows are deleted).
        journal_rows: the person's events and cached ids removed from the webhook journal.
        note: what else the user should know about the deleted rows (BigQuery's time travel).
    """

    user_id: str | None
    where: str
    deleted: dict[str, int] = field(default_factory=dict)
    pipelines: list[str] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)
    dry_run: bool = False
    warehouse_found: bool = True
    compacted: bool = False
    compact_problem: str | None = None
    journal_rows: int = 0
    note: str | None = None

    @property
    def total(self) -> int:
        """Rows deleted over all tables."""
        return sum(self.deleted.values())

    @property
    def touched(self) -> dict[str, int]:
        """Only the tables that lost rows."""
        return {name: count for name, count in self.deleted.items() if count}


@dataclass(frozen=True)
class Removal:
    """Who `remove_user` will remove, resolved before anything changes.

    Attributes:
        profile: the saved login to revoke and forget (None: erase by user id only).
        user_id: the Oura user whose rows go (None: unknown).
        user_id_source: where `user_id` came from: "login", "api", "warehouse",
            "given" or "unknown".
        same_user_profiles: other saved logins of the same Oura user (they stay).
    """

    profile: str | None
    user_id: str | None
    user_id_source: str
    same_user_profiles: tuple[str, ...] = ()


@dataclass
class RemovalReport:
    """What `remove_user` did.

    Attributes:
        removal: who was removed.
        revoked: the login was revoked at Oura.
        revoke_problem: why revocation failed (no secrets), if it did.
        forgot_login: the saved token file was deleted.
        erasure: the erasure, if `erase` was asked.
    """

    removal: Removal
    revoked: bool = False
    revoke_problem: str | None = None
    forgot_login: bool = False
    erasure: ErasureReport | None = None


# ----------------------------------------------------------------------------- listing


def list_users(
    duckdb_path: Path | str | None = None,
    dataset: str = DATASET_NAME,
    *,
    read_warehouse: bool = True,
) -> list[UserInfo]:
    """Saved logins with their user id, scopes, expiry and last load; then warehouse-only users.

    Reads token files and the warehouse only (no network). A login saved without a
    user id gets the one its pipeline loaded, if the warehouse knows it.

    Args:
        duckdb_path: DuckDB file (default `oura_elt.config.default_duckdb_path()`).
        dataset: the raw dataset (schema).
        read_warehouse: False lists the saved logins alone.

    Returns:
        Profiles sorted by name, then users that have rows but no saved login.

    Raises:
        WarehouseBusy: the DuckDB file is locked by a running load or dbt build.
    """
    loaded: dict[str, dict[str, Any]] = {}
    by_pipeline: dict[str, set[str]] = {}
    path = resolve_duckdb_path(duckdb_path)
    if read_warehouse and path.is_file():
        with _connect(path, read_only=True) as con:
            loaded = _loaded_users(con, dataset)
            by_pipeline = _pipeline_users(con, dataset)

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
        user_id = record.user_id or _only(by_pipeline.get(pipeline_name(profile), set()))
        facts = loaded.get(user_id or "", {})
        if user_id:
            seen.add(user_id)
        people.append(_info(profile, user_id, record, facts))
    for user_id in sorted(set(loaded) - seen):
        people.append(_info(None, user_id, None, loaded[user_id]))
    return people


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


def _only(values: set[str]) -> str | None:
    return next(iter(values)) if len(values) == 1 else None


def _loaded_users(con: Any, dataset: str) -> dict[str, dict[str, Any]]:
    """Per user id: documents stored, latest completed load, first and last day loaded."""
    tables = _tables(con)
    raw = [t for t in tables
           if t.schema == dataset and USER_ID in t.columns and t.name != PROGRESS_TABLE]
    found: dict[str, dict[str, Any]] = {}
    if raw:
        union = " UNION ALL ".join(f"SELECT {_q(USER_ID)} AS u FROM {t.sql}" for t in raw)
        counts = con.execute(f"SELECT u, count(*) FROM ({union}) GROUP BY u").fetchall()
        for user_id, count in counts:
            found.setdefault(user_id, {})["documents"] = int(count)
    progress, loads = _find(tables, dataset, PROGRESS_TABLE), _find(tables, dataset, LOADS_TABLE)
    if progress and loads:
        rows = con.execute(
            f"SELECT p.{_q(USER_ID)}, max(l.inserted_at), min(p.start_day), max(p.end_day) "
            f"FROM {progress.sql} AS p JOIN {loads.sql} AS l "
            "ON l.load_id = p._dlt_load_id AND l.status = 0 GROUP BY 1"
        ).fetchall()
        for user_id, last_load_at, first_day, last_day in rows:
            found.setdefault(user_id, {}).update(
                last_load_at=last_load_at, first_day=first_day, last_day=last_day
            )
    for facts in found.values():
        facts.setdefault("documents", 0)
    return found


def _pipeline_users(con: Any, dataset: str) -> dict[str, set[str]]:
    """Per dlt pipeline name, the user ids of the loads that stored its state."""
    tables = _tables(con)
    state, progress = _find(tables, dataset, STATE_TABLE), _find(tables, dataset, PROGRESS_TABLE)
    if not (state and progress):
        return {}
    rows = con.execute(
        f"SELECT DISTINCT s.pipeline_name, p.{_q(USER_ID)} FROM {state.sql} AS s "
        f"JOIN {progress.sql} AS p ON p._dlt_load_id = s._dlt_load_id"
    ).fetchall()
    found: dict[str, set[str]] = {}
    for name, user_id in rows:
        found.setdefault(name, set()).add(user_id)
    return found


# ----------------------------------------------------------------------------- removal


def resolve_removal(
    profile: str | None = None,
    user_id: str | None = None,
    *,
    duckdb_path: Path | str | None = None,
    dataset: str = DATASET_NAME,
    ask_api: bool = True,
    destination: str = DUCKDB_KIND,
) -> Removal:
    """Find who a removal is about, before anything changes.

    The user id is the login's, else asked from the API with the login's token (once),
    else the one the profile's pipeline loaded into the warehouse.

    Args:
        profile: a saved login's name.
        user_id: an Oura user id (for a person whose login is already gone).
        duckdb_path: the DuckDB file, for finding a user id the login lacks.
        dataset: the raw dataset.
        ask_api: allow one API call to learn a missing user id.
        destination: "duckdb" (the file is searched for a missing user id) or "bigquery".

    Raises:
        UsageError: neither given, an unknown profile, or a user id that contradicts
            the profile's.
    """
    if not profile and not user_id:
        raise UsageError("name a profile to remove, or give --user-id with --erase")
    if user_id is not None and not user_id.strip():
        raise UsageError("--user-id is empty")
    user_id = user_id.strip() if user_id else None
    if profile is None:
        return Removal(None, user_id, "given", _profiles_of(user_id))
    record = _saved_login(profile)
    if user_id and record.user_id and record.user_id != user_id:
        raise UsageError(
            f"profile '{profile}' belongs to user {record.user_id}, not {user_id}; "
            "give one of the two, or both matching"
        )
    found, source = user_id, "given"
    if not found and record.user_id:
        found, source = record.user_id, "login"
    if not found and ask_api:
        found, source = _user_id_from_api(profile), "api"
    if not found and destination == DUCKDB_KIND:
        path = resolve_duckdb_path(duckdb_path)
        if path.is_file():
            with _connect(path, read_only=True) as con:
                candidates = _pipeline_users(con, dataset).get(pipeline_name(profile), set())
            if len(candidates) > 1:
                raise UsageError(
                    f"profile '{profile}' loaded several users ({', '.join(sorted(candidates))}); "
                    "pick one with --user-id"
                )
            found, source = _only(candidates), "warehouse"
    if not found:
        source = "unknown"
    others = tuple(p for p in _profiles_of(found) if p != profile)
    return Removal(profile, found, source, others)


def remove_user(
    removal: Removal,
    *,
    erase: bool,
    duckdb_path: Path | str | None = None,
    dataset: str = DATASET_NAME,
    compact: bool = True,
    lock_timeout: float = 0.0,
    destination: str = DUCKDB_KIND,
) -> RemovalReport:
    """Erase a person's rows (if `erase`), then revoke and forget their saved login.

    Erasing comes first: if the warehouse is busy nothing changes at all, and a rerun
    after a crash in between simply revokes.

    Args:
        removal: from `resolve_removal`.
        erase: delete the person's rows and pipeline state (else keep every row).
        duckdb_path: the DuckDB file.
        dataset: the raw dataset.
        compact: rewrite the DuckDB file after erasing (see `erase_user`).
        lock_timeout: seconds to wait for the warehouse lock (0: refuse at once).
        destination: "duckdb" or "bigquery" (`pipelines.erase_bigquery`).

    Raises:
        UsageError: erasing by user id without `erase`.
        WarehouseBusy: a load or dbt build holds the warehouse.
    """
    if removal.profile is None and not erase:
        raise UsageError("removing by --user-id erases data: add --erase")
    report = RemovalReport(removal)
    if erase and destination != DUCKDB_KIND:
        from pipelines.erase_bigquery import erase_user_bigquery

        report.erasure = erase_user_bigquery(
            removal.user_id, profile=removal.profile, dataset=dataset, lock_timeout=lock_timeout
        )
    elif erase:
        report.erasure = erase_user(
            removal.user_id,
            profile=removal.profile,
            duckdb_path=duckdb_path,
            dataset=dataset,
            compact=compact,
            lock_timeout=lock_timeout,
        )
    if removal.profile is not None:
        result = logout(removal.profile)
        report.revoked, report.revoke_problem = result.revoked, result.revoke_problem
        report.forgot_login = result.deleted
    return report


def erase_user(
    user_id: str | None,
    *,
    profile: str | None = None,
    duckdb_path: Path | str | None = None,
    dataset: str = DATASET_NAME,
    dry_run: bool = False,
    compact: bool = True,
    lock_timeout: float = 0.0,
) -> ErasureReport:
    """Delete one person's rows from the DuckDB file in one transaction, and their pipeline state.

    Deleted: rows with `user_id` in every table of the file (raw, dlt staging, load
    progress, dbt models materialized as tables), dlt child rows of those rows, the
    `_dlt_pipeline_state` rows of the pipelines that loaded them (and of `profile`'s
    pipeline), and `_dlt_loads` records of their loads that no row refers to any more.
    After the commit, those pipelines' working folders (which keep copies of loaded
    packages) are removed. Other people's rows are never touched.

    DuckDB only marks deleted rows free; their bytes stay in the file until reused.
    With `compact` the file is then rewritten (`COPY FROM DATABASE` into a new file
    that atomically replaces it), so the person's data is gone from the disk image
    too. That needs free space for a second copy; if it fails, the rows are still
    deleted and `compact_problem` says why.

    Args:
        user_id: the Oura user id (None: unknown; only `profile`'s pipeline state goes).
        profile: the saved login whose pipeline state goes too.
        duckdb_path: the DuckDB file (default `oura_elt.config.default_duckdb_path()`).
        dataset: the raw dataset.
        dry_run: count what would go, change nothing.
        compact: rewrite the file after deleting rows.
        lock_timeout: seconds to wait for the warehouse lock (0: refuse at once).

    Raises:
        WarehouseBusy: a load or dbt build holds the warehouse lock or the file.
    """
    path = resolve_duckdb_path(duckdb_path)
    report = ErasureReport(user_id, str(path), dry_run=dry_run, warehouse_found=path.is_file())
    names = {pipeline_name(profile)} if profile else set()
    with warehouse_lock_or_busy(DUCKDB_KIND, path, dataset, lock_timeout, path):
        load_ids: set[str] = set()
        copy: Path | None = None
        if report.warehouse_found:
            with _connect(path, read_only=False) as con:
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
                        copy = _copy_database(con, path, report)
            if copy is not None:
                _swap_in(copy, path, report)
        folders = pipelines_dir(path, dataset)
        forget_outside_warehouse(report, folders, names | _local_pipelines_with(folders, load_ids))
    return report


def forget_outside_warehouse(report: ErasureReport, folders: Path, names: set[str]) -> None:
    """What every erasure does after the warehouse: the person's webhook journal rows,
    and the dlt working folders (under `folders`) of the pipelines `names`."""
    report.journal_rows = _forget_in_webhook_journal(report.user_id, report.dry_run)
    report.pipelines = sorted(names)
    for name in report.pipelines:
        folder = folders / name
        if folder.is_dir():
            report.folders.append(str(folder))
            if not report.dry_run:
                shutil.rmtree(folder)


def _saved_login(profile: str) -> TokenRecord:
    validate_profile(profile)
    record = TokenStore(profile).load()
    if record is None:
        known = ", ".join(list_profiles()) or "none"
        raise UsageError(
            f"unknown profile '{profile}': no saved login (profiles: {known}); "
            "to erase a person whose login is gone use --user-id ID --erase"
        )
    return record


def _user_id_from_api(profile: str) -> str | None:
    """One `personal_info` call with the profile's (refreshed if need be) token."""
    from pipelines.auth.endpoints import fetch_user_id
    from pipelines.auth.tokens import OAuthTokenProvider

    try:
        provider = OAuthTokenProvider(profile)
        return fetch_user_id(provider.record().api_base_url, provider.access_token())
    except OuraEltError:
        return None


def _profiles_of(user_id: str | None) -> tuple[str, ...]:
    """Saved logins of `user_id`."""
    if not user_id:
        return ()
    found = []
    for name in list_profiles():
        with contextlib.suppress(OuraEltError):
            record = TokenStore(name).load()
            if record is not None and record.user_id == user_id:
                found.append(name)
    return tuple(found)


# ----------------------------------------------------------------------------- the warehouse


def resolve_duckdb_path(duckdb_path: Path | str | None) -> Path:
    """The DuckDB file, absolute, as the loader resolves it."""
    return Path(duckdb_path or config.default_duckdb_path()).expanduser().resolve()


def pipeline_name(profile: str | None) -> str:
    """The loader's dlt pipeline name of a profile."""
    from pipelines.oura.warehouse import pipeline_name as loader_pipeline_name

    return loader_pipeline_name(profile)


def pipelines_dir(duckdb_path: Path, dataset: str) -> Path:
    """Where the loader keeps dlt working folders for this DuckDB file and dataset."""
    from pipelines.oura.warehouse import pipelines_folder

    return pipelines_folder(DUCKDB_KIND, str(duckdb_path), dataset)


@dataclass(frozen=True)
class WarehouseTable:
    """A table an erasure examines: its schema (a BigQuery dataset), name and columns."""

    schema: str
    name: str
    columns: frozenset[str]

    @property
    def sql(self) -> str:
        return f"{_q(self.schema)}.{_q(self.name)}"

    @property
    def label(self) -> str:
        return f"{self.schema}.{self.name}"


def owned_and_children(
    tables: list[WarehouseTable],
) -> tuple[list[WarehouseTable], list[WarehouseTable]]:
    """Tables with a `user_id` column, and dlt child tables linked to rows by id."""
    owned = [t for t in tables if USER_ID in t.columns]
    children = [t for t in tables if USER_ID not in t.columns and "_dlt_id" in t.columns
                and t.columns & set(LINK_COLUMNS)]
    return owned, children


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _tables(con: Any) -> list[WarehouseTable]:
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


def _find(tables: list[WarehouseTable], schema: str, name: str) -> WarehouseTable | None:
    return next((t for t in tables if t.schema == schema and t.name == name), None)


def _user_load_ids(con: Any, dataset: str, user_id: str | None) -> set[str]:
    """dlt load ids of the person's rows in the raw dataset."""
    if not user_id:
        return set()
    ids: set[str] = set()
    for table in _tables(con):
        if table.schema == dataset and USER_ID in table.columns and "_dlt_load_id" in table.columns:
            rows = con.execute(
                f"SELECT DISTINCT _dlt_load_id FROM {table.sql} WHERE {_q(USER_ID)} = ?", [user_id]
            ).fetchall()
            ids.update(r[0] for r in rows if r[0] is not None)
    return ids


def _pipelines_of_loads(con: Any, dataset: str, load_ids: set[str]) -> set[str]:
    """Pipelines that stored their state in one of these loads (so they loaded this person)."""
    state = _find(_tables(con), dataset, STATE_TABLE)
    if state is None or not load_ids:
        return set()
    rows = con.execute(
        f"SELECT DISTINCT pipeline_name FROM {state.sql} WHERE _dlt_load_id IN (SELECT unnest(?))",
        [sorted(load_ids)],
    ).fetchall()
    return {r[0] for r in rows}


def _delete_rows(
    con: Any, dataset: str, user_id: str | None, load_ids: set[str], names: set[str]
) -> dict[str, int]:
    """The deletes, inside the caller's transaction; rows per table."""
    tables = _tables(con)
    deleted: dict[str, int] = {}
    owned, children = owned_and_children(tables)
    if user_id:
        mine = f"{_q(USER_ID)} = ?"
        doomed = f"_oura_erase_{uuid.uuid4().hex[:8]}"  # _dlt_id of every row that goes
        con.execute(f"CREATE TEMP TABLE {doomed} (id VARCHAR)")
        for table in owned:
            if "_dlt_id" in table.columns:
                con.execute(
                    f"INSERT INTO {doomed} SELECT _dlt_id FROM {table.sql} WHERE {mine}", [user_id]
                )
        _collect_children(con, children, doomed)
        for table in owned:
            deleted[table.label] = _count(
                con.execute(f"DELETE FROM {table.sql} WHERE {mine}", [user_id])
            )
        for table in children:
            deleted[table.label] = _count(
                con.execute(f"DELETE FROM {table.sql} WHERE _dlt_id IN (SELECT id FROM {doomed})")
            )
        con.execute(f"DROP TABLE {doomed}")
    state = _find(tables, dataset, STATE_TABLE)
    if state is not None and names:
        deleted[state.label] = _count(con.execute(
            f"DELETE FROM {state.sql} WHERE pipeline_name IN (SELECT unnest(?))", [sorted(names)]
        ))
    loads = _find(tables, dataset, LOADS_TABLE)
    if loads is not None and load_ids:
        referenced = [f"SELECT _dlt_load_id FROM {t.sql}" for t in tables
                      if t.schema == dataset and "_dlt_load_id" in t.columns]
        still_used = f" AND load_id NOT IN ({' UNION '.join(referenced)})" if referenced else ""
        deleted[loads.label] = _count(con.execute(
            f"DELETE FROM {loads.sql} WHERE load_id IN (SELECT unnest(?)){still_used}",
            [sorted(load_ids)],
        ))
    return deleted


def _collect_children(con: Any, children: list[WarehouseTable], doomed: str) -> None:
    """Add child rows linked to doomed rows until nothing new turns up (any nesting depth)."""
    for _ in range(len(children) + 1):
        added = 0
        for table in children:
            links = " OR ".join(
                f"{_q(c)} IN (SELECT id FROM {doomed})" for c in LINK_COLUMNS if c in table.columns
            )
            added += _count(con.execute(
                f"INSERT INTO {doomed} SELECT _dlt_id FROM {table.sql} WHERE ({links}) "
                f"AND _dlt_id NOT IN (SELECT id FROM {doomed})"
            ))
        if not added:
            return


def _count(cursor: Any) -> int:
    row = cursor.fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _local_pipelines_with(folder: Path, load_ids: set[str]) -> set[str]:
    """Working folders under `folder` that keep a loaded package of one of these loads."""
    if not load_ids or not folder.is_dir():
        return set()
    return {
        pipeline.name
        for pipeline in folder.iterdir()
        if pipeline.is_dir()
        and any((pipeline / "load" / "loaded" / load_id).exists() for load_id in load_ids)
    }


def _copy_database(con: Any, path: Path, report: ErasureReport) -> Path | None:
    """Copy the open database into a new file beside it (free blocks are not copied)."""
    import duckdb

    copy = path.with_name(f".{path.name}.erased-{uuid.uuid4().hex[:8]}")
    alias = "_oura_compacted"
    try:
        con.execute(f"ATTACH '{str(copy).replace(chr(39), chr(39) * 2)}' AS {alias}")
        try:
            catalog = con.execute("SELECT current_database()").fetchone()[0]
            con.execute(f"COPY FROM DATABASE {_q(catalog)} TO {alias}")
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


@contextlib.contextmanager
def _connect(path: Path, *, read_only: bool) -> Iterator[Any]:
    """A DuckDB connection; a file locked by another process is `WarehouseBusy`."""
    import duckdb

    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise WarehouseBusy(path) from None
        raise OuraEltError(f"cannot open {path}: {str(exc).splitlines()[0]}") from None
    try:
        yield con
    finally:
        con.close()


@contextlib.contextmanager
def warehouse_lock_or_busy(
    kind: str, duckdb_path: Path | None, dataset: str, timeout: float, where: Path | str
) -> Iterator[None]:
    """The loader's and dbt's write lock of this warehouse; `WarehouseBusy` (naming
    `where`) if it stays taken."""
    from pipelines.locks import warehouse_lock

    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(warehouse_lock(kind, duckdb_path, dataset, timeout=timeout))
        except OuraEltError:
            raise WarehouseBusy(where) from None
        yield


def _forget_in_webhook_journal(user_id: str | None, dry_run: bool) -> int:
    """The person's rows in the webhook receiver's journal (ids of changed documents)."""
    if not user_id:
        return 0
    from pipelines.webhooks.settings import default_journal_path

    path = default_journal_path()
    if not path.is_file():
        return 0
    from pipelines.webhooks.journal import Journal

    journal = Journal(path)
    try:
        return journal.forget_user(user_id, dry_run=dry_run)
    finally:
        journal.close()
