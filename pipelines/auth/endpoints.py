"""Talking to Oura's OAuth endpoints: transport rules, the new-portal fallback, requests.

Token values never reach logs or error messages: every error text passes through
`scrub()`, and urllib3/requests-oauthlib debug logs are filtered.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import requests
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from pipelines.core import config
from pipelines.core.errors import OuraEltError

NEW_PORTAL_TOKEN_URL = "https://moi.ouraring.com/oauth/v2/ext/oauth-token"
NEW_PORTAL_TOKEN_PATH = "/oauth/v2/ext/oauth-token"
NEW_PORTAL_REVOKE_PATH = "/oauth/v2/ext/oauth/revoke"
LEGACY_REVOKE_PATH = "/oauth/revoke"
PERSONAL_INFO_PATH = "/v2/usercollection/personal_info"

HTTP_TIMEOUT_SECONDS = 30.0
TOKEN_ATTEMPTS = 4
TOKEN_BACKOFF_SECONDS = 0.5  # first wait; doubles up to 8 s
_LOOPBACK_NAMES = {"localhost"}
_SECRET_PARAM = re.compile(
    r"((?:access_token|refresh_token|client_secret|code|token|id_token)=)[^&\s'\"]+", re.I
)


def is_loopback_host(host: str | None) -> bool:
    """True for `localhost`, 127.0.0.0/8 and ::1."""
    if not host:
        return False
    host = host.strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_safe_transport(url: str, what: str) -> None:
    """Refuse to send credentials over plain HTTP except to a loopback address."""
    parts = urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and is_loopback_host(parts.hostname)):
        return
    raise OuraEltError(
        f"refusing to use {what} {url!r}: credentials travel only over https "
        "(plain http is allowed for loopback addresses only)"
    )


@contextlib.contextmanager
def oauthlib_environment(*urls: str) -> Iterator[None]:
    """Relax oauthlib for the duration of one call.

    `OAUTHLIB_INSECURE_TRANSPORT` is set only if every URL is http on a loopback host
    (the sandbox); `OAUTHLIB_RELAX_TOKEN_SCOPE` because users may untick scopes and the
    new portal grants `extapi:` names, which oauthlib would otherwise raise on.
    """
    wanted = {"OAUTHLIB_RELAX_TOKEN_SCOPE": "1"}
    if all(urlsplit(u).scheme == "http" and is_loopback_host(urlsplit(u).hostname) for u in urls):
        wanted["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
    saved = {name: os.environ.get(name) for name in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def new_portal_token_url(token_url: str) -> str | None:
    """Where apps of Oura's new developer portal exchange tokens (api-reference §4.3).

    Oura's default token URL maps to `moi.ouraring.com`; any other base keeps its
    origin (the sandbox serves both). None if `token_url` already is that endpoint.
    """
    parts = urlsplit(token_url)
    if parts.path.rstrip("/") == NEW_PORTAL_TOKEN_PATH:
        return None
    if token_url.rstrip("/") == config.OURA_TOKEN_URL:
        return NEW_PORTAL_TOKEN_URL
    return urlunsplit((parts.scheme, parts.netloc, NEW_PORTAL_TOKEN_PATH, "", ""))


def revoke_url_for(token_url: str, configured_revoke_url: str) -> str:
    """The revoke endpoint matching the token endpoint that worked.

    The new portal's token endpoint pairs with its own revoke endpoint. A token
    endpoint other than Oura's with the revoke URL left at Oura's default (a
    forgotten `OURA_REVOKE_URL`) pairs with `/oauth/revoke` on the token endpoint's
    origin, so that tokens are never sent to a server that did not issue them.
    """
    parts = urlsplit(token_url)
    if parts.path.rstrip("/") == NEW_PORTAL_TOKEN_PATH:
        return urlunsplit((parts.scheme, parts.netloc, NEW_PORTAL_REVOKE_PATH, "", ""))
    if configured_revoke_url == config.OURA_REVOKE_URL and token_url != config.OURA_TOKEN_URL:
        return urlunsplit((parts.scheme, parts.netloc, LEGACY_REVOKE_PATH, "", ""))
    return configured_revoke_url


def is_new_portal_url(url: str) -> bool:
    """True for the new portal's `/oauth/v2/ext/...` endpoints."""
    return "/oauth/v2/ext/" in urlsplit(url).path


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Remove known secret values and `token=`-like query values from `text`."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return _SECRET_PARAM.sub(r"\1***", text)


