"""What every chaos trial needs: a sandbox (optionally behind a fault-injecting ASGI
wrapper), a private workspace, `oura-elt load` as a real process, an OAuth login,
and a judge of error output.

The sandbox serves from a thread of the bench process; the loads run as separate
processes (`python -m oura_elt.cli`), exactly as a user runs them, so `kill -9`,
two loads at once and a full disk hit the real program.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import requests
import uvicorn

from bench.truth_compare import Comparison, compare_warehouse, day_before
from oura_elt.commands.sandbox import sandbox_endpoints
from pipelines.core import config
from pipelines.oura.kinds import latest_day
from sandbox import application
from sandbox.server import Sandbox, SandboxSettings, create_app

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CLOCK = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
CLI = (sys.executable, "-m", "oura_elt.cli")
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\s+File \"", re.M)

AsgiApp = Callable[..., Any]


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ----------------------------------------------------------------------------- the sandbox


@dataclass
class RunningSandbox:
    """A sandbox serving from a thread, with helpers to steer it over its admin routes."""

    base_url: str
    state: Sandbox
    server: uvicorn.Server
    thread: threading.Thread
    http: requests.Session = field(default_factory=requests.Session)

    @property
    def world(self):
        """The generated world (its clock is the server's clock)."""
        return self.state.world

    def admin(self, path: str, body: dict | None = None) -> dict:
        """POST (or GET without a body) an admin route; its JSON."""
        url = f"{self.base_url}/_sandbox/{path}"
        resp = (
            self.http.post(url, json=body, timeout=30)
            if body is not None
            else self.http.get(url, timeout=30)
        )
        resp.raise_for_status()
        return resp.json()

    def faults(self, **plan: Any) -> None:
        """Replace the fault plan (no arguments: no faults)."""
        self.admin("faults", plan)

    def advance(self, seconds: float) -> None:
        """Move the server clock forward."""
        self.admin("clock", {"advance_seconds": int(seconds)})

    def oauth_stats(self) -> dict[str, int]:
        """The OAuth server's counters (refreshes, reuse of used refresh tokens, ...)."""
        return dict(self.state.oauth.stats)

    def injected(self) -> int:
        """Faults injected so far by the fault plan."""
        return sum(self.state.faults.injected.values())

    def stop(self) -> None:
        """Stop serving."""
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.http.close()


def start_sandbox(
    settings: SandboxSettings, wrap: Callable[[AsgiApp, Sandbox], AsgiApp] | None = None
) -> RunningSandbox:
    """Serve a sandbox on a free loopback port, optionally behind `wrap(app, sandbox)`."""
    app = create_app(settings)
    state: Sandbox = app.state.sandbox
    served = wrap(app, state) if wrap else app
    cfg = uvicorn.Config(
        served, log_level="critical", access_log=False, lifespan="off", timeout_keep_alive=30
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(cfg)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the sandbox server did not start")
        time.sleep(0.01)
    return RunningSandbox(f"http://127.0.0.1:{sock.getsockname()[1]}", state, server, thread)


def sandbox_settings(seed: int, history_days: int, now: datetime, **extra: Any) -> SandboxSettings:
    """One user with `history_days` of data, clock at `now`, generous rate limits."""
    extra.setdefault("token_limit", 100_000)
    extra.setdefault("app_limit", 100_000)
    return SandboxSettings(seed=seed, users=1, history_days=history_days, now=now, **extra)


class ApiChaos:
    """ASGI wrapper of the sandbox for faults the fault plan cannot express.

    - `outage(seconds)`: for that long, every data request is answered 503
      (the whole API down, not one unlucky request);
    - `expire_every`: after every n-th data request, every access token expires
      (the next request with it gets a 401, as when Oura expires a token early);
    - `lose_refreshes`: the next n refresh grants are carried out by the server
      (the refresh token rotates) but the answer never arrives intact: a 502, or
      the connection cut mid-body (`lose_mode` "502" or "cut").
    """

    def __init__(self, app: AsgiApp, sandbox: Sandbox) -> None:
        self.app, self.sandbox = app, sandbox
        self.expire_every = 0
        self.lose_refreshes = 0
        self.lose_mode = "502"
        self.data_requests = 0
        self.expirations = 0
        self.lost = 0
        self.outage_answers = 0
        self._outage_until = 0.0
        self._lock = threading.Lock()

    def outage(self, seconds: float) -> None:
        """Answer every data request with a 503 for `seconds` from now."""
        self._outage_until = time.monotonic() + seconds

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path.startswith("/v2/"):
            if time.monotonic() < self._outage_until:
                self.outage_answers += 1
                await _send_plain(send, 503, b"<html>503 Service Unavailable</html>")
                return
            await self.app(scope, receive, send)
            with self._lock:
                self.data_requests += 1
                due = self.expire_every and self.data_requests % self.expire_every == 0
            if due:
                self.sandbox.oauth.expire_access_tokens()
                self.expirations += 1
            return
        if path.startswith("/oauth/") and path.endswith("token") and self.lose_refreshes > 0:
            body = await _read_body(receive)
            if b"grant_type=refresh_token" in body:
                with self._lock:
                    self.lose_refreshes -= 1
                    self.lost += 1
                await self.app(scope, _replay(body), _swallow)  # the server acts...
                await self._lose(send)  # ...the answer is lost
                return
            receive = _replay(body)
        await self.app(scope, receive, send)

    async def _lose(self, send: Callable) -> None:
        if self.lose_mode == "cut":
            headers = [(b"content-type", b"application/json"), (b"content-length", b"400")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b'{"access_tok', "more_body": True})
            raise ConnectionAbortedError("chaos: refresh answer cut")
        await _send_plain(send, 502, b"<html>502 Bad Gateway</html>")


async def _send_plain(send: Callable, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/html")],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Callable) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes) -> Callable:
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)  # the client never disconnects while the app runs
        return {"type": "http.disconnect"}

    return receive


async def _swallow(message: dict) -> None:
    pass


# ----------------------------------------------------------------------------- workspace


@dataclass
class Workspace:
    """One trial's private folders: OURA_ELT_HOME and the DuckDB file."""

    root: Path
    home: Path = field(init=False)
    db: Path = field(init=False)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.home = self.root / "home"
        self.db = self.root / "data" / "oura.duckdb"
        self._runs = 0

    def log(self, label: str) -> Path:
        """A new transcript file for a run (kept with a failed trial's folder)."""
        self._runs += 1
        folder = self.root / "runs"
        folder.mkdir(exist_ok=True)
        return folder / f"{self._runs:02d}-{label}.txt"


def cli_env(
    sandbox: RunningSandbox, home: Path, db: Path, token: str | None = "sandbox-pat-0"
) -> dict[str, str]:
    """The environment of a user pointing `oura-elt` at the sandbox.

    `token` None: no static token, so `--profile` logins are used.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("OURA_")}
    env.update(config.TELEMETRY_OFF)
    with_bytecode_cache(env)
    env.update(
        OURA_API_BASE_URL=sandbox.base_url,
        OURA_CLIENT_ID=application.SANDBOX_CLIENT_ID,
        OURA_CLIENT_SECRET=application.SANDBOX_CLIENT_SECRET,
        OURA_ELT_HOME=str(home),
        OURA_DUCKDB_PATH=str(db),
        OURA_ELT_NOW=sandbox.world.now.isoformat(),
        COLUMNS="160",
        PYTHONUNBUFFERED="1",
    )
    if token:
        env["OURA_ACCESS_TOKEN"] = token
    return env


BYTECODE_CACHE = Path(tempfile.gettempdir()) / "oura-elt-chaos-pycache"


def with_bytecode_cache(env: MutableMapping[str, str]) -> MutableMapping[str, str]:
    """Let Python processes started with `env` cache compiled modules (in a folder of our own).

    Where `PYTHONDONTWRITEBYTECODE` is set and the environment has no `.pyc` files,
    every process compiles dlt, pandas and duckdb's Python parts again: seconds per
    `oura-elt` call, which would make most of a trial's time start-up.
    """
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(BYTECODE_CACHE)
    return env


@dataclass
class CliRun:
    """A finished `oura-elt` process."""

    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def error_lines(self) -> list[str]:
        """Lines of stderr that start with `error:`."""
        return [line for line in self.stderr.splitlines() if line.startswith("error:")]

    def tail(self, chars: int = 600) -> str:
        """The end of stderr, for failure notes."""
        return self.stderr.strip()[-chars:]

    def save(self, path: Path | None) -> CliRun:
        """Write the transcript (command, exit code, stdout, stderr) to `path`."""
        if path is not None:
            path.write_text(
                f"$ oura-elt {' '.join(self.args)}\nexit {self.code} after {self.seconds:.1f} s\n"
                f"--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}\n"
            )
        return self


def run_cli(
    *args: str, env: dict[str, str], timeout: float = 300, log: Path | None = None
) -> CliRun:
    """Run `oura-elt ARGS` to completion (its transcript saved to `log`)."""
    started = time.monotonic()
    done = subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=PROJECT_ROOT
    )
    return CliRun(args, done.returncode, done.stdout, done.stderr, time.monotonic() - started).save(
        log
    )


class CliProcess:
    """`oura-elt ARGS` running in the background, its stderr collected line by line."""

    def __init__(self, *args: str, env: dict[str, str], log: Path | None = None) -> None:
        self.args, self.log = args, log
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [*CLI, *args],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.err: list[str] = []
        self.out: list[str] = []
        self._readers = [
            threading.Thread(target=lambda: self.err.extend(self.process.stderr), daemon=True),
            threading.Thread(target=lambda: self.out.extend(self.process.stdout), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def commits_seen(self) -> int:
        """How many chunk commits the load has announced so far."""
        return sum("committing" in line for line in list(self.err))

    def running(self) -> bool:
        """True while the process has not exited."""
        return self.process.poll() is None

    def kill9(self) -> bool:
        """SIGKILL the process; True if it was still running."""
        if not self.running():
            return False
        self.process.kill()
        self.wait(timeout=30)
        return True

    def wait(self, timeout: float = 300) -> CliRun:
        """Wait for the end; the finished run."""
        code = self.process.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=10)
        run = CliRun(
            self.args, code, "".join(self.out), "".join(self.err), time.monotonic() - self.started
        )
        return run.save(self.log)


# ----------------------------------------------------------------------------- judging


def clear_error(run: CliRun, *must_contain: str, any_of: tuple[str, ...] = ()) -> tuple[bool, str]:
    """Did a failed run end with one clear line (and no traceback)?

    Args:
        run: the finished run.
        must_contain: texts the error line must contain (e.g. the command that helps).
        any_of: the line must contain at least one of these (e.g. ways to name the cause).

    Returns:
        (clear, the error line or what was wrong)
    """
    lines = run.error_lines
    if TRACEBACK.search(run.stderr):
        return False, "a traceback on stderr: " + run.tail(300)
    if run.code == 0:
        return False, "exit code 0 where a failure was expected"
    if len(lines) != 1:
        return False, f"{len(lines)} error lines: " + (" | ".join(lines)[:400] or run.tail(300))
    missing = [text for text in must_contain if text not in lines[0]]
    if missing:
        return False, f"the error line lacks {missing}: {lines[0][:300]}"
    if any_of and not any(text.lower() in lines[0].lower() for text in any_of):
        return False, f"the error line names no cause ({' / '.join(any_of)}): {lines[0][:300]}"
    return True, lines[0]


def no_traceback(run: CliRun) -> bool:
    """True if the run printed no Python traceback."""
    return not TRACEBACK.search(run.stderr)


def truth_span(sandbox: RunningSandbox) -> tuple[date, date]:
    """The whole history of the sandbox's users, through the latest local today."""
    world = sandbox.world
    return day_before(min(u.history_start for u in world.users)), latest_day(world.now)


def compare(sandbox: RunningSandbox, db: Path) -> Comparison:
    """The warehouse against the ground truth at the sandbox's current clock."""
    return compare_warehouse(db, sandbox.world, *truth_span(sandbox))


# ----------------------------------------------------------------------------- OAuth


@contextmanager
def env_var(name: str, value: str) -> Iterator[None]:
    """Set an environment variable of this process for a moment."""
    saved = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved


def login_profile(sandbox: RunningSandbox, home: Path, profile: str, redirect_uri: str) -> None:
    """Log `profile` in as sandbox user 0 through the real authorization-code flow.

    `redirect_uri` must be registered with the sandbox (`SandboxSettings.redirect_uris`).
    """
    from pipelines.auth import login

    def act_as_browser(url: str) -> None:
        threading.Thread(
            target=requests.get,
            args=(url + "&sandbox_user=0",),
            kwargs={"timeout": 30},
            daemon=True,
        ).start()

    with env_var("OURA_ELT_HOME", str(home)):
        login(
            profile,
            endpoints=sandbox_endpoints(sandbox.base_url),
            redirect_uri=redirect_uri,
            open_browser=False,
            show_url=act_as_browser,
            timeout=30,
        )


def burned_refresh_tokens(stats: dict[str, int]) -> int:
    """Refresh tokens the client presented after they were used, or that were not valid."""
    return stats.get("refresh_reuse", 0) + stats.get("refresh_rejected", 0)


# ----------------------------------------------------------------------------- mounts


def can_mount() -> bool:
    """True if this process may mount file systems (root with CAP_SYS_ADMIN)."""
    if os.geteuid() != 0 or sys.platform != "linux":
        return False
    probe = Path(f"/tmp/oura-chaos-probe-{os.getpid()}")
    probe.mkdir(exist_ok=True)
    try:
        ok = (
            subprocess.run(
                ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe)], capture_output=True
            ).returncode
            == 0
        )
        if ok:
            subprocess.run(["umount", str(probe)], capture_output=True)
        return ok
    finally:
        probe.rmdir()


def mount(*args: str) -> None:
    """Run `mount ARGS`, raising with mount's message on failure."""
    done = subprocess.run(["mount", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"mount {' '.join(args)} failed: {done.stderr.strip()}")


def umount(path: Path) -> None:
    """Unmount `path` (lazily if it is busy); quiet if nothing is mounted there."""
    if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)
