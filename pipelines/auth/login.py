"""`oura-elt auth login`: the authorization-code flow with a loopback callback.

The authorize URL is built by requests-oauthlib (random `state`), a small HTTP
server on the redirect URI's loopback host/port/path receives the browser's
redirect, the `state` is checked, and the code is exchanged at once (client
credentials in the body). Tokens then go to the profile's token store.
"""

from __future__ import annotations

import http.server
import os
import queue
import secrets
import socket
import threading
import time
import webbrowser
from collections.abc import Callable, Iterable
from html import escape
from urllib.parse import parse_qsl, urlsplit

import requests
from oauthlib.oauth2.rfc6749.errors import OAuth2Error
from requests_oauthlib import OAuth2Session

from pipelines.auth.endpoints import (
    HTTP_TIMEOUT_SECONDS,
    fetch_user_id,
    install_log_scrubbing,
    is_loopback_host,
    new_portal_token_url,
    oauthlib_environment,
    require_safe_transport,
    revoke_url_for,
    scrub,
)
from pipelines.auth.scopes import normalize_scopes, split_scopes
from pipelines.auth.store import TokenRecord, TokenStore, resolve_profile
from pipelines.auth.tokens import expires_at_from
from pipelines.core.config import DEFAULT_REDIRECT_URI, Endpoints
from pipelines.core.errors import OuraEltError, UsageError

REDIRECT_URI_ENV = "OURA_REDIRECT_URI"
LOGIN_TIMEOUT_ENV = "OURA_LOGIN_TIMEOUT"
DEFAULT_LOGIN_TIMEOUT_SECONDS = 300.0


def login(
    profile: str | None = None,
    *,
    endpoints: Endpoints | None = None,
    redirect_uri: str | None = None,
    scopes: str | Iterable[str] | None = None,
    open_browser: bool = True,
    timeout: float | None = None,
    show_url: Callable[[str], None] | None = None,
    notify: Callable[[str], None] | None = None,
) -> TokenRecord:
    """Run the OAuth2 authorization-code flow and save the tokens to the profile.

    Args:
        profile: Profile to save into (default: `OURA_PROFILE` or `default`).
        endpoints: API/OAuth endpoints and app credentials (default: from the environment).
        redirect_uri: Registered loopback redirect URI (default: `OURA_REDIRECT_URI`,
            else `DEFAULT_REDIRECT_URI`).
        scopes: Scopes to request; None asks for every scope (Oura's default).
        open_browser: Open the authorize URL with `webbrowser`.
        timeout: Seconds to wait for the browser (default: `OURA_LOGIN_TIMEOUT` or 300).
        show_url: Receives the authorize URL (the CLI prints it on its own line).
        notify: Receives progress and warning lines.

    Returns:
        The saved record (its repr shows no secrets).

    Raises:
        OuraEltError: anything that stops the login, as one clear line.
    """
    name = resolve_profile(profile)
    endpoints = endpoints or Endpoints.from_env()
    notify = notify or (lambda line: None)
    client_id, client_secret = endpoints.app_credentials()
    redirect_uri = redirect_uri or os.environ.get(REDIRECT_URI_ENV) or DEFAULT_REDIRECT_URI
    check_redirect_uri(redirect_uri)
    _check_transport(endpoints)
    wait_seconds = _login_timeout(timeout)
    requested = list(split_scopes(scopes)) or None
    install_log_scrubbing()

    session = OAuth2Session(client_id, redirect_uri=redirect_uri, scope=requested)
    token, token_url, params = _authorize(
        session,
        endpoints,
        client_secret,
        name,
        redirect_uri=redirect_uri,
        show_url=show_url or notify,
        open_browser=open_browser,
        wait_seconds=wait_seconds,
        notify=notify,
    )
    raw_scopes = split_scopes(token.get("scope") or params.get("scope") or requested)
    record = _new_record(
        name, endpoints, (client_id, client_secret), token, token_url, raw_scopes, notify
    )
    _save(record, notify)
    return record


def _authorize(
    session: OAuth2Session,
    endpoints: Endpoints,
    client_secret: str,
    name: str,
    *,
    redirect_uri: str,
    show_url: Callable[[str], None],
    open_browser: bool,
    wait_seconds: float,
    notify: Callable[[str], None],
) -> tuple[dict, str, dict[str, str]]:
    """The browser's round trip: the authorize URL shown (and opened), the callback awaited,
    its code exchanged; the token, the token URL that issued it and the callback's query."""
    with _CallbackServer(redirect_uri) as callback:
        with oauthlib_environment(endpoints.authorize_url):
            url, state = session.authorization_url(endpoints.authorize_url)
        show_url(url)
        if open_browser and not webbrowser.open(url):
            notify("could not open a browser; open the URL above by hand")
        params = callback.wait(wait_seconds)
        try:
            code = _code_from_callback(params, state, name)
            token, token_url = _exchange(session, endpoints, code, client_secret, name)
        except OuraEltError as exc:
            callback.respond(False, str(exc))
            raise
        callback.respond(True, f"oura-elt: logged in (profile '{name}'). You can close this tab.")
    return token, token_url, params


