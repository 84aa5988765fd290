"""What every benchmark needs: a sandbox in its own process, and loads in child
processes that report their own peak memory (the kernel's VmHWM)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import requests

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
UNLIMITED = 100_000_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sandbox:
    """`oura-elt sandbox serve` in a child process (its own GIL, like the real API)."""

    def __init__(self, proc: subprocess.Popen, base_url: str) -> None:
        self.proc = proc
        self.base_url = base_url

    def state(self) -> dict:
        return requests.get(f"{self.base_url}/_sandbox/state", timeout=30).json()

    def admin(self, path: str, body: dict) -> dict:
        resp = requests.post(f"{self.base_url}/_sandbox/{path}", json=body, timeout=30)
        resp.raise_for_status()
        return resp.json()

    def latency(self, ms: float) -> None:
        self.admin("faults", {"latency_ms": ms})


@contextmanager
def sandbox(
    users: int = 1,
    days: int = 1095,
    latency_ms: float = 0.0,
    app_limit: int = UNLIMITED,
    window: int = 300,
    **extra: object,
) -> Iterator[Sandbox]:
    """A sandbox server with `users` users of `days` days of history, clock at NOW."""
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "oura_elt.cli",
        "sandbox",
        "serve",
        "--port",
        str(port),
        "--users",
        str(users),
        "--now",
        NOW.isoformat(),
        "--history-days",
        str(days),
        "--rate-limit",
        str(UNLIMITED),
        "--app-rate-limit",
        str(app_limit),
        "--rate-window",
        str(window),
        "--latency-ms",
        str(latency_ms),
    ]
    for key, value in extra.items():
        cmd += [f"--{key.replace('_', '-')}", str(value)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"{base}/_sandbox/state", timeout=2)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the sandbox did not start") from None
                time.sleep(0.2)
        yield Sandbox(proc, base)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def child_load(
    base_url: str,
    db: Path,
    home: Path,
    user: int = 0,
    days: int | None = None,
    collections: list[str] | None = None,
    workers: int | None = None,
    now: datetime = NOW,
) -> dict:
    """One `pipelines.load.load` in a child process; its summary plus peak RSS in MB."""
    cmd = [
        sys.executable,
        "-m",
        "bench.one_load",
        "--base-url",
        base_url,
        "--db",
        str(db),
        "--user",
        str(user),
    ]
    if days:
        cmd += ["--days", str(days)]
    if workers:
        cmd += ["--workers", str(workers)]
    for name in collections or []:
        cmd += ["--collection", name]
    env = {**os.environ, "OURA_ELT_HOME": str(home), "OURA_ELT_NOW": now.isoformat()}
    out = home / f"load-{user}.json"
    with open(out, "w") as sink:
        code = subprocess.run(cmd, env=env, stdout=sink).returncode
    if code != 0:
        raise RuntimeError(f"the benchmark load failed: {' '.join(cmd)}")
    return json.loads(out.read_text())
