"""The webhook receiver: a Starlette app that answers Oura's challenge and journals events.

`GET <path>?verification_token=...&challenge=...` answers `{"challenge": ...}` only
for the configured verification token (401 otherwise). `POST <path>` is an event:

| check (in this order)                                   | answer |
|---------------------------------------------------------|--------|
| body over `max_body_bytes` (declared, or while reading)  | 413    |
| `x-oura-signature` or `x-oura-timestamp` missing         | 401    |
| signature wrong (constant-time compare)                  | 401    |
| timestamp not a number                                   | 400    |
| timestamp further than `tolerance_seconds` from our clock| 401    |
| body not an event (bad JSON, fields missing or wrong)    | 400    |
| the same event was journaled before (a retry or replay)  | 200, nothing written |
| journal write failed                                     | 503 (Oura retries) |
| otherwise: journaled durably (fsync), then               | 200    |

Only an authenticated, fresh, well-formed event reaches the journal, and nothing
is answered 2xx before it is on disk. The worker does the slow part later, so
answers take milliseconds (Oura allows 10 s).
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pipelines.webhooks.journal import InvalidEvent, Journal, WebhookEvent
from pipelines.webhooks.settings import DEFAULT_PATH, MAX_BODY_BYTES, TIMESTAMP_TOLERANCE_SECONDS
from pipelines.webhooks.signature import is_fresh, signature_matches, timestamp_seconds

log = logging.getLogger("oura_elt.webhooks")


@dataclass(frozen=True)
class ReceiverConfig:
    """What the receiver checks against.

    Attributes:
        client_secret: the Oura application's client secret (the signing key).
        verification_token: the token challenges must carry (None: refuse every challenge).
        path: the callback URL's path.
        max_body_bytes: largest event body accepted.
        tolerance_seconds: largest distance between `x-oura-timestamp` and our clock.
        clock: time source (Unix seconds).
    """

    client_secret: str = field(repr=False)
    verification_token: str | None = field(default=None, repr=False)
    path: str = DEFAULT_PATH
    max_body_bytes: int = MAX_BODY_BYTES
    tolerance_seconds: float = TIMESTAMP_TOLERANCE_SECONDS
    clock: Callable[[], float] = time.time


class _TooLarge(Exception):
    pass


def _answer(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refusing to buffer more than `limit` bytes whatever the client declares."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise _TooLarge()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _TooLarge()
    return bytes(body)


def create_receiver(
    config: ReceiverConfig, journal: Journal, on_accept: Callable[[], None] | None = None
) -> Starlette:
    """The receiver app; `app.state.stats` counts answers by outcome.

    Args:
        config: secret, verification token, path and limits.
        journal: where accepted events go.
        on_accept: called after a new event is journaled (wakes the worker).
    """
    receiver = _Receiver(config, journal, on_accept)
    path = "/" + config.path.strip("/") if config.path.strip("/") else "/"
    app = Starlette(
        routes=[
            Route(path, receiver.challenge, methods=["GET"]),
            Route(path, receiver.event, methods=["POST"]),
            Route("/healthz", _health, methods=["GET"]),
        ]
    )
    app.state.stats = receiver.stats
    return app


class _Receiver:
    """The receiver's handlers: they share its configuration, journal and counts."""

    def __init__(
        self, config: ReceiverConfig, journal: Journal, on_accept: Callable[[], None] | None
    ) -> None:
        self.config = config
        self.journal = journal
        self.on_accept = on_accept
        self.stats: Counter[str] = Counter()

    def reject(self, status: int, reason: str, detail: str) -> JSONResponse:
        """A refusal, counted and logged by reason."""
        self.stats[f"rejected:{reason}"] += 1
        log.warning("webhook call refused: %s (HTTP %s)", reason, status)
        return _answer(status, detail)

    async def challenge(self, request: Request) -> Response:
        """Oura's verification GET: the challenge echoed when the token matches."""
        token = request.query_params.get("verification_token")
        nonce = request.query_params.get("challenge")
        if token is None or nonce is None:
            return self.reject(
                400, "challenge_incomplete", "verification_token and challenge are required"
            )
        expected = self.config.verification_token
        if not expected or not secrets.compare_digest(token.encode(), expected.encode()):
            return self.reject(401, "challenge_token", "invalid verification token")
        self.stats["challenges"] += 1
        return JSONResponse({"challenge": nonce})

    async def event(self, request: Request) -> Response:
        """An event POST: bounded, signed, fresh and well-formed, then journaled."""
        try:
            body = await _read_body(request, self.config.max_body_bytes)
        except _TooLarge:
            return self.reject(
                413, "too_large", f"the body is larger than {self.config.max_body_bytes} bytes"
            )
        except ClientDisconnect:
            self.stats["rejected:disconnected"] += 1
            return Response(status_code=400)
        refused = self._check_signature(request, body)
        if refused is not None:
            return refused
        try:
            parsed = WebhookEvent.from_json(orjson.loads(body))
        except orjson.JSONDecodeError:
            return self.reject(400, "malformed", "the body is not JSON")
        except InvalidEvent as exc:
            return self.reject(400, "malformed", str(exc))
        return await self._journal(parsed)

    def _check_signature(self, request: Request, body: bytes) -> Response | None:
        """The refusal of a call that is unsigned, wrongly signed or stale; None if it is good."""
        signature = request.headers.get("x-oura-signature")
        stamp = request.headers.get("x-oura-timestamp")
        if not signature or not stamp:
            return self.reject(
                401, "unsigned", "x-oura-signature and x-oura-timestamp are required"
            )
        if not signature_matches(self.config.client_secret, stamp, body, signature):
            return self.reject(401, "signature", "invalid signature")
        moment = timestamp_seconds(stamp)
        if moment is None:
            return self.reject(400, "timestamp_malformed", "x-oura-timestamp is not a Unix time")
        if not is_fresh(moment, self.config.clock(), self.config.tolerance_seconds):
            return self.reject(401, "stale", "x-oura-timestamp is too far from the current time")
        return None

    async def _journal(self, parsed: WebhookEvent) -> Response:
        """Journal the event (once); 503 when the journal cannot take it, so Oura retries."""
        try:
            new = await run_in_threadpool(self.journal.accept, parsed)
        except sqlite3.Error as exc:
            self.stats["journal_errors"] += 1
            log.error(
                "cannot journal a webhook event (%s); answering 503 so that Oura retries", exc
            )
            return _answer(503, "the event could not be stored; retry later")
        if not new:
            self.stats["duplicates"] += 1
            return JSONResponse({"status": "duplicate"})
        self.stats["accepted"] += 1
        if self.on_accept is not None:
            self.on_accept()
        return JSONResponse({"status": "accepted"})


async def _health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})
