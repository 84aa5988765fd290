"""What the people functions return, and the one error they share."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from pipelines.core.warehouse_file import WarehouseInUse


class WarehouseBusy(WarehouseInUse):
    """The warehouse is being written by a load or a dbt build, or its DuckDB file is held
    by another program; nothing was changed.

    Attributes:
        path: the DuckDB file (or the BigQuery project).
        cause: what holds it, in a few words.
    """

    def __init__(
        self, path: Path | str, cause: str | None = None, advice: str | None = None
    ) -> None:
        super().__init__(
            cause or f"{path} is in use by a running load or dbt build",
            path,
            advice=f"nothing was changed; {advice or 'try again when it has finished'}",
        )


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
    """What an erasure deleted (or would delete, with `dry_run`).

    Attributes:
        user_id: the person erased (None: unknown, so no data rows were touched).
        where: the DuckDB file, or the BigQuery project.
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
