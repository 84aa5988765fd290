"""A real local Prefect server for schedules, and Prefect's environment for this project.

The temporary server Prefect starts for a bare flow run cannot schedule anything
(`serve` warns "Cannot schedule flows on an ephemeral server" and nothing runs),
so `oura-elt schedule` runs `prefect server start` as a child process with its
own `PREFECT_HOME` under `pipelines.core.config.home()`, waits until it is healthy,
and stops it (with its whole process group) on the way out. A server named by
`--api-url` or `PREFECT_API_URL`, or already answering on the port, is used as is.

Nothing here imports Prefect: the environment must be set before it is imported.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pipelines.core import config
from pipelines.core.errors import OuraEltError, UsageError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4200
STARTUP_TIMEOUT_SECONDS = 180.0  # a fresh database on a busy 2-core machine takes 15-40 s
STOP_TIMEOUT_SECONDS = 20.0
LOG_NAME = "server.log"


def prefect_home() -> Path:
    """`PREFECT_HOME` if set, else `<oura-elt home>/prefect`."""
    return Path(os.environ.get("PREFECT_HOME") or config.home() / "prefect")


def prepare_prefect_env() -> Path:
    """Default Prefect's settings for this process (call before importing Prefect):
    `PREFECT_HOME` under the oura-elt home, telemetry off, and a startup timeout that
    a temporary server on a slow machine can meet. Values the user set win.

    Returns:
        The Prefect home in use.
    """
    config.telemetry_off()
    home = prefect_home()
    home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_HOME", str(home))
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    return home


def is_healthy(api_url: str, timeout: float = 2.0) -> bool:
    """True if a Prefect API answers its health check at `api_url` (`.../api`)."""
    import requests

    try:
        return requests.get(api_url.rstrip("/") + "/health", timeout=timeout).status_code == 200
    except requests.RequestException:
        return False


@dataclass
class PrefectServer:
    """A Prefect API to talk to; `process` is set when this process started it."""

    api_url: str
    process: subprocess.Popen | None = None
    log_path: Path | None = None

    @property
    def started_here(self) -> bool:
        """Whether `stop()` will stop a server (False: someone else's server)."""
        return self.process is not None

    def stop(self) -> None:
        """Stop the server this process started (and its children); no-op otherwise."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        _signal_group(process, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT_SECONDS)


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)  # the server runs in its own session: reach its children too
    except ProcessLookupError:
        pass


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def start_server(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    startup_timeout: float = STARTUP_TIMEOUT_SECONDS,
) -> PrefectServer:
    """Run `prefect server start` in the background and wait until it is healthy.

    Its database and log (`server.log`) live in `prefect_home()`.

    Raises:
        UsageError: the port is taken by something that is not a Prefect server.
        OuraEltError: the server exited or did not become healthy in time.
    """
    api_url = f"http://{host}:{port}/api"
    if not _port_free(host, port):
        raise UsageError(
            f"port {port} on {host} is in use by something that is not a Prefect server; use --port"
        )
    home = prefect_home()
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PREFECT_HOME": str(home)}
    env.pop("PREFECT_API_URL", None)
    for name, value in config.TELEMETRY_OFF.items():
        env.setdefault(name, value)
    log_path = home / LOG_NAME
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "prefect",
                "server",
                "start",
                "--host",
                host,
                "--port",
                str(port),
            ],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = PrefectServer(api_url, process, log_path)
    deadline = time.monotonic() + startup_timeout
    while not is_healthy(api_url):
        if process.poll() is not None:
            server.process = None
            raise OuraEltError(
                f"the Prefect server exited with code {process.returncode} while starting;"
                f" see {log_path}"
            )
        if time.monotonic() > deadline:
            server.stop()
            raise OuraEltError(
                f"the Prefect server was not healthy after {startup_timeout:g} s; see {log_path}"
            )
        time.sleep(0.5)
    return server


@contextmanager
def prefect_server(
    api_url: str | None = None,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    startup_timeout: float = STARTUP_TIMEOUT_SECONDS,
) -> Iterator[PrefectServer]:
    """A healthy Prefect server for the duration of the block.

    `api_url`, else `PREFECT_API_URL`, names a server to use (it must answer);
    else a server already answering on `host:port` is used; else one is started
    and stopped again when the block ends.

    Raises:
        OuraEltError: the named server does not answer, or a new one did not start.
    """
    named = api_url or os.environ.get("PREFECT_API_URL")
    if named:
        if not is_healthy(named):
            raise OuraEltError(
                f"no Prefect server answers at {named}; start one or drop --api-url/PREFECT_API_URL"
            )
        yield PrefectServer(named.rstrip("/"))
        return
    local = f"http://{host}:{port}/api"
    if is_healthy(local):
        yield PrefectServer(local)
        return
    server = start_server(host, port, startup_timeout)
    try:
        yield server
    finally:
        server.stop()
