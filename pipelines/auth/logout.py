"""`oura-elt auth logout`: revoke the profile's grant at Oura (best effort) and forget it."""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.auth.endpoints import revoke_token
from pipelines.auth.store import TokenStore, resolve_profile
from pipelines.auth.tokens import NotLoggedIn, OAuthTokenProvider
from pipelines.core.errors import OuraEltError


@dataclass(frozen=True)
class LogoutResult:
    """What `logout` did."""

    profile: str
    revoked: bool
    revoke_problem: str | None  # why revocation failed (no secrets), if it did
    deleted: bool


def logout(profile: str | None = None) -> LogoutResult:
    """Revoke the profile's tokens at the server (best effort) and delete its token files.

    An expired access token is refreshed first so that there is a live token to revoke.

    Raises:
        NotLoggedIn: the profile has no saved login.
    """
    name = resolve_profile(profile)
    store = TokenStore(name)
    record = store.load()
    if record is None:
        raise NotLoggedIn(name)
    problem: str | None = None
    token = record.access_token
    if record.expires_within(0) and record.refresh_token and not record.relogin_required:
        try:
            token = OAuthTokenProvider(name).access_token()
            record = store.load() or record
        except OuraEltError as exc:
            problem = str(exc)
    revoked = False
    try:
        revoke_token(record.revoke_url, token, record.client_id, record.client_secret)
        revoked, problem = True, None
    except OuraEltError as exc:
        problem = problem or str(exc)
    with store.lock():
        deleted = store.delete()
    store.remove_leftovers()
    return LogoutResult(name, revoked, problem, deleted)
