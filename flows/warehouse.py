"""Where a flow writes (`Target`), and the lock that keeps writers of one warehouse in turn.

DuckDB allows one writing process per file, and two dlt pipelines merging into
the same dataset at once clash on their staging tables, so every load and every
`dbt build` of a flow holds `warehouse_lock(target)` while it touches the
warehouse. It is a file lock (`filelock`), so it also orders separate processes
on this machine: a nightly refresh that starts during a long backfill waits for
it instead of failing. Each holder opens its own lock file handle, so threads of
one process exclude each other too.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import filelock

from oura_elt import config
from oura_elt.errors import OuraEltError, UsageError
from pipelines.oura.settings import DATASET_NAME

DESTINATIONS = ("duckdb", "bigquery")
LOCK_SUFFIX = ".lock"
LOCK_NOTICE_SECONDS = 2.0  # wait this long quietly before saying that we are waiting

log = logging.getLogger(__name__)


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
        if self.duckdb_path is not None:
            return self.duckdb_path.with_name(self.duckdb_path.name + LOCK_SUFFIX)
        digest = hashlib.sha1(f"{self.destination}:{self.dataset}".encode()).hexdigest()[:12]
        return config.home() / "locks" / f"{self.destination}-{digest}{LOCK_SUFFIX}"


@contextmanager
def warehouse_lock(target: Target, timeout: float | None = None) -> Iterator[None]:
    """Hold the target's write lock (waiting for the current holder, if any).

    Args:
        target: the warehouse.
        timeout: seconds to wait at most (None: as long as it takes).

    Raises:
        OuraEltError: the lock was not free within `timeout`.
    """
    path = target.lock_path
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(str(path), thread_local=False, is_singleton=False)
    started = time.monotonic()
    try:
        lock.acquire(timeout=LOCK_NOTICE_SECONDS if timeout is None else min(timeout, LOCK_NOTICE_SECONDS))
    except filelock.Timeout:
        log.info("waiting for %s: another load or dbt build is writing to it", target)
        remaining = None if timeout is None else max(timeout - (time.monotonic() - started), 0.0)
        try:
            lock.acquire(timeout=-1 if remaining is None else remaining)
        except filelock.Timeout:
            raise OuraEltError(
                f"{target} stayed locked by another load or dbt build for {timeout:g} s "
                f"(lock file {path}); try again when it has finished"
            ) from None
    try:
        yield
    finally:
        lock.release()
