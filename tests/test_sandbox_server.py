"""The sandbox over real HTTP: contract with Oura's OpenAPI 1.35, date quirks,
pagination, errors, rate limits and fault injection."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
import requests
from oura_spec import assert_valid, response_schema_name

from sandbox.routes import CONFIG, DOCUMENTS, ROUTES, SERIES

V2 = "/v2/usercollection"
DOCUMENT_ROUTES = [r.name for r in ROUTES.values() if r.kind == DOCUMENTS]


def fetch_all(sb, route: str, token: str = "sandbox-pat-0", **params) -> tuple[list[dict], int]:
    """Follow next_token to the end; return the rows and the number of pages."""
    rows, pages, seen_tokens = [], 0, set()
    while True:
        resp = sb.get(f"{V2}/{route}", token=token, **params)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        rows.extend(body["data"])
        pages += 1
        token_next = body.get("next_token")
        if not token_next:
            return rows, pages
        assert token_next not in seen_tokens, "server repeated a next_token"
        seen_tokens.add(token_next)
        params["next_token"] = token_next


def world_docs(world, user: int, route: str, start: date, end: date) -> list[dict]:
    docs, day = [], start
    while day <= end:
        docs.extend(world.documents(user, route, day))
        day += timedelta(days=1)
    return docs


# ------------------------------------------------------------------ contract


@pytest.mark.parametrize("route", DOCUMENT_ROUTES)
def test_every_document_route_matches_the_spec_and_the_world(sandbox, route):
    world = sandbox.world
    start = world.users[0].history_start
    end = world.local_today(0)
    rows, pages = fetch_all(
        sandbox,
        route,
        start_date=(start - timedelta(days=3)).isoformat(),
        end_date=(end + timedelta(days=3)).isoformat(),
    )
    path = f"{V2}/{route}"
    schema = response_schema_name(path)
    assert_valid(schema, {"data": rows, "next_token": None})
    expected = world_docs(world, 0, route, start, end)
    assert sorted(r["id"] for r in rows) == sorted(d["id"] for d in expected)
    assert len({r["id"] for r in rows}) == len(rows), "duplicates across pages"
    if rows:
        one = rows[len(rows) // 2]
        resp = sandbox.get(f"{path}/{one['id']}")
        assert resp.status_code == 200
        assert resp.json() == one
        assert_valid(response_schema_name(f"{path}/{{document_id}}"), resp.json())


def test_time_series_and_config_routes_match_the_spec(sandbox):
    now = sandbox.world.now
    for route in ("heartrate", "ring_battery_level"):
        rows, _ = fetch_all(
            sandbox,
            route,
            start_datetime=(now - timedelta(days=2)).isoformat(),
            end_datetime=now.isoformat(),
        )
        assert rows, route
        assert_valid(response_schema_name(f"{V2}/{route}"), {"data": rows, "next_token": None})
    rows, _ = fetch_all(sandbox, "ring_configuration")
    assert rows
    assert_valid(
        response_schema_name(f"{V2}/ring_configuration"), {"data": rows, "next_token": None}
    )
    info = sandbox.get(f"{V2}/personal_info").json()
    assert "data" not in info, "personal_info is a bare object"
    assert_valid(response_schema_name(f"{V2}/personal_info"), info)
    assert info["id"] == sandbox.world.users[0].user_id


def test_heart_rate_pages_hold_about_a_thousand_samples_and_lose_none(sandbox):
    world, now = sandbox.world, sandbox.world.now
    start = now - timedelta(days=5)
    rows, pages = fetch_all(
        sandbox, "heartrate", start_datetime=start.isoformat(), end_datetime=now.isoformat()
    )
    expected = list(world.series(0, "heartrate", start, now + timedelta(microseconds=1)))
    assert rows == expected
    assert pages == -(-len(expected) // 1000)
    first = sandbox.get(
        f"{V2}/heartrate", start_datetime=start.isoformat(), end_datetime=now.isoformat()
    ).json()
    assert len(first["data"]) == 1000 and first["next_token"]


# -------------------------------------------------------------------- quirks


def _busy_day(world, user: int, route: str) -> date:
    """A day with at least one document of `route`, well inside the history."""
    day = world.local_today(user) - timedelta(days=10)
    while not world.documents(user, route, day):
        day -= timedelta(days=1)
    return day


@pytest.mark.parametrize(
    "route,inclusive",
    [
        ("daily_sleep", True),
        ("daily_readiness", True),
        ("daily_stress", True),
        ("daily_spo2", True),
        ("daily_resilience", True),
        ("sleep_time", True),
        ("daily_cardiovascular_age", True),
        ("daily_activity", False),
        ("sleep", False),
    ],
)
def test_single_day_window_is_inclusive_for_some_routes_and_exclusive_for_others(
    sandbox, route, inclusive
):
    world = sandbox.world
    day = _busy_day(world, 0, route)
    ids = {d["id"] for d in world.documents(0, route, day)}
    got = {
        r["id"]
        for r in sandbox.get(
            f"{V2}/{route}", start_date=day.isoformat(), end_date=day.isoformat()
        ).json()["data"]
    }
    if inclusive:
        assert ids <= got
    else:
        assert not (ids & got), f"{route}: a date-only end_date should lose the day"


def test_a_date_time_end_keeps_the_last_day_of_daily_activity(sandbox):
    day = _busy_day(sandbox.world, 0, "daily_activity")
    data = sandbox.get(
        f"{V2}/daily_activity", start_date=day.isoformat(), end_date=f"{day.isoformat()}T23:59:59"
    ).json()["data"]
    assert [d["day"] for d in data] == [day.isoformat()]


def test_sleep_is_filtered_on_utc_bedtime_start_not_on_day(sandbox):
    world = sandbox.world
    # Find a night whose UTC bedtime falls on the day before its (local) `day`.
    for user in range(len(world.users)):
        day = world.local_today(user) - timedelta(days=3)
        for _ in range(50):
            for doc in world.documents(user, "sleep", day):
                bed_utc = datetime.fromisoformat(doc["bedtime_start"]).astimezone(UTC).date()
                if bed_utc < day:
                    token = f"sandbox-pat-{user}"
                    naive = sandbox.get(
                        f"{V2}/sleep",
                        token=token,
                        start_date=day.isoformat(),
                        end_date=(day + timedelta(days=1)).isoformat(),
                    ).json()["data"]
                    padded = sandbox.get(
                        f"{V2}/sleep",
                        token=token,
                        start_date=(day - timedelta(days=1)).isoformat(),
                        end_date=(day + timedelta(days=1)).isoformat(),
                    ).json()["data"]
                    assert doc["id"] not in {d["id"] for d in naive}
                    assert doc["id"] in {d["id"] for d in padded}
                    return
            day -= timedelta(days=1)
    pytest.fail("the world has no night starting before UTC midnight of its day")


def test_workout_is_filtered_on_its_utc_start(sandbox):
    world = sandbox.world
    for user in range(len(world.users)):
        day = world.local_today(user) - timedelta(days=2)
        for _ in range(60):
            for doc in world.documents(user, "workout", day):
                utc_day = datetime.fromisoformat(doc["start_datetime"]).astimezone(UTC).date()
                token = f"sandbox-pat-{user}"
                hit = sandbox.get(
                    f"{V2}/workout",
                    token=token,
                    start_date=utc_day.isoformat(),
                    end_date=(utc_day + timedelta(days=1)).isoformat(),
                ).json()["data"]
                assert doc["id"] in {d["id"] for d in hit}
                if utc_day != day:
                    local = sandbox.get(
                        f"{V2}/workout",
                        token=token,
                        start_date=day.isoformat(),
                        end_date=(day + timedelta(days=1)).isoformat(),
                    ).json()["data"]
                    assert doc["id"] not in {d["id"] for d in local}
                    return
            day -= timedelta(days=1)
    pytest.skip("no workout crossing UTC midnight in this world (printed reason: seed-dependent)")


def test_heart_rate_ignores_date_only_parameters_and_rejects_long_windows(sandbox):
    now = sandbox.world.now
    day = (now - timedelta(days=2)).date().isoformat()
    assert sandbox.get(f"{V2}/heartrate", start_date=day, end_date=day).json() == {
        "data": [],
        "next_token": None,
    }
    assert sandbox.get(f"{V2}/heartrate", start_datetime=day, end_datetime=day).json()["data"] == []
    resp = sandbox.get(
        f"{V2}/heartrate",
        start_datetime=(now - timedelta(days=31)).isoformat(),
        end_datetime=now.isoformat(),
    )
    assert resp.status_code == 400 and "30 days" in resp.json()["detail"]


def test_an_unescaped_plus_in_the_offset_is_a_validation_error(sandbox):
    url = (
        f"{sandbox.base_url}{V2}/heartrate"
        "?start_datetime=2026-11-18T00:00:00+00:00&end_datetime=2026-11-19T00:00:00%2B00:00"
    )
    resp = requests.get(url, headers={"Authorization": "Bearer sandbox-pat-0"}, timeout=10)
    assert resp.status_code == 422
    assert_valid("HTTPValidationError", resp.json())
    assert resp.json()["detail"][0]["loc"] == ["query", "start_datetime"]


# -------------------------------------------------------------------- errors


def test_bad_parameters_get_oura_shaped_400_and_422(sandbox):
    resp = sandbox.get(f"{V2}/daily_sleep", start_date="yesterday")
    assert resp.status_code == 422
    assert_valid("HTTPValidationError", resp.json())
    resp = sandbox.get(f"{V2}/daily_sleep", start_date="2026-11-10", end_date="2026-11-01")
    assert resp.status_code == 400 and isinstance(resp.json()["detail"], str)
    resp = sandbox.get(f"{V2}/daily_sleep", next_token="not-a-token")
    assert resp.status_code == 400
    resp = sandbox.get(f"{V2}/heartrate", latest="maybe")
    assert resp.status_code == 422


def test_unknown_documents_and_other_users_documents_are_404(sandbox):
    assert sandbox.get(f"{V2}/daily_sleep/6c1b2f4e-0000-4000-8000-000000000000").status_code == 404
    day = _busy_day(sandbox.world, 1, "daily_sleep")
    other = sandbox.world.documents(1, "daily_sleep", day)[0]["id"]
    assert sandbox.get(f"{V2}/daily_sleep/{other}", token="sandbox-pat-1").status_code == 200
    assert sandbox.get(f"{V2}/daily_sleep/{other}", token="sandbox-pat-0").status_code == 404
    assert sandbox.get(f"{V2}/heartrate/abc").status_code == 404
    assert sandbox.get(f"{V2}/no_such_route").status_code == 404


def test_missing_and_unknown_tokens_are_401(sandbox):
    assert sandbox.get(f"{V2}/daily_sleep", token=None).status_code == 401
    resp = sandbox.get(f"{V2}/daily_sleep", token="made-up")
    assert resp.status_code == 401 and "detail" in resp.json()


def test_lapsed_membership_is_403(sandbox_factory):
    sb = sandbox_factory(users=2, history_days=20, lapsed_users=frozenset({1}))
    assert sb.get(f"{V2}/daily_sleep", token="sandbox-pat-1").status_code == 403
    assert sb.get(f"{V2}/daily_sleep", token="sandbox-pat-0").status_code == 200
    sb.admin("users/0/membership", {"lapsed": True})
    assert sb.get(f"{V2}/daily_sleep", token="sandbox-pat-0").status_code == 403


def test_rate_limit_answers_429_with_oura_headers_per_token_and_per_application(sandbox_factory):
    sb = sandbox_factory(
        users=2, history_days=5, token_limit=3, app_limit=5, rate_window_seconds=60
    )
    codes = [sb.get(f"{V2}/daily_sleep", token="sandbox-pat-0").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    resp = sb.get(f"{V2}/daily_sleep", token="sandbox-pat-0")
    assert resp.headers["X-RateLimit-Tier"] == "token"
    for header in ("Retry-After", "X-RateLimit-Limit", "X-RateLimit-Window", "X-RateLimit-Reset"):
        assert int(resp.headers[header]) > 0
    # The second user's token has its own budget but shares the application's.
    codes = [sb.get(f"{V2}/daily_sleep", token="sandbox-pat-1").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    assert (
        sb.get(f"{V2}/daily_sleep", token="sandbox-pat-1").headers["X-RateLimit-Tier"]
        == "application"
    )


# -------------------------------------------------------------------- faults


def test_injected_faults_are_seeded_and_reproducible(sandbox):
    def outcomes() -> list[str]:
        sandbox.faults(seed=3, error_5xx=0.2, truncate=0.2, malformed=0.2)
        seen = []
        for _ in range(25):
            resp = sandbox.get(f"{V2}/daily_sleep")
            try:
                resp.json()
                seen.append(str(resp.status_code))
            except ValueError:
                seen.append(f"{resp.status_code}-notjson")
        return seen

    first, second = outcomes(), outcomes()
    assert first == second
    assert {"500", "200-notjson", "200"} <= set(first)


def test_dropped_connections_and_429_storms(sandbox):
    sandbox.faults(seed=1, drop=1.0, max_faults=1)
    with pytest.raises(requests.exceptions.RequestException):
        sandbox.get(f"{V2}/daily_sleep")
    assert sandbox.get(f"{V2}/daily_sleep").status_code == 200  # budget of one fault used
    sandbox.faults(seed=1, rate_429=1.0, storm_length=3, retry_after=2, max_faults=3)
    codes = [sandbox.get(f"{V2}/daily_sleep").status_code for _ in range(4)]
    assert codes == [429, 429, 429, 200]


def test_repeated_next_token_fault(sandbox):
    now = sandbox.world.now
    window = {
        "start_datetime": (now - timedelta(days=2)).isoformat(),
        "end_datetime": now.isoformat(),
    }
    first = sandbox.get(f"{V2}/heartrate", **window).json()
    assert first["next_token"], "need two pages of heart rate for this test"
    sandbox.faults(seed=1, repeat_token=1.0)
    again = sandbox.get(f"{V2}/heartrate", **window, next_token=first["next_token"]).json()
    assert again["next_token"] == first["next_token"]


# ---------------------------------------------------------------------- clock


def test_the_clock_revises_recent_days_and_leaves_old_days_alone(sandbox):
    world = sandbox.world
    today = world.local_today(0)
    old_day = today - timedelta(days=20)
    before_old = world_docs(world, 0, "daily_activity", old_day, old_day)
    before_recent = {
        d["id"]: d for d in world_docs(world, 0, "daily_activity", today - timedelta(days=1), today)
    }
    sandbox.advance(days=2)
    assert world_docs(world, 0, "daily_activity", old_day, old_day) == before_old
    after_recent = {
        d["id"]: d for d in world_docs(world, 0, "daily_activity", today - timedelta(days=1), today)
    }
    assert set(after_recent) == set(before_recent)
    assert any(after_recent[i] != before_recent[i] for i in after_recent), (
        "recent days were not restated"
    )


def test_dump_writes_exactly_what_the_server_serves(tmp_path, sandbox):
    out = tmp_path / "dump"
    cmd = [
        sys.executable,
        "-m",
        "oura_elt.cli",
        "sandbox",
        "dump",
        "--out",
        str(out),
        "--seed",
        "7",
        "--users",
        "2",
        "--now",
        "2026-11-20T12:00:00+00:00",
        "--history-days",
        "60",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in (out / "daily_sleep.jsonl").read_text().splitlines()]
    served, _ = fetch_all(sandbox, "daily_sleep", start_date="2020-01-01")
    mine = [r for r in rows if r["user_id"] == sandbox.world.users[0].user_id]
    assert sorted(r["id"] for r in mine) == sorted(r["id"] for r in served)
    assert {k: v for k, v in mine[0].items() if k != "user_id"} in served


# ---------------------------------------------------------------- OAuth scopes


def oauth_token(sb, user: int = 0, deny: str = "") -> str:
    """Act as the browser: authorize (consent automatic), then exchange the code."""
    from sandbox import application

    params = {
        "response_type": "code",
        "client_id": application.SANDBOX_CLIENT_ID,
        "redirect_uri": application.DEFAULT_REDIRECT_URI,
        "state": "s1",
        "sandbox_user": str(user),
    }
    if deny:
        params["sandbox_deny_scopes"] = deny
    resp = requests.get(
        f"{sb.base_url}/oauth/authorize", params=params, allow_redirects=False, timeout=10
    )
    assert resp.status_code == 302
    from urllib.parse import parse_qs, urlparse

    query = parse_qs(urlparse(resp.headers["location"]).query)
    assert query["state"] == ["s1"]
    token = requests.post(
        f"{sb.base_url}/oauth/token",
        timeout=10,
        data={
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": application.DEFAULT_REDIRECT_URI,
            "client_id": application.SANDBOX_CLIENT_ID,
            "client_secret": application.SANDBOX_CLIENT_SECRET,
        },
    )
    assert token.status_code == 200, token.text
    return token.json()["access_token"]


def test_a_missing_scope_is_a_401_naming_the_scope(sandbox):
    token = oauth_token(sandbox, deny="stress,heart_health")
    resp = sandbox.get(f"{V2}/daily_resilience", token=token)
    assert resp.status_code == 401
    assert resp.json() == {"detail": "Token is not authorized access stress scope."}
    resp = sandbox.get(f"{V2}/vO2_max", token=token)
    assert resp.json() == {"detail": "Token is not authorized access heart_health scope."}
    assert sandbox.get(f"{V2}/daily_sleep", token=token).status_code == 200


def test_expired_and_revoked_tokens_are_401(sandbox):
    token = oauth_token(sandbox, user=1)
    assert sandbox.get(f"{V2}/daily_sleep", token=token).status_code == 200
    assert (
        sandbox.get(f"{V2}/personal_info", token=token).json()["id"]
        == sandbox.world.users[1].user_id
    )
    sandbox.admin("tokens/expire", {})
    assert sandbox.get(f"{V2}/daily_sleep", token=token).status_code == 401
    token = oauth_token(sandbox, user=1)
    requests.get(f"{sandbox.base_url}/oauth/revoke", params={"access_token": token}, timeout=10)
    assert sandbox.get(f"{V2}/daily_sleep", token=token).status_code == 401


def test_personal_info_fields_follow_the_granted_scopes(sandbox):
    token = oauth_token(sandbox, deny="email,personal")
    info = sandbox.get(f"{V2}/personal_info", token=token).json()
    assert info["id"] == sandbox.world.users[0].user_id
    assert info["email"] is None and info["age"] is None


# ------------------------------------------------- parameters, the pydantic way


@pytest.fixture(scope="module")
def reference():
    """GET a route of the reference FastAPI app (see `fastapi_reference`)."""
    from fastapi_reference import Running

    running = Running()

    def get(path: str, **params) -> requests.Response:
        return requests.get(running.base_url + path, params=params, timeout=10)

    yield get
    running.stop()


def _without_url(body: dict) -> dict:
    return {"detail": [{k: v for k, v in item.items() if k != "url"} for item in body["detail"]]}


@pytest.mark.parametrize(
    "params",
    [
        {"start_date": "yesterday"},
        {"start_date": "2026-13-01", "end_date": "29/11/2026"},
        {"start_date": "2026-11-29T00:00:00 00:00"},
        {"end_date": ""},
    ],
)
def test_bad_dates_get_the_422_that_fastapi_and_pydantic_give(sandbox, reference, params):
    resp = sandbox.get(f"{V2}/daily_sleep", **params)
    expected = reference(f"{V2}/daily_sleep", **params)
    assert resp.status_code == expected.status_code == 422
    assert _without_url(resp.json()) == _without_url(expected.json())
    assert_valid("HTTPValidationError", resp.json())
    for item in resp.json()["detail"]:
        assert item["url"] == f"https://errors.pydantic.dev/2.7/v/{item['type']}"
        assert item["ctx"]["error"] and item["input"] == params[item["loc"][1]]


def test_a_bad_start_date_is_two_errors_one_per_branch_of_date_or_datetime(sandbox):
    detail = sandbox.get(f"{V2}/daily_sleep", start_date="yesterday").json()["detail"]
    assert [(d["loc"], d["type"]) for d in detail] == [
        (["query", "start_date", "datetime"], "datetime_from_date_parsing"),
        (["query", "start_date", "date"], "date_from_datetime_parsing"),
    ]


@pytest.mark.parametrize(
    "params",
    [
        {"start_datetime": "2026-11-18T00:00:00 00:00"},  # "+" sent unescaped arrives as a space
        {"start_datetime": "2026-11-18 00:00:00 00:00", "end_datetime": "soon"},
        {"latest": "maybe"},
    ],
)
def test_bad_datetimes_get_the_422_that_fastapi_and_pydantic_give(sandbox, reference, params):
    resp = sandbox.get(f"{V2}/heartrate", **params)
    expected = reference(f"{V2}/heartrate", **params)
    assert resp.status_code == expected.status_code == 422
    assert _without_url(resp.json()) == _without_url(expected.json())
    assert all(
        item["url"].startswith("https://errors.pydantic.dev/2.7/v/")
        for item in resp.json()["detail"]
    )


def test_datetimes_with_a_space_an_escaped_plus_a_z_or_no_offset_all_parse(sandbox):
    now = sandbox.world.now
    start, end = now - timedelta(hours=30), now - timedelta(hours=6)
    spellings = [
        (start.isoformat(), end.isoformat()),  # 2026-11-19T06:00:00+00:00
        (str(start), str(end)),  # the space form: requests sends "+" as %2B
        (start.strftime("%Y-%m-%dT%H:%M:%SZ"), end.strftime("%Y-%m-%dT%H:%M:%SZ")),
        (str(start.replace(tzinfo=None)), str(end.replace(tzinfo=None))),  # naive: read as UTC
        (
            start.astimezone(timezone(timedelta(hours=-7))).isoformat(sep=" "),
            end.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat(sep=" "),
        ),
    ]
    answers = []
    for first, last in spellings:
        rows, _ = fetch_all(sandbox, "heartrate", start_datetime=first, end_datetime=last)
        answers.append(rows)
    assert answers[0], "the window should hold heart rate"
    assert all(rows == answers[0] for rows in answers)
    url = (
        f"{sandbox.base_url}{V2}/heartrate?start_datetime={str(start).replace('+', '%2B')}"
        f"&end_datetime={str(end).replace('+', '%2B')}".replace(" ", "%20")
    )
    resp = requests.get(url, headers={"Authorization": "Bearer sandbox-pat-0"}, timeout=10)
    assert resp.status_code == 200 and resp.json()["data"] == answers[0][:1000]


def test_date_parameters_take_the_space_form_too(sandbox):
    day = _busy_day(sandbox.world, 0, "daily_activity")
    plain = sandbox.get(
        f"{V2}/daily_activity",
        start_date=day.isoformat(),
        end_date=f"{day.isoformat()}T23:59:59+00:00",
    ).json()["data"]
    spaced = sandbox.get(
        f"{V2}/daily_activity",
        start_date=day.isoformat(),
        end_date=f"{day.isoformat()} 23:59:59+00:00",
    ).json()["data"]
    assert plain and spaced == plain


# -------------------------------------------------------------------- fields


def test_fields_select_known_names_and_ignore_unknown_ones(sandbox):
    day = _busy_day(sandbox.world, 0, "daily_sleep")
    window = {"start_date": (day - timedelta(days=3)).isoformat(), "end_date": day.isoformat()}
    full = sandbox.get(f"{V2}/daily_sleep", **window).json()["data"]
    assert full and len(full[0]) > 4
    made_up = sandbox.get(f"{V2}/daily_sleep", fields="made_up", **window).json()["data"]
    assert made_up == full, "unknown field names are ignored: full records"
    mixed = sandbox.get(f"{V2}/daily_sleep", fields="score,made_up", **window).json()["data"]
    assert [set(d) for d in mixed] == [{"id", "day", "timestamp", "score"}] * len(full)
    assert [d["score"] for d in mixed] == [d["score"] for d in full]
    rows = sandbox.get(f"{V2}/ring_configuration", fields="nonsense").json()["data"]
    assert rows == sandbox.get(f"{V2}/ring_configuration").json()["data"]


# ------------------------------------------------------- /v2/sandbox routes

V2_SANDBOX = "/v2/sandbox/usercollection"


def _sandbox_operations() -> list[str]:
    from oura_spec import spec

    return sorted(p for p in spec()["paths"] if p.startswith(V2_SANDBOX + "/"))


def test_every_sandbox_route_of_the_spec_answers_with_any_authorization(sandbox_factory):
    sandbox = sandbox_factory(users=1, history_days=400)  # long enough for a rest-mode period
    operations = _sandbox_operations()
    assert len(operations) == 34
    world, now = sandbox.world, sandbox.world.now
    window = {
        "start_date": (world.users[0].history_start - timedelta(days=3)).isoformat(),
        "end_date": world.local_today(0).isoformat(),
    }
    series = {
        "start_datetime": (now - timedelta(hours=2)).isoformat(),
        "end_datetime": now.isoformat(),
    }
    listed = {}
    for path in (p for p in operations if "{document_id}" not in p):
        name = path.rsplit("/", 1)[1]
        kind = ROUTES[name].kind
        params = series if kind == SERIES else {} if kind == CONFIG else window
        resp = sandbox.get(path, token="anything at all", **params)
        assert resp.status_code == 200, (path, resp.text)
        assert_valid(response_schema_name(path), resp.json())
        # The same fake person's data as the data route shows user 0, same parameters.
        assert resp.json() == sandbox.get(f"{V2}/{name}", **params).json(), path
        listed[name] = resp.json()["data"]
    for path in (p for p in operations if "{document_id}" in p):
        name = path.split("/")[-2]
        assert listed[name], f"{name}: need a document to fetch singly"
        one = listed[name][0]
        resp = sandbox.get(path.replace("{document_id}", one["id"]), token="x")
        assert resp.status_code == 200 and resp.json() == one, path
        assert_valid(response_schema_name(path), resp.json())


def test_sandbox_routes_refuse_what_the_spec_does_not_declare(sandbox):
    assert sandbox.get(f"{V2_SANDBOX}/personal_info", token="x").status_code == 404
    assert sandbox.get(f"{V2_SANDBOX}/heartrate/abc", token="x").status_code == 404
    assert sandbox.get(f"{V2_SANDBOX}/daily_sleep", token=None).status_code == 401
    now = sandbox.world.now
    window = {
        "start_datetime": (now - timedelta(hours=3)).isoformat(),
        "end_datetime": now.isoformat(),
    }

    def demo(**extra) -> requests.Response:
        return sandbox.get(f"{V2_SANDBOX}/heartrate", token="x", **window, **extra)

    whole = demo().json()["data"]
    assert len(whole) > 1
    # `latest` and `fields` are not parameters of the sandbox routes: ignored, not validated.
    assert demo(latest="true").json()["data"] == whole
    assert demo(latest="maybe").status_code == 200
    assert demo(fields="bpm").json()["data"] == whole
    assert sandbox.get(f"{V2}/heartrate", latest="true", **window).json()["data"] == whole[-1:]
    bad = sandbox.get(f"{V2_SANDBOX}/daily_sleep", token="x", start_date="yesterday")
    assert bad.status_code == 422 and len(bad.json()["detail"]) == 2


def test_sandbox_routes_share_the_rate_limit_of_the_data_routes(sandbox_factory):
    sb = sandbox_factory(
        users=1, history_days=5, token_limit=3, app_limit=100, rate_window_seconds=60
    )
    routes = (f"{V2_SANDBOX}/daily_sleep", f"{V2}/daily_sleep") * 2
    codes = [sb.get(route).status_code for route in routes]
    assert codes == [200, 200, 200, 429]
    assert sb.stats()["route:sandbox/daily_sleep"] == 2
