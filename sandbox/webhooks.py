"""The sandbox's webhook API: subscriptions, the verification challenge, signed deliveries.

Written from api-reference §7 and spec 1.35 ("Webhook Subscription Routes"):

- Routes under `/v2/webhook/subscription` authenticate the *application* with the
  headers `x-client-id` and `x-client-secret` (no bearer token); subscriptions
  belong to that application and cover every user who authorized it.
- Creating (or updating) a subscription first sends `GET <callback_url>?
  verification_token=...&challenge=...`; the callback must answer 200 with JSON
  `{"challenge": "<the same>"}`, otherwise the subscription is not saved. The
  request stays open until the challenge is answered.
- `expiration_time` is `subscription_days` after the world's clock; renewing moves
  it again. Expired subscriptions stay listed but fire no events.
- When the world's clock moves (`clock_moved`), the documents that appeared,
  changed or vanished for subscribed data types become events, POSTed as compact
  JSON `{"event_type", "data_type", "object_id", "event_time", "user_id"}` with
  `x-oura-timestamp` (Unix seconds of the attempt) and `x-oura-signature` =
  uppercase hex HMAC-SHA256, keyed with the application's client secret, over
  timestamp + body. Each attempt is signed afresh.
- Retries: a non-2xx/3xx answer, a timeout or a refused connection is retried
  `retries` times with doubling delays (about an hour in all by default); 410
  Gone cancels the subscription. Deliveries run on background threads, never on
  the server's event loop.

Sandbox choices where Oura documents nothing: a second subscription for the same
(event_type, data_type) of one application is refused with 409; a failed challenge
answers 400; wrong application credentials answer 401, missing ones 403
("Not authenticated", as FastAPI does); `meal` subscriptions are accepted but never
fire (the sandbox has no meal data).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import orjson
import requests
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sandbox.params import error_url
from sandbox.webhook_changes import changed_documents, world_collection
from sandbox.webhook_delivery import Deliverer, Delivery, WebhookSettings
from sandbox.world import World

__all__ = ["WebhookSettings", "Webhooks"]

log = logging.getLogger("sandbox.webhooks")

BASE = "/v2/webhook/subscription"
EVENT_TYPES = ("create", "update", "delete")
# ExtApiV2DataType of spec 1.35, in its order. `meal` has no data route.
DATA_TYPES = (
    "tag", "enhanced_tag", "workout", "session", "sleep", "daily_sleep", "daily_readiness",
    "daily_activity", "daily_spo2", "sleep_time", "rest_mode_period", "ring_configuration",
    "daily_stress", "daily_cardiovascular_age", "daily_resilience", "vo2_max", "meal",
)  # fmt: skip
NOT_FOUND_DETAIL = "Webhook with specified id does not exist."


@dataclass
class Subscription:
    """One application's subscription to one (event_type, data_type)."""

    id: str
    client_id: str
    callback_url: str
    event_type: str
    data_type: str
    verification_token: str = field(repr=False)
    expiration_time: datetime

    def model(self) -> dict[str, Any]:
        """The `WebhookSubscriptionModel` Oura returns."""
        return {
            "id": self.id,
            "callback_url": self.callback_url,
            "event_type": self.event_type,
            "data_type": self.data_type,
            "expiration_time": self.expiration_time.isoformat(),
        }


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


# ------------------------------------------------------------------------- the API


class _Invalid(Exception):
    """A request body that fails validation (422, pydantic-style `detail`, each item with
    the `url` Oura's pydantic adds)."""

    def __init__(self, errors: list[dict]) -> None:
        super().__init__("invalid body")
        self.errors = [{**error, "url": error_url(error["type"])} for error in errors]


