"""The application's webhook subscriptions at Oura: list, subscribe, renew, delete.

The routes under `/v2/webhook/subscription` authenticate the application with the
headers `x-client-id` and `x-client-secret` (no user token), from `OURA_CLIENT_ID`
and `OURA_CLIENT_SECRET` (api-reference §7). Oura keeps one subscription per
(event_type, data_type); creating one makes Oura call the callback URL with a
challenge, which `oura-elt webhooks serve` must be answering at that moment.
Subscriptions expire (about 90 days); `renew_expiring` renews those close to it.

`subscribe` is idempotent: pairs that already point at the callback URL are left
alone, pairs pointing elsewhere are updated, the rest created; one pair failing
(Oura rejects a data type with 422, the challenge fails) does not stop the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from pipelines.auth.endpoints import is_loopback_host, require_safe_transport
from pipelines.core.config import Endpoints
from pipelines.core.errors import OuraEltError, UsageError
from pipelines.oura.http import HttpSession, TlsFailure, Transient, detail
from pipelines.webhooks.settings import DATA_TYPES, DEFAULT_DATA_TYPES, EVENT_TYPES

SUBSCRIPTION_PATH = "/v2/webhook/subscription"
DEFAULT_RENEW_WITHIN_DAYS = 7.0
TIMEOUT_SECONDS = 30.0
CHALLENGE_TIMEOUT_SECONDS = 120.0  # creating waits for Oura's challenge to our callback
ATTEMPTS = 3


class SubscriptionNotFound(OuraEltError):
    """Oura has no subscription with that id for this application (HTTP 403)."""


class SubscriptionExists(OuraEltError):
    """Oura already has a subscription for that (event_type, data_type)."""


class DataTypeNotOffered(OuraEltError):
    """Oura refused the data type itself (HTTP 422 on `data_type`): its live API has
    offered fewer data types than the spec lists (`daily_resilience` in 2024)."""


@dataclass(frozen=True)
class AppCredentials:
    """The Oura application's client id and secret (the secret never shows in a repr)."""

    client_id: str
    client_secret: str = field(repr=False)


def app_credentials(endpoints: Endpoints) -> AppCredentials:
    """`OURA_CLIENT_ID` and `OURA_CLIENT_SECRET` from `endpoints`.

    Raises:
        OuraEltError: one of them is not set.
    """
    return AppCredentials(*endpoints.app_credentials())


@dataclass(frozen=True)
class Subscription:
    """One subscription as Oura describes it (`WebhookSubscriptionModel`)."""

    id: str
    callback_url: str
    event_type: str
    data_type: str
    expiration_time: datetime | None

    @classmethod
    def from_api(cls, body: Any) -> Subscription:
        """Parse Oura's JSON (a naive `expiration_time` is read as UTC).

        Raises:
            OuraEltError: not a subscription object.
        """
        if not isinstance(body, dict) or not isinstance(body.get("id"), str):
            raise OuraEltError("Oura answered something that is not a webhook subscription")
        return cls(
            id=body["id"],
            callback_url=str(body.get("callback_url") or ""),
            event_type=str(body.get("event_type") or ""),
            data_type=str(body.get("data_type") or ""),
            expiration_time=_instant(body.get("expiration_time")),
        )

    def expires_within(self, days: float, now: datetime) -> bool:
        """True if expired or expiring within `days` of `now` (unknown expiry: True)."""
        return self.expiration_time is None or self.expiration_time <= now + timedelta(days=days)


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def check_callback_url(url: str) -> str:
    """`url` if Oura can call it: https, or plain http on a loopback address (the sandbox).

    Raises:
        UsageError: anything else.
    """
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and is_loopback_host(parts.hostname):
        return url
    raise UsageError(
        f"callback URL {url!r} must be https (Oura calls it over the internet and needs the full "
        "certificate chain); plain http is allowed for loopback addresses only"
    )


