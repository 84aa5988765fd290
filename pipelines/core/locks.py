"""File locks that make writers of one warehouse, and loads of one profile, take turns.

DuckDB lets one process at a time open a file for writing, and two dlt pipelines
merging into one dataset at once clash on their staging tables. So every write to
a warehouse (a load's commit, a `dbt build`, an erasure) holds `warehouse_lock`,
and a load holds it only while it touches the warehouse: loads of several people
fetch at the same time and commit in turn. A load also holds a lock on its profile's
dlt working folder (`hold`) for its whole run, because that folder is not safe to share.

They are `filelock` locks, so they order separate processes on this machine too,
and each holder opens its own handle, so threads of one process exclude each other.

BigQuery has no single-writer file: each merge is its own transaction there, and each
person's load has its own staging dataset (`pipelines.bigquery_destination`), so loads
into BigQuery hold the warehouse lock *shared* (`commit_lock`): they never wait for one
another, while a `dbt build` or an erasure, which hold it exclusively, still wait for
(or refuse beside) a commit in flight, as they do on DuckDB.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import filelock

try:  # POSIX; elsewhere a shared hold falls back to an exclusive one
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from pipelines.core import config
from pipelines.core.errors import OuraEltError
from pipelines.core.private import FILE_MODE, private_folder

LOCK_SUFFIX = ".lock"
NOTICE_AFTER_SECONDS = 2.0  # wait this long quietly before saying that we are waiting

log = logging.getLogger(__name__)


class LockHeld(OuraEltError):
    """A lock stayed taken by another holder for longer than the caller would wait."""


def warehouse_lock_path(destination: str, duckdb_path: Path | None, dataset: str) -> Path:
    """The lock file of a warehouse: next to the DuckDB file, else under `<home>/locks/`."""
    if duckdb_path is not None:
        path = Path(duckdb_path).expanduser().resolve()
        return path.with_name(path.name + LOCK_SUFFIX)
    digest = hashlib.sha1(f"{destination}:{dataset}".encode()).hexdigest()[:12]
    return config.home() / "locks" / f"{destination}-{digest}{LOCK_SUFFIX}"


@contextmanager
def hold(path: Path, what: str, timeout: float | None = None) -> Iterator[None]:
    """Hold the lock file `path`, waiting for its current holder (saying so after a moment).

    Args:
        path: the lock file (its folder is created).
        what: what the lock guards, for the messages (e.g. "the warehouse x.duckdb").
        timeout: seconds to wait at most (None: as long as it takes).

    Raises:
        LockHeld: the lock was not free within `timeout`.
        OuraEltError: the lock file cannot be made (a read-only disk, no such folder).
    """
    lock = filelock.FileLock(str(path), thread_local=False, is_singleton=False)
    started = time.monotonic()
    try:
        private_folder(path.parent)
        # filelock retries an open that fails with "No such file" for ever (it takes it for
        # a lock file deleted meanwhile): open it once first, so /proc/x fails at once.
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE))
        try:
            lock.acquire(
                timeout=NOTICE_AFTER_SECONDS
                if timeout is None
                else min(timeout, NOTICE_AFTER_SECONDS)
            )
        except filelock.Timeout:  # (a subclass of OSError: caught first)
            log.info("waiting for %s: another oura-elt process is using it", what)
            remaining = (
                None if timeout is None else max(timeout - (time.monotonic() - started), 0.0)
            )
            try:
                lock.acquire(timeout=-1 if remaining is None else remaining)
            except filelock.Timeout:
                raise LockHeld(
                    f"{what} stayed locked by another load or dbt build for {timeout:g} s "
                    f"(lock file {path}); try again when it has finished"
                ) from None
    except OuraEltError:
        raise
    except OSError as exc:  # a read-only or full disk, a path under a file, no permission
        raise OuraEltError(
            f"cannot lock {what} (lock file {path}): {exc.strerror or exc}"
        ) from None
    try:
        yield
    finally:
        lock.release()


def warehouse_lock(
    destination: str, duckdb_path: Path | None, dataset: str, timeout: float | None = None
):
    """Hold a warehouse's write lock (see `hold`)."""
    where = (
        f"the warehouse {duckdb_path}"
        if duckdb_path is not None
        else f"the {destination} dataset {dataset}"
    )
    return hold(warehouse_lock_path(destination, duckdb_path, dataset), where, timeout)


@contextmanager
def hold_shared(path: Path, what: str, timeout: float | None = None) -> Iterator[None]:
    """Hold the lock file `path` shared: with other shared holders, never beside an exclusive
    one (`hold`). Both are `flock` locks on the same file, so they exclude each other across
    processes and threads.

    Raises:
        LockHeld: an exclusive holder kept it longer than `timeout` seconds.
        OuraEltError: the lock file cannot be made.
    """
    if fcntl is None:  # pragma: no cover - Windows
        with hold(path, what, timeout):
            yield
        return
    started = time.monotonic()
    noticed = False
    try:
        private_folder(path.parent)
        fd = os.open(str(path), os.O_RDWR | os.O_CREAT, FILE_MODE)
    except OSError as exc:
        reason = exc.strerror or exc
        raise OuraEltError(f"cannot lock {what} (lock file {path}): {reason}") from None
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - started
                if timeout is not None and waited >= timeout:
                    raise LockHeld(
                        f"{what} stayed locked by a dbt build or an erasure for {timeout:g} s "
                        f"(lock file {path}); try again when it has finished"
                    ) from None
                if not noticed and waited >= NOTICE_AFTER_SECONDS:
                    log.info("waiting for %s: another oura-elt process is using it", what)
                    noticed = True
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # releases the flock


def commit_lock(
    destination: str, duckdb_path: Path | None, dataset: str, timeout: float | None = None
):
    """What a load holds around each read of its progress and each commit: the warehouse
    lock, exclusive for a DuckDB file (one writer), shared for BigQuery (see the module)."""
    if duckdb_path is not None or destination == "duckdb":
        return warehouse_lock(destination, duckdb_path, dataset, timeout)
    where = f"the {destination} dataset {dataset}"
    return hold_shared(warehouse_lock_path(destination, duckdb_path, dataset), where, timeout)
