"""The Oura HTTP client: budgeted, retried, paginated GETs with Oura's error rules.

- Every request first takes a slot from the shared `RateBudget`.
- 429: wait `Retry-After` (pausing the whole budget), then retry; 5xx, timeouts,
  dropped connections and malformed or truncated JSON: retry with exponential
  backoff and jitter. When the attempts run out the collection fails with one
  clear line (`CollectionFailed`).
- 401: if its `detail` names a scope (`Token is not authorized access <scope>
  scope.`) the scope was not granted (`ScopeNotGranted`); otherwise the token
  provider refreshes once and the request is retried; a second 401 is
  `AuthRejected`. 403 naming a scope is `ScopeNotGranted`, any other 403 is a
  lapsed membership (`MembershipLapsed`).
- Pagination follows `next_token`; a token the API already sent is re-asked a
  few times (it was seen once in the wild, api-reference §1) and then fails the
  collection rather than looping.

Tokens travel only in the `Authorization` header; nothing here logs or formats
them into messages.
"""

from __future__ import annotations

import json
import os
import random
import re
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type

from pipelines.core.errors import OuraEltError, UsageError
from pipelines.oura.http import HttpSession, TlsFailure, Transient, detail
from pipelines.oura.ratelimit import RateBudget
from pipelines.oura.settings import Collection

_SCOPE_DETAIL = re.compile(
    r"not authorized (?:to )?access (?:the )?['\"]?([\w:.-]+)['\"]? scope", re.I
)

ATTEMPTS_ENV = "OURA_ELT_HTTP_ATTEMPTS"  # tries per request for 5xx, timeouts, drops, bad pages
MAX_REFRESHES_PER_REQUEST = 10  # a 401 right after a refresh: try a newer token, at most this often


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise UsageError(f"{name} must be a whole number, not {raw!r}") from None
    if value < 1:
        raise UsageError(f"{name} must be at least 1")
    return value


@dataclass(frozen=True)
class RetryPolicy:
    """How hard the client tries before a collection fails.

    Attributes:
        attempts: tries per request for 5xx, timeouts, drops and bad JSON
            (`OURA_ELT_HTTP_ATTEMPTS`, default 8).
        backoff_seconds: first backoff; doubles per attempt (with jitter).
        max_backoff_seconds: cap of one backoff.
        max_rate_limited_seconds: give up after waiting this long on 429s for one request.
        max_rate_limited_attempts: give up after this many 429s in a row for one request.
        max_retry_after_seconds: cap of one `Retry-After` wait.
        repeat_token_attempts: re-asks of a page whose `next_token` repeats an earlier one.
        connect_timeout: seconds to open a connection.
        read_timeout: seconds to wait for response bytes.
    """

    # 8: about a minute of backoff in all, which rides out a short outage.
    attempts: int = field(default_factory=lambda: _env_int(ATTEMPTS_ENV, 8))
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30.0
    max_rate_limited_seconds: float = 900.0
    max_rate_limited_attempts: int = 60
    max_retry_after_seconds: float = 300.0
    repeat_token_attempts: int = 3
    connect_timeout: float = 10.0
    read_timeout: float = 60.0


class CollectionFailed(OuraEltError):
    """One collection could not be read; the others still load."""

    def __init__(self, collection: str, reason: str) -> None:
        super().__init__(f"{collection}: {reason}")
        self.collection = collection
        self.reason = reason


class ScopeNotGranted(CollectionFailed):
    """The token lacks the scope a collection needs; the collection is skipped."""

    def __init__(self, collection: str, scope: str | None) -> None:
        named = f"the '{scope}' scope" if scope else "a scope it needs"
        super().__init__(
            collection,
            f"skipped: the login was not granted {named}; "
            "log in again and allow it to load this collection",
        )
        self.scope = scope


class MembershipLapsed(OuraEltError):
    """403 without a scope: the user's Oura membership no longer covers API access."""


class AuthRejected(OuraEltError):
    """The API rejected the access token even after a refresh."""


class ApiUnreachable(OuraEltError):
    """The API host could not be reached at all."""


