"""`oura-elt webhooks serve`: the receiver (uvicorn) and the worker (a thread) in one process.

The receiver journals each event and wakes the worker; the worker merges them into
the warehouse. Killed at any moment, the process loses nothing that was answered
2xx: the next start processes what the journal still holds. Only one worker per
journal runs at a time (a second `serve` can still receive with `worker=False`).
uvicorn's access log stays off: the challenge's query string carries the
verification token.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn

from pipelines.core.config import Endpoints
from pipelines.core.errors import OuraEltError
from pipelines.core.target import RAW_DATASET
from pipelines.oura.helpers import RetryPolicy
from pipelines.webhooks.journal import Journal
from pipelines.webhooks.receiver import ReceiverConfig, create_receiver
from pipelines.webhooks.settings import (
    DEFAULT_HOST,
    DEFAULT_PATH,
    DEFAULT_PORT,
    default_journal_path,
)
from pipelines.webhooks.subscriptions import app_credentials
from pipelines.webhooks.worker import Worker

log = logging.getLogger("oura_elt.webhooks")


@dataclass
class ServeOptions:
    """How `serve` runs.

    Attributes:
        host: interface to listen on (put a TLS proxy in front for Oura).
        port: TCP port.
        path: the callback URL's path.
        verification_token: token Oura's challenge must carry (None: refuse challenges).
        duckdb_path: DuckDB file (default: `OURA_DUCKDB_PATH`, else `data/oura.duckdb`).
        destination: "duckdb" or "bigquery".
        dataset_name: dataset of the raw tables.
        journal_path: the journal (default: `<OURA_ELT_HOME>/webhooks/journal.sqlite3`).
        worker: run the worker too (False: only receive and journal).
        endpoints: API base URL and app credentials (default: from the environment).
        policy: HTTP retry policy of the worker.
        log_level: uvicorn's log level.
    """

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    path: str = DEFAULT_PATH
    verification_token: str | None = field(default=None, repr=False)
    duckdb_path: Path | None = None
    destination: str = "duckdb"
    dataset_name: str = RAW_DATASET
    journal_path: Path | None = None
    worker: bool = True
    endpoints: Endpoints | None = None
    policy: RetryPolicy | None = None
    log_level: str = "warning"


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on `host:port`, for `serve`; bound first, so that a busy port is
    one line before anything else is said or started.

    Raises:
        OuraEltError: the port is in use, or the address is not this machine's.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise OuraEltError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another --port"
        ) from None
    return sock


def serve(
    options: ServeOptions,
    on_ready: Callable[[str], None] | None = None,
    sock: socket.socket | None = None,
) -> None:
    """Receive and process events until interrupted (Ctrl-C, SIGTERM).

    Args:
        options: where to listen, what to check, where to write.
        on_ready: called with the listening URL once the server accepts connections.
        sock: the socket from `listen` (default: listen on `options.host:options.port` now).

    Raises:
        OuraEltError: a busy port, missing app credentials, an unusable journal, another
            worker running.
    """
    sock = sock or listen(options.host, options.port)
    with contextlib.closing(sock):
        _serve(options, on_ready, sock)


def _serve(
    options: ServeOptions, on_ready: Callable[[str], None] | None, sock: socket.socket
) -> None:
    endpoints = options.endpoints or Endpoints.from_env()
    credentials = app_credentials(endpoints)
    journal = Journal(options.journal_path or default_journal_path())
    stop, wake = threading.Event(), threading.Event()
    app = create_receiver(
        ReceiverConfig(credentials.client_secret, options.verification_token, options.path),
        journal,
        on_accept=wake.set,
    )
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=options.host,
            port=options.port,
            log_level=options.log_level,
            access_log=False,
            lifespan="off",
            server_header=False,
        )
    )
    with contextlib.ExitStack() as stack:
        stack.callback(journal.close)
        thread = None
        if options.worker:
            stack.enter_context(journal.worker_lock())
            worker = Worker(
                journal,
                endpoints=endpoints,
                destination=options.destination,
                duckdb_path=options.duckdb_path,
                dataset_name=options.dataset_name,
                policy=options.policy,
            )
            stack.callback(worker.close)
            thread = threading.Thread(
                target=worker.run, args=(stop, wake), name="oura-webhook-worker", daemon=True
            )
            thread.start()
        if on_ready is not None:
            threading.Thread(
                target=_announce, args=(server, options, on_ready), daemon=True
            ).start()
        try:
            with _stopping_is_normal():
                server.run(sockets=[sock])
        finally:
            stop.set()
            wake.set()
            if thread is not None:
                thread.join(timeout=60)
    if not server.started:
        raise OuraEltError(
            f"the webhook receiver could not listen on {options.host}:{options.port}"
        )


@contextlib.contextmanager
def _stopping_is_normal():
    """uvicorn re-raises the signal that stopped it (Ctrl-C, SIGTERM) after its graceful
    shutdown; here that is the normal way to stop, so the re-raised signal is ignored and
    the worker is stopped cleanly."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def _announce(
    server: uvicorn.Server, options: ServeOptions, on_ready: Callable[[str], None]
) -> None:
    stopped = threading.Event()
    while not server.started and not server.should_exit:
        stopped.wait(0.05)
    if server.started:
        on_ready(f"http://{options.host}:{options.port}/{options.path.strip('/')}")