def _new_record(
    name: str,
    endpoints: Endpoints,
    credentials: tuple[str, str],
    token: dict,
    token_url: str,
    raw_scopes: tuple[str, ...],
    notify: Callable[[str], None],
) -> TokenRecord:
    """The record of a login just obtained, with the user id it belongs to (when readable)."""
    obtained_at = time.time()
    access_token = token["access_token"]
    client_id, client_secret = credentials
    return TokenRecord(
        profile=name,
        access_token=access_token,
        refresh_token=token.get("refresh_token"),
        expires_at=expires_at_from(token.get("expires_in"), obtained_at),
        token_type=str(token.get("token_type") or "bearer"),
        scopes=tuple(sorted(normalize_scopes(raw_scopes))),
        raw_scopes=raw_scopes,
        token_url=token_url,
        revoke_url=revoke_url_for(token_url, endpoints.revoke_url),
        api_base_url=endpoints.api_base_url.rstrip("/"),
        client_id=client_id,
        client_secret=client_secret,
        user_id=_user_id(endpoints, access_token, notify),
        obtained_at=obtained_at,
    )


def _check_transport(endpoints: Endpoints) -> None:
    """Every URL the login talks to is HTTPS (or loopback): secrets never travel in clear."""
    for url, what in (
        (endpoints.authorize_url, "authorize URL"),
        (endpoints.token_url, "token endpoint"),
        (endpoints.api_base_url, "API base URL"),
    ):
        require_safe_transport(url, what)


def _user_id(endpoints: Endpoints, access_token: str, notify: Callable[[str], None]) -> str | None:
    """The Oura user id of a new login; None (with a warning) if it cannot be read now."""
    try:
        return fetch_user_id(endpoints.api_base_url, access_token)
    except OuraEltError as exc:
        notify(f"warning: logged in, but could not read the user id: {exc}")
        return None


def _save(record: TokenRecord, notify: Callable[[str], None]) -> None:
    """Store `record` in its profile, saying when the profile now belongs to another user."""
    name, user_id = record.profile, record.user_id
    store = TokenStore(name)
    with store.lock():
        try:
            previous = store.load()
        except OuraEltError:  # an unreadable old file is what a new login replaces
            previous = None
        store.save(record)
    if previous is not None and previous.user_id and user_id and previous.user_id != user_id:
        notify(
            f"note: profile '{name}' belonged to user {previous.user_id}; it is now user {user_id}"
        )


def check_redirect_uri(uri: str) -> tuple[str, int, str]:
    """Validate a loopback redirect URI; return (host, port, path).

    Raises:
        UsageError: not `http://<loopback host>:<port>/...`.
    """
    parts = urlsplit(uri)
    try:
        port = parts.port
    except ValueError:
        port = None
    if (
        parts.scheme != "http"
        or not is_loopback_host(parts.hostname)
        or parts.query
        or parts.fragment
    ):
        raise UsageError(
            f"redirect URI {uri!r} is not a loopback address: oura-elt receives the login on "
            "this machine, so use http://localhost:<port>/<path> or http://127.0.0.1:<port>/<path> "
            "(registered with your Oura app)"
        )
    return parts.hostname or "", port or 80, parts.path or "/"


def _login_timeout(timeout: float | None) -> float:
    if timeout is not None:
        return float(timeout)
    raw = os.environ.get(LOGIN_TIMEOUT_ENV)
    if not raw:
        return DEFAULT_LOGIN_TIMEOUT_SECONDS
    try:
        return float(raw)
    except ValueError:
        raise UsageError(f"{LOGIN_TIMEOUT_ENV}={raw!r} is not a number of seconds") from None


def _code_from_callback(params: dict[str, str], state: str, profile: str) -> str:
    again = f"run: oura-elt auth login --profile {profile}"
    returned_state = params.get("state", "")
    if not secrets.compare_digest(returned_state.encode(), state.encode()):
        raise OuraEltError(
            f"the login callback's state does not match the request (possible forged redirect); "
            f"nothing was exchanged; {again}"
        )
    if "error" in params:
        error = params["error"]
        description = params.get("error_description") or ""
        if error == "access_denied":
            raise OuraEltError(f"access was denied on Oura's consent page; {again}")
        reason = f"{error}: {description}" if description else error
        raise OuraEltError(f"Oura refused the authorization ({reason}); {again}")
    code = params.get("code")
    if not code:
        raise OuraEltError(f"the login callback carried no authorization code; {again}")
    return code


class _ServerError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def _exchange(
    session: OAuth2Session, endpoints: Endpoints, code: str, client_secret: str, profile: str
) -> tuple[dict, str]:
    """Exchange the code; retry once at the new portal's endpoint on `invalid_request`."""
    url = endpoints.token_url
    try:
        return _fetch_token(session, url, code, client_secret, profile), url
    except OAuth2Error as exc:
        fallback = new_portal_token_url(url)
        if exc.error != "invalid_request" or fallback is None:
            raise _exchange_error(exc, url, profile, client_secret) from None
    require_safe_transport(fallback, "token endpoint")
    try:
        return _fetch_token(session, fallback, code, client_secret, profile), fallback
    except OAuth2Error as exc:
        raise _exchange_error(exc, fallback, profile, client_secret) from None


