"""The sandbox OAuth2 server (`sandbox/oauth.py`) over real HTTP on loopback.

`serve_app`, `oauth_test_app` and `OAuthServer` are reused by test_auth_client.py.
"""

from __future__ import annotations

import base64
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pipelines.core.config import DEFAULT_REDIRECT_URI
from sandbox.application import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET
from sandbox.oauth import (
    ALL_SCOPES,
    NEW_PORTAL_CLIENT_ID,
    NEW_PORTAL_CLIENT_SECRET,
    AuthError,
    ClientApp,
    OAuthProvider,
    default_clients,
)

# --------------------------------------------------------------------------- reusable fixture


@contextlib.contextmanager
def serve_app(app) -> Iterator[str]:
    """Serve an ASGI app with uvicorn in a thread on a free 127.0.0.1 port; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # No access log: the legacy revoke route carries the token in its query string.
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def oauth_test_app(provider: OAuthProvider) -> Starlette:
    """The provider's routes plus a `personal_info` route that uses `authenticate`."""

    async def personal_info(request: Request) -> JSONResponse:
        try:
            grant = provider.authenticate(request.headers.get("authorization"))
        except AuthError as exc:
            return exc.response()
        return JSONResponse({"id": f"user-{grant.user_index}", "email": None})

    return Starlette(
        routes=[*provider.routes(), Route("/v2/usercollection/personal_info", personal_info)]
    )


