"""Requests per second the sandbox sustains on this machine.

The server runs in its own process (as `oura-elt sandbox serve` does); a client
process with a few keep-alive connections hammers one route for a fixed time.
Run: `.venv/bin/python -m bench.sandbox_rps [--seconds 5]`.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import requests

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "oura_elt.cli",
        "sandbox",
        "serve",
        "--port",
        str(port),
        "--users",
        "1",
        "--now",
        NOW.isoformat(),
        "--rate-limit",
        "100000000",
        "--app-rate-limit",
        "100000000",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/_sandbox/state", timeout=1)
            return proc
        except requests.ConnectionError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("sandbox did not start")


def hammer(url: str, params: dict, seconds: float, connections: int) -> tuple[float, int]:
    """Requests per second and rows per response over `seconds`."""
    count = [0] * connections
    rows = [0]
    stop = time.monotonic() + seconds

    def worker(i: int) -> None:
        s = requests.Session()
        s.headers["Authorization"] = "Bearer sandbox-pat-0"
        while time.monotonic() < stop:
            r = s.get(url, params=params, timeout=30)
            r.raise_for_status()
            if i == 0 and not rows[0]:
                rows[0] = len(r.json()["data"])
            count[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(count) / (time.monotonic() - t0), rows[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=4)
    args = parser.parse_args()
    port = free_port()
    proc = start_server(port)
    base = f"http://127.0.0.1:{port}/v2/usercollection"
    day = (NOW - timedelta(days=30)).date()
    cases = {
        "daily_sleep, 7-day window": (
            f"{base}/daily_sleep",
            {"start_date": str(day), "end_date": str(day + timedelta(days=7))},
        ),
        "heartrate, one 1,000-sample page": (
            f"{base}/heartrate",
            {
                "start_datetime": (NOW - timedelta(days=3)).isoformat(),
                "end_datetime": (NOW - timedelta(days=1)).isoformat(),
            },
        ),
    }
    try:
        for name, (url, params) in cases.items():
            hammer(url, params, 1.0, args.connections)  # warm caches
            rps, rows = hammer(url, params, args.seconds, args.connections)
            print(
                f"{name:36} {rps:8.0f} requests/s  ({rows} rows/response, {rps * rows:,.0f} rows/s)"
            )
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
