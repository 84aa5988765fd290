"""Sending webhook events: signed POSTs on background threads, retried like Oura does.

Each attempt is signed afresh: `x-oura-timestamp` is the Unix time of the attempt
and `x-oura-signature` the uppercase hex HMAC-SHA256 of timestamp + body, keyed with
the application's client secret (api-reference §7). A 2xx/3xx answer delivers; 410
Gone cancels the subscription; anything else (4xx, 5xx, a timeout, a refused
connection) is retried `retries` times with doubling delays. Nothing here runs on
the server's event loop, so a slow receiver never holds up the data routes.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

log = logging.getLogger("sandbox.webhooks")

DELIVERY_LOG_SIZE = 10_000


@dataclass(frozen=True)
class WebhookSettings:
    """How the sandbox's webhooks behave (tests shrink the delays).

    Attributes:
        subscription_days: lifetime of a subscription (Oura: about 90 days).
        retries: retries after a failed delivery (Oura: 10).
        retry_base_seconds: delay before the first retry; doubles per retry.
        retry_max_seconds: cap of one delay (defaults span about an hour, as at Oura).
        timeout_seconds: how long a delivery waits for the receiver's answer (Oura: 10 s).
        challenge_timeout_seconds: how long the verification GET may take.
        lookback_days: how far before local today a clock move can change documents
            (revisions settle after 3 days; rest-mode periods last up to 6).
        max_event_days: a clock jump longer than this sends events for its last
            `max_event_days` days only (a reconciling load heals the rest, as at Oura).
        senders: parallel delivery threads.
        data_types: data types the subscription routes accept (None: spec 1.35's enum);
            Oura's live API has refused some of the spec's, e.g. `daily_resilience`
            with a 422 in 2024 (api-reference §7).
    """

    subscription_days: float = 90.0
    retries: int = 10
    retry_base_seconds: float = 30.0
    retry_max_seconds: float = 600.0
    timeout_seconds: float = 10.0
    challenge_timeout_seconds: float = 10.0
    lookback_days: int = 7
    max_event_days: int = 31
    senders: int = 4
    data_types: tuple[str, ...] | None = None


@dataclass
class Delivery:
    """One event on its way to one subscription's callback."""

    id: int
    subscription_id: str
    client_id: str
    callback_url: str
    event: dict[str, str]
    body: bytes
    created_at: float
    status: str = "pending"  # pending | delivered | failed | cancelled
    attempts: int = 0
    next_attempt_at: float = 0.0
    last_status: int | None = None
    last_error: str | None = None
    delivered_at: float | None = None

    def summary(self) -> dict[str, Any]:
        """What the admin route shows (no secrets: the body is not one)."""
        return {
            "id": self.id,
            "subscription_id": self.subscription_id,
            "callback_url": self.callback_url,
            "event": self.event,
            "status": self.status,
            "attempts": self.attempts,
            "last_status": self.last_status,
            "last_error": self.last_error,
            "created_at": self.created_at,
            "delivered_at": self.delivered_at,
        }


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Oura's signature: uppercase hex HMAC-SHA256 over timestamp + body, keyed with the secret."""
    return hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).hexdigest().upper()


class Deliverer:
    """Sends deliveries on background threads and retries them on schedule.

    Args:
        settings: retry and timeout settings.
        secret_of: the client secret of an application id (None if unknown).
        subscription_alive: whether a subscription still exists.
        cancel_subscription: called on a 410 answer.
    """

    def __init__(
        self,
        settings: WebhookSettings,
        secret_of: Callable[[str], str | None],
        subscription_alive: Callable[[str], bool],
        cancel_subscription: Callable[[str], None],
    ) -> None:
        self.settings = settings
        self._secret_of = secret_of
        self._alive = subscription_alive
        self._cancel = cancel_subscription
        self._cond = threading.Condition()
        self._due: list[tuple[float, int, Delivery]] = []
        self._ready: queue.Queue[Delivery] = queue.Queue()
        self._started = False
        self._local = threading.local()
        self.log: dict[int, Delivery] = {}
        self._ids = itertools.count(1)

    def next_id(self) -> int:
        """A new delivery id."""
        return next(self._ids)

    def submit(self, delivery: Delivery, delay: float = 0.0) -> None:
        """Queue `delivery` to be attempted after `delay` seconds."""
        self._start()
        with self._cond:
            self.log[delivery.id] = delivery
            while len(self.log) > DELIVERY_LOG_SIZE:
                self.log.pop(next(iter(self.log)))
            delivery.next_attempt_at = time.time() + delay
            heapq.heappush(self._due, (delivery.next_attempt_at, delivery.id, delivery))
            self._cond.notify()

    def _start(self) -> None:
        with self._cond:
            if self._started:
                return
            self._started = True
        threading.Thread(
            target=self._schedule, name="sandbox-webhook-scheduler", daemon=True
        ).start()
        for n in range(max(self.settings.senders, 1)):
            threading.Thread(
                target=self._send_loop, name=f"sandbox-webhook-sender-{n}", daemon=True
            ).start()

    def _schedule(self) -> None:
        while True:
            with self._cond:
                while not self._due or self._due[0][0] > time.time():
                    self._cond.wait(
                        timeout=None if not self._due else max(self._due[0][0] - time.time(), 0.0)
                    )
                _, _, delivery = heapq.heappop(self._due)
            self._ready.put(delivery)

    def _send_loop(self) -> None:
        while True:
            delivery = self._ready.get()
            try:
                self._attempt(delivery)
            except Exception:  # noqa: BLE001 - a sender thread must survive anything
                log.exception("webhook delivery %s crashed", delivery.id)

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def _attempt(self, delivery: Delivery) -> None:
        secret = self._secret_of(delivery.client_id)
        if secret is None or not self._alive(delivery.subscription_id):
            delivery.status = "cancelled"
            return
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "x-oura-timestamp": timestamp,
            "x-oura-signature": sign(secret, timestamp, delivery.body),
        }
        delivery.attempts += 1
        try:
            response = self._session().post(
                delivery.callback_url,
                data=delivery.body,
                headers=headers,
                timeout=self.settings.timeout_seconds,
                allow_redirects=False,
            )
            delivery.last_status, delivery.last_error = response.status_code, None
        except requests.RequestException as exc:
            delivery.last_status, delivery.last_error = None, type(exc).__name__
        status = delivery.last_status
        if status is not None and 200 <= status < 400:
            delivery.status, delivery.delivered_at = "delivered", time.time()
        elif status == 410:
            delivery.status = "cancelled"
            self._cancel(delivery.subscription_id)
        elif delivery.attempts <= self.settings.retries:
            delay = self.settings.retry_base_seconds * 2 ** (delivery.attempts - 1)
            self.submit(delivery, min(delay, self.settings.retry_max_seconds))
        else:
            delivery.status = "failed"

    def counts(self) -> dict[str, int]:
        """Deliveries by status."""
        with self._cond:
            return dict(Counter(d.status for d in self.log.values()))

    def listing(self, status: str | None = None) -> list[dict[str, Any]]:
        """Summaries of logged deliveries (all, or those with `status`), oldest first."""
        with self._cond:
            return [d.summary() for d in self.log.values() if status is None or d.status == status]

    def find(self, delivery_id: int) -> Delivery | None:
        """A logged delivery by id."""
        with self._cond:
            return self.log.get(delivery_id)