def _fetch_token(
    session: OAuth2Session, url: str, code: str, client_secret: str, profile: str
) -> dict:
    raw_scope: list[str] = []

    def inspect_response(response: requests.Response) -> requests.Response:
        if response.status_code >= 500:
            raise _ServerError(response.status_code)
        try:
            scope = response.json().get("scope")
        except (ValueError, AttributeError):
            scope = None
        if isinstance(scope, str):
            raw_scope.append(scope)  # oauthlib turns it into an unordered list
        return response

    session.compliance_hook["access_token_response"] = {inspect_response}
    again = f"run: oura-elt auth login --profile {profile}"
    try:
        with oauthlib_environment(url):
            token = dict(
                session.fetch_token(
                    url,
                    code=code,
                    client_secret=client_secret,
                    include_client_id=True,
                    timeout=HTTP_TIMEOUT_SECONDS,
                )
            )
        if raw_scope:
            token["scope"] = raw_scope[0]
        return token
    except _ServerError as exc:
        raise OuraEltError(
            f"the token endpoint {url} answered HTTP {exc.status}; {again} later"
        ) from None
    except requests.RequestException as exc:
        raise OuraEltError(
            f"cannot reach the token endpoint {url} ({type(exc).__name__}); {again}"
        ) from None


def _exchange_error(exc: OAuth2Error, url: str, profile: str, client_secret: str) -> OuraEltError:
    again = f"run: oura-elt auth login --profile {profile}"
    if exc.error == "invalid_client":
        return OuraEltError(
            f"{url} rejected the app's credentials (invalid_client); check OURA_CLIENT_ID and "
            "OURA_CLIENT_SECRET"
        )
    if exc.error == "invalid_grant":
        return OuraEltError(
            f"{url} rejected the authorization code (invalid_grant: expired or already used); "
            f"{again}"
        )
    detail = scrub(
        f"{exc.error}: {exc.description}" if exc.description else str(exc.error), [client_secret]
    )
    return OuraEltError(f"{url} refused the code exchange ({detail}); {again}")


class _CallbackServer:
    """A one-shot HTTP server on the redirect URI that hands the callback's query to `wait()`.

    The browser's request is answered after the exchange (`respond()`), so the page
    says whether the login worked.
    """

    def __init__(self, redirect_uri: str) -> None:
        host, port, path = check_redirect_uri(redirect_uri)
        self._path = path.rstrip("/")
        self._answers: queue.Queue[dict[str, str]] = queue.Queue()
        self._results: queue.Queue[tuple[bool, str]] = queue.Queue()
        self._received = threading.Event()
        bind_host = "127.0.0.1" if host.lower() == "localhost" else host.strip("[]")
        server_class = _IPv6Server if ":" in bind_host else http.server.HTTPServer
        try:
            self._httpd = server_class((bind_host, port), self._handler_class())
        except OSError as exc:
            raise OuraEltError(
                f"cannot listen on {host}:{port} for the login callback ({exc.strerror or exc}); "
                "free that port or pass --redirect-uri with another registered loopback URI"
            ) from None
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="oura-login-callback", daemon=True
        )

    def __enter__(self) -> _CallbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._results.put((False, "oura-elt stopped waiting for this login."))
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def wait(self, timeout: float) -> dict[str, str]:
        """The first callback's query parameters.

        Raises:
            OuraEltError: nothing arrived within `timeout` seconds.
        """
        try:
            return self._answers.get(timeout=timeout)
        except queue.Empty:
            raise OuraEltError(
                f"no answer from the browser within {timeout:.0f} s; "
                "run `oura-elt auth login` again "
                f"(or raise {LOGIN_TIMEOUT_ENV})"
            ) from None

    def respond(self, ok: bool, message: str) -> None:
        """Tell the waiting browser how the login ended."""
        self._results.put((ok, message))

    def _handler_class(self) -> type[http.server.BaseHTTPRequestHandler]:
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (stdlib name)
                parts = urlsplit(self.path)
                if parts.path.rstrip("/") != outer._path or outer._received.is_set():
                    self.send_error(404)
                    return
                outer._received.set()
                outer._answers.put(dict(parse_qsl(parts.query, keep_blank_values=True)))
                try:
                    ok, message = outer._results.get(timeout=120)
                except queue.Empty:
                    ok, message = False, "oura-elt did not finish the login in time."
                title = "Logged in" if ok else "Login failed"
                body = (
                    f"<!doctype html><meta charset=utf-8><title>oura-elt: {title}</title>"
                    f"<h1>{title}</h1><p>{escape(message)}</p>"
                ).encode()
                self.send_response(200 if ok else 400)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass  # the request line carries the authorization code

        return Handler


class _IPv6Server(http.server.HTTPServer):
    address_family = socket.AF_INET6