class _ScrubFilter(logging.Filter):
    """Keeps tokens out of third-party debug logs (urllib3 logs request URLs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("requests_oauthlib") and record.levelno <= logging.DEBUG:
            return False  # it logs request bodies and token responses verbatim
        if record.args:
            record.msg, record.args = record.getMessage(), None
        record.msg = scrub(str(record.msg))
        return True


def install_log_scrubbing() -> None:
    """Filter the loggers that could print token values at debug level (idempotent)."""
    for name in ("urllib3.connectionpool", "requests_oauthlib.oauth2_session"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _ScrubFilter) for f in logger.filters):
            logger.addFilter(_ScrubFilter())


@dataclass(frozen=True)
class TokenAnswer:
    """A token endpoint's answer: HTTP status and parsed JSON body (None if not JSON)."""

    url: str
    status: int
    body: dict | None = field(repr=False)  # holds tokens

    @property
    def error(self) -> str | None:
        """The RFC 6749 `error` code, if the body has one."""
        return self.body.get("error") if self.body else None

    @property
    def description(self) -> str:
        """`error_description` (or `detail`), for messages."""
        if not self.body:
            return ""
        return str(self.body.get("error_description") or self.body.get("detail") or "")


class TransientTokenError(Exception):
    """Network trouble or a 5xx/429 from the token endpoint (worth retrying)."""


def post_token_request(
    url: str, form: dict[str, str], *, attempts: int = TOKEN_ATTEMPTS
) -> TokenAnswer:
    """POST a form to a token endpoint, retrying network errors, 5xx and 429 with backoff.

    Raises:
        OuraEltError: the endpoint stayed unreachable or failing (message has no secrets).
    """
    require_safe_transport(url, "token endpoint")
    install_log_scrubbing()

    def attempt() -> TokenAnswer:
        try:
            response = requests.post(
                url, data=form, headers={"Accept": "application/json"}, timeout=HTTP_TIMEOUT_SECONDS
            )
        except requests.RequestException as exc:
            raise TransientTokenError(type(exc).__name__) from None
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientTokenError(f"HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            body = None
        return TokenAnswer(url, response.status_code, body if isinstance(body, dict) else None)

    retrying = Retrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=TOKEN_BACKOFF_SECONDS, max=8),
        retry=retry_if_exception_type(TransientTokenError),
        reraise=True,
    )
    try:
        return retrying(attempt)
    except TransientTokenError as exc:
        raise OuraEltError(
            f"the token endpoint {url} is unavailable ({exc} after {attempts} attempts); "
            "try again later"
        ) from None


def fetch_user_id(api_base_url: str, access_token: str) -> str:
    """The Oura user id (`personal_info.id`, readable with any scope).

    Raises:
        OuraEltError: the request failed (message has no token).
    """
    url = api_base_url.rstrip("/") + PERSONAL_INFO_PATH
    require_safe_transport(url, "API base URL")
    install_log_scrubbing()
    try:
        response = requests.get(
            url, headers={"Authorization": f"Bearer {access_token}"}, timeout=HTTP_TIMEOUT_SECONDS
        )
    except requests.RequestException as exc:
        raise OuraEltError(f"cannot reach {url} ({type(exc).__name__})") from None
    if response.status_code != 200:
        raise OuraEltError(f"{url} answered HTTP {response.status_code}")
    try:
        user_id = response.json().get("id")
    except (ValueError, AttributeError):
        user_id = None
    if not isinstance(user_id, str) or not user_id:
        raise OuraEltError(f"{url} answered without a user id")
    return user_id


def revoke_token(revoke_url: str, access_token: str, client_id: str, client_secret: str) -> None:
    """Revoke a token: `GET ?access_token=` (legacy) or an RFC 7009 POST (new portal).

    Raises:
        OuraEltError: the server did not confirm (message has no token).
    """
    require_safe_transport(revoke_url, "revoke endpoint")
    install_log_scrubbing()
    try:
        if is_new_portal_url(revoke_url):
            form = {"token": access_token, "client_id": client_id, "client_secret": client_secret}
            response = requests.post(revoke_url, data=form, timeout=HTTP_TIMEOUT_SECONDS)
        else:
            response = requests.get(
                revoke_url, params={"access_token": access_token}, timeout=HTTP_TIMEOUT_SECONDS
            )
    except requests.RequestException as exc:
        raise OuraEltError(f"cannot reach {revoke_url} ({type(exc).__name__})") from None
    if response.status_code >= 300:
        raise OuraEltError(f"{revoke_url} answered HTTP {response.status_code}")
