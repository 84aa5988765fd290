"""Access tokens for the loader: a static personal token or a profile's refreshing OAuth login.

Refresh rules (api-reference §4.1, pitfall 11): refresh tokens are single-use and
rotate, so exactly one refresh per profile may run at a time across threads and
processes. A refresh takes the profile lock, re-reads the store, reuses a token
someone else just refreshed, and otherwise refreshes and writes the rotated
tokens to disk before handing out the new access token. `invalid_grant` is final:
the profile is marked and `ReloginRequired` raised; the same refresh token is
never sent twice.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

from pipelines.auth.endpoints import (
    TokenAnswer,
    is_loopback_host,
    new_portal_token_url,
    post_token_request,
    revoke_url_for,
    scrub,
)
from pipelines.auth.scopes import normalize_scopes, split_scopes
from pipelines.auth.store import TokenRecord, TokenStore, resolve_profile
from pipelines.core.config import Endpoints
from pipelines.core.errors import OuraEltError

REFRESH_SKEW_SECONDS = 120.0
ACCESS_TOKEN_ENV = "OURA_ACCESS_TOKEN"


class ReloginRequired(OuraEltError):
    """The profile's refresh token was rejected; only a new `auth login` helps."""

    def __init__(self, profile: str) -> None:
        super().__init__(
            f"the saved login for profile '{profile}' is no longer valid (refresh token rejected); "
            f"run: oura-elt auth login --profile {profile}"
        )
        self.profile = profile


class NotLoggedIn(OuraEltError):
    """The profile has no saved login."""

    def __init__(self, profile: str) -> None:
        super().__init__(
            f"no saved login for profile '{profile}'; run: oura-elt auth login --profile {profile}"
        )
        self.profile = profile


@runtime_checkable
class TokenProvider(Protocol):
    """What the loader asks for access tokens."""

    profile: str | None

    def access_token(self) -> str:
        """A fresh access token (refreshed proactively shortly before expiry)."""
        ...

    def refresh_after_unauthorized(self, rejected: str) -> str:
        """Called once after a 401 that is not a scope error; returns a token to retry with."""
        ...

    def granted_scopes(self) -> frozenset[str] | None:
        """Granted scopes as bare names; None if unknown."""
        ...

    def user_id(self) -> str | None:
        """The Oura user id, if known."""
        ...


class StaticTokenProvider:
    """A fixed token from `OURA_ACCESS_TOKEN` (legacy personal access token); never refreshes."""

    def __init__(self, token: str, profile: str | None = None) -> None:
        self._token = token
        self.profile = profile

    def __repr__(self) -> str:
        return f"StaticTokenProvider(profile={self.profile!r})"

    def access_token(self) -> str:
        return self._token

    def refresh_after_unauthorized(self, rejected: str) -> str:
        raise OuraEltError(
            f"the Oura API rejected the token in {ACCESS_TOKEN_ENV} (HTTP 401: invalid, expired or "
            f"revoked; personal access tokens were deprecated in December 2025); unset "
            f"{ACCESS_TOKEN_ENV} and run: oura-elt auth login"
        )

    def granted_scopes(self) -> frozenset[str] | None:
        return None

    def user_id(self) -> str | None:
        return None

    def api_base_url(self) -> str | None:
        """Unknown for a static token: use the configured endpoints."""
        return None


