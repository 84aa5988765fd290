"""A FastAPI app that declares Oura's query parameters as spec 1.35 types them.

Oura's server is FastAPI + pydantic 2.7 (api-reference §12). This app, served over
loopback, is the oracle for what such a server answers to a parameter: the sandbox's
422 bodies must equal its bodies (but for `url`, which this FastAPI leaves out).
No `from __future__ import annotations` here: FastAPI reads the annotations at runtime.
"""

import socket
import threading
import time
from datetime import date, datetime

import uvicorn
from fastapi import FastAPI

app = FastAPI()


@app.get("/v2/usercollection/daily_sleep")
def documents(
    start_date: datetime | date | None = None,
    end_date: datetime | date | None = None,
    next_token: str | None = None,
    fields: str | None = None,
):
    return {"data": [], "next_token": None}


@app.get("/v2/usercollection/heartrate")
def series(
    start_datetime: datetime | None = None,
    end_datetime: datetime | None = None,
    next_token: str | None = None,
    latest: bool | None = None,
    fields: str | None = None,
):
    return {"data": [], "next_token": None}


class Running:
    """The reference app serving on a free loopback port in a thread."""

    def __init__(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the reference FastAPI app did not start")
            time.sleep(0.01)
        self.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