class Webhooks:
    """Subscriptions, the challenge handshake and deliveries of one sandbox.

    Args:
        settings: behaviour and delays.
        world: the sandbox's world (its clock sets expiration times and events).
        clients: registered applications by client id (their secrets sign deliveries).
        world_lock: the sandbox lock guarding the world's clock.
    """

    def __init__(
        self,
        settings: WebhookSettings,
        world: World,
        clients: Mapping[str, Any],
        world_lock: threading.RLock,
    ) -> None:
        self.settings = settings
        self.world = world
        self.clients = clients
        self.world_lock = world_lock
        self._lock = threading.Lock()
        self.subscriptions: dict[str, Subscription] = {}
        self.stats: Counter[str] = Counter()
        self.deliverer = Deliverer(settings, self._secret_of, self._alive, self._drop)

    # ---------------------------------------------------------------- wiring

    def routes(self) -> list[BaseRoute]:
        """Oura's subscription routes and the sandbox's admin routes for webhooks."""
        return [
            Route(BASE, self._list, methods=["GET"]),
            Route(BASE, self._create, methods=["POST"]),
            Route(BASE + "/renew/{id}", self._renew, methods=["PUT"]),
            Route(BASE + "/{id}", self._get, methods=["GET"]),
            Route(BASE + "/{id}", self._update, methods=["PUT"]),
            Route(BASE + "/{id}", self._delete, methods=["DELETE"]),
            Route("/_sandbox/webhooks", self._admin_state, methods=["GET"]),
            Route("/_sandbox/webhooks/deliveries", self._admin_deliveries, methods=["GET"]),
            Route("/_sandbox/webhooks/deliveries", self._admin_trigger, methods=["POST"]),
            Route(
                "/_sandbox/webhooks/deliveries/{id:int}/redeliver",
                self._admin_redeliver,
                methods=["POST"],
            ),
        ]

    def clock_moved(self, before: datetime) -> int:
        """Queue events for what changed since the clock stood at `before`.

        Call with the sandbox lock held, right after the clock moved. Returns the
        number of deliveries queued.
        """
        now = self.world.now
        with self._lock:
            active = [s for s in self.subscriptions.values() if s.expiration_time > now]
        collections = {c for s in active if (c := world_collection(s.data_type))}
        if not collections or before == now:
            return 0
        with self.world_lock:
            changes = changed_documents(
                self.world,
                before,
                collections,
                self.settings.lookback_days,
                self.settings.max_event_days,
            )
        queued = 0
        event_time = now.isoformat(timespec="seconds")
        for change in changes:
            self.stats[f"changes:{change.event_type}"] += 1
            event = {
                "event_type": change.event_type,
                "data_type": change.data_type,
                "object_id": change.object_id,
                "event_time": event_time,
                "user_id": self.world.users[change.user_index].user_id,
            }
            queued += self._fan_out(event, active)
        return queued

    # --------------------------------------------------------------- helpers

    def _secret_of(self, client_id: str) -> str | None:
        app = self.clients.get(client_id)
        return app.client_secret if app is not None else None

    def _alive(self, subscription_id: str) -> bool:
        with self._lock:
            return subscription_id in self.subscriptions

    def _drop(self, subscription_id: str) -> None:
        with self._lock:
            if self.subscriptions.pop(subscription_id, None) is not None:
                self.stats["cancelled_by_410"] += 1

    def _fan_out(self, event: dict[str, str], subscriptions: list[Subscription]) -> int:
        body = orjson.dumps(event)  # compact, like JSON.stringify in Oura's own sample
        queued = 0
        for sub in subscriptions:
            if sub.event_type == event["event_type"] and sub.data_type == event["data_type"]:
                delivery = Delivery(
                    self.deliverer.next_id(),
                    sub.id,
                    sub.client_id,
                    sub.callback_url,
                    event,
                    body,
                    time.time(),
                )
                self.deliverer.submit(delivery)
                queued += 1
        self.stats["deliveries_queued"] += queued
        return queued

    def _app(self, request: Request) -> str | Response:
        """The authenticated application's client id, or the error answer."""
        client_id = request.headers.get("x-client-id")
        secret = request.headers.get("x-client-secret")
        if not client_id or not secret:
            return _json({"detail": "Not authenticated"}, 403)
        app = self.clients.get(client_id)
        if app is None or not secrets.compare_digest(secret.encode(), app.client_secret.encode()):
            self.stats["invalid_client"] += 1
            return _json({"detail": "Invalid client credentials"}, 401)
        return client_id

    def _owned(self, client_id: str, subscription_id: str) -> Subscription | None:
        with self._lock:
            sub = self.subscriptions.get(subscription_id)
        return sub if sub is not None and sub.client_id == client_id else None

    def _expiry(self) -> datetime:
        with self.world_lock:
            return self.world.now + timedelta(days=self.settings.subscription_days)

    async def _challenge(self, callback_url: str, token: str) -> str | None:
        """Run the verification handshake; None if it passed, else why it failed."""
        challenge = secrets.token_urlsafe(24)
        timeout = self.settings.challenge_timeout_seconds

        def ask() -> str | None:
            try:
                response = requests.get(
                    callback_url,
                    params={"verification_token": token, "challenge": challenge},
                    timeout=timeout,
                    allow_redirects=False,
                )
            except requests.RequestException as exc:
                return f"the callback URL could not be reached ({type(exc).__name__})"
            if response.status_code != 200:
                return f"the callback URL answered HTTP {response.status_code}"
            try:
                answer = response.json()
            except ValueError:
                return "the callback URL did not answer JSON"
            if not isinstance(answer, dict) or answer.get("challenge") != challenge:
                return "the callback URL did not echo the challenge"
            return None

        self.stats["challenges"] += 1
        problem = await asyncio.to_thread(ask)
        if problem:
            self.stats["challenges_failed"] += 1
        return problem

    # ------------------------------------------------------------ the routes

    async def _list(self, request: Request) -> Response:
        client_id = self._app(request)
        if isinstance(client_id, Response):
            return client_id
        with self._lock:
            mine = [s.model() for s in self.subscriptions.values() if s.client_id == client_id]
        return _json(mine)

    async def _get(self, request: Request) -> Response:
        client_id = self._app(request)
        if isinstance(client_id, Response):
            return client_id
        sub = self._owned(client_id, request.path_params["id"])
        return _json(sub.model()) if sub else _json({"detail": NOT_FOUND_DETAIL}, 403)

    async def _create(self, request: Request) -> Response:
        client_id = self._app(request)
        if isinstance(client_id, Response):
            return client_id
        try:
            body = _validated(
                await request.body(),
                required=("callback_url", "verification_token", "event_type", "data_type"),
                data_types=self.settings.data_types or DATA_TYPES,
            )
        except _Invalid as exc:
            return _json({"detail": exc.errors}, 422)
        if self._conflict(client_id, body["event_type"], body["data_type"], None):
            return _json(
                {"detail": "A subscription for this event_type and data_type already exists."}, 409
            )
        problem = await self._challenge(body["callback_url"], body["verification_token"])
        if problem:
            return _json({"detail": f"Webhook verification failed: {problem}."}, 400)
        sub = Subscription(
            str(uuid.uuid4()),
            client_id,
            body["callback_url"],
            body["event_type"],
            body["data_type"],
            body["verification_token"],
            self._expiry(),
        )
        with self._lock:
            if self._conflict_locked(client_id, sub.event_type, sub.data_type, None):
                return _json(
                    {"detail": "A subscription for this event_type and data_type already exists."},
                    409,
                )
            self.subscriptions[sub.id] = sub
        self.stats["created"] += 1
        return _json(sub.model(), 201)

    async def _update(self, request: Request) -> Response:
        client_id = self._app(request)
        if isinstance(client_id, Response):
            return client_id
        sub = self._owned(client_id, request.path_params["id"])
        if sub is None:
            return _json({"detail": NOT_FOUND_DETAIL}, 403)
        try:
            body = _validated(
                await request.body(),
                required=("verification_token",),
                optional=("callback_url", "event_type", "data_type"),
                data_types=self.settings.data_types or DATA_TYPES,
            )
        except _Invalid as exc:
            return _json({"detail": exc.errors}, 422)
        changed = replace(
            sub,
            verification_token=body["verification_token"],
            callback_url=body.get("callback_url") or sub.callback_url,
            event_type=body.get("event_type") or sub.event_type,
            data_type=body.get("data_type") or sub.data_type,
        )
        if self._conflict(client_id, changed.event_type, changed.data_type, sub.id):
            return _json(
                {"detail": "A subscription for this event_type and data_type already exists."}, 409
            )
        problem = await self._challenge(changed.callback_url, changed.verification_token)
        if problem:
            return _json({"detail": f"Webhook verification failed: {problem}."}, 400)
        with self._lock:
            if sub.id not in self.subscriptions:
                return _json({"detail": NOT_FOUND_DETAIL}, 403)
            self.subscriptions[sub.id] = changed
        self.stats["updated"] += 1
        return _json(changed.model())

    async def _delete(self, request: Request) -> Response:
        client_id = self._app(request)
        if isinstance(client_id, Response):
            return client_id
        sub = self._owned(client_id, request.path_params["id"])
        if sub is None:
            return _json({"detail": NOT_FOUND_DETAIL}, 403)
        with self._lock:
            self.subscriptions.pop(sub.id, None)
        self.stats["deleted"] += 1
        return Response(status_code=204)

    async def _renew(self, request: Request) -> Response:
        client_id = self._app(request)
        if isinstance(client_id, Response):
            return client_id
        sub = self._owned(client_id, request.path_params["id"])
        if sub is None:
            return _json({"detail": NOT_FOUND_DETAIL}, 403)
        expiry = self._expiry()
        with self._lock:
            sub.expiration_time = expiry
        self.stats["renewed"] += 1
        return _json(sub.model())

    def _conflict(
        self, client_id: str, event_type: str, data_type: str, except_id: str | None
    ) -> bool:
        with self._lock:
            return self._conflict_locked(client_id, event_type, data_type, except_id)

    def _conflict_locked(
        self, client_id: str, event_type: str, data_type: str, except_id: str | None
    ) -> bool:
        return any(
            s.client_id == client_id
            and s.event_type == event_type
            and s.data_type == data_type
            and s.id != except_id
            for s in self.subscriptions.values()
        )

    # ------------------------------------------------------------ admin routes

    async def _admin_state(self, request: Request) -> Response:
        """`GET /_sandbox/webhooks`: subscriptions of every app, delivery counts, counters."""
        with self._lock:
            subs = [{**s.model(), "client_id": s.client_id} for s in self.subscriptions.values()]
        return _json(
            {
                "subscriptions": subs,
                "deliveries": self.deliverer.counts(),
                "stats": dict(self.stats),
            }
        )

    async def _admin_deliveries(self, request: Request) -> Response:
        """`GET /_sandbox/webhooks/deliveries[?status=...]`: the delivery log, oldest first."""
        return _json(self.deliverer.listing(request.query_params.get("status") or None))

    async def _admin_trigger(self, request: Request) -> Response:
        """`POST /_sandbox/webhooks/deliveries` with an event (`user_id` or `user` index):
        deliver it to every matching live subscription, whatever the world holds."""
        try:
            event = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _json({"detail": "body must be JSON"}, 400)
        if not isinstance(event, dict):
            return _json({"detail": "body must be a JSON object"}, 400)
        if "user" in event:
            try:
                with self.world_lock:
                    event["user_id"] = self.world.users[int(event.pop("user"))].user_id
            except (TypeError, ValueError, IndexError):
                return _json({"detail": "user must be the index of a sandbox user"}, 400)
        with self.world_lock:
            now = self.world.now
        event.setdefault("event_time", now.isoformat(timespec="seconds"))
        keys = ("event_type", "data_type", "object_id", "event_time", "user_id")
        if any(not isinstance(event.get(k), str) for k in keys):
            return _json({"detail": f"an event needs string fields {', '.join(keys)}"}, 400)
        with self._lock:
            active = [s for s in self.subscriptions.values() if s.expiration_time > now]
        queued = self._fan_out({k: event[k] for k in keys}, active)
        return _json({"queued": queued})

    async def _admin_redeliver(self, request: Request) -> Response:
        """`POST /_sandbox/webhooks/deliveries/{id}/redeliver`: send a delivery's event again."""
        old = self.deliverer.find(request.path_params["id"])
        if old is None:
            return _json({"detail": "no such delivery"}, 404)
        again = replace(
            old,
            id=self.deliverer.next_id(),
            status="pending",
            attempts=0,
            created_at=time.time(),
            last_status=None,
            last_error=None,
            delivered_at=None,
        )
        self.deliverer.submit(again)
        return _json({"id": again.id})


