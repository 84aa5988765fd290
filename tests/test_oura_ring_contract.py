"""The published `oura-ring` client (hedgertronic, PyPI, pinned in the dev group) against
the sandbox: a client nobody here wrote, with its own argument formats.

Every public method of `OuraClient` is called over loopback against the real sandbox, in
its list form (with its defaults, and with an explicit window in the formats its
docstrings ask for: `YYYY-MM-DD`, `YYYY-MM-DDThh:mm:ss`, with or without an offset) and,
where it has one, its single-document form. The client turns datetimes into `str()` (a
space between date and time) and lets requests send `+` as `%2B`: the pydantic-style
parameters of the sandbox must take that. Each call must succeed and return exactly the
documents a plain paginated fetch with the same parameters returns. Then its OAuth
helpers (`OuraAuth`) run the authorization-code flow against the sandbox's OAuth server.

The only adaptation is where the client points: its module-level URLs (Oura's hosts) are
set to the sandbox for the test. Data calls act as sandbox user 1, the person on US
Pacific time.
"""

from __future__ import annotations

import inspect
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, parse_qsl, urlsplit

import oura_ring
import pytest
import requests
from oura_ring import OuraAuth, OuraClient
from oura_spec import spec

from sandbox.application import DEFAULT_REDIRECT_URI, SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET

PINNED = "1.0.1"
USER = 1
V2 = "/v2/usercollection"


@pytest.fixture
def sandbox_for_client(sandbox_factory, monkeypatch):
    """The test clock's world (120 days: every collection has documents for user 1), small
    pages so that every list paginates, and the client pointed at it. The client's
    defaults read the machine's clock: their windows may lie after the world's clock and
    come back empty, which the comparison with a raw fetch covers all the same."""
    sb = sandbox_factory(users=2, history_days=120, page_size=20, series_page_size=400)
    monkeypatch.setattr(oura_ring.client, "API_URL", sb.base_url)
    monkeypatch.setattr(oura_ring.auth, "AUTHORIZE_URL", sb.base_url + "/oauth/authorize")
    monkeypatch.setattr(oura_ring.auth, "TOKEN_URL", sb.base_url + "/oauth/token")
    monkeypatch.setattr(oura_ring.auth, "REVOKE_URL", sb.base_url + "/oauth/revoke")
    return sb


def log_in(sb, auth: OuraAuth, user: int = USER) -> dict:
    """The client's authorize URL, followed as the browser would (the sandbox consents),
    and its code exchanged by the client."""
    url = auth.authorize_url(redirect_uri=DEFAULT_REDIRECT_URI, state="contract-state")
    resp = requests.get(url, params={"sandbox_user": str(user)}, allow_redirects=False, timeout=10)
    assert resp.status_code == 302, resp.text
    callback = parse_qs(urlsplit(resp.headers["location"]).query)
    assert callback["state"] == ["contract-state"]
    return auth.exchange_code(callback["code"][0], redirect_uri=DEFAULT_REDIRECT_URI)


class Recorder:
    """Every response the client's session receives, in order."""

    def __init__(self, client: OuraClient) -> None:
        self.responses: list[requests.Response] = []
        client.session.hooks["response"].append(self._keep)

    def _keep(self, response, *args, **kwargs):
        self.responses.append(response)

    def mark(self) -> int:
        return len(self.responses)

    def since(self, mark: int) -> list[requests.Response]:
        return self.responses[mark:]


def raw_fetch(sb, token: str, path: str, params: dict) -> tuple[list[dict], int]:
    """The documents of `path` with `params`, following next_token (a plain client)."""
    rows, pages, params = [], 0, dict(params)
    while True:
        resp = requests.get(
            sb.base_url + path,
            params=params,
            timeout=30,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert resp.status_code == 200, (path, params, resp.text)
        body, pages = resp.json(), pages + 1
        rows += body["data"]
        if not body.get("next_token"):
            return rows, pages
        params["next_token"] = body["next_token"]


def public_methods() -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(func)
        for name, func in inspect.getmembers(OuraClient, inspect.isfunction)
        if not name.startswith("_") and name != "close"
    }


