"""The OAuth client (`pipelines/auth`) and `oura-elt auth` against a real sandbox OAuth server.

The tests act as the browser: they GET the authorize URL without following the
redirect, then GET the `Location` on the CLI's loopback callback server.
"""

from __future__ import annotations

import os
import queue
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import requests
from test_oauth import OAuthServer, oauth_test_app, running_oauth_server, serve_app

from oura_elt.commands.sandbox import sandbox_endpoints
from pipelines.auth import (
    NotLoggedIn,
    OAuthTokenProvider,
    ReloginRequired,
    StaticTokenProvider,
    TokenStore,
    list_profiles,
    login,
    logout,
    token_provider,
)
from pipelines.core.config import Endpoints
from pipelines.core.errors import OuraEltError, UsageError
from sandbox.application import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET
from sandbox.oauth import (
    NEW_PORTAL_CLIENT_ID,
    NEW_PORTAL_CLIENT_SECRET,
    AuthError,
    ClientApp,
    OAuthProvider,
)

LEGACY = (SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET)
NEW = (NEW_PORTAL_CLIENT_ID, NEW_PORTAL_CLIENT_SECRET)
PROJECT_ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- fixtures


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def callback_uri() -> str:
    return f"http://127.0.0.1:{free_port()}/callback/"


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "oura-elt-home"
    monkeypatch.setenv("OURA_ELT_HOME", str(path))
    for name in (
        "OURA_ACCESS_TOKEN",
        "OURA_PROFILE",
        "OURA_REDIRECT_URI",
        "OURA_CLIENT_ID",
        "OURA_CLIENT_SECRET",
    ):
        monkeypatch.delenv(name, raising=False)
    return path


def sandbox_clients(callback_uri: str) -> list[ClientApp]:
    return [
        ClientApp(*LEGACY, redirect_uris=(callback_uri,), portal="legacy"),
        ClientApp(*NEW, redirect_uris=(callback_uri,), portal="new"),
    ]


@pytest.fixture
def server(callback_uri, home) -> Iterator[OAuthServer]:
    with running_oauth_server(clients=sandbox_clients(callback_uri)) as srv:
        yield srv


def endpoints_for(srv: OAuthServer, client=LEGACY) -> Endpoints:
    return replace(sandbox_endpoints(srv.base_url), client_id=client[0], client_secret=client[1])


def cli_env(srv: OAuthServer, home: Path, client=LEGACY) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OURA_")}
    env.update(
        OURA_ELT_HOME=str(home),
        OURA_API_BASE_URL=srv.base_url,
        OURA_AUTHORIZE_URL=srv.url("/oauth/authorize"),
        OURA_TOKEN_URL=srv.url("/oauth/token"),
        OURA_REVOKE_URL=srv.url("/oauth/revoke"),
        OURA_CLIENT_ID=client[0],
        OURA_CLIENT_SECRET=client[1],
        PYTHONUNBUFFERED="1",
    )
    return env


def act_as_browser(
    authorize_url: str, extra: dict | None = None, tamper: Callable[[str], str] | None = None
) -> requests.Response:
    """Consent (the sandbox consents automatically) and deliver the redirect to the callback."""
    if extra:
        parts = urlsplit(authorize_url)
        authorize_url = urlunsplit(parts._replace(query=parts.query + "&" + urlencode(extra)))
    consent = requests.get(authorize_url, allow_redirects=False, timeout=10)
    assert consent.status_code == 302, consent.text
    location = consent.headers["location"]
    if tamper:
        location = tamper(location)
    return requests.get(location, timeout=30)


