"""The sandbox's OAuth2 authorization server (authorization-code flow, like Oura's).

Behaviour follows api-reference §4: exact redirect-URI match, single-use
authorization codes valid for `code_ttl_seconds`, single-use rotating refresh
tokens ("Refresh token already used"), a legacy token endpoint that answers
`400 invalid_request` to apps registered on the new developer portal (those use
`/oauth/v2/ext/oauth-token` and are granted `extapi:`-prefixed scopes), and a
revoke endpoint. Consent is automatic so that tests and the demo can act as the
browser; non-standard query parameters choose the sandbox user and simulate a
person unticking scopes or refusing.

State lives in memory behind one lock. Token values are never logged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox.application import (
    DEFAULT_REDIRECT_URI,
    NEW_PORTAL_CLIENT_ID,
    NEW_PORTAL_CLIENT_SECRET,
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
)

ALL_SCOPES = (
    "email",
    "personal",
    "daily",
    "heartrate",
    "workout",
    "tag",
    "session",
    "spo2Daily",
    "spo2",
    "stress",
    "heart_health",
    "ring_configuration",
)

AUTHORIZE_PATH = "/oauth/authorize"
LEGACY_TOKEN_PATH = "/oauth/token"
NEW_PORTAL_TOKEN_PATH = "/oauth/v2/ext/oauth-token"
LEGACY_REVOKE_PATH = "/oauth/revoke"
NEW_PORTAL_REVOKE_PATH = "/oauth/v2/ext/oauth/revoke"

EXTAPI_PREFIX = "extapi:"
PERSONAL_TOKEN_PREFIX = "sandbox-pat-"
PERSONAL_TOKEN_CLIENT_ID = "personal-access-token"

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@dataclass(frozen=True)
class ClientApp:
    """A registered API application."""

    client_id: str
    client_secret: str = field(repr=False)
    redirect_uris: tuple[str, ...]  # exact-match registered URIs
    portal: str = "legacy"  # "legacy" | "new"


@dataclass(frozen=True)
class Grant:
    """What an access token authorizes: whose data, which scopes, for which app."""

    user_index: int
    scopes: frozenset[str]  # bare names (extapi: prefix stripped)
    client_id: str
    token_key: str  # non-secret stable key for per-token rate limiting


class AuthError(Exception):
    """A rejected `Authorization` header; rendered as `{"detail": ...}` with `status`."""

    def __init__(self, detail: str, status: int = 401) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail

    def response(self) -> JSONResponse:
        """The HTTP answer for this error."""
        return JSONResponse(
            {"detail": self.detail}, status_code=self.status, headers={"WWW-Authenticate": "Bearer"}
        )


def default_clients() -> list[ClientApp]:
    """The two documented sandbox apps: the legacy-portal one and a new-portal one."""
    redirects = (DEFAULT_REDIRECT_URI, DEFAULT_REDIRECT_URI.replace("//localhost", "//127.0.0.1"))
    return [
        ClientApp(SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, redirects, "legacy"),
        ClientApp(NEW_PORTAL_CLIENT_ID, NEW_PORTAL_CLIENT_SECRET, redirects, "new"),
    ]


def token_key(token: str) -> str:
    """A stable, non-secret key for a token (for rate limiting and logs)."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def bare_scope(scope: str) -> str:
    """`extapi:daily` -> `daily`."""
    return scope[len(EXTAPI_PREFIX) :] if scope.startswith(EXTAPI_PREFIX) else scope


class _OAuthError(Exception):
    """An RFC 6749 error answered as JSON by the token and revoke endpoints."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(error)
        self.error, self.description, self.status = error, description, status

    def response(self) -> JSONResponse:
        headers = dict(_NO_STORE)
        if self.status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="oauth"'
        body = {"error": self.error, "error_description": self.description}
        return JSONResponse(body, status_code=self.status, headers=headers)


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    redirect_uri_given: bool
    user_index: int
    scopes: frozenset[str]
    issued_at: float
    used: bool = False


@dataclass
class _Family:
    """One consent's chain of tokens: a refresh rotates both tokens of the family."""

    user_index: int
    scopes: frozenset[str]
    client_id: str
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    revoked: bool = False


@dataclass
class _Access:
    family: _Family
    expires_at: float
    revoked: bool = False


@dataclass
class _Refresh:
    family: _Family
    used: bool = False


