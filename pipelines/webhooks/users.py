"""Who an event is about: Oura `user_id` -> the saved login (profile) that reads their data.

Subscriptions belong to the application, so events arrive for everyone who
authorized it (api-reference §7). Each profile's login records its user id
(`personal_info.id`, read at login); for a login saved without one, the id is
asked once with the profile's token and cached in the journal (keyed by the
login's time, so a new login of another person under the same name is asked
again). Only logins against the configured API count. With `OURA_ACCESS_TOKEN`
set, that token's user is served too (as the default profile).

An unknown user id makes the directory look at the saved logins again, at most
every `rescan_seconds`, so people added with `auth login` are picked up without
a restart.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time

from pipelines.auth import (
    OAuthTokenProvider,
    StaticTokenProvider,
    TokenProvider,
    TokenStore,
    list_profiles,
    resolve_profile,
)
from pipelines.auth.endpoints import fetch_user_id
from pipelines.auth.tokens import ACCESS_TOKEN_ENV, same_api
from pipelines.core.config import Endpoints
from pipelines.core.errors import OuraEltError
from pipelines.webhooks.journal import Journal

log = logging.getLogger("oura_elt.webhooks")
DEFAULT_RESCAN_SECONDS = 30.0


class UserDirectory:
    """Maps Oura user ids to profiles and their token providers.

    Args:
        endpoints: the API the events come from (logins against others are ignored).
        journal: where discovered user ids are cached (None: memory only).
        rescan_seconds: least time between two looks at the saved logins.
    """

    def __init__(
        self,
        endpoints: Endpoints,
        journal: Journal | None = None,
        rescan_seconds: float = DEFAULT_RESCAN_SECONDS,
    ) -> None:
        self.endpoints = endpoints
        self.journal = journal
        self.rescan_seconds = rescan_seconds
        self._lock = threading.Lock()
        self._profiles: dict[str, str] = {}  # user id -> profile
        self._providers: dict[str, TokenProvider] = {}  # profile -> provider
        self._scanned_at: float | None = None
        self._discovered: dict[str, str] = {}  # memory cache when there is no journal

    def resolve(self, user_id: str) -> tuple[str, TokenProvider] | None:
        """(profile, token provider) of the user, or None if nobody here is that user."""
        with self._lock:
            known = self._profiles.get(user_id)
            if known is not None and not self._still_logged_in(known):
                self._scan()  # logged out or erased meanwhile: never use a stale mapping
            elif known is None and self._may_rescan():
                self._scan()
            profile = self._profiles.get(user_id)
            return (profile, self._providers[profile]) if profile else None

    def profiles(self) -> dict[str, str]:
        """The current map of user id -> profile (scans the logins if never done)."""
        with self._lock:
            if self._scanned_at is None:
                self._scan()
            return dict(self._profiles)

    def _still_logged_in(self, profile: str) -> bool:
        provider = self._providers.get(profile)
        return isinstance(provider, StaticTokenProvider) or TokenStore(profile).exists()

    def _may_rescan(self) -> bool:
        return (
            self._scanned_at is None or time.monotonic() - self._scanned_at >= self.rescan_seconds
        )

    def _scan(self) -> None:
        self._scanned_at = time.monotonic()
        found: dict[str, str] = {}
        static = (os.environ.get(ACCESS_TOKEN_ENV) or "").strip()
        if static:
            name = resolve_profile(None)
            user_id = self._static_user_id(static)
            if user_id:
                found[user_id] = name
                self._providers[name] = StaticTokenProvider(static, profile=name)
        for name in list_profiles():
            if name in found.values():
                continue
            try:
                user_id = self._profile_user_id(name)
            except OuraEltError as exc:  # e.g. logged out while we looked
                log.warning("profile '%s' is skipped for webhooks: %s", name, exc)
                continue
            if user_id is None:
                continue
            if user_id in found:
                log.warning(
                    "profiles '%s' and '%s' are the same Oura user; events use '%s'",
                    found[user_id],
                    name,
                    found[user_id],
                )
                continue
            found[user_id] = name
        self._profiles = found

    def _profile_user_id(self, name: str) -> str | None:
        record = TokenStore(name).load()
        if record is None or not same_api(record.api_base_url, self.endpoints.api_base_url):
            return None
        if name not in self._providers:
            self._providers[name] = OAuthTokenProvider(name)
        if record.user_id:
            return record.user_id
        login = repr(record.obtained_at)
        cached = (
            self.journal.cached_user_id(name, login)
            if self.journal
            else self._discovered.get(name + login)
        )
        if cached:
            return cached
        try:
            user_id = fetch_user_id(record.api_base_url, self._providers[name].access_token())
        except OuraEltError as exc:
            log.warning("cannot tell which Oura user profile '%s' is: %s", name, exc)
            return None
        if self.journal:
            self.journal.cache_user_id(name, login, user_id)
        else:
            self._discovered[name + login] = user_id
        return user_id

    def _static_user_id(self, token: str) -> str | None:
        key = "static:" + hashlib.sha256(token.encode()).hexdigest()[:16]
        if key in self._discovered:
            return self._discovered[key]
        try:
            user_id = fetch_user_id(self.endpoints.api_base_url, token)
        except OuraEltError as exc:
            log.warning("cannot tell which Oura user %s belongs to: %s", ACCESS_TOKEN_ENV, exc)
            return None
        self._discovered[key] = user_id
        return user_id