def browser_login(
    srv: OAuthServer,
    callback_uri: str,
    profile: str = "default",
    client=LEGACY,
    scopes: str | None = None,
    extra: dict | None = None,
    tamper: Callable[[str], str] | None = None,
):
    """Run `login()` in a thread while this thread plays the browser.

    Returns (the record or the raised error, the callback page).
    """
    urls: queue.Queue[str] = queue.Queue()
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["result"] = login(
                profile,
                endpoints=endpoints_for(srv, client),
                redirect_uri=callback_uri,
                scopes=scopes,
                open_browser=False,
                timeout=20,
                show_url=urls.put,
            )
        except Exception as exc:  # handed to the test
            outcome["result"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    page = act_as_browser(urls.get(timeout=10), extra, tamper)
    thread.join(timeout=30)
    assert not thread.is_alive()
    return outcome["result"], page


@pytest.fixture
def logged_in(server, callback_uri):
    """Profile `default` logged in as sandbox user 0 with every scope."""
    record, page = browser_login(server, callback_uri)
    assert page.status_code == 200, page.text
    return record


def make_expired(profile: str = "default") -> None:
    """Make the saved access token look expired to the client."""
    store = TokenStore(profile)
    with store.lock():
        store.save(store.load().replace(expires_at=time.time() - 5))


def assert_valid_at_server(srv: OAuthServer, token: str) -> None:
    srv.provider.authenticate(f"Bearer {token}")  # raises AuthError if not


def run_cli(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "oura_elt.cli", *args],
        env=env, capture_output=True, text=True, timeout=timeout, cwd=PROJECT_ROOT,
    )  # fmt: skip


# --------------------------------------------------------------------------- login via the CLI


def test_cli_login_status_logout(server, callback_uri, home):
    env = cli_env(server, home)
    proc = subprocess.Popen(
        [sys.executable, "-m", "oura_elt.cli", "auth", "login", "--no-browser", "--profile",
         "alice",
         "--redirect-uri", callback_uri, "--timeout", "30", "--scopes", "daily heartrate personal"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=PROJECT_ROOT,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True)
    reader.start()
    url = lines.get(timeout=30).rstrip("\n")
    assert url.startswith(server.url("/oauth/authorize?"))  # the URL alone on its own line
    query = dict(parse_qsl(urlsplit(url).query))
    assert query["client_id"] == SANDBOX_CLIENT_ID and query["redirect_uri"] == callback_uri
    assert query["scope"] == "daily heartrate personal" and len(query["state"]) >= 20
    page = act_as_browser(url)
    assert page.status_code == 200 and "Logged in" in page.text
    proc.wait(timeout=30)
    reader.join(timeout=10)
    stdout = url + "\n" + "".join(lines.queue)
    stderr = proc.stderr.read()
    assert proc.returncode == 0, stderr
    assert "Logged in profile 'alice' as user user-0" in stdout

    store = TokenStore("alice")
    record = store.load()
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.dir.stat().st_mode) == 0o700
    assert record.user_id == "user-0" and record.scopes == ("daily", "heartrate", "personal")
    assert record.token_url == server.url("/oauth/token") and record.client_id == SANDBOX_CLIENT_ID
    assert_valid_at_server(server, record.access_token)
    secrets = [record.access_token, record.refresh_token, SANDBOX_CLIENT_SECRET]
    for secret in secrets:
        assert secret not in stdout and secret not in stderr

    status = run_cli("auth", "status", "--profile", "alice", env=env)
    assert status.returncode == 0, status.stderr
    assert "daily heartrate personal" in status.stdout and "expires in 23 h 59 min" in status.stdout
    assert "user-0" in status.stdout and server.url("/oauth/token") in status.stdout
    for secret in secrets:
        assert secret not in status.stdout + status.stderr

    out = run_cli("auth", "logout", "--profile", "alice", env=env)
    assert out.returncode == 0, out.stderr
    assert "Revoked" in out.stdout
    with pytest.raises(AuthError) as exc:
        server.provider.authenticate(f"Bearer {record.access_token}")
    assert exc.value.detail == "Token revoked"
    assert not store.path.exists() and not store.lock_path.exists() and not store.dir.exists()
    for secret in secrets:
        assert secret not in out.stdout + out.stderr

    missing = run_cli("auth", "status", "--profile", "alice", env=env)
    assert missing.returncode == 1
    assert "run: oura-elt auth login --profile alice" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1