class OAuthProvider:
    """The sandbox's OAuth2 server: routes plus `authenticate` for the data routes.

    Args:
        user_count: Number of sandbox users (valid `user_index` values are 0..n-1).
        clients: Registered apps; default `default_clients()`.
        access_ttl_seconds: `expires_in` of access tokens.
        code_ttl_seconds: Lifetime of authorization codes.
        consent_user: The user who consents when a request does not pick one.
        personal_tokens: Accept the static tokens `sandbox-pat-<user_index>`.
        clock: Time source (seconds since the epoch), injectable for tests.
    """

    def __init__(
        self,
        *,
        user_count: int,
        clients: list[ClientApp] | None = None,
        access_ttl_seconds: int = 86400,
        code_ttl_seconds: int = 600,
        consent_user: int = 0,
        personal_tokens: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if user_count < 1:
            raise ValueError("user_count must be at least 1")
        if not 0 <= consent_user < user_count:
            raise ValueError(f"consent_user must be in 0..{user_count - 1}")
        self.user_count = user_count
        self.clients = {
            c.client_id: c for c in (clients if clients is not None else default_clients())
        }
        self.access_ttl_seconds = access_ttl_seconds
        self.code_ttl_seconds = code_ttl_seconds
        self.consent_user = consent_user
        self.personal_tokens = personal_tokens
        self.clock = clock
        self._lock = threading.Lock()
        self._codes: dict[str, _Code] = {}
        self._access: dict[str, _Access] = {}
        self._refresh: dict[str, _Refresh] = {}
        self._revoked_personal_users: set[int] = set()
        self.stats: dict[str, int] = dict.fromkeys(
            (
                "codes_issued",
                "codes_used",
                "codes_rejected",
                "tokens_issued",
                "refreshes_ok",
                "refresh_reuse",
                "refresh_rejected",
                "invalid_client",
                "tokens_revoked",
            ),
            0,
        )

    # -- public API ---------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        """The OAuth routes, to mount at the root of the sandbox app."""
        return [
            Route(AUTHORIZE_PATH, self._authorize, methods=["GET"]),
            Route(LEGACY_TOKEN_PATH, self._legacy_token, methods=["POST"]),
            Route(NEW_PORTAL_TOKEN_PATH, self._new_portal_token, methods=["POST"]),
            Route(LEGACY_REVOKE_PATH, self._revoke, methods=["GET", "POST"]),
            Route(NEW_PORTAL_REVOKE_PATH, self._revoke, methods=["GET", "POST"]),
        ]

    def authenticate(self, authorization_header: str | None) -> Grant:
        """Resolve an `Authorization: Bearer <token>` header to its grant.

        Raises:
            AuthError: missing, malformed, unknown, expired or revoked token (401).
        """
        if not authorization_header:
            raise AuthError("Unauthorized")
        scheme, _, token = authorization_header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or " " in token:
            raise AuthError("Unauthorized")
        personal = self._personal_grant(token)
        if personal is not None:
            return personal
        with self._lock:
            record = self._access.get(token)
            if record is None:
                raise AuthError("Unauthorized")
            if record.revoked or record.family.revoked:
                raise AuthError("Token revoked")
            if self.clock() >= record.expires_at:
                raise AuthError("Token expired")
            family = record.family
            return Grant(family.user_index, family.scopes, family.client_id, token_key(token))

    def expire_access_tokens(self) -> int:
        """Admin: make every issued access token expired now. Returns how many were live."""
        now = self.clock()
        count = 0
        with self._lock:
            for record in self._access.values():
                if not record.revoked and record.expires_at > now:
                    record.expires_at = now
                    count += 1
        return count

    def revoke_user(self, user_index: int) -> None:
        """Admin: the user removed the app: revoke all their tokens (and their personal token)."""
        with self._lock:
            for record in self._refresh.values():
                family = record.family
                if family.user_index == user_index and not family.revoked:
                    family.revoked = True
                    self.stats["tokens_revoked"] += 1
            self._revoked_personal_users.add(user_index)

    # -- authorize ----------------------------------------------------------------------------

    async def _authorize(self, request: Request) -> Response:
        q = request.query_params
        client = self.clients.get(q.get("client_id", ""))
        if client is None:
            return _bad_request("invalid_client", "Unknown client_id")
        redirect_uri = q.get("redirect_uri")
        if redirect_uri is None:
            if len(client.redirect_uris) != 1:
                return _bad_request("invalid_request", "redirect_uri is required")
            redirect_uri, given = client.redirect_uris[0], False
        else:
            given = True
            if redirect_uri not in client.redirect_uris:
                return _bad_request("invalid_redirect_uri", "redirect_uri is not registered")
        state = q.get("state")

        def fail(error: str, description: str) -> Response:
            return _redirect(redirect_uri, error=error, error_description=description, state=state)

        if q.get("response_type") != "code":
            return fail("unsupported_response_type", "response_type must be code")
        requested = self._requested_scopes(q.get("scope"))
        if requested is None:
            return fail("invalid_scope", "Unknown scope")
        user = q.get("sandbox_user")
        if user is None and _wants_html(request):
            return self._consent_page(request)
        try:
            user_index = self.consent_user if user is None else int(user)
        except ValueError:
            user_index = -1
        if not 0 <= user_index < self.user_count:
            return _bad_request(
                "invalid_request", f"sandbox_user must be in 0..{self.user_count - 1}"
            )
        if q.get("sandbox_deny") == "1":
            return fail("access_denied", "The user denied access")
        denied = {bare_scope(s) for s in q.get("sandbox_deny_scopes", "").split(",") if s.strip()}
        granted = frozenset(requested - denied)
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._codes[code] = _Code(
                client.client_id, redirect_uri, given, user_index, granted, self.clock()
            )
            self.stats["codes_issued"] += 1
        return _redirect(redirect_uri, code=code, state=state, scope=_scope_string(client, granted))

    @staticmethod
    def _requested_scopes(raw: str | None) -> frozenset[str] | None:
        names = (raw or "").split()
        if not names:
            return frozenset(ALL_SCOPES)
        bare = frozenset(bare_scope(n) for n in names)
        return bare if bare <= set(ALL_SCOPES) else None

    def _consent_page(self, request: Request) -> HTMLResponse:
        items = []
        for index in range(self.user_count):
            url = request.url.include_query_params(sandbox_user=str(index))
            items.append(
                f'<li><a href="{html.escape(str(url))}">Allow as sandbox user {index}</a></li>'
            )
        deny = request.url.include_query_params(
            sandbox_user=str(self.consent_user), sandbox_deny="1"
        )
        items.append(f'<li><a href="{html.escape(str(deny))}">Deny</a></li>')
        body = (
            "<!doctype html><title>oura-elt sandbox: consent</title>"
            "<h1>oura-elt sandbox</h1><p>Which sandbox user are you?</p>"
            f"<ul>{''.join(items)}</ul>"
        )
        return HTMLResponse(body)

    # -- token --------------------------------------------------------------------------------

    async def _legacy_token(self, request: Request) -> Response:
        return await self._token(request, portal="legacy")

    async def _new_portal_token(self, request: Request) -> Response:
        return await self._token(request, portal="new")

    async def _token(self, request: Request, *, portal: str) -> Response:
        try:
            form = await _form(request)
            client = self._client_from_request(request, form, portal)
            grant_type = form.get("grant_type")
            if grant_type == "authorization_code":
                body = self._exchange_code(client, form)
            elif grant_type == "refresh_token":
                body = self._exchange_refresh(client, form)
            else:
                raise _OAuthError("unsupported_grant_type", "Unsupported grant_type")
        except _OAuthError as exc:
            return exc.response()
        return JSONResponse(body, headers=_NO_STORE)

    def _client_from_request(
        self, request: Request, form: dict[str, str], portal: str
    ) -> ClientApp:
        client_id, secret = form.get("client_id"), form.get("client_secret")
        basic = _basic_credentials(request.headers.get("authorization"))
        if basic is not None:
            if client_id is not None and client_id != basic[0]:
                raise _OAuthError("invalid_request", "Conflicting client credentials")
            client_id, secret = basic
        client = self.clients.get(client_id or "")
        # The legacy endpoint does not know new-portal apps at all (api-reference §4.3).
        if client is not None and client.portal == "new" and portal == "legacy":
            raise _OAuthError("invalid_request", "Invalid request")
        if (
            client is None
            or client.portal != portal
            or secret is None
            or not secrets.compare_digest(secret.encode(), client.client_secret.encode())
        ):
            with self._lock:
                self.stats["invalid_client"] += 1
            raise _OAuthError("invalid_client", "Client authentication failed", status=401)
        return client

    def _exchange_code(self, client: ClientApp, form: dict[str, str]) -> dict:
        code = form.get("code")
        if not code:
            raise _OAuthError("invalid_request", "Missing code")
        with self._lock:
            record = self._codes.get(code)
            problem = None
            if record is None:
                problem = "Invalid authorization code"
            elif record.used:
                problem = "Authorization code already used"
            elif self.clock() - record.issued_at > self.code_ttl_seconds:
                problem = "Authorization code expired"
            elif record.client_id != client.client_id:
                problem = "Authorization code was issued to another client"
            elif record.redirect_uri_given and form.get("redirect_uri") != record.redirect_uri:
                problem = "redirect_uri does not match the authorization request"
            if record is not None:
                record.used = True  # any attempt burns the code
            if problem is not None:
                self.stats["codes_rejected"] += 1
                raise _OAuthError("invalid_grant", problem)
            assert record is not None
            self.stats["codes_used"] += 1
            family = _Family(record.user_index, record.scopes, client.client_id, "", "")
            return self._issue(family, client)

    def _exchange_refresh(self, client: ClientApp, form: dict[str, str]) -> dict:
        token = form.get("refresh_token")
        if not token:
            raise _OAuthError("invalid_request", "Missing refresh_token")
        with self._lock:
            record = self._refresh.get(token)
            if record is None or record.family.client_id != client.client_id:
                self.stats["refresh_rejected"] += 1
                raise _OAuthError("invalid_grant", "Invalid refresh token")
            if record.family.revoked:
                self.stats["refresh_rejected"] += 1
                raise _OAuthError("invalid_grant", "Token revoked")
            if record.used:
                self.stats["refresh_reuse"] += 1
                raise _OAuthError("invalid_grant", "Refresh token already used")
            record.used = True
            old_access = self._access.get(record.family.access_token)
            if old_access is not None:
                old_access.revoked = True  # the new access token replaces the old one
            self.stats["refreshes_ok"] += 1
            return self._issue(record.family, client)

    def _issue(self, family: _Family, client: ClientApp) -> dict:
        """Mint a new access/refresh pair for `family` (caller holds the lock)."""
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        family.access_token, family.refresh_token = access, refresh
        self._access[access] = _Access(family, self.clock() + self.access_ttl_seconds)
        self._refresh[refresh] = _Refresh(family)
        self.stats["tokens_issued"] += 1
        return {
            "access_token": access,
            "token_type": "bearer",
            "expires_in": self.access_ttl_seconds,
            "refresh_token": refresh,
            "scope": _scope_string(client, family.scopes),
            "id_token": secrets.token_urlsafe(24),
        }

    # -- revoke -------------------------------------------------------------------------------

    async def _revoke(self, request: Request) -> Response:
        values = dict(request.query_params)
        if request.method == "POST":
            try:
                values.update(await _form(request))
            except _OAuthError as exc:
                return exc.response()
        token = values.get("token") or values.get("access_token")
        if not token:
            return _OAuthError("invalid_request", "Missing token").response()
        with self._lock:
            record = self._access.get(token) or self._refresh.get(token)
            if record is not None and not record.family.revoked:
                record.family.revoked = True
                self.stats["tokens_revoked"] += 1
        # RFC 7009: unknown tokens are answered 200 too.
        return JSONResponse({}, headers=_NO_STORE)

    # -- helpers ------------------------------------------------------------------------------

    def _personal_grant(self, token: str) -> Grant | None:
        if not (self.personal_tokens and token.startswith(PERSONAL_TOKEN_PREFIX)):
            return None
        suffix = token[len(PERSONAL_TOKEN_PREFIX) :]
        if not suffix.isdigit() or str(int(suffix)) != suffix or int(suffix) >= self.user_count:
            return None
        index = int(suffix)
        with self._lock:
            if index in self._revoked_personal_users:
                raise AuthError("Token revoked")
        return Grant(index, frozenset(ALL_SCOPES), PERSONAL_TOKEN_CLIENT_ID, token_key(token))


def _scope_string(client: ClientApp, scopes: frozenset[str]) -> str:
    prefix = EXTAPI_PREFIX if client.portal == "new" else ""
    return " ".join(prefix + s for s in ALL_SCOPES if s in scopes)


def _bad_request(error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=400)


def _redirect(uri: str, **params: str | None) -> RedirectResponse:
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(k, v) for k, v in params.items() if v is not None]
    return RedirectResponse(urlunsplit(parts._replace(query=urlencode(query))), status_code=302)


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


async def _form(request: Request) -> dict[str, str]:
    """Parse an `application/x-www-form-urlencoded` body (first value of each key)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if body and content_type != "application/x-www-form-urlencoded":
        raise _OAuthError("invalid_request", "Expected application/x-www-form-urlencoded")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError as exc:
        raise _OAuthError("invalid_request", "Body is not UTF-8") from exc
    form: dict[str, str] = {}
    for key, value in pairs:
        form.setdefault(key, value)
    return form


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    """HTTP Basic client credentials (RFC 6749 §2.3.1: form-encoded, then base64)."""
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise _OAuthError("invalid_client", "Malformed Basic credentials", status=401) from exc
    user, sep, password = decoded.partition(":")
    if not sep:
        raise _OAuthError("invalid_client", "Malformed Basic credentials", status=401)
    return unquote_plus(user), unquote_plus(password)
