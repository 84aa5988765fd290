"""Run the sandbox: in the foreground (`oura-elt sandbox serve`) or in a background
thread (tests, the demo, benchmarks) on a free loopback port."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

import uvicorn

from sandbox.server import Sandbox, SandboxSettings, create_app


@dataclass
class RunningSandbox:
    """A sandbox serving in a background thread."""

    base_url: str
    sandbox: Sandbox
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        """Ask the server to finish and wait for its thread."""
        self.server.should_exit = True
        self.thread.join(timeout=10)


def _config(settings: SandboxSettings, log_level: str) -> tuple[uvicorn.Config, Sandbox]:
    app = create_app(settings)
    config = uvicorn.Config(
        app, log_level=log_level, access_log=False, lifespan="off", timeout_keep_alive=30
    )
    return config, app.state.sandbox


def start_in_thread(
    settings: SandboxSettings | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    log_level: str = "warning",
) -> RunningSandbox:
    """Start a sandbox on `host:port` (0: a free port) and return once it answers."""
    config, sandbox = _config(settings or SandboxSettings(), log_level)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the sandbox server did not start")
        time.sleep(0.01)
    bound_port = sock.getsockname()[1]
    return RunningSandbox(f"http://{host}:{bound_port}", sandbox, server, thread)


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on `host:port`, so a busy port fails before anything is said.

    Raises:
        OSError: the address is in use, or not one of this machine's.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except BaseException:
        sock.close()
        raise
    return sock


def serve_forever(settings: SandboxSettings, sock: socket.socket, log_level: str = "info") -> None:
    """Serve on the listening socket `sock` (see `listen`) in the foreground until interrupted."""
    config, _ = _config(settings, log_level)
    config.host, config.port = sock.getsockname()[:2]
    uvicorn.Server(config).run(sockets=[sock])
