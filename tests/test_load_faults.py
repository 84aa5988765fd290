"""The loader under a hostile API: 429 storms, 5xx, dropped and malformed pages, pagination
loops, timeouts, missing scopes, expired tokens and lapsed memberships; and a warehouse
commit that fails half-way."""

from __future__ import annotations

import time

import duckdb
import pytest
import requests
from load_truth import assert_warehouse_equals_truth, read_table
from test_load_sandbox import run_load, truth_span

from oura_elt.commands.sandbox import sandbox_endpoints
from pipelines.auth import StaticTokenProvider
from pipelines.core.errors import OuraEltError
from pipelines.oura.helpers import MembershipLapsed, RetryPolicy
from pipelines.warehouse import WarehouseError
from sandbox import application

DAILY_AND_SERIES = ["daily_sleep", "sleep", "workout", "heartrate"]


def test_429_storms_5xx_drops_and_bad_pages_are_retried_and_nothing_is_lost(
    sandbox_factory, tmp_path
):
    sandbox = sandbox_factory(users=1, history_days=30)
    sandbox.faults(
        seed=3,
        rate_429=0.05,
        storm_length=3,
        retry_after=0,
        error_5xx=0.08,
        drop=0.05,
        truncate=0.05,
        malformed=0.05,
        repeat_token=0.05,
        max_faults=40,
    )
    db = tmp_path / "oura.duckdb"
    summary = run_load(sandbox, db)

    injected = sandbox.admin("state")["faults_injected"]
    assert sum(injected.values()) >= 20, injected
    assert summary.ok and summary.retries >= 10
    assert_warehouse_equals_truth(db, sandbox.world, *truth_span(sandbox.world), users=[0])


def test_retry_after_is_honoured(sandbox, tmp_path):
    sandbox.faults(
        rate_429=1.0, storm_length=1, retry_after=1, max_faults=2, routes=["daily_sleep"]
    )
    started = time.monotonic()
    summary = run_load(sandbox, tmp_path / "oura.duckdb", collections=["daily_sleep"])
    assert summary.ok and summary.retries == 2
    assert time.monotonic() - started >= 2.0  # two 429s, each "Retry-After: 1"


def test_a_collection_that_keeps_failing_stops_alone_and_loaded_data_stays(
    sandbox_factory, tmp_path
):
    sandbox = sandbox_factory(users=1, history_days=30)
    db = tmp_path / "oura.duckdb"
    run_load(sandbox, db, collections=DAILY_AND_SERIES)
    stored_sleep = len(read_table(db, "daily_sleep"))
    assert stored_sleep > 20

    sandbox.advance(days=1)
    sandbox.faults(malformed=1.0, routes=["daily_sleep"])
    summary = run_load(sandbox, db, collections=DAILY_AND_SERIES)

    assert list(summary.failed) == ["daily_sleep"]
    message = summary.failed["daily_sleep"]
    assert "malformed" in message and "\n" not in message and message.startswith("daily_sleep:")
    assert len(read_table(db, "daily_sleep")) == stored_sleep  # what was loaded stays loaded
    assert_warehouse_equals_truth(
        db,
        sandbox.world,
        *truth_span(sandbox.world),
        users=[0],
        collections=["sleep", "workout", "heartrate"],
    )


def test_a_repeated_next_token_is_an_error_not_a_loop(sandbox, tmp_path):
    sandbox.faults(repeat_token=1.0, routes=["heartrate"])
    summary = run_load(sandbox, tmp_path / "oura.duckdb", collections=["heartrate", "daily_sleep"])
    assert list(summary.failed) == ["heartrate"]
    assert "next_token" in summary.failed["heartrate"]
    assert summary.requests < 40


def test_timeouts_are_retried(sandbox, tmp_path):
    # The server holds two requests 6 s; the client gives up after 2 s (a normal answer, even
    # on a busy machine, takes a small part of that).
    sandbox.faults(timeout=1.0, timeout_seconds=6.0, max_faults=2, routes=["daily_sleep"])
    policy = RetryPolicy(backoff_seconds=0.01, read_timeout=2.0)
    db = tmp_path / "oura.duckdb"
    summary = run_load(sandbox, db, collections=["daily_sleep"], policy=policy)
    assert summary.ok and summary.retries >= 2
    assert_warehouse_equals_truth(
        db, sandbox.world, *truth_span(sandbox.world), users=[0], collections=["daily_sleep"]
    )


