"""The per-profile token store: `<home>/profiles/<profile>/token.json`.

The store is oura-elt's secret store (access and refresh tokens, the app's client
secret), so the file is mode 0600 in a 0700 directory, replaced atomically, and
guarded by a cross-process lock (`token.json.lock`) that also serializes token
refreshes (a refresh token is single-use: api-reference §4.1, pitfall 11).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import filelock

from pipelines.core import config
from pipelines.core.errors import OuraEltError, UsageError

PROFILE_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")
TOKEN_FILE = "token.json"
LOCK_TIMEOUT_SECONDS = 180.0
_FORMAT_VERSION = 1


def validate_profile(name: str) -> str:
    """Return `name` if it is a valid profile name, else raise a clear error."""
    if not isinstance(name, str) or not PROFILE_PATTERN.fullmatch(name) or name in {".", ".."}:
        raise UsageError(
            f"invalid profile name {name!r}: use 1-64 letters, digits, '_', '.' or '-'"
        )
    return name


def resolve_profile(name: str | None) -> str:
    """`name`, else `OURA_PROFILE`, else `default` (validated)."""
    return validate_profile(name or os.environ.get("OURA_PROFILE") or "default")


def profiles_dir() -> Path:
    """The directory holding one sub-directory per profile."""
    return config.home() / "profiles"


def list_profiles() -> list[str]:
    """Names of the profiles that have a saved login, sorted."""
    root = profiles_dir()
    if not root.is_dir():
        return []
    return sorted(
        p.name
        for p in root.iterdir()
        if PROFILE_PATTERN.fullmatch(p.name) and (p / TOKEN_FILE).is_file()
    )


@dataclass(frozen=True)
class TokenRecord:
    """One profile's saved login. Its repr never shows a token or the client secret."""

    profile: str
    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: float | None  # epoch seconds; None if the server did not say
    token_type: str
    scopes: tuple[str, ...]  # bare names, sorted
    raw_scopes: tuple[str, ...]  # as granted (may carry `extapi:`)
    token_url: str
    revoke_url: str
    api_base_url: str
    client_id: str
    client_secret: str = field(repr=False)
    user_id: str | None
    obtained_at: float
    refreshed_at: float | None = None
    relogin_required: bool = False

    def expires_within(self, seconds: float, now: float | None = None) -> bool:
        """True if the access token is expired or expires within `seconds`."""
        if self.expires_at is None:
            return False
        return (time.time() if now is None else now) + seconds >= self.expires_at

    def replace(self, **changes: object) -> TokenRecord:
        """A copy with `changes` applied."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def to_json(self) -> str:
        """The file format (version 1)."""
        return json.dumps({"version": _FORMAT_VERSION, **asdict(self)}, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TokenRecord:
        """Parse the file format; raises ValueError/KeyError/TypeError on bad content."""
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("version") != _FORMAT_VERSION:
            raise ValueError("unknown token file format")
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        values["scopes"] = tuple(values.get("scopes") or ())
        values["raw_scopes"] = tuple(values.get("raw_scopes") or ())
        record = cls(**values)
        if not isinstance(record.access_token, str) or not record.access_token:
            raise ValueError("missing access_token")
        return record


_registry_lock = threading.Lock()
_path_locks: dict[str, tuple[threading.RLock, filelock.FileLock]] = {}


def _locks_for(lock_path: Path) -> tuple[threading.RLock, filelock.FileLock]:
    # One pair per lock file and process: the RLock orders threads, the FileLock processes.
    key = str(lock_path)
    with _registry_lock:
        if key not in _path_locks:
            _path_locks[key] = (threading.RLock(), filelock.FileLock(key, mode=0o600))
        return _path_locks[key]


class TokenStore:
    """Read, write and lock one profile's `token.json`.

    Args:
        profile: Profile name (`[A-Za-z0-9_.-]{1,64}`).
    """

    def __init__(self, profile: str) -> None:
        self.profile = validate_profile(profile)
        self.dir = profiles_dir() / self.profile
        self.path = self.dir / TOKEN_FILE
        self.lock_path = self.dir / (TOKEN_FILE + ".lock")

    def __repr__(self) -> str:
        return f"TokenStore(profile={self.profile!r}, path={str(self.path)!r})"

    def exists(self) -> bool:
        """True if the profile has a saved login."""
        return self.path.is_file()

    def fingerprint(self) -> tuple[int, int, int] | None:
        """(inode, mtime, size) of the token file, which changes on every save; None if absent."""
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return None
        return info.st_ino, info.st_mtime_ns, info.st_size

    @contextlib.contextmanager
    def lock(self, timeout: float = LOCK_TIMEOUT_SECONDS) -> Iterator[None]:
        """Hold the profile's lock (threads of this process and other processes)."""
        self._ensure_dir()
        thread_lock, file_lock = _locks_for(self.lock_path)
        if not thread_lock.acquire(timeout=timeout):
            raise self._lock_timeout(timeout)
        try:
            try:
                file_lock.acquire(timeout=timeout)
            except filelock.Timeout:
                raise self._lock_timeout(timeout) from None
            try:
                yield
            finally:
                file_lock.release()
        finally:
            thread_lock.release()

    def load(self) -> TokenRecord | None:
        """The saved login, or None if the profile has none."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            return TokenRecord.from_json(text)
        except (ValueError, KeyError, TypeError) as exc:
            raise OuraEltError(
                f"the token file {self.path} is unreadable ({type(exc).__name__}); "
                f"run: oura-elt auth login --profile {self.profile}"
            ) from None

    def save(self, record: TokenRecord) -> None:
        """Atomically replace the token file (0600) with `record`. Hold `lock()` around it."""
        if record.profile != self.profile:
            raise ValueError("record belongs to another profile")
        self._ensure_dir()
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".token.", suffix=".tmp")  # mode 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(record.to_json())
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        _fsync_dir(self.dir)

    def delete(self) -> bool:
        """Delete the token file (hold `lock()`); True if there was one."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        _fsync_dir(self.dir)
        return True

    def remove_leftovers(self) -> None:
        """After `delete()` and outside `lock()`: remove the lock file and the empty directory."""
        with contextlib.suppress(FileNotFoundError):
            self.lock_path.unlink()
        with contextlib.suppress(OSError):
            self.dir.rmdir()

    def _ensure_dir(self) -> None:
        profiles_dir().parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        for directory in (profiles_dir(), self.dir):
            directory.mkdir(mode=0o700, exist_ok=True)
        for directory in (profiles_dir(), self.dir):
            if directory.stat().st_mode & 0o077:
                directory.chmod(0o700)

    def _lock_timeout(self, timeout: float) -> OuraEltError:
        return OuraEltError(
            f"timed out after {timeout:.0f} s waiting for the token lock of profile "
            f"'{self.profile}' ({self.lock_path}); another oura-elt process may be stuck"
        )


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