def argument_forms(signature: inspect.Signature, now: datetime, first_day) -> list[dict]:
    """The calls to make: defaults, and explicit windows in the client's documented formats."""
    names = set(signature.parameters)
    if "start_datetime" in names:
        naive = (now - timedelta(hours=20)).replace(tzinfo=None)
        return [
            {},
            {
                "start_datetime": naive.strftime("%Y-%m-%dT%H:%M:%S"),
                "end_datetime": (naive + timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M:%S"),
            },
            {
                "start_datetime": (now - timedelta(days=2)).isoformat(),  # "...+00:00"
                "end_datetime": (now - timedelta(hours=30)).astimezone().isoformat(),
            },
            {
                "start_datetime": (now - timedelta(days=2)).strftime("%Y-%m-%d"),  # bare dates
                "end_datetime": (now - timedelta(days=1)).strftime("%Y-%m-%d"),
            },
            {"latest": True},
        ]
    if "start_date" in names:  # the whole history, with room for every date quirk
        last_day = now.date() + timedelta(days=2)
        return [{}, {"start_date": first_day.isoformat(), "end_date": last_day.isoformat()}]
    return [{}]


def truth(world, path: str, params: dict) -> list[dict] | None:
    """What the world holds for an explicit window (None for the client's defaults)."""
    route = path.rsplit("/", 1)[1]
    if route == "ring_configuration":
        return world.ring_configurations(USER)
    if "start_datetime" in params and "end_datetime" in params:
        start, end = (datetime.fromisoformat(params[k]) for k in ("start_datetime", "end_datetime"))
        start, end = (t if t.tzinfo else t.replace(tzinfo=UTC) for t in (start, end))
        return list(world.series(USER, route, start, end + timedelta(microseconds=1)))
    first = world.users[USER].history_start
    if "start_date" in params and params["start_date"] < first.isoformat():
        docs, day = [], first
        while day <= world.local_today(USER):
            docs += world.documents(USER, route, day)
            day += timedelta(days=1)
        return docs
    return None


def test_the_pinned_client_is_the_published_one():
    assert oura_ring.__version__ == PINNED
    assert OuraClient.__module__ == "oura_ring.client"


def test_every_method_of_the_client_succeeds_and_paginates_to_a_raw_fetch(sandbox_for_client):
    sb = sandbox_for_client
    tokens = log_in(sb, OuraAuth(SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET))
    client = OuraClient(tokens["access_token"])
    recorder = Recorder(client)
    paths = spec()["paths"]
    now, first_day = sb.world.now, sb.world.users[USER].history_start - timedelta(days=2)
    methods = public_methods()
    assert len(methods) >= 19, sorted(methods)

    routes_called: dict[str, str] = {}
    outside_spec: dict[str, int] = {}
    multi_page = documents = checked_against_truth = 0
    for name, signature in sorted(methods.items()):
        for kwargs in argument_forms(signature, now, first_day):
            mark = recorder.mark()
            try:
                result = getattr(client, name)(**kwargs)
            except requests.HTTPError as exc:
                path = urlsplit(exc.request.url).path
                if path not in paths:
                    outside_spec[name] = exc.response.status_code
                    break
                raise AssertionError(f"{name}({kwargs}): {exc} {exc.response.text}") from exc
            sent = recorder.since(mark)
            assert sent and all(r.status_code == 200 for r in sent), (name, kwargs)
            path = urlsplit(sent[0].request.url).path
            assert path in paths, f"{name} called {path}, which spec 1.35 lacks"
            routes_called[name] = path
            first_params = dict(parse_qsl(urlsplit(sent[0].request.url).query))
            if path == f"{V2}/personal_info":
                assert (
                    result
                    == requests.get(
                        sb.base_url + path,
                        timeout=10,
                        headers={"Authorization": f"Bearer {tokens['access_token']}"},
                    ).json()
                )
                assert result["id"] == sb.world.users[USER].user_id
                continue
            rows, pages = raw_fetch(sb, tokens["access_token"], path, first_params)
            assert result == rows, f"{name}({kwargs}): the client's pages differ from a raw fetch"
            held = truth(sb.world, path, first_params) if "latest" not in kwargs else None
            if held is not None:

                def key(doc):
                    return doc.get("id") or doc["timestamp"]

                assert sorted(result, key=key) == sorted(held, key=key), f"{name}({kwargs}): truth"
                checked_against_truth += 1
            assert len(sent) == pages, f"{name}({kwargs}): the client stopped paginating early"
            page = (
                sb.state.settings.series_page_size
                if "datetime" in str(signature)
                else sb.state.settings.page_size
            )
            assert (len(sent) > 1) == (len(rows) > page), f"{name}({kwargs}): pages"
            multi_page += pages > 1
            documents += len(rows)
            if kwargs and "latest" not in kwargs:
                assert rows, f"{name}({kwargs}): an explicit window of this world holds data"
        if "document_id" in signature.parameters and name not in outside_spec:
            listed = getattr(client, name)(**argument_forms(signature, now, first_day)[-1])
            for doc in listed[:3]:
                mark = recorder.mark()
                single = getattr(client, name)(document_id=doc["id"])
                assert single == doc, name
                assert (
                    urlsplit(recorder.since(mark)[0].request.url).path
                    == f"{routes_called[name]}/{doc['id']}"
                )

    # Spec 1.35 has no route the client's methods miss, and the client no method outside
    # the spec. A method calling a route the spec lacks gets the sandbox's 404 (it serves
    # the spec's routes only, like Oura's FastAPI answers {"detail": "Not Found"}): this
    # check then names the method, to be judged against real data before serving it.
    assert outside_spec == {}, f"methods calling routes outside spec 1.35 (status): {outside_spec}"
    spec_lists = {p for p in paths if p.startswith(V2 + "/") and "{" not in p}
    assert set(routes_called.values()) == spec_lists
    assert multi_page >= 10 and documents > 3_000, (multi_page, documents)
    # Against the world: the 16 routes of documents in their whole-history window, and the
    # 2 time series in all 4 windows (the defaults included; `latest` is checked above).
    assert checked_against_truth == 16 + 2 * 4


def test_the_client_sends_datetimes_with_a_space_and_the_sandbox_takes_them(sandbox_for_client):
    sb = sandbox_for_client
    client = OuraClient(personal_access_token=f"sandbox-pat-{USER}")
    recorder = Recorder(client)
    now = sb.world.now
    start = (now - timedelta(hours=5)).replace(tzinfo=None)
    rows = client.get_heart_rate(
        start_datetime=start.isoformat(), end_datetime=(start + timedelta(hours=2)).isoformat()
    )
    sent = parse_qs(urlsplit(recorder.responses[0].request.url).query)
    assert sent["start_datetime"] == [str(start)] and " " in sent["start_datetime"][0]
    assert rows and rows == list(
        sb.world.series(
            USER,
            "heartrate",
            start.replace(tzinfo=UTC),
            start.replace(tzinfo=UTC) + timedelta(hours=2, microseconds=1),
        )
    )
    aware = client.get_ring_battery_level(
        start_datetime=(now - timedelta(hours=5)).isoformat(), end_datetime=now.isoformat()
    )
    query = urlsplit(recorder.responses[-1].request.url).query
    assert "%2B00%3A00" in query and "+" in query  # the offset's "+" escaped, the space a "+"
    assert aware


def test_the_oauth_helpers_work_against_the_sandbox_oauth_server(sandbox_for_client):
    sb = sandbox_for_client
    auth = OuraAuth(SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET)
    first = log_in(sb, auth)
    assert {"access_token", "refresh_token", "expires_in", "token_type"} <= set(first)
    client = OuraClient(first["access_token"])
    assert client.get_personal_info()["id"] == sb.world.users[USER].user_id

    second = auth.refresh_token(first["refresh_token"])
    assert second["refresh_token"] != first["refresh_token"]
    me = sb.world.users[USER].user_id
    assert OuraClient(second["access_token"]).get_personal_info()["id"] == me
    with pytest.raises(requests.HTTPError) as reused:
        auth.refresh_token(first["refresh_token"])
    assert reused.value.response.status_code == 400
    assert reused.value.response.json() == {
        "error": "invalid_grant",
        "error_description": "Refresh token already used",
    }
    with pytest.raises(requests.HTTPError) as old:
        client.get_daily_sleep()
    assert old.value.response.status_code == 401, "a refresh replaces the old access token"

    auth.revoke_token(second["access_token"])
    with pytest.raises(requests.HTTPError) as revoked:
        OuraClient(second["access_token"]).get_daily_sleep()
    assert revoked.value.response.status_code == 401
    with pytest.raises(requests.HTTPError) as after_revoke:
        auth.refresh_token(second["refresh_token"])
    assert after_revoke.value.response.status_code == 400
    stats = sb.state.oauth.stats
    assert stats["refresh_reuse"] == 1 and stats["tokens_revoked"] == 1


def test_a_wrong_secret_is_refused_and_a_code_works_once(sandbox_for_client):
    sb = sandbox_for_client
    url = OuraAuth(SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET).authorize_url(
        redirect_uri=DEFAULT_REDIRECT_URI
    )
    location = requests.get(url, allow_redirects=False, timeout=10).headers["location"]
    code = parse_qs(urlsplit(location).query)["code"][0]
    with pytest.raises(requests.HTTPError) as wrong:
        OuraAuth(SANDBOX_CLIENT_ID, "not-the-secret").exchange_code(code, DEFAULT_REDIRECT_URI)
    assert wrong.value.response.status_code == 401
    assert wrong.value.response.json()["error"] == "invalid_client"
    auth = OuraAuth(SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET)
    assert auth.exchange_code(code, DEFAULT_REDIRECT_URI)["access_token"]
    with pytest.raises(requests.HTTPError) as used:
        auth.exchange_code(code, DEFAULT_REDIRECT_URI)
    assert used.value.response.json() == {
        "error": "invalid_grant",
        "error_description": "Authorization code already used",
    }
    assert sb.state.oauth.stats["invalid_client"] == 1
    assert sb.state.oauth.stats["codes_rejected"] == 1