def test_cli_errors_are_one_clear_line(server, home, callback_uri):
    env = cli_env(server, home)
    del env["OURA_CLIENT_ID"]
    out = run_cli("auth", "login", "--no-browser", env=env)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        "error: OURA_CLIENT_ID is not set: set it to your Oura API application's client id "
        "(https://developer.ouraring.com/applications)"
    ]
    env = cli_env(server, home)
    out = run_cli(
        "auth", "login", "--no-browser", "--redirect-uri", "https://example.com/cb/", env=env
    )
    assert out.returncode == 2 and "is not a loopback address" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    out = run_cli("auth", "status", "--profile", "../etc", env=env)
    assert out.returncode == 2 and "invalid profile name" in out.stderr


# --------------------------------------------------------------------------- login edge cases


def test_state_mismatch_is_rejected_without_exchange(server, callback_uri):
    def forge_state(location: str) -> str:
        parts = urlsplit(location)
        query = dict(parse_qsl(parts.query))
        query["state"] = "forged"
        return urlunsplit(parts._replace(query=urlencode(query)))

    result, page = browser_login(server, callback_uri, tamper=forge_state)
    assert isinstance(result, OuraEltError) and "state does not match" in str(result)
    assert page.status_code == 400 and "state does not match" in page.text
    assert server.provider.stats["codes_issued"] == 1 and server.provider.stats["codes_used"] == 0
    assert not TokenStore("default").exists()


def test_denied_consent_is_a_clear_error(server, callback_uri):
    result, page = browser_login(server, callback_uri, extra={"sandbox_deny": "1"})
    assert isinstance(result, OuraEltError) and "access was denied" in str(result)
    assert page.status_code == 400
    assert not TokenStore("default").exists()


def test_unticked_scopes_are_recorded(server, callback_uri):
    record, _ = browser_login(
        server,
        callback_uri,
        scopes="daily heartrate stress",
        extra={"sandbox_deny_scopes": "stress"},
    )
    assert record.scopes == ("daily", "heartrate")
    assert OAuthTokenProvider("default").granted_scopes() == frozenset({"daily", "heartrate"})


def test_login_rejects_non_loopback_redirect_uris(server):
    for uri in (
        "http://example.com:8765/callback/",
        "https://localhost:8765/callback/",
        "http://10.0.0.1/cb",
    ):
        with pytest.raises(UsageError, match="not a loopback address"):
            login(endpoints=endpoints_for(server), redirect_uri=uri, open_browser=False, timeout=1)


def test_login_refuses_plain_http_to_remote_hosts(server, callback_uri):
    endpoints = replace(endpoints_for(server), token_url="http://oura.example/oauth/token")
    with pytest.raises(OuraEltError, match="only over https"):
        login(endpoints=endpoints, redirect_uri=callback_uri, open_browser=False, timeout=1)


def test_login_times_out_clearly(server, callback_uri):
    with pytest.raises(OuraEltError, match="no answer from the browser within 1 s"):
        login(endpoints=endpoints_for(server), redirect_uri=callback_uri, open_browser=False,
              timeout=0.5 + 0.5, show_url=lambda url: None)  # fmt: skip


def test_new_portal_app_falls_back_to_the_new_token_endpoint(server, callback_uri):
    record, _ = browser_login(
        server, callback_uri, client=NEW, scopes="extapi:daily extapi:personal"
    )
    assert record.token_url == server.url("/oauth/v2/ext/oauth-token")
    assert record.revoke_url == server.url("/oauth/v2/ext/oauth/revoke")
    assert record.raw_scopes == ("extapi:personal", "extapi:daily")  # as the server said
    assert record.scopes == ("daily", "personal") and record.user_id == "user-0"
    make_expired()
    provider = token_provider()
    token = provider.access_token()
    assert token != record.access_token and server.provider.stats["refreshes_ok"] == 1
    assert TokenStore("default").load().token_url == server.url("/oauth/v2/ext/oauth-token")
    result = logout()
    assert result.revoked and result.deleted
    with pytest.raises(AuthError):
        assert_valid_at_server(server, token)