def _oauth_token(sandbox, deny: str = "") -> str:
    """An access token for user 0 through the sandbox's real authorization-code flow."""
    redirect = application.DEFAULT_REDIRECT_URI
    answer = requests.get(
        f"{sandbox.base_url}/oauth/authorize",
        params={
            "client_id": application.SANDBOX_CLIENT_ID,
            "response_type": "code",
            "redirect_uri": redirect,
            "sandbox_user": "0",
            "sandbox_deny_scopes": deny,
            "state": "s",
        },
        allow_redirects=False,
        timeout=10,
    )
    code = requests.utils.urlparse(answer.headers["location"]).query.split("code=")[1].split("&")[0]
    token = requests.post(
        f"{sandbox.base_url}/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect,
            "client_id": application.SANDBOX_CLIENT_ID,
            "client_secret": application.SANDBOX_CLIENT_SECRET,
        },
        timeout=10,
    )
    token.raise_for_status()
    return token.json()["access_token"]


def test_a_collection_whose_scope_was_not_granted_is_skipped_with_a_warning(sandbox, tmp_path):
    token = _oauth_token(sandbox, deny="heart_health")
    db = tmp_path / "oura.duckdb"
    summary = run_load(
        sandbox,
        db,
        provider=StaticTokenProvider(token, profile="scoped"),
        collections=["vO2_max", "daily_cardiovascular_age", "daily_sleep"],
    )
    assert set(summary.skipped) == {"vo2_max", "daily_cardiovascular_age"} and summary.ok
    assert all("'heart_health' scope" in m for m in summary.skipped.values())
    assert read_table(db, "vo2_max") == [] and len(read_table(db, "daily_sleep")) > 30
    assert_warehouse_equals_truth(
        db, sandbox.world, *truth_span(sandbox.world), users=[0], collections=["daily_sleep"]
    )


class _ExpiredThenFresh:
    """A token provider whose first token was revoked; a refresh gives a good one."""

    profile = "refreshing"

    def __init__(self, good: str) -> None:
        self.good = good
        self.current = "revoked-token"
        self.refreshes: list[str] = []

    def access_token(self) -> str:
        return self.current

    def refresh_after_unauthorized(self, rejected: str) -> str:
        self.refreshes.append(rejected)
        self.current = self.good
        return self.current

    def granted_scopes(self):
        return None

    def user_id(self):
        return None


def test_a_401_refreshes_once_and_retries(sandbox, tmp_path):
    provider = _ExpiredThenFresh("sandbox-pat-0")
    summary = run_load(
        sandbox, tmp_path / "oura.duckdb", provider=provider, collections=["daily_sleep"]
    )
    assert summary.ok and provider.refreshes == ["revoked-token"]


def test_a_lapsed_membership_is_one_clear_error(sandbox, tmp_path):
    sandbox.admin("users/0/membership", {"lapsed": True})
    with pytest.raises(MembershipLapsed) as caught:
        run_load(sandbox, tmp_path / "oura.duckdb")
    assert isinstance(caught.value, OuraEltError)
    assert "membership" in str(caught.value) and "\n" not in str(caught.value)


def test_the_client_side_budget_holds_requests_back(sandbox, tmp_path):
    from pipelines.oura.ratelimit import RateBudget

    budget = RateBudget(2, 1.0)
    started = time.monotonic()
    summary = run_load(
        sandbox,
        tmp_path / "oura.duckdb",
        budget=budget,
        start_date=sandbox.world.now.date(),
        collections=["daily_sleep", "sleep", "daily_activity", "workout"],
    )
    # personal_info and 4 collections fetched in parallel (a start date: no ring_configuration
    # needed)
    assert summary.ok and summary.requests == 5
    assert time.monotonic() - started >= 1.0 and budget.waited_seconds > 0
    assert sandbox.stats().get("status:429", 0) == 0


