"""Where a flow writes (`Target`), and the lock that keeps writers of one warehouse in turn.

The lock itself is `pipelines.locks` (the loader takes it around its own writes);
flows take it around `dbt build`, so a load and a build never overlap on one file,
and a nightly refresh that starts during a long backfill waits instead of failing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from oura_elt import config
from oura_elt.errors import UsageError
from pipelines import locks
from pipelines.oura.settings import DATASET_NAME

DESTINATIONS = ("duckdb", "bigquery")


@dataclass(frozen=True)
class Target:
    """A warehouse: a destination kind, its DuckDB file (DuckDB only) and the raw dataset.

    Attributes:
        destination: "duckdb" or "bigquery".
        duckdb_path: absolute DuckDB file (None for BigQuery).
        dataset: dataset (schema) of the raw tables.
    """

    destination: str = "duckdb"
    duckdb_path: Path | None = None
    dataset: str = DATASET_NAME

    @classmethod
    def of(cls, destination: str = "duckdb", duckdb_path: str | Path | None = None,
           dataset: str = DATASET_NAME) -> "Target":
        """A target from flow parameters; the DuckDB path defaults like `oura-elt load`'s.

        Raises:
            UsageError: unknown destination, or a DuckDB path given for BigQuery.
        """
        if destination not in DESTINATIONS:
            raise UsageError(f"unknown destination {destination!r}; use one of: {', '.join(DESTINATIONS)}")
        if destination != "duckdb":
            if duckdb_path is not None:
                raise UsageError("duckdb_path only applies to the duckdb destination")
            return cls(destination, None, dataset)
        path = Path(duckdb_path or config.default_duckdb_path()).expanduser().resolve()
        return cls(destination, path, dataset)

    def __str__(self) -> str:
        return str(self.duckdb_path) if self.duckdb_path else f"BigQuery dataset {self.dataset}"

    @property
    def lock_path(self) -> Path:
        """The lock file: next to the DuckDB file, else under `<home>/locks/`."""
        return locks.warehouse_lock_path(self.destination, self.duckdb_path, self.dataset)


def warehouse_lock(target: Target, timeout: float | None = None):
    """Hold the target's write lock, waiting for the current holder (`pipelines.locks.hold`).

    Raises:
        OuraEltError: the lock was not free within `timeout`.
    """
    return locks.warehouse_lock(target.destination, target.duckdb_path, target.dataset, timeout)