# --------------------------------------------------------------------------- refresh


def test_proactive_refresh_persists_rotated_tokens_before_returning(server, logged_in):
    offset = {"seconds": 0.0}
    provider = OAuthTokenProvider("default", clock=lambda: time.time() + offset["seconds"])
    assert provider.access_token() == logged_in.access_token
    assert server.provider.stats["refreshes_ok"] == 0
    offset["seconds"] = 86400 - 60  # within the 120 s skew of expiry
    fresh = provider.access_token()
    offset["seconds"] = 0
    assert fresh != logged_in.access_token
    saved = TokenStore("default").load()
    assert saved.access_token == fresh and saved.refresh_token != logged_in.refresh_token
    assert saved.refreshed_at is not None
    assert server.provider.stats["refreshes_ok"] == 1
    assert_valid_at_server(server, fresh)
    # The persisted refresh token is the live one: a new process-like provider can refresh with it.
    again = OAuthTokenProvider("default").refresh_after_unauthorized(fresh)
    assert again != fresh and server.provider.stats["refresh_reuse"] == 0


def test_refresh_after_401_and_stale_callers_reuse_the_new_token(server, logged_in):
    provider = token_provider()
    old = provider.access_token()
    server.provider.expire_access_tokens()
    with pytest.raises(AuthError, match="Token expired"):
        assert_valid_at_server(server, old)
    new = provider.refresh_after_unauthorized(old)
    assert new != old and TokenStore("default").load().access_token == new
    assert_valid_at_server(server, new)
    # Another caller that still holds the old token gets the new one without a second refresh.
    assert OAuthTokenProvider("default").refresh_after_unauthorized(old) == new
    assert provider.refresh_after_unauthorized(old) == new
    assert server.provider.stats["refreshes_ok"] == 1


def test_threads_refresh_once(server, logged_in):
    make_expired()
    providers = [OAuthTokenProvider("default") for _ in range(3)]
    results: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def worker(index: int) -> None:
        start.wait()
        try:
            results.append(providers[index % 3].access_token())
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors and len(set(results)) == 1 and len(results) == 8
    assert (
        server.provider.stats["refreshes_ok"] == 1 and server.provider.stats["refresh_reuse"] == 0
    )
    assert_valid_at_server(server, results[0])


RACER = """
import sys, time
from pathlib import Path
from pipelines.auth import token_provider
provider = token_provider("default")
print("ready", flush=True)
go = Path(sys.argv[1])
while not go.exists():
    time.sleep(0.001)
print(provider.access_token(), flush=True)
"""


def test_two_processes_refresh_once(server, logged_in, home, tmp_path):
    make_expired()
    go = tmp_path / "go"
    env = cli_env(server, home)
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(go)],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for _ in range(2)
    ]
    for racer in racers:
        assert racer.stdout.readline().strip() == "ready"
    go.touch()
    outputs = [racer.communicate(timeout=60) for racer in racers]
    for racer, (_, stderr) in zip(racers, outputs, strict=True):
        assert racer.returncode == 0, stderr
    tokens = {stdout.strip() for stdout, _ in outputs}
    assert len(tokens) == 1
    token = tokens.pop()
    assert token != logged_in.access_token
    assert (
        server.provider.stats["refreshes_ok"] == 1 and server.provider.stats["refresh_reuse"] == 0
    )
    assert TokenStore("default").load().access_token == token
    assert_valid_at_server(server, token)


