"""A small loopback server that answers like the Oura API with Oura's own 2024 responses.

It serves the real response bodies in `../shared/oura/examples/ourabridge/` (read when the
server starts, never copied into the repository) under `/v2/usercollection/<route>`:
dated routes filtered on their day (`start_date`/`end_date`, inclusive), the heart-rate
series on its instants (`start_datetime` inclusive, `end_datetime` exclusive), every
answer one page (`next_token: null`, as in the files). Routes the examples do not cover
answer an empty list. The examples hold no `personal_info` and no `ring_configuration`:
this server answers `personal_info` with an id only and `ring_configuration` with an
empty list; nothing else about the user is invented. Test-only: the product never
imports it.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

PREFIX = "/v2/usercollection/"
# Where the examples are: beside the checkout (`<worktree>/../shared`), or OURA_EXAMPLES_DIR.
DEFAULT_DIR = Path(__file__).resolve().parents[2] / "shared" / "oura" / "examples" / "ourabridge"
EXAMPLES_DIR = Path(os.environ.get("OURA_EXAMPLES_DIR", DEFAULT_DIR))
# The one thing the examples cannot tell: who the user is. An id, nothing more.
USER_ID = "ourabridge-example-user"
SERIES = {"heartrate", "ring_battery_level"}
START_DAY = {"enhanced_tag", "rest_mode_period"}


def load_examples(folder: Path = EXAMPLES_DIR) -> dict[str, list[dict]]:
    """The documents of every example file, by route (file name without `.json`)."""
    return {
        path.stem: json.loads(path.read_text())["data"] for path in sorted(folder.glob("*.json"))
    }


class ExamplesServer:
    """The examples behind `base_url`, in a background thread, with a count of requests."""

    def __init__(self, documents: dict[str, list[dict]], token: str) -> None:
        self.documents = documents
        self.token = token
        self.requests: list[str] = []
        handler = type("Handler", (_Handler,), {"owner": self})
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.base_url = f"http://127.0.0.1:{self._http.server_address[1]}"
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join()

    def answer(self, route: str, params: dict[str, str]) -> tuple[int, Any]:
        """(status, body) of one GET of `/v2/usercollection/<route>`."""
        if route == "personal_info":
            return 200, {"id": USER_ID}
        if route == "ring_configuration":
            return 200, {"data": [], "next_token": None}
        docs = self.documents.get(route, [])
        try:
            if route in SERIES:
                docs = [d for d in docs if _in_instants(d["timestamp"], params)]
            else:
                field = "start_day" if route in START_DAY else "day"
                docs = [d for d in docs if _in_days(d[field], params)]
        except ValueError as exc:
            return 400, {"detail": f"bad parameter: {exc}"}
        return 200, {"data": docs, "next_token": None}


class _Handler(BaseHTTPRequestHandler):
    owner: ExamplesServer

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        self.owner.requests.append(url.path)
        if self.headers.get("Authorization") != f"Bearer {self.owner.token}":
            return self._send(401, {"detail": "missing or unknown bearer token"})
        if not url.path.startswith(PREFIX):
            return self._send(404, {"detail": "Not Found"})
        params = {k: v[-1] for k, v in parse_qs(url.query).items()}
        self._send(*self.owner.answer(url.path[len(PREFIX) :], params))

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        """Quiet: the test reads `requests` instead."""


def _in_days(day: str, params: dict[str, str]) -> bool:
    value = date.fromisoformat(day)
    first, last = params.get("start_date"), params.get("end_date")
    return (first is None or date.fromisoformat(first) <= value) and (
        last is None or value <= date.fromisoformat(last)
    )


def _in_instants(instant: str, params: dict[str, str]) -> bool:
    value = datetime.fromisoformat(instant)
    first, last = params.get("start_datetime"), params.get("end_datetime")
    return (first is None or datetime.fromisoformat(first) <= value) and (
        last is None or value < datetime.fromisoformat(last)
    )
