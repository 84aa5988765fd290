"""The warehouse a command writes to: a destination kind, its DuckDB file and the raw dataset.

The one place where the destination list, the DuckDB path default (`OURA_DUCKDB_PATH`,
else `data/oura.duckdb`) and the raw dataset's name are decided and checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.core import config
from pipelines.core.errors import UsageError

DUCKDB = "duckdb"
BIGQUERY = "bigquery"
DESTINATIONS = (DUCKDB, BIGQUERY)
RAW_DATASET = "oura_raw"  # the loader's dataset (schema); dbt's are `oura_staging`, ...


def duckdb_file(path: Path | str | None = None) -> Path:
    """A DuckDB file as every command resolves it: absolute, the default when None."""
    return Path(path or config.default_duckdb_path()).expanduser().resolve()


def check_destination(destination: str, option: str = "--destination") -> str:
    """A known destination kind, or one clear error naming the valid ones."""
    if destination not in DESTINATIONS:
        raise UsageError(f"{option} {destination!r} is not one of: {', '.join(DESTINATIONS)}")
    return destination


@dataclass(frozen=True)
class Target:
    """A warehouse.

    Attributes:
        destination: "duckdb" or "bigquery".
        duckdb_path: absolute DuckDB file (None for BigQuery).
        dataset: dataset (schema) of the raw tables.
    """

    destination: str = DUCKDB
    duckdb_path: Path | None = None
    dataset: str = RAW_DATASET

    @classmethod
    def of(
        cls,
        destination: str = DUCKDB,
        duckdb_path: str | Path | None = None,
        dataset: str = RAW_DATASET,
        *,
        duckdb_option: str = "--duckdb",
        destination_option: str = "--destination",
    ) -> Target:
        """A target from command or flow parameters, with the DuckDB path's default.

        Raises:
            UsageError: unknown destination, or a DuckDB path given for BigQuery.
        """
        check_destination(destination, destination_option)
        if destination != DUCKDB:
            if duckdb_path is not None:
                raise UsageError(f"{duckdb_option} only applies to {destination_option} duckdb")
            return cls(destination, None, dataset)
        return cls(destination, duckdb_file(duckdb_path), dataset)

    @property
    def is_duckdb(self) -> bool:
        """Whether the warehouse is a DuckDB file."""
        return self.destination == DUCKDB

    def __str__(self) -> str:
        return (
            str(self.duckdb_path)
            if self.duckdb_path
            else f"the {self.destination} dataset {self.dataset}"
        )

    @property
    def lock_path(self) -> Path:
        """The write lock's file (`pipelines.core.locks.warehouse_lock_path`)."""
        from pipelines.core.locks import warehouse_lock_path

        return warehouse_lock_path(self.destination, self.duckdb_path, self.dataset)

    def check(self, write: bool = True) -> None:
        """Fail now, in one line, if a command could not open the warehouse: its DuckDB file
        held by another program, not a DuckDB database, or not creatable
        (`pipelines.core.warehouse_file.check`). Nothing is written. BigQuery's credentials
        are checked when its client is made.

        Raises:
            OuraEltError: the file cannot be used, saying why and what to do.
        """
        if self.duckdb_path is None:
            return
        from pipelines.core.warehouse_file import check

        check(self.duckdb_path, write=write, lock_path=self.lock_path if write else None)

    def lock(self, timeout: float | None = None) -> Any:
        """Hold the warehouse's write lock (`pipelines.core.locks.warehouse_lock`)."""
        from pipelines.core.locks import warehouse_lock

        return warehouse_lock(self.destination, self.duckdb_path, self.dataset, timeout)

    def commit_lock(self, timeout: float | None = None) -> Any:
        """What a load holds around each commit: exclusive on DuckDB, shared on BigQuery
        (`pipelines.core.locks.commit_lock`)."""
        from pipelines.core.locks import commit_lock

        return commit_lock(self.destination, self.duckdb_path, self.dataset, timeout)


def warehouse_lock(target: Target, timeout: float | None = None) -> Any:
    """Hold `target`'s write lock, waiting for the current holder (`Target.lock`).

    Raises:
        OuraEltError: the lock was not free within `timeout`.
    """
    return target.lock(timeout)