def test_burned_refresh_token_needs_relogin(server, logged_in, home):
    OAuthTokenProvider("default").refresh_after_unauthorized(logged_in.access_token)  # rotates
    store = TokenStore("default")
    with store.lock():
        store.save(logged_in.replace(expires_at=time.time() - 5))  # an old copy comes back
    provider = OAuthTokenProvider("default")
    with pytest.raises(ReloginRequired) as exc:
        provider.access_token()
    assert str(exc.value) == (
        "the saved login for profile 'default' is no longer valid (refresh token rejected); "
        "run: oura-elt auth login --profile default"
    )
    assert server.provider.stats["refresh_reuse"] == 1
    assert store.load().relogin_required
    # Never retried with the same refresh token.
    with pytest.raises(ReloginRequired):
        OAuthTokenProvider("default").refresh_after_unauthorized(logged_in.access_token)
    assert server.provider.stats["refresh_reuse"] == 1
    status = run_cli("auth", "status", env=cli_env(server, home))
    assert status.returncode == 1 and "refresh token rejected" in status.stderr


class FlakyTokenEndpoint:
    """ASGI wrapper: the next POSTs to /oauth/token follow `plan` ("503" or "lose_response")."""

    def __init__(self, app, plan: list[str]) -> None:
        self.app, self.plan = app, plan

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"] == "/oauth/token" and self.plan:
            action = self.plan.pop(0)
            if action == "lose_response":  # the server acts, the answer never arrives intact

                async def swallow(message) -> None:
                    pass

                await self.app(scope, receive, swallow)
            status = 502 if action == "lose_response" else 503
            headers = [(b"content-type", b"text/plain")]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": b"upstream trouble"})
            return
        await self.app(scope, receive, send)


@pytest.fixture
def flaky_server(callback_uri, home) -> Iterator[tuple[OAuthServer, list[str]]]:
    provider = OAuthProvider(user_count=2, clients=sandbox_clients(callback_uri))
    plan: list[str] = []
    with serve_app(FlakyTokenEndpoint(oauth_test_app(provider), plan)) as base_url:
        yield OAuthServer(provider, base_url), plan


def test_token_endpoint_5xx_is_retried(flaky_server, callback_uri):
    srv, plan = flaky_server
    record, _ = browser_login(srv, callback_uri)
    make_expired()
    plan.extend(["503", "503"])
    token = token_provider().access_token()
    assert token != record.access_token and not plan
    assert srv.provider.stats["refreshes_ok"] == 1
    assert_valid_at_server(srv, token)


def test_lost_refresh_response_ends_in_relogin_not_a_loop(flaky_server, callback_uri):
    srv, plan = flaky_server
    browser_login(srv, callback_uri)
    make_expired()
    plan.append("lose_response")
    with pytest.raises(ReloginRequired):
        token_provider().access_token()
    assert srv.provider.stats["refreshes_ok"] == 1 and srv.provider.stats["refresh_reuse"] == 1


# --------------------------------------------------------------------------- providers and store


def test_static_token_from_environment(server, monkeypatch):
    monkeypatch.setenv("OURA_ACCESS_TOKEN", "sandbox-pat-1")
    provider = token_provider()
    assert isinstance(provider, StaticTokenProvider)
    token = provider.access_token()
    resp = requests.get(server.url("/v2/usercollection/personal_info"),
                        headers={"Authorization": f"Bearer {token}"}, timeout=10)  # fmt: skip
    assert resp.json()["id"] == "user-1"
    assert provider.granted_scopes() is None and provider.user_id() is None
    assert "sandbox-pat-1" not in repr(provider)
    with pytest.raises(OuraEltError, match="OURA_ACCESS_TOKEN"):
        provider.refresh_after_unauthorized(token)


def test_missing_or_invalid_profile(home):
    with pytest.raises(NotLoggedIn) as exc:
        token_provider("nobody")
    assert (
        str(exc.value)
        == "no saved login for profile 'nobody'; run: oura-elt auth login --profile nobody"
    )
    for bad in ("../x", "", "a b", "x" * 65):
        with pytest.raises(UsageError, match="invalid profile name"):
            TokenStore(bad)