class SubscriptionClient:
    """Calls the subscription routes with the application's credentials.

    Args:
        endpoints: API base URL and app credentials (default: from the environment).
    """

    def __init__(self, endpoints: Endpoints | None = None) -> None:
        self.endpoints = endpoints or Endpoints.from_env()
        self._credentials = app_credentials(self.endpoints)
        self.base_url = self.endpoints.api_base_url.rstrip("/") + SUBSCRIPTION_PATH
        require_safe_transport(self.base_url, "API base URL")
        self._http = HttpSession(
            self.base_url,
            {
                "x-client-id": self._credentials.client_id,
                "x-client-secret": self._credentials.client_secret,
            },
            timeouts=(TIMEOUT_SECONDS, TIMEOUT_SECONDS),
        )

    def __repr__(self) -> str:
        return f"SubscriptionClient({self.base_url!r})"

    def close(self) -> None:
        """Close pooled connections."""
        self._http.close()

    def list(self) -> list[Subscription]:
        """Every subscription of the application."""
        body = self._call("GET", "", what="listing webhook subscriptions")
        if not isinstance(body, list):
            raise OuraEltError(
                "Oura answered the subscription list with something that is not a list"
            )
        return [Subscription.from_api(item) for item in body]

    def get(self, subscription_id: str) -> Subscription:
        """One subscription."""
        return Subscription.from_api(
            self._call(
                "GET",
                "/" + _segment(subscription_id),
                what=f"reading subscription {subscription_id}",
                id_=subscription_id,
            )
        )

    def create(
        self, callback_url: str, verification_token: str, event_type: str, data_type: str
    ) -> Subscription:
        """Create a subscription; Oura verifies the callback URL first (its challenge)."""
        body = {
            "callback_url": callback_url,
            "verification_token": verification_token,
            "event_type": event_type,
            "data_type": data_type,
        }
        return Subscription.from_api(
            self._call(
                "POST",
                "",
                json=body,
                what=f"subscribing to {event_type} {data_type}",
                retry=False,
                timeout=CHALLENGE_TIMEOUT_SECONDS,
            )
        )

    def update(
        self,
        subscription_id: str,
        verification_token: str,
        *,
        callback_url: str | None = None,
        event_type: str | None = None,
        data_type: str | None = None,
    ) -> Subscription:
        """Change a subscription (Oura verifies the callback URL again)."""
        body = {
            "verification_token": verification_token,
            "callback_url": callback_url,
            "event_type": event_type,
            "data_type": data_type,
        }
        return Subscription.from_api(
            self._call(
                "PUT",
                "/" + _segment(subscription_id),
                json=body,
                what=f"updating subscription {subscription_id}",
                id_=subscription_id,
                retry=False,
                timeout=CHALLENGE_TIMEOUT_SECONDS,
            )
        )

    def renew(self, subscription_id: str) -> Subscription:
        """Move a subscription's expiration time forward."""
        return Subscription.from_api(
            self._call(
                "PUT",
                "/renew/" + _segment(subscription_id),
                what=f"renewing subscription {subscription_id}",
                id_=subscription_id,
            )
        )

    def delete(self, subscription_id: str) -> None:
        """Delete a subscription."""
        self._call(
            "DELETE",
            "/" + _segment(subscription_id),
            what=f"deleting subscription {subscription_id}",
            id_=subscription_id,
        )

    def _call(
        self,
        method: str,
        path: str,
        *,
        what: str,
        json: dict | None = None,
        id_: str | None = None,
        retry: bool = True,
        timeout: float = TIMEOUT_SECONDS,
    ) -> Any:
        url = self.base_url + path

        def attempt() -> requests.Response:
            response = self._http.request(method, path, json_body=json, read_timeout=timeout)
            if response.status_code >= 500 and retry:
                raise Transient(f"HTTP {response.status_code}")
            return response

        retrying = Retrying(
            stop=stop_after_attempt(ATTEMPTS if retry else 1),
            wait=wait_exponential(multiplier=0.5, max=8),
            retry=retry_if_exception_type(Transient),
            reraise=True,
        )
        try:
            response = retrying(attempt)
        except (Transient, TlsFailure) as exc:
            raise OuraEltError(
                f"{what} failed: {url} is unavailable ({exc}); try again later"
            ) from None
        return _decode(response, what, id_)