class OAuthTokenProvider:
    """Tokens of one saved profile, refreshed safely across threads and processes.

    Args:
        profile: Profile name; it must have a saved login.
        skew_seconds: Refresh this long before the access token expires.
        clock: Time source (epoch seconds).

    Raises:
        NotLoggedIn: the profile has no saved login.
    """

    def __init__(
        self,
        profile: str,
        *,
        skew_seconds: float = REFRESH_SKEW_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.profile: str | None = profile
        self._profile = profile
        self._store = TokenStore(profile)
        self._skew = skew_seconds
        self._clock = clock
        self._mutex = threading.Lock()
        self._record: TokenRecord | None = None
        self._fingerprint: tuple[int, int, int] | None = None
        self.record()  # fail early if the profile has no login

    def __repr__(self) -> str:
        return f"OAuthTokenProvider(profile={self._profile!r})"

    # A provider is a handle on shared state (the store and its lock): copies are the same handle.
    def __copy__(self) -> OAuthTokenProvider:
        return self

    def __deepcopy__(self, memo: dict) -> OAuthTokenProvider:
        return self

    def __getstate__(self) -> dict:
        # Pickles (e.g. for worker processes) carry no tokens; the copy re-reads the store.
        state = self.__dict__.copy()
        for name in ("_mutex", "_record", "_fingerprint"):
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._mutex = threading.Lock()
        self._record, self._fingerprint = None, None

    # -- TokenProvider ----------------------------------------------------------------------

    def access_token(self) -> str:
        record = self.record()
        if record.relogin_required:
            raise ReloginRequired(self._profile)
        if record.expires_within(self._skew, self._clock()):
            return self._refresh(seen=record.access_token, force=False)
        return record.access_token

    def refresh_after_unauthorized(self, rejected: str) -> str:
        return self._refresh(seen=rejected, force=True)

    def granted_scopes(self) -> frozenset[str] | None:
        return frozenset(self.record().scopes)

    def user_id(self) -> str | None:
        return self.record().user_id

    def api_base_url(self) -> str | None:
        """The API base URL the profile logged in against."""
        return self.record().api_base_url

    # -- internals --------------------------------------------------------------------------

    def record(self) -> TokenRecord:
        """The saved login, re-read whenever the file changed on disk."""
        with self._mutex:
            fingerprint = self._store.fingerprint()
            if self._record is None or fingerprint != self._fingerprint:
                record = self._store.load()
                if record is None:
                    raise NotLoggedIn(self._profile)
                self._record, self._fingerprint = record, fingerprint
            return self._record

    def _remember(self, record: TokenRecord) -> None:
        with self._mutex:
            self._record, self._fingerprint = record, self._store.fingerprint()

    def _refresh(self, *, seen: str, force: bool) -> str:
        with self._store.lock():
            record = self._store.load()
            if record is None:
                raise NotLoggedIn(self._profile)
            self._remember(record)
            if record.relogin_required:
                raise ReloginRequired(self._profile)
            fresh = not record.expires_within(self._skew, self._clock())
            if fresh and (record.access_token != seen or not force):
                return record.access_token  # someone else refreshed meanwhile
            if not record.refresh_token:
                raise ReloginRequired(self._profile)
            try:
                renewed = refresh_record(record, now=self._clock())
            except _RefreshRejected:
                burned = record.replace(relogin_required=True)
                self._store.save(burned)
                self._remember(burned)
                raise ReloginRequired(self._profile) from None
            self._store.save(renewed)  # on disk before anyone uses the new access token
            self._remember(renewed)
            return renewed.access_token


class _RefreshRejected(Exception):
    """The token endpoint answered invalid_grant."""


def refresh_record(record: TokenRecord, *, now: float | None = None) -> TokenRecord:
    """POST the refresh grant for `record` and return the record with the rotated tokens.

    Falls back once to the new portal's token endpoint on `400 invalid_request`
    (api-reference §4.3). Does not touch the store.

    Raises:
        _RefreshRejected: invalid_grant (the refresh token is used, expired or revoked).
        OuraEltError: other failures (no secrets in the message).
    """
    form = {
        "grant_type": "refresh_token",
        "refresh_token": record.refresh_token or "",
        "client_id": record.client_id,
        "client_secret": record.client_secret,
    }
    answer = post_token_request(record.token_url, form)
    fallback = new_portal_token_url(record.token_url)
    if answer.status == 400 and answer.error == "invalid_request" and fallback:
        answer = post_token_request(fallback, form)
    if answer.status == 200 and answer.body and answer.body.get("access_token"):
        return record_from_token_response(record, answer, now=now)
    if answer.error == "invalid_grant":
        raise _RefreshRejected()
    raise token_endpoint_error(answer, record.profile, "refreshing the login", record)


def record_from_token_response(
    base: TokenRecord, answer: TokenAnswer, *, now: float | None = None
) -> TokenRecord:
    """`base` updated with a successful refresh answer (keeps what the answer omits)."""
    body = answer.body or {}
    now = time.time() if now is None else now
    raw_scopes = (
        split_scopes(body.get("scope")) if body.get("scope") is not None else base.raw_scopes
    )
    return base.replace(
        access_token=body["access_token"],
        refresh_token=body.get("refresh_token") or base.refresh_token,
        expires_at=expires_at_from(body.get("expires_in"), now),
        token_type=str(body.get("token_type") or base.token_type),
        raw_scopes=tuple(raw_scopes),
        scopes=tuple(sorted(normalize_scopes(raw_scopes))),
        token_url=answer.url,
        revoke_url=revoke_url_for(answer.url, base.revoke_url),
        refreshed_at=now,
        relogin_required=False,
    )


def expires_at_from(expires_in: object, now: float) -> float | None:
    """Absolute expiry from a token response's `expires_in` (None if absent or malformed)."""
    try:
        seconds = float(expires_in)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return now + seconds if seconds > 0 else None


def token_endpoint_error(
    answer: TokenAnswer, profile: str, action: str, record: TokenRecord | None = None
) -> OuraEltError:
    """One clear line for a token endpoint failure other than invalid_grant."""
    secrets = (record.access_token, record.refresh_token, record.client_secret) if record else ()
    if answer.error == "invalid_client" or answer.status == 401:
        return OuraEltError(
            f"{action} for profile '{profile}' failed: {answer.url} rejected the app's credentials "
            "(invalid_client); check OURA_CLIENT_ID and OURA_CLIENT_SECRET, then run: "
            f"oura-elt auth login --profile {profile}"
        )
    detail = " ".join(x for x in (answer.error, answer.description) if x) or "no details"
    return OuraEltError(
        scrub(
            f"{action} for profile '{profile}' failed: {answer.url} answered HTTP {answer.status} "
            f"({detail})",
            secrets,
        )
    )


def token_provider(profile: str | None = None, endpoints: Endpoints | None = None) -> TokenProvider:
    """The token source for a load.

    `OURA_ACCESS_TOKEN` set -> a `StaticTokenProvider` (legacy personal token).
    Otherwise the profile's saved OAuth login (`profile`, else `OURA_PROFILE`, else
    `default`).

    Args:
        profile: Profile name.
        endpoints: If given, the profile must have logged in against
            `endpoints.api_base_url` (guards against using a sandbox login on the real API).

    Raises:
        NotLoggedIn: the profile has no saved login.
        OuraEltError: bad profile name, or the login belongs to another API base URL.
    """
    static = (os.environ.get(ACCESS_TOKEN_ENV) or "").strip()
    if static:
        return StaticTokenProvider(static, profile=profile)
    name = resolve_profile(profile)
    provider = OAuthTokenProvider(name)
    if endpoints is not None:
        logged_in_at = provider.record().api_base_url.rstrip("/")
        if not same_api(logged_in_at, endpoints.api_base_url):
            raise OuraEltError(
                f"profile '{name}' logged in against {logged_in_at}, but the API base URL is "
                f"{endpoints.api_base_url}; run: oura-elt auth login --profile {name} "
                "(or use another --profile)"
            )
    return provider


def same_api(a: str, b: str) -> bool:
    """True if two API base URLs name the same server (`localhost` = `127.0.0.1` = `::1`)."""
    pa, pb = urlsplit(a.rstrip("/")), urlsplit(b.rstrip("/"))
    if (pa.scheme, pa.port, pa.path) != (pb.scheme, pb.port, pb.path):
        return False
    if is_loopback_host(pa.hostname) and is_loopback_host(pb.hostname):
        return True
    return (pa.hostname or "").lower() == (pb.hostname or "").lower()