def test_profiles_are_listed_and_endpoints_checked(server, callback_uri):
    browser_login(server, callback_uri, profile="bob")
    browser_login(server, callback_uri, profile="carol.2", extra={"sandbox_user": "1"})
    assert list_profiles() == ["bob", "carol.2"]
    assert OAuthTokenProvider("carol.2").user_id() == "user-1"
    assert token_provider("bob", endpoints=endpoints_for(server)).user_id() == "user-0"
    localhost = sandbox_endpoints(server.base_url.replace("127.0.0.1", "localhost"))
    assert token_provider("bob", endpoints=localhost).user_id() == "user-0"
    with pytest.raises(OuraEltError, match="logged in against"):
        token_provider("bob", endpoints=Endpoints.from_env())  # the real Oura API


def test_reprs_show_no_secrets(logged_in):
    provider = OAuthTokenProvider("default")
    text = repr(logged_in) + str(logged_in) + repr(provider) + repr(TokenStore("default"))
    for secret in (logged_in.access_token, logged_in.refresh_token, SANDBOX_CLIENT_SECRET):
        assert secret not in text
    assert "default" in text


def test_unreadable_token_file_is_a_clear_error_and_login_repairs_it(
    server, callback_uri, logged_in
):
    TokenStore("default").path.write_text("{not json")
    with pytest.raises(OuraEltError, match="unreadable"):
        token_provider()
    record, _ = browser_login(server, callback_uri)
    assert token_provider().access_token() == record.access_token


def test_logout_deletes_even_when_revoke_fails(callback_uri, home):
    with running_oauth_server(clients=sandbox_clients(callback_uri)) as srv:
        record, _ = browser_login(srv, callback_uri)
    result = logout()  # the server is gone
    assert not result.revoked and result.deleted
    assert (
        "cannot reach" in result.revoke_problem and record.access_token not in result.revoke_problem
    )
    assert not TokenStore("default").exists()


def test_scope_helpers():
    from pipelines.auth import missing_scope, normalize_scopes

    assert normalize_scopes("extapi:daily heartrate,extapi:spo2") == frozenset(
        {"daily", "heartrate", "spo2"}
    )
    assert missing_scope("Token is not authorized access stress scope.") == "stress"
    assert (
        missing_scope("Token is not authorized access extapi:heart_health scope.") == "heart_health"
    )
    assert missing_scope("Token expired") is None and missing_scope([{"msg": "x"}]) is None


def test_token_and_revoke_endpoint_pairing():
    from pipelines.auth.endpoints import new_portal_token_url, revoke_url_for
    from pipelines.core import config

    assert new_portal_token_url(config.OURA_TOKEN_URL) == (
        "https://moi.ouraring.com/oauth/v2/ext/oauth-token"
    )
    assert new_portal_token_url("http://127.0.0.1:9/oauth/token") == (
        "http://127.0.0.1:9/oauth/v2/ext/oauth-token"
    )
    assert new_portal_token_url("http://127.0.0.1:9/oauth/v2/ext/oauth-token") is None
    assert revoke_url_for(config.OURA_TOKEN_URL, config.OURA_REVOKE_URL) == config.OURA_REVOKE_URL
    assert revoke_url_for("https://moi.ouraring.com/oauth/v2/ext/oauth-token", "x") == (
        "https://moi.ouraring.com/oauth/v2/ext/oauth/revoke"
    )
    # A sandbox token never goes to Oura's revoke endpoint because OURA_REVOKE_URL was forgotten.
    assert revoke_url_for("http://127.0.0.1:9/oauth/token", config.OURA_REVOKE_URL) == (
        "http://127.0.0.1:9/oauth/revoke"
    )


def test_providers_copy_and_pickle_without_tokens(logged_in):
    import copy
    import pickle

    provider = OAuthTokenProvider("default")
    assert copy.deepcopy(provider) is provider  # a handle on shared state, not a snapshot
    data = pickle.dumps(provider)
    for secret in (logged_in.access_token, logged_in.refresh_token, SANDBOX_CLIENT_SECRET):
        assert secret.encode() not in data
    assert pickle.loads(data).access_token() == logged_in.access_token
