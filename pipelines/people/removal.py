"""`oura-elt users remove`: who a removal is about, then erase and revoke."""

from __future__ import annotations

import contextlib
from pathlib import Path

from pipelines.auth.logout import logout
from pipelines.auth.store import TokenRecord, TokenStore, list_profiles, validate_profile
from pipelines.core.errors import OuraEltError, UsageError
from pipelines.core.target import DUCKDB, RAW_DATASET, duckdb_file
from pipelines.people.duckdb_file import connect
from pipelines.people.erase_bigquery import erase_user_bigquery
from pipelines.people.erase_duckdb import erase_user
from pipelines.people.listing import only, pipeline_users
from pipelines.people.records import Removal, RemovalReport
from pipelines.warehouse import pipeline_name


def resolve_removal(
    profile: str | None = None,
    user_id: str | None = None,
    *,
    duckdb_path: Path | str | None = None,
    dataset: str = RAW_DATASET,
    ask_api: bool = True,
    destination: str = DUCKDB,
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
    if not found and destination == DUCKDB:
        found, source = _user_id_in_warehouse(profile, duckdb_path, dataset), "warehouse"
    if not found:
        source = "unknown"
    others = tuple(p for p in _profiles_of(found) if p != profile)
    return Removal(profile, found, source, others)


def remove_user(
    removal: Removal,
    *,
    erase: bool,
    duckdb_path: Path | str | None = None,
    dataset: str = RAW_DATASET,
    compact: bool = True,
    lock_timeout: float = 0.0,
    destination: str = DUCKDB,
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
        destination: "duckdb" or "bigquery" (`pipelines.people.erase_bigquery`).

    Raises:
        UsageError: erasing by user id without `erase`.
        WarehouseBusy: a load or dbt build holds the warehouse.
    """
    if removal.profile is None and not erase:
        raise UsageError("removing by --user-id erases data: add --erase")
    report = RemovalReport(removal)
    if erase and destination != DUCKDB:
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


def _user_id_in_warehouse(profile: str, duckdb_path: Path | str | None, dataset: str) -> str | None:
    """The user id the profile's pipeline loaded, if exactly one."""
    path = duckdb_file(duckdb_path)
    if not path.is_file():
        return None
    with connect(path, read_only=True) as con:
        candidates = pipeline_users(con, dataset).get(pipeline_name(profile), set())
    if len(candidates) > 1:
        raise UsageError(
            f"profile '{profile}' loaded several users ({', '.join(sorted(candidates))}); "
            "pick one with --user-id"
        )
    return only(candidates)


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