def _segment(subscription_id: str) -> str:
    return quote(subscription_id, safe="")


def _decode(response: requests.Response, what: str, id_: str | None) -> Any:
    status = response.status_code
    if status == 204:
        return None
    said = detail(response)
    if status == 403 and id_ is not None:
        raise SubscriptionNotFound(
            f"{what} failed: Oura has no webhook subscription {id_} for this application"
        )
    if status in (401, 403):
        raise OuraEltError(
            f"{what} failed: Oura rejected the application's credentials (HTTP {status}); check "
            "OURA_CLIENT_ID and OURA_CLIENT_SECRET"
        )
    if status == 422 and _invalid_field(response) == "data_type":
        raise DataTypeNotOffered(
            f"{what} failed: Oura does not offer webhooks for this data type ({said})"
        )
    if status == 409:
        raise SubscriptionExists(f"{what} failed: {said or 'it already exists'}")
    if status == 400 and "verification" in said.lower():
        raise OuraEltError(
            f"{what} failed: Oura could not verify the callback URL ({said.rstrip('.')}); is "
            "`oura-elt webhooks serve` answering there, with the same verification token?"
        )
    if status >= 400:
        raise OuraEltError(
            f"{what} failed: Oura answered HTTP {status}" + (f" ({said})" if said else "")
        )
    try:
        return response.json()
    except ValueError:
        raise OuraEltError(f"{what} failed: Oura answered HTTP {status} without JSON") from None


