"""A DuckDB warehouse file: opening it, checking it before a command starts, creating it.

Every command that opens a DuckDB file goes through `connect` (or `check` first), so
a file held open by another program, a file that is not a DuckDB database, a folder or
a path where no file can be created are each one line, naming the cause, the program
holding the file when DuckDB says which, and what to do.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

from pipelines.core.errors import OuraEltError
from pipelines.core.private import private_folder, private_scratch, publish

# DuckDB: 'Could not set lock on file "x": Conflicting lock is held in /usr/bin/python3 (PID 7)'
_HOLDER = re.compile(r"held in (?P<program>.+?) \(PID (?P<pid>\d+)\)")
ADVICE = "close it there, or wait for it to finish, and run again"


class WarehouseUnavailable(OuraEltError):
    """The DuckDB file cannot be used: not a DuckDB database, a folder, or not creatable."""


class WarehouseInUse(WarehouseUnavailable):
    """Another program has the DuckDB file open (DuckDB allows one writer, or many readers).

    Attributes:
        path: the DuckDB file.
        cause: what holds it ("x.duckdb is open in another program (duckdb, PID 7) ...").
        advice: what to do.
        holder: the holding process ("duckdb, PID 7"), when DuckDB names it.
    """

    def __init__(
        self, cause: str, path: Path | str, *, advice: str = ADVICE, holder: str | None = None
    ) -> None:
        super().__init__(f"{cause}; {advice}")
        self.path = path
        self.cause = cause
        self.advice = advice
        self.holder = holder


def connect(path: Path | str, *, read_only: bool) -> Any:
    """A DuckDB connection to the file `path`.

    Raises:
        WarehouseInUse: another program holds the file.
        WarehouseUnavailable: it is not a DuckDB database, or cannot be opened or created.
    """
    import duckdb

    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.Error as exc:
        raise _failure(Path(path), exc, read_only=read_only) from None


def check(path: Path | str, *, write: bool, lock_path: Path | None = None) -> None:
    """Fail now, in one line, if a command could not open the DuckDB file `path`.

    Nothing is written: a missing file is not created (a writer checks that it could be),
    and a file is opened and closed again. With `lock_path` (the warehouse's write lock,
    `pipelines.core.locks`) a file another oura-elt writer holds passes: the command waits
    for its turn as usual.

    Args:
        path: the DuckDB file.
        write: the command writes (a load, a dbt build, an erasure), so it needs the file
            to itself; else it only reads, beside other readers.
        lock_path: the warehouse's lock file, for writers.

    Raises:
        WarehouseInUse: another program holds the file.
        WarehouseUnavailable: not a DuckDB file, a folder, or no file can be created there.
    """
    path = Path(path)
    if path.is_dir():
        raise WarehouseUnavailable(f"{path} is a folder; give --duckdb the path of a DuckDB file")
    if not path.exists():
        if write:
            _check_creatable(path)
        return
    if write and lock_path is not None and lock_path.exists():
        import filelock

        lock = filelock.FileLock(str(lock_path), thread_local=False, is_singleton=False)
        try:
            lock.acquire(blocking=False)
        except filelock.Timeout:
            return  # an oura-elt load or build is writing: this command waits for its turn
        except OSError:
            pass  # an unusable lock file: the command's own locking says so
        else:
            try:
                connect(path, read_only=False).close()
            finally:
                lock.release()
            return
    connect(path, read_only=not write).close()


def create(path: Path | str) -> Path:
    """Create `path` as an empty DuckDB database, 0600, in 0700 folders it creates; an
    existing file is left as it is.

    DuckDB creates files with the umask's mode, so the database is made in a private
    scratch folder beside it and linked into place once it is 0600.

    Raises:
        WarehouseUnavailable: the folder or the file cannot be created.
    """
    import duckdb

    path = Path(path)
    if path.exists():
        return path
    try:
        folder = private_folder(path.parent)
        with private_scratch(folder) as scratch:
            fresh = scratch / path.name
            duckdb.connect(str(fresh)).close()
            publish(fresh, path, replace=False)  # a file someone made meanwhile stays theirs
    except OSError as exc:
        raise WarehouseUnavailable(_cannot_create(path, exc.strerror or str(exc))) from None
    except duckdb.Error as exc:
        raise _failure(path, exc, read_only=False) from None
    return path


def _check_creatable(path: Path) -> None:
    """A file can be created where `path` would be (in its nearest existing folder)."""
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise WarehouseUnavailable(_cannot_create(path, f"{folder} is not a folder"))
    try:
        handle, probe = tempfile.mkstemp(prefix=".oura-elt-check-", dir=folder)
    except OSError as exc:
        raise WarehouseUnavailable(_cannot_create(path, exc.strerror or str(exc))) from None
    os.close(handle)
    os.unlink(probe)


def _cannot_create(path: Path, reason: str) -> str:
    return f"cannot create the DuckDB file {path}: {reason}; choose a writable --duckdb path"


def is_lock_conflict(text: str) -> bool:
    """Whether a DuckDB error says another process holds the file (its one spelling here)."""
    return "Could not set lock" in text or "Conflicting lock" in text


def _failure(path: Path, exc: Exception, *, read_only: bool) -> WarehouseUnavailable:
    """The one line for a DuckDB file that would not open."""
    text = str(exc)
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    if is_lock_conflict(text):
        found = _HOLDER.search(text)
        holder = _describe_holder(found.group("program"), found.group("pid")) if found else None
        who = f"another program ({holder})" if holder else "another program"
        if read_only:
            cause = f"{path} is open for writing in {who}"
        else:
            cause = f"{path} is open in {who}, and DuckDB lets only one program at a time write it"
        return WarehouseInUse(cause, path, holder=holder)
    if "not a valid DuckDB database" in text:
        return WarehouseUnavailable(
            f"{path} is not a DuckDB database; give --duckdb a DuckDB file, or a new path"
        )
    if "Is a directory" in text:
        return WarehouseUnavailable(f"{path} is a folder; give --duckdb the path of a DuckDB file")
    if not path.exists() and "Cannot open file" in text:
        reason = first.split(": ", 2)[-1] if first.count(": ") >= 2 else first
        return WarehouseUnavailable(_cannot_create(path, reason))
    reason = first.removeprefix("IO Error: ")
    return WarehouseUnavailable(f"cannot open the DuckDB file {path}: {reason}")


def _describe_holder(program: str, pid: str) -> str:
    """ "oura-elt, PID 7": the process's name (Linux's /proc/PID/comm, no arguments, so no
    secrets), else the program DuckDB names."""
    try:
        name = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        name = ""
    return f"{name or Path(program).name}, PID {pid}"