class FakeClock:
    """An adjustable clock for the provider."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class OAuthServer:
    provider: OAuthProvider
    base_url: str

    def url(self, path: str) -> str:
        return self.base_url + path


@contextlib.contextmanager
def running_oauth_server(**provider_kwargs) -> Iterator[OAuthServer]:
    """An `OAuthProvider(**provider_kwargs)` served over HTTP (default: 3 users)."""
    provider_kwargs.setdefault("user_count", 3)
    provider = OAuthProvider(**provider_kwargs)
    with serve_app(oauth_test_app(provider)) as base_url:
        yield OAuthServer(provider, base_url)


# --------------------------------------------------------------------------- helpers

REDIRECT = DEFAULT_REDIRECT_URI
LEGACY = (SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET)
NEW = (NEW_PORTAL_CLIENT_ID, NEW_PORTAL_CLIENT_SECRET)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server(clock) -> Iterator[OAuthServer]:
    with running_oauth_server(clock=clock, code_ttl_seconds=600, access_ttl_seconds=3600) as srv:
        yield srv


def authorize(srv: OAuthServer, client_id: str = SANDBOX_CLIENT_ID, **params) -> requests.Response:
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "state": "s-1",
    }
    query.update(params)
    query = {k: v for k, v in query.items() if v is not None}
    return requests.get(
        srv.url("/oauth/authorize"), params=query, allow_redirects=False, timeout=10
    )


def redirect_query(resp: requests.Response) -> dict[str, str]:
    assert resp.status_code == 302, resp.text
    location = resp.headers["location"]
    assert location.startswith(REDIRECT)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def get_code(srv: OAuthServer, client_id: str = SANDBOX_CLIENT_ID, **params) -> str:
    return redirect_query(authorize(srv, client_id, **params))["code"]


def token_request(
    srv: OAuthServer, form: dict, client=LEGACY, path: str = "/oauth/token", basic: bool = False
) -> requests.Response:
    form = dict(form)
    headers = {}
    if basic:
        raw = f"{client[0]}:{client[1]}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
    else:
        form.update(client_id=client[0], client_secret=client[1])
    return requests.post(srv.url(path), data=form, headers=headers, timeout=10)


def exchange(
    srv: OAuthServer, code: str, client=LEGACY, path: str = "/oauth/token", **extra
) -> requests.Response:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, **extra}
    return token_request(srv, form, client, path)


def refresh(
    srv: OAuthServer, refresh_token: str, client=LEGACY, path: str = "/oauth/token"
) -> requests.Response:
    return token_request(
        srv, {"grant_type": "refresh_token", "refresh_token": refresh_token}, client, path
    )


def personal_info(srv: OAuthServer, token: str) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"}
    return requests.get(srv.url("/v2/usercollection/personal_info"), headers=headers, timeout=10)


def tokens(srv: OAuthServer, **params) -> dict:
    resp = exchange(srv, get_code(srv, **params))
    assert resp.status_code == 200, resp.text
    return resp.json()


# --------------------------------------------------------------------------- authorize


def test_authorize_redirects_with_code_state_and_granted_scopes(server):
    query = redirect_query(authorize(server, scope="daily heartrate", state="xyz-123"))
    assert query["state"] == "xyz-123"
    assert query["scope"] == "daily heartrate"
    assert len(query["code"]) >= 32
    assert server.provider.stats["codes_issued"] == 1


def test_authorize_requires_exact_registered_redirect_uri(server):
    for wrong in (
        REDIRECT.rstrip("/"),  # no trailing slash
        REDIRECT.replace("8765", "8766"),
        REDIRECT + "extra",
        "http://evil.example/callback/",
    ):
        resp = authorize(server, redirect_uri=wrong)
        assert resp.status_code == 400, wrong
        assert "location" not in resp.headers
        assert resp.json()["error"] == "invalid_redirect_uri"
    # The 127.0.0.1 twin is registered too.
    twin = REDIRECT.replace("localhost", "127.0.0.1")
    resp = authorize(server, redirect_uri=twin)
    assert resp.status_code == 302 and resp.headers["location"].startswith(twin)


def test_authorize_unknown_client_is_400_without_redirect(server):
    resp = authorize(server, client_id="nobody")
    assert resp.status_code == 400 and "location" not in resp.headers


def test_authorize_errors_redirect_with_state(server):
    query = redirect_query(authorize(server, response_type="token"))
    assert query["error"] == "unsupported_response_type" and query["state"] == "s-1"
    query = redirect_query(authorize(server, scope="daily bogus"))
    assert query["error"] == "invalid_scope" and "code" not in query
    query = redirect_query(authorize(server, sandbox_deny="1"))
    assert query["error"] == "access_denied" and query["state"] == "s-1"


def test_omitted_scope_grants_all_and_user_can_untick(server):
    assert redirect_query(authorize(server))["scope"].split() == list(ALL_SCOPES)
    granted = tokens(server, scope="daily heartrate stress", sandbox_deny_scopes="stress,heartrate")
    assert granted["scope"] == "daily"
    grant = server.provider.authenticate(f"Bearer {granted['access_token']}")
    assert grant.scopes == frozenset({"daily"})


def test_sandbox_user_picks_the_consenting_user(server):
    granted = tokens(server, sandbox_user="2")
    assert personal_info(server, granted["access_token"]).json()["id"] == "user-2"
    assert authorize(server, sandbox_user="3").status_code == 400  # only 0..2


def test_browser_gets_a_consent_page(server):
    query = {"response_type": "code", "client_id": SANDBOX_CLIENT_ID, "redirect_uri": REDIRECT}
    resp = requests.get(
        server.url("/oauth/authorize"), params=query, headers={"Accept": "text/html"},
        allow_redirects=False, timeout=10,
    )  # fmt: skip
    assert resp.status_code == 200 and "sandbox_user=2" in resp.text
    assert server.provider.stats["codes_issued"] == 0


# --------------------------------------------------------------------------- code exchange


def test_code_exchange_returns_oura_shaped_tokens(server):
    body = tokens(server, scope="daily")
    assert set(body) == {
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
        "scope",
        "id_token",
    }
    assert (
        body["token_type"] == "bearer" and body["expires_in"] == 3600 and body["scope"] == "daily"
    )
    assert personal_info(server, body["access_token"]).json() == {"id": "user-0", "email": None}


def test_code_is_single_use(server):
    code = get_code(server)
    assert exchange(server, code).status_code == 200
    again = exchange(server, code)
    assert again.status_code == 400
    assert again.json() == {
        "error": "invalid_grant",
        "error_description": "Authorization code already used",
    }
    assert server.provider.stats["codes_used"] == 1 and server.provider.stats["codes_rejected"] == 1


def test_code_expires(server, clock):
    code = get_code(server)
    clock.now += 601
    resp = exchange(server, code)
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"
    assert "expired" in resp.json()["error_description"]


def test_code_exchange_needs_the_same_redirect_uri(server):
    resp = exchange(
        server, get_code(server), redirect_uri=REDIRECT.replace("localhost", "127.0.0.1")
    )
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"


def test_wrong_client_secret_is_invalid_client(server):
    resp = exchange(server, get_code(server), client=(SANDBOX_CLIENT_ID, "wrong"))
    assert resp.status_code == 401 and resp.json()["error"] == "invalid_client"
    unknown = exchange(server, "whatever", client=("nobody", "x"))
    assert unknown.status_code == 401 and unknown.json()["error"] == "invalid_client"


def test_client_credentials_in_basic_auth(server):
    form = {"grant_type": "authorization_code", "code": get_code(server), "redirect_uri": REDIRECT}
    resp = token_request(server, form, basic=True)
    assert resp.status_code == 200 and resp.json()["access_token"]


def test_unsupported_grant_type(server):
    resp = token_request(server, {"grant_type": "password"})
    assert resp.status_code == 400 and resp.json()["error"] == "unsupported_grant_type"


# --------------------------------------------------------------------------- refresh


def test_refresh_rotates_and_reuse_is_invalid_grant(server):
    first = tokens(server)
    second = refresh(server, first["refresh_token"])
    assert second.status_code == 200, second.text
    second = second.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["scope"] == first["scope"]
    # The old refresh token is burned; the new access token replaced the old one.
    reuse = refresh(server, first["refresh_token"])
    assert reuse.status_code == 400
    assert reuse.json() == {
        "error": "invalid_grant",
        "error_description": "Refresh token already used",
    }
    with pytest.raises(AuthError) as exc:
        server.provider.authenticate(f"Bearer {first['access_token']}")
    assert exc.value.status == 401
    assert personal_info(server, second["access_token"]).status_code == 200
    third = refresh(server, second["refresh_token"])
    assert third.status_code == 200
    assert (
        server.provider.stats["refreshes_ok"] == 2 and server.provider.stats["refresh_reuse"] == 1
    )


def test_refresh_token_of_another_client_is_rejected(server):
    first = tokens(server)
    resp = refresh(server, first["refresh_token"], client=NEW, path="/oauth/v2/ext/oauth-token")
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"


# --------------------------------------------------------------------------- new portal


def test_new_portal_app_uses_its_own_token_endpoint_and_extapi_scopes(server):
    code = get_code(server, NEW_PORTAL_CLIENT_ID, scope="extapi:daily heartrate")
    legacy = exchange(server, code, client=NEW)
    assert legacy.status_code == 400
    assert legacy.json() == {"error": "invalid_request", "error_description": "Invalid request"}
    # The legacy endpoint did not consume the code.
    resp = exchange(server, code, client=NEW, path="/oauth/v2/ext/oauth-token")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["scope"] == "extapi:daily extapi:heartrate"
    grant = server.provider.authenticate(f"Bearer {body['access_token']}")
    assert (
        grant.scopes == frozenset({"daily", "heartrate"})
        and grant.client_id == NEW_PORTAL_CLIENT_ID
    )
    assert refresh(server, body["refresh_token"], client=NEW).json()["error"] == "invalid_request"
    rotated = refresh(server, body["refresh_token"], client=NEW, path="/oauth/v2/ext/oauth-token")
    assert rotated.status_code == 200 and rotated.json()["scope"].startswith("extapi:")


def test_new_portal_redirect_carries_extapi_scopes(server):
    query = redirect_query(authorize(server, NEW_PORTAL_CLIENT_ID, scope="daily"))
    assert query["scope"] == "extapi:daily"


def test_legacy_app_is_unknown_to_the_new_endpoint(server):
    resp = exchange(server, get_code(server), path="/oauth/v2/ext/oauth-token")
    assert resp.status_code == 401 and resp.json()["error"] == "invalid_client"


# --------------------------------------------------------------------------- revoke


@pytest.mark.parametrize("how", ["get_access", "post_access", "post_refresh", "new_portal_path"])
def test_revoke_kills_access_and_refresh_tokens(server, how):
    body = tokens(server)
    access, refresh_token = body["access_token"], body["refresh_token"]
    if how == "get_access":
        resp = requests.get(
            server.url("/oauth/revoke"), params={"access_token": access}, timeout=10
        )
    elif how == "post_access":
        resp = requests.post(server.url("/oauth/revoke"), data={"token": access}, timeout=10)
    elif how == "post_refresh":
        resp = requests.post(server.url("/oauth/revoke"), data={"token": refresh_token}, timeout=10)
    else:
        resp = requests.post(
            server.url("/oauth/v2/ext/oauth/revoke"), data={"token": access}, timeout=10
        )
    assert resp.status_code == 200
    rejected = personal_info(server, access)
    assert rejected.status_code == 401 and rejected.json() == {"detail": "Token revoked"}
    assert refresh(server, refresh_token).json()["error"] == "invalid_grant"
    assert server.provider.stats["tokens_revoked"] == 1


def test_revoke_without_token_is_400(server):
    assert requests.get(server.url("/oauth/revoke"), timeout=10).status_code == 400


# --------------------------------------------------------------------------- authenticate


def test_expired_access_tokens_are_rejected(server, clock):
    body = tokens(server)
    clock.now += 3599
    assert personal_info(server, body["access_token"]).status_code == 200
    clock.now += 1
    resp = personal_info(server, body["access_token"])
    assert resp.status_code == 401 and resp.json() == {"detail": "Token expired"}
    assert resp.headers["www-authenticate"] == "Bearer"


def test_admin_expire_access_tokens(server):
    body = tokens(server)
    assert server.provider.expire_access_tokens() == 1
    assert personal_info(server, body["access_token"]).json() == {"detail": "Token expired"}
    renewed = refresh(server, body["refresh_token"]).json()
    assert personal_info(server, renewed["access_token"]).status_code == 200


@pytest.mark.parametrize(
    "header", [None, "", "Bearer", "Bearer ", "Basic abc", "Bearer a b", "Bearer unknown"]
)
def test_bad_authorization_headers(header):
    with pytest.raises(AuthError) as exc:
        OAuthProvider(user_count=1).authenticate(header)
    assert exc.value.status == 401 and exc.value.detail == "Unauthorized"


def test_personal_access_tokens(server):
    grant = server.provider.authenticate("Bearer sandbox-pat-1")
    assert grant.user_index == 1 and grant.scopes == frozenset(ALL_SCOPES)
    assert grant.token_key != "sandbox-pat-1" and len(grant.token_key) == 16
    with pytest.raises(AuthError):
        server.provider.authenticate("Bearer sandbox-pat-3")  # only 3 users
    server.provider.revoke_user(1)
    with pytest.raises(AuthError) as exc:
        server.provider.authenticate("Bearer sandbox-pat-1")
    assert exc.value.detail == "Token revoked"


def test_personal_tokens_can_be_switched_off():
    provider = OAuthProvider(user_count=1, personal_tokens=False)
    with pytest.raises(AuthError):
        provider.authenticate("Bearer sandbox-pat-0")


def test_revoke_user_revokes_their_oauth_tokens(server):
    mine = tokens(server, sandbox_user="1")
    other = tokens(server, sandbox_user="0")
    server.provider.revoke_user(1)
    assert personal_info(server, mine["access_token"]).json() == {"detail": "Token revoked"}
    assert refresh(server, mine["refresh_token"]).json()["error"] == "invalid_grant"
    assert personal_info(server, other["access_token"]).status_code == 200


def test_default_clients_are_the_documented_apps():
    apps = {app.client_id: app for app in default_clients()}
    assert apps[SANDBOX_CLIENT_ID].portal == "legacy"
    assert apps[NEW_PORTAL_CLIENT_ID].portal == "new"
    assert DEFAULT_REDIRECT_URI in apps[SANDBOX_CLIENT_ID].redirect_uris
    assert SANDBOX_CLIENT_SECRET not in repr(apps[SANDBOX_CLIENT_ID])


def test_token_values_never_in_reprs(server):
    body = tokens(server)
    grant = server.provider.authenticate(f"Bearer {body['access_token']}")
    assert body["access_token"] not in repr(grant)
    custom = ClientApp("c", "s3cr3t-value", ("http://127.0.0.1:1/cb",))
    assert "s3cr3t-value" not in repr(custom)


def test_form_body_must_be_urlencoded(server):
    resp = requests.post(
        server.url("/oauth/token"), json={"grant_type": "refresh_token"}, timeout=10
    )
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_request"