def _invalid_field(response: requests.Response) -> str | None:
    """The body field a 422's pydantic-style `detail` names first (`loc: ["body", name]`)."""
    try:
        errors = response.json()["detail"]
        loc = errors[0]["loc"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    return str(loc[1]) if isinstance(loc, list) and len(loc) > 1 and loc[0] == "body" else None


# ---------------------------------------------------------------------- operations


@dataclass(frozen=True)
class Outcome:
    """What happened to one (event_type, data_type) pair or one subscription.

    Attributes:
        event_type: the event type.
        data_type: the data type.
        action: "created", "updated", "exists", "renewed", "deleted", "kept", "failed", or
            "not offered" (Oura refused the data type itself: 422 on `data_type`).
        subscription: the subscription afterwards (None if failed or deleted).
        error: the one-line reason when `action` is "failed" or "not offered".
    """

    event_type: str
    data_type: str
    action: str
    subscription: Subscription | None = None
    error: str | None = None


def check_types(
    data_types: Iterable[str] | None, event_types: Iterable[str] | None
) -> tuple[list[str], list[str]]:
    """Validated data and event types (defaults: every loadable data type, every event type).

    Raises:
        UsageError: an unknown name.
    """
    data = list(dict.fromkeys(data_types or DEFAULT_DATA_TYPES))
    events = list(dict.fromkeys(event_types or EVENT_TYPES))
    bad = [d for d in data if d not in DATA_TYPES]
    if bad:
        raise UsageError(f"unknown data type(s): {', '.join(bad)}; valid: {', '.join(DATA_TYPES)}")
    bad = [e for e in events if e not in EVENT_TYPES]
    if bad:
        raise UsageError(
            f"unknown event type(s): {', '.join(bad)}; valid: {', '.join(EVENT_TYPES)}"
        )
    return data, events


def subscribe(
    callback_url: str,
    verification_token: str,
    *,
    data_types: Sequence[str] | None = None,
    event_types: Sequence[str] | None = None,
    client: SubscriptionClient | None = None,
) -> list[Outcome]:
    """Make the application subscribed to every (event_type, data_type) pair at `callback_url`.

    Args:
        callback_url: where Oura sends events (the receiver's public https URL).
        verification_token: what the receiver expects in Oura's challenge.
        data_types: data types (default: every one the loader can merge).
        event_types: event types (default: create, update, delete).
        client: the API client (default: from the environment).

    Returns:
        One outcome per pair; failed pairs carry their reason.

    Raises:
        UsageError: bad arguments.
        OuraEltError: the subscriptions could not even be listed (credentials, network).
    """
    check_callback_url(callback_url)
    if not verification_token:
        raise UsageError("a verification token is needed")
    data, events = check_types(data_types, event_types)
    own = client or SubscriptionClient()
    try:
        existing = {(s.event_type, s.data_type): s for s in own.list()}
        outcomes = []
        for data_type in data:
            for event_type in events:
                outcomes.append(
                    _ensure(
                        own,
                        existing.get((event_type, data_type)),
                        callback_url,
                        verification_token,
                        event_type,
                        data_type,
                    )
                )
        return outcomes
    finally:
        if client is None:
            own.close()


def _ensure(
    client: SubscriptionClient,
    current: Subscription | None,
    callback_url: str,
    token: str,
    event_type: str,
    data_type: str,
) -> Outcome:
    try:
        if current is not None and current.callback_url == callback_url:
            return Outcome(event_type, data_type, "exists", current)
        if current is not None:
            updated = client.update(current.id, token, callback_url=callback_url)
            return Outcome(event_type, data_type, "updated", updated)
        return Outcome(
            event_type,
            data_type,
            "created",
            client.create(callback_url, token, event_type, data_type),
        )
    except DataTypeNotOffered as exc:
        return Outcome(event_type, data_type, "not offered", current, str(exc))
    except OuraEltError as exc:
        return Outcome(event_type, data_type, "failed", current, str(exc))


def renew_expiring(
    within_days: float = DEFAULT_RENEW_WITHIN_DAYS,
    *,
    ids: Sequence[str] | None = None,
    now: datetime | None = None,
    client: SubscriptionClient | None = None,
) -> list[Outcome]:
    """Renew the subscriptions that expire within `within_days` (or exactly `ids`).

    Args:
        within_days: renew those expiring within this many days of `now`.
        ids: renew these subscriptions whatever their expiry.
        now: the current instant (default: the clock, or `OURA_ELT_NOW`).
        client: the API client (default: from the environment).

    Returns:
        One outcome per subscription: "renewed", "kept" (not due) or "failed".
    """
    if within_days < 0:
        raise UsageError("--within-days must not be negative")
    if now is None:
        from pipelines.core.clock import current_time

        now = current_time()
    own = client or SubscriptionClient()
    try:
        if ids:
            return [_renew_one(own, subscription_id) for subscription_id in ids]
        outcomes = []
        for sub in own.list():
            if sub.expires_within(within_days, now):
                outcomes.append(_renew_one(own, sub.id, sub))
            else:
                outcomes.append(Outcome(sub.event_type, sub.data_type, "kept", sub))
        return outcomes
    finally:
        if client is None:
            own.close()


def _renew_one(
    client: SubscriptionClient, subscription_id: str, known: Subscription | None = None
) -> Outcome:
    try:
        renewed = client.renew(subscription_id)
    except OuraEltError as exc:
        return Outcome(
            known.event_type if known else "?",
            known.data_type if known else subscription_id,
            "failed",
            known,
            str(exc),
        )
    return Outcome(renewed.event_type, renewed.data_type, "renewed", renewed)


def delete_subscriptions(
    ids: Sequence[str] | None = None, *, client: SubscriptionClient | None = None
) -> list[Outcome]:
    """Delete these subscriptions (None: every subscription of the application)."""
    own = client or SubscriptionClient()
    try:
        outcomes = []
        for target in list(ids) if ids else own.list():
            sub: Subscription | None = target if isinstance(target, Subscription) else None
            try:
                sub = sub or own.get(target)
                own.delete(sub.id)
                outcomes.append(Outcome(sub.event_type, sub.data_type, "deleted", None))
            except OuraEltError as exc:
                outcomes.append(
                    Outcome(
                        sub.event_type if sub else "?",
                        sub.data_type if sub else str(target),
                        "failed",
                        sub,
                        str(exc),
                    )
                )
        return outcomes
    finally:
        if client is None:
            own.close()