class _ExpireTokensAt:
    """A reporter that expires every access token when the n-th chunk is committed."""

    def __init__(self, sandbox, chunk: int) -> None:
        self.sandbox, self.marker, self.expired = sandbox, f"({chunk}/", False

    def planned(self, collection, windows):
        pass

    def window_done(self, collection, documents):
        pass

    def failed(self, collection, message, skipped):
        pass

    def note(self, message):
        if self.marker in message and not self.expired:
            self.expired = self.sandbox.admin("tokens/expire", {})["expired"] > 0


def test_an_oauth_token_expiring_mid_run_is_refreshed_once_by_parallel_workers(
    sandbox_factory, tmp_path
):
    import socket
    import threading

    from pipelines.auth import login

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    redirect = f"http://127.0.0.1:{port}/callback/"
    sandbox = sandbox_factory(users=1, history_days=200, redirect_uris=(redirect,))
    endpoints = sandbox_endpoints(sandbox.base_url)

    def act_as_browser(url: str) -> None:
        threading.Thread(
            target=requests.get,
            args=(url + "&sandbox_user=0",),
            kwargs={"timeout": 30},
            daemon=True,
        ).start()

    login(
        "me",
        endpoints=endpoints,
        redirect_uri=redirect,
        open_browser=False,
        show_url=act_as_browser,
        timeout=30,
    )
    reporter = _ExpireTokensAt(sandbox, chunk=2)
    db = tmp_path / "oura.duckdb"
    from pipelines.load import load

    summary = load(
        "me",
        endpoints=endpoints,
        duckdb_path=db,
        now=sandbox.world.now,
        reporter=reporter,
        collections=["daily_sleep", "sleep", "workout", "ring_battery_level"],
        workers=4,
    )

    assert reporter.expired and summary.ok
    oauth = sandbox.admin("state")["oauth"]
    assert oauth["refreshes_ok"] == 1 and oauth["refresh_reuse"] == 0, oauth
    assert sandbox.stats().get("status:401", 0) >= 1
    assert_warehouse_equals_truth(
        db,
        sandbox.world,
        *truth_span(sandbox.world),
        collections=["daily_sleep", "sleep", "workout", "ring_battery_level"],
    )


def test_a_commit_that_fails_half_way_leaves_what_was_stored(sandbox_factory, tmp_path):
    """dlt's delete-insert merge is a DELETE then an INSERT. When the INSERT fails (a full
    disk in the fault suite; here a NOT NULL column the new rows leave empty, which is
    repeatable),
    the DELETE must not stay committed on its own: every stored row is still there."""
    sandbox = sandbox_factory(users=1, history_days=20)
    db = tmp_path / "oura.duckdb"
    run_load(sandbox, db, collections=["daily_sleep", "personal_info"])
    before = {name: read_table(db, name) for name in ("daily_sleep", "personal_info")}
    assert len(before["daily_sleep"]) > 10 and len(before["personal_info"]) == 1
    with duckdb.connect(
        str(db)
    ) as con:  # a column the loader does not write, that must not be NULL
        for name in before:
            for change in (
                "ADD COLUMN fault INTEGER DEFAULT 0",
                "ALTER COLUMN fault SET NOT NULL",
                "ALTER COLUMN fault DROP DEFAULT",
            ):
                con.execute(f"ALTER TABLE oura_raw.{name} {change}")

    sandbox.advance(days=1)
    with pytest.raises(WarehouseError, match="NOT NULL"):
        run_load(sandbox, db, collections=["daily_sleep", "personal_info"])
    for name, rows in before.items():
        after = [{k: v for k, v in row.items() if k != "fault"} for row in read_table(db, name)]
        assert len(after) == len(rows), (
            f"{name}: {len(rows)} rows before the failed load, {len(after)} after"
        )
        assert after == rows, f"{name}: rows committed before the failed load changed"

    with duckdb.connect(str(db)) as con:  # the fault is gone: the next run completes
        for name in before:
            con.execute(f"ALTER TABLE oura_raw.{name} DROP COLUMN fault")
    assert run_load(sandbox, db, collections=["daily_sleep", "personal_info"]).ok
    assert_warehouse_equals_truth(
        db,
        sandbox.world,
        *truth_span(sandbox.world),
        users=[0],
        collections=["daily_sleep", "personal_info"],
    )