class OuraClient:
    """GETs against one Oura API base URL for one user's token provider.

    Args:
        base_url: API base, e.g. `https://api.ouraring.com`.
        provider: the user's token provider (`pipelines.auth.TokenProvider`).
        budget: the request budget shared by the process.
        policy: retry and timeout settings.
        pool_size: HTTP connections kept open (match the number of workers).
    """

    def __init__(
        self,
        base_url: str,
        provider: Any,
        budget: RateBudget,
        policy: RetryPolicy | None = None,
        pool_size: int = 8,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._provider = provider
        self.budget = budget
        self.policy = policy or RetryPolicy()
        self._http = HttpSession(
            self.base_url,
            pool_size=pool_size,
            timeouts=(self.policy.connect_timeout, self.policy.read_timeout),
        )
        self._lock = threading.Lock()
        self.requests = 0
        self.retries = 0

    def close(self) -> None:
        """Close pooled connections."""
        self._http.close()

    def __repr__(self) -> str:
        return f"OuraClient({self.base_url!r})"

    # ----------------------------------------------------------------------- reading

    def fetch_object(self, collection: Collection) -> dict:
        """The bare object of a SINGLE route (`personal_info`)."""
        body = self.get_json(collection, {})
        if isinstance(body, dict) and isinstance(body.get("data"), list):
            body = body["data"][0] if body["data"] else {}
        if not isinstance(body, dict):
            raise CollectionFailed(
                collection.name, "the API answered with something that is not an object"
            )
        return body

    def pages(self, collection: Collection, params: Mapping[str, str]) -> Iterator[list[dict]]:
        """Every page of a list route, following `next_token`.

        Raises:
            CollectionFailed: the API kept repeating a `next_token`, or gave a bad page.
        """
        seen: set[str] = set()
        token: str | None = None
        while True:
            query = dict(params)
            if token:
                query["next_token"] = token
            for _ in range(max(self.policy.repeat_token_attempts, 1)):
                data, next_token = _envelope(collection, self.get_json(collection, query))
                if not next_token or (next_token not in seen and next_token != token):
                    break
                with self._lock:
                    self.retries += 1
            else:
                raise CollectionFailed(
                    collection.name,
                    f"the API repeated a next_token {self.policy.repeat_token_attempts} times "
                    "(pagination loop); stopped this collection",
                )
            yield data
            if not next_token:
                return
            seen.add(next_token)
            token = next_token

    def fetch_document(self, collection: Collection, document_id: str) -> dict | None:
        """One document of a list route by id (`GET /<route>/<id>`); None if the API no
        longer has it (404), which for a single document is an answer, not a failure.

        Raises:
            CollectionFailed: the API refused, kept failing, or answered another document.
            OuraEltError: the login or membership stops every request of this user.
        """
        single = replace(collection, route=f"{collection.route}/{quote(document_id, safe='')}")
        body = self.get_json(single, {}, missing_ok=True)
        if body is None:
            return None
        if not isinstance(body, dict) or body.get("id") != document_id:
            raise CollectionFailed(
                collection.name, f"the API answered something else for document {document_id}"
            )
        return body

    def get_json(
        self, collection: Collection, params: Mapping[str, str], missing_ok: bool = False
    ) -> Any:
        """One GET of `collection` with `params`, decoded, after retries and auth handling
        (with `missing_ok`, a 404 is None instead of a failure)."""
        policy = self.policy
        waited = {"rate_limited_seconds": 0.0, "rate_limited_attempts": 0}

        def stop(retry_state: RetryCallState) -> bool:
            exc = retry_state.outcome.exception() if retry_state.outcome else None
            if not isinstance(exc, Transient):
                return True
            if exc.kind == "rate":
                return (
                    waited["rate_limited_seconds"] >= policy.max_rate_limited_seconds
                    or waited["rate_limited_attempts"] + 1 >= policy.max_rate_limited_attempts
                )
            errors = retry_state.attempt_number - waited["rate_limited_attempts"]
            limit = min(policy.attempts, 3) if exc.kind == "connect" else policy.attempts
            return errors >= limit

        def wait(retry_state: RetryCallState) -> float:
            exc = retry_state.outcome.exception() if retry_state.outcome else None
            with self._lock:
                self.retries += 1
            if isinstance(exc, Transient) and exc.kind == "rate":
                seconds = min(max(exc.wait or 0.0, 0.0), policy.max_retry_after_seconds)
                waited["rate_limited_seconds"] += seconds
                waited["rate_limited_attempts"] += 1
                self.budget.pause(seconds)
                return seconds
            errors = retry_state.attempt_number - waited["rate_limited_attempts"]
            backoff = policy.backoff_seconds * (2 ** max(errors - 1, 0))
            return min(backoff, policy.max_backoff_seconds) * random.uniform(0.5, 1.0)

        retrying = Retrying(
            retry=retry_if_exception_type(Transient),
            stop=stop,
            wait=wait,
            reraise=True,
        )
        try:
            return retrying(self._get_with_auth, collection, params, missing_ok)
        except Transient as exc:
            if exc.kind == "connect":
                raise ApiUnreachable(
                    f"cannot reach the Oura API at {self.base_url} ({exc.reason}); "
                    "check the network or OURA_API_BASE_URL"
                ) from None
            raise CollectionFailed(
                collection.name, f"{exc.reason}; gave up after retrying"
            ) from None

    # ---------------------------------------------------------------------- internals

    def _get_with_auth(
        self, collection: Collection, params: Mapping[str, str], missing_ok: bool = False
    ) -> Any:
        token = self._provider.access_token()
        response = self._send(collection, params, token)
        # A 401 gets a fresh token; tokens that live only a few requests may need more than
        # one, as long as each refresh really brings a new token (else the login is dead).
        for _ in range(MAX_REFRESHES_PER_REQUEST):
            if not (response.status_code == 401 and _scope_in(response) is None):
                break
            fresh = self._provider.refresh_after_unauthorized(token)
            if fresh == token:
                break
            token = fresh
            response = self._send(collection, params, token)
        if response.status_code == 401 and _scope_in(response) is None:
            profile = getattr(self._provider, "profile", None)
            again = f"oura-elt auth login --profile {profile}" if profile else "oura-elt auth login"
            raise AuthRejected(
                f"the Oura API rejected the access token for {collection.name} even after a "
                f"refresh; run: {again}"
            )
        if missing_ok and response.status_code == 404:
            return None
        return self._decode(collection, response)

    def _send(
        self, collection: Collection, params: Mapping[str, str], token: str
    ) -> requests.Response:
        self.budget.acquire()
        with self._lock:
            self.requests += 1
        try:
            return self._http.request(
                "GET", collection.path, params=params, headers={"Authorization": f"Bearer {token}"}
            )
        except TlsFailure as exc:
            raise ApiUnreachable(f"TLS error talking to {self.base_url}: {exc}") from None

    def _decode(self, collection: Collection, response: requests.Response) -> Any:
        status = response.status_code
        if status == 429:
            raise Transient("rate limited (429)", kind="rate", wait=_retry_after(response))
        if status >= 500:
            raise Transient(f"server error {status}")
        if status in (401, 403):
            scope = _scope_in(response)
            if scope is not None or (status == 403 and "scope" in detail(response).lower()):
                raise ScopeNotGranted(collection.name, scope or collection.scope)
            if status == 403:
                raise MembershipLapsed(
                    "the Oura API refused access (403): the user's Oura membership has lapsed or "
                    "no longer includes API access; renew it, then run the load again"
                )
            raise AuthRejected(
                f"the Oura API rejected the access token for {collection.name} (401); "
                "run: oura-elt auth login"
            )
        if status == 426:
            raise CollectionFailed(
                collection.name, "the Oura app must be updated before this data can be shared (426)"
            )
        if status >= 400:
            raise CollectionFailed(
                collection.name, f"the API refused the request ({status}: {detail(response)[:160]})"
            )
        try:
            return json.loads(response.content)
        except ValueError:
            raise Transient("the API returned a malformed page (not JSON)") from None


def _envelope(collection: Collection, body: Any) -> tuple[list[dict], str | None]:
    """`data` and `next_token` of a list answer; a bare list is accepted too."""
    if isinstance(body, list):
        return [d for d in body if isinstance(d, dict)], None
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise CollectionFailed(collection.name, "the API answered without a `data` list")
    token = body.get("next_token")
    return body["data"], token if isinstance(token, str) and token else None


def _scope_in(response: requests.Response) -> str | None:
    """The scope named by a 401/403 `detail`, if any."""
    if response.status_code not in (401, 403):
        return None
    match = _SCOPE_DETAIL.search(detail(response))
    if not match:
        return None
    scope = match.group(1)
    return scope.split(":", 1)[1] if scope.startswith("extapi:") else scope


def _retry_after(response: requests.Response) -> float:
    """Seconds to wait from `Retry-After` (seconds or an HTTP date), else `X-RateLimit-Reset`."""
    header = response.headers.get("Retry-After")
    if header:
        try:
            return max(float(header), 0.0)
        except ValueError:
            try:
                return max(parsedate_to_datetime(header).timestamp() - time.time(), 0.0)
            except (TypeError, ValueError):
                pass
    reset = response.headers.get("X-RateLimit-Reset")
    if reset:
        try:
            return min(max(float(reset) - time.time(), 0.0), 300.0)
        except ValueError:
            pass
    return 1.0