def _validated(
    raw: bytes,
    required: tuple[str, ...],
    optional: tuple[str, ...] = (),
    data_types: tuple[str, ...] = DATA_TYPES,
) -> dict[str, Any]:
    """A subscription request body checked as Oura's pydantic models would.

    Raises:
        _Invalid: with pydantic-style errors.
    """
    body = _json_object(raw)
    errors = []
    for name in required + optional:
        value = body.get(name)
        if value is None:
            if name in required:
                errors.append(
                    {
                        "type": "missing",
                        "loc": ["body", name],
                        "msg": "Field required",
                        "input": body,
                    }
                )
            continue
        error = _field_error(name, value, data_types)
        if error is not None:
            errors.append(error)
    if errors:
        raise _Invalid(errors)
    return body


def _json_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object, or the error pydantic gives for anything else."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise _Invalid(
            [{"type": "json_invalid", "loc": ["body"], "msg": "JSON decode error"}]
        ) from None
    if not isinstance(body, dict):
        raise _Invalid(
            [
                {
                    "type": "model_attributes_type",
                    "loc": ["body"],
                    "msg": "Input should be a valid dictionary",
                    "input": body,
                }
            ]
        )
    return body


def _field_error(name: str, value: object, data_types: tuple[str, ...]) -> dict[str, Any] | None:
    """The pydantic-style error of a present field: not a string, or not one of its enum."""
    if not isinstance(value, str):
        return {
            "type": "string_type",
            "loc": ["body", name],
            "msg": "Input should be a valid string",
            "input": value,
        }
    allowed = EVENT_TYPES if name == "event_type" else data_types if name == "data_type" else None
    if allowed and value not in allowed:
        expected = ", ".join(f"'{a}'" for a in allowed[:-1]) + f" or '{allowed[-1]}'"
        return {
            "type": "enum",
            "loc": ["body", name],
            "msg": f"Input should be {expected}",
            "input": value,
            "ctx": {"expected": expected},
        }
    return None
