"""Files and folders that hold health data, readable by their owner only.

The warehouse, the exports, the report and the sandbox's dumps are created 0600, and
the folders the tool creates for them 0700. Folders that already exist are left as they
are (the user chose them), and so are the modes of files that already exist.

Files another program writes (DuckDB creates its database and `COPY ... TO` files with
the umask's mode) are written inside a private scratch folder (`private_scratch`) and
moved into place once they are 0600, so no one else can open them in between.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

FILE_MODE = 0o600
FOLDER_MODE = 0o700


def private_folder(path: Path | str) -> Path:
    """Create `path` and its missing parents as 0700 folders; return it.

    Raises:
        OSError: a folder cannot be created, or `path` is not a folder.
    """
    path = Path(path)
    missing: list[Path] = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=FOLDER_MODE)
        except FileExistsError:  # made meanwhile by someone else: theirs
            continue
        os.chmod(folder, FOLDER_MODE)  # mkdir's mode is narrowed by the umask, never widened
    if not path.is_dir():
        raise NotADirectoryError(20, "Not a directory", str(path))
    return path


def private_opener(path: str, flags: int) -> int:
    """An `opener` for `open()`: the file is created 0600 (an existing one is made 0600)."""
    fd = os.open(path, flags, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_private(path: Path | str, mode: str = "w", **kwargs: Any) -> IO[Any]:
    """`open(path, mode, ...)` for writing a file readable by its owner only."""
    return open(path, mode, opener=private_opener, **kwargs)


@contextlib.contextmanager
def private_scratch(folder: Path | str) -> Iterator[Path]:
    """A 0700 folder inside `folder` (same file system, so `os.replace` out of it is atomic),
    removed with whatever is left in it."""
    scratch = Path(tempfile.mkdtemp(prefix=".oura-elt-", dir=folder))  # mkdtemp makes it 0700
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def publish(written: Path, target: Path, *, replace: bool = True) -> bool:
    """Make a file written in a `private_scratch` folder 0600 and move it to `target`.

    Args:
        written: the finished file.
        target: its final name (same file system).
        replace: replace an existing `target`; else leave it and return False.

    Returns:
        Whether `written` is now at `target`.
    """
    os.chmod(written, FILE_MODE)
    if replace:
        os.replace(written, target)
        return True
    try:
        os.link(written, target)  # never over a file someone made meanwhile
    except FileExistsError:
        return False
    written.unlink()
    return True
