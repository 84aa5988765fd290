"""Shared pieces of the webhook tests: a loopback server for an ASGI app, saved sandbox
logins, signing as Oura does (written here from the reference, not imported), waiting."""

from __future__ import annotations

import hashlib
import hmac
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from pipelines.auth import TokenRecord, TokenStore
from sandbox.application import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET


def free_port() -> int:
    """A TCP port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve an ASGI app on a free loopback port; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_until(lambda: server.started, 15, "the server did not start")
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def save_profile(name: str, user_index: int, base_url: str, user_id: str | None) -> TokenRecord:
    """A saved login of a sandbox user (its personal token never expires); `user_id`
    None makes the worker discover it."""
    record = TokenRecord(
        profile=name,
        access_token=f"sandbox-pat-{user_index}",
        refresh_token=None,
        expires_at=None,
        token_type="bearer",
        scopes=("daily", "heart_health", "session", "spo2", "stress", "tag", "workout"),
        raw_scopes=(),
        token_url=f"{base_url}/oauth/token",
        revoke_url=f"{base_url}/oauth/revoke",
        api_base_url=base_url,
        client_id=SANDBOX_CLIENT_ID,
        client_secret=SANDBOX_CLIENT_SECRET,
        user_id=user_id,
        obtained_at=time.time(),
    )
    store = TokenStore(name)
    with store.lock():
        store.save(record)
    return record


def oura_signature(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 of timestamp + body, keyed with the client secret, in uppercase hex (§7)."""
    return hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).hexdigest().upper()


def wait_until(
    check: Callable[[], Any], timeout: float, message: str = "timed out", interval: float = 0.05
) -> Any:
    """Poll `check` until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(interval)
