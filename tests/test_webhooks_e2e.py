"""Webhooks end to end over loopback HTTP: the sandbox changes documents of two people,
signs and delivers events, the receiver journals them, the worker merges them, and the
warehouse equals the sandbox's ground truth again within seconds, deletes included.
Then the crash case: the receiver killed (-9) after accepting events and before
processing them; after a restart every accepted event is processed exactly once.

Seed 1457 was picked because three one-day clock steps revise, add and delete
documents of both users 0 and 1 (deletions are rare in the sandbox world); the
tests assert that, so a changed world generator fails loudly rather than silently
testing less.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import duckdb
import requests
from load_truth import assert_warehouse_equals_truth, day_before, mismatches, read_table
from typer.testing import CliRunner
from webhook_helpers import free_port, save_profile, serving, wait_until

from oura_elt.commands.sandbox import sandbox_endpoints
from oura_elt.commands.webhooks import app as webhooks_cli
from pipelines.auth import TokenStore
from pipelines.core import locks
from pipelines.load import load
from pipelines.oura.helpers import RetryPolicy
from pipelines.oura.kinds import latest_day
from pipelines.oura.ratelimit import RateBudget
from pipelines.webhooks.journal import Journal, WebhookEvent
from pipelines.webhooks.receiver import ReceiverConfig, create_receiver
from pipelines.webhooks.settings import COLLECTION_OF, default_journal_path, verification_token_path
from pipelines.webhooks.subscriptions import SubscriptionClient, subscribe
from pipelines.webhooks.verification import resolve_token
from pipelines.webhooks.worker import Worker
from sandbox.application import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET
from sandbox.routes import WEBHOOK_DATA_TYPES
from sandbox.webhooks import WebhookSettings

SEED = 1457
HISTORY_DAYS = 14
FAST_RETRIES = RetryPolicy(backoff_seconds=0.01, max_backoff_seconds=0.05, read_timeout=5)
FAST_WEBHOOKS = WebhookSettings(retry_base_seconds=0.05, retry_max_seconds=0.5, timeout_seconds=5.0)
LOADED = list(COLLECTION_OF.values())  # the raw tables webhooks keep current
ROUTES = [WEBHOOK_DATA_TYPES[d] for d in COLLECTION_OF]  # the same, as the sandbox names them


def deliveries(sb) -> list[dict]:
    return sb.http.get(sb.base_url + "/_sandbox/webhooks/deliveries", timeout=10).json()


def all_delivered(sb) -> list[dict]:
    """The delivery log once every delivery went through."""

    def check():
        log = deliveries(sb)
        return log if log and all(d["status"] == "delivered" for d in log) else None

    return wait_until(check, 60, "sandbox deliveries did not all go through")


def truth_span(world):
    return day_before(min(u.history_start for u in world.users)), latest_day(world.now)


def test_changes_of_two_people_reach_the_warehouse_within_seconds(
    sandbox_factory, tmp_path, monkeypatch
):
    sb = sandbox_factory(users=3, history_days=HISTORY_DAYS, seed=SEED, webhooks=FAST_WEBHOOKS)
    world, base = sb.world, sb.base_url
    save_profile("alice", 0, base, user_id=world.users[0].user_id)
    save_profile("bob", 1, base, user_id=None)  # saved without its user id: the worker asks once
    # Sandbox user 2 authorized the app too, but has no saved login here: their events are dropped.
    db = tmp_path / "oura.duckdb"
    for profile in ("alice", "bob"):
        summary = load(
            profile,
            endpoints=sandbox_endpoints(base),
            budget=RateBudget(10_000, 1),
            duckdb_path=db,
            now=world.now,
            collections=LOADED,
            policy=FAST_RETRIES,
        )
        assert summary.ok and summary.total_documents > 50

    token, generated = resolve_token(create=True)
    assert generated and stat.S_IMODE(verification_token_path().stat().st_mode) == 0o600
    journal = Journal(default_journal_path())
    stop, wake = threading.Event(), threading.Event()
    receiver = create_receiver(
        ReceiverConfig(SANDBOX_CLIENT_SECRET, token), journal, on_accept=wake.set
    )
    worker = Worker(
        journal,
        endpoints=sandbox_endpoints(base),
        duckdb_path=db,
        budget=RateBudget(10_000, 1),
        policy=FAST_RETRIES,
    )
    thread = threading.Thread(
        target=worker.run, args=(stop, wake), kwargs={"idle_seconds": 0.5}, daemon=True
    )
    thread.start()
    try:
        with serving(receiver) as receiver_base:
            callback = receiver_base + "/oura/webhook"
            for name, value in {
                "OURA_API_BASE_URL": base,
                "OURA_CLIENT_ID": SANDBOX_CLIENT_ID,
                "OURA_CLIENT_SECRET": SANDBOX_CLIENT_SECRET,
            }.items():
                monkeypatch.setenv(name, value)
            cli = CliRunner()
            subscribed = cli.invoke(webhooks_cli, ["subscribe", "--callback-url", callback])
            assert subscribed.exit_code == 0, subscribed.output
            assert subscribed.output.count(" created ") == 3 * len(COLLECTION_OF)
            listed = cli.invoke(webhooks_cli, ["list"])
            assert (
                listed.exit_code == 0
                and f"{3 * len(COLLECTION_OF)} subscription(s)" in listed.output
            )
            assert "expires 2027-02-18" in listed.output  # 90 days after the sandbox clock
            for output in (subscribed.output, listed.output):
                assert token not in output and SANDBOX_CLIENT_SECRET not in output

            # (How fast events are merged is a speed figure, for `make bench`; here the
            # deadline only keeps a broken worker from hanging the suite.)
            for _ in range(3):
                sb.advance(days=1)
                log = all_delivered(sb)
                wait_until(
                    lambda log=log: (
                        journal.counts().get("pending", 0) == 0
                        and sum(journal.counts().values()) == len(log)
                    ),
                    120,
                    "events were not all processed",
                )

            # The warehouse equals the ground truth again: revisions, new documents, deletions.
            counts = assert_warehouse_equals_truth(
                db, world, *truth_span(world), users=[0, 1], collections=ROUTES
            )
            assert counts["sleep"] > 10 and counts["daily_activity"] > 10

            entries = journal.entries()
            user_of = {u.user_id: u.index for u in world.users}
            kinds = Counter((user_of[e["user_id"]], e["event_type"]) for e in entries)
            for user in (0, 1):
                assert (
                    kinds[(user, "create")] and kinds[(user, "update")] and kinds[(user, "delete")]
                ), kinds
            assert all(
                e["status"] == "done" and e["processed"] == 1
                for e in entries
                if user_of[e["user_id"]] < 2
            )
            theirs = [e for e in entries if user_of[e["user_id"]] == 2]
            assert theirs and all(
                e["status"] == "dropped" and "no saved login" in e["last_error"] for e in theirs
            )
            with duckdb.connect(str(db), read_only=True) as con:
                assert con.execute(
                    "SELECT count(*) FROM oura_raw.sleep WHERE user_id = ?",
                    [world.users[2].user_id],
                ).fetchone() == (0,)
            for entry in (
                e for e in entries if e["event_type"] == "delete" and user_of[e["user_id"]] < 2
            ):
                table = COLLECTION_OF[entry["data_type"]]
                assert entry["object_id"] not in {r["id"] for r in read_table(db, table)}

            # Oura retrying a delivered event (a replay) is acknowledged and changes nothing.
            delivered = deliveries(sb)[0]
            sb.http.post(
                f"{base}/_sandbox/webhooks/deliveries/{delivered['id']}/redeliver", timeout=10
            )
            wait_until(
                lambda: receiver.state.stats["duplicates"] == 1, 10, "the replay did not arrive"
            )
            assert len(journal.entries()) == len(entries)
    finally:
        stop.set()
        wake.set()
        thread.join(timeout=30)
        worker.close()
        journal.close()


def test_events_worker_cannot_load_are_dropped_not_fatal(sandbox, tmp_path, isolated_home):
    save_profile("alice", 0, sandbox.base_url, user_id=sandbox.world.users[0].user_id)
    journal = Journal(tmp_path / "journal.sqlite3")
    user = sandbox.world.users[0].user_id
    doc = sandbox.world.documents(0, "sleep", sandbox.world.local_today(0) - timedelta(days=1))[0]
    unknown_id = "00000000-0000-4000-8000-000000000000"
    at, later = "2026-11-20T08:00:00+00:00", "2026-11-20T09:00:00+00:00"
    events = [
        WebhookEvent("create", "meal", "m-1", at, user),  # a type with no route to fetch it from
        WebhookEvent("update", "sleep", doc["id"], at, "someone-else"),  # nobody logged in as them
        WebhookEvent("update", "sleep", doc["id"], at, user),
        WebhookEvent("update", "sleep", doc["id"], later, user),  # the same document twice
        WebhookEvent("update", "workout", unknown_id, at, user),  # the API has no such document
    ]
    assert all(journal.accept(event) for event in events)
    db = tmp_path / "oura.duckdb"
    worker = Worker(
        journal,
        endpoints=sandbox_endpoints(sandbox.base_url),
        duckdb_path=db,
        budget=RateBudget(10_000, 1),
        policy=FAST_RETRIES,
    )
    try:
        result = worker.drain()
        assert (result.taken, result.merged, result.deleted, result.dropped) == (5, 2, 1, 2)
        statuses = [(e["data_type"], e["status"]) for e in journal.entries()]
        assert statuses == [
            ("meal", "dropped"),
            ("sleep", "dropped"),
            ("sleep", "done"),
            ("sleep", "done"),
            ("workout", "done"),
        ]
        (row,) = read_table(db, "sleep")
        assert mismatches("sleep", {"user_id": user, **doc}, row) == []
        # No copies of people's documents stay in the worker's dlt folder.
        (loaded,) = isolated_home.glob("pipelines/*/oura_webhooks_worker/load/loaded")
        assert list(loaded.iterdir()) == []

        # Logged out (or erased) meanwhile: their events are dropped at once, nothing is fetched.
        TokenStore("alice").delete()
        requests_before = sandbox.stats().get("requests", 0)
        assert journal.accept(
            WebhookEvent("update", "sleep", doc["id"], "2026-11-20T10:00:00+00:00", user)
        )
        assert worker.drain().dropped == 1
        assert sandbox.stats().get("requests", 0) == requests_before
    finally:
        worker.close()
        journal.close()


def test_a_receiver_killed_before_processing_loses_nothing_and_processes_each_event_once(
    sandbox_factory, tmp_path, isolated_home
):
    sb = sandbox_factory(users=2, history_days=HISTORY_DAYS, seed=SEED, webhooks=FAST_WEBHOOKS)
    world, base = sb.world, sb.base_url
    save_profile("alice", 0, base, user_id=world.users[0].user_id)
    save_profile("bob", 1, base, user_id=None)
    db = tmp_path / "oura.duckdb"
    token = "crash-test-verification-token"
    port = free_port()
    callback = f"http://127.0.0.1:{port}/oura/webhook"
    env = {
        **os.environ,
        "OURA_ELT_HOME": str(isolated_home),
        "OURA_API_BASE_URL": base,
        "OURA_CLIENT_ID": SANDBOX_CLIENT_ID,
        "OURA_CLIENT_SECRET": SANDBOX_CLIENT_SECRET,
        "OURA_WEBHOOK_VERIFICATION_TOKEN": token,
    }
    command = [
        sys.executable,
        "-c",
        "from oura_elt.commands.webhooks import app; app(prog_name='oura-elt webhooks')",
        "serve",
        "--port",
        str(port),
        "--duckdb-path",
        str(db),
        "--log-level",
        "warning",
    ]
    journal_path = default_journal_path()

    def counts() -> dict[str, int]:
        if not journal_path.exists():
            return {}
        with sqlite3.connect(f"file:{journal_path}?mode=ro", uri=True) as con:
            return dict(
                con.execute("SELECT status, count(*) FROM events GROUP BY status").fetchall()
            )

    def start(log: Path) -> subprocess.Popen:
        process = subprocess.Popen(command, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)

        def up() -> bool:
            assert process.poll() is None, log.read_text()
            try:
                return (
                    requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
                )
            except requests.ConnectionError:
                return False

        wait_until(up, 30, "the receiver did not start", interval=0.1)
        return process

    # The worker can fetch but not write while the test holds the warehouse lock.
    with locks.warehouse_lock("duckdb", db, "oura_raw"):
        first = start(tmp_path / "first.log")
        try:
            outcomes = subscribe(
                callback, token, client=SubscriptionClient(sandbox_endpoints(base))
            )
            assert {o.action for o in outcomes} == {"created"}
            sb.reset_stats()
            sb.advance(days=1)
            log = all_delivered(sb)
            accepted = len(log)
            assert counts() == {"pending": accepted} and accepted > 20
            wait_until(
                lambda: sb.stats().get("requests", 0) > 0, 60, "the worker never started fetching"
            )
            time.sleep(0.3)
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        assert counts() == {"pending": accepted}  # killed mid-pass: nothing done, nothing lost

    second = start(tmp_path / "second.log")
    try:
        wait_until(
            lambda: counts() == {"done": accepted},
            120,
            "the restarted worker did not process the journal",
        )
    finally:
        second.send_signal(signal.SIGINT)
        assert second.wait(timeout=30) == 0, (tmp_path / "second.log").read_text()

    with sqlite3.connect(f"file:{journal_path}?mode=ro", uri=True) as con:
        events = con.execute(
            "SELECT user_id, data_type, object_id, processed FROM events"
        ).fetchall()
    assert len(events) == accepted and all(processed == 1 for *_, processed in events)
    # Exactly once in the warehouse: each changed document's row equals the world's; gone ones
    # are absent.
    expected: dict[str, dict[tuple, dict]] = {}
    for user_id, data_type, object_id, _ in events:
        found = world.find_document(WEBHOOK_DATA_TYPES[data_type], object_id)
        if found is not None:
            expected.setdefault(COLLECTION_OF[data_type], {})[(user_id, object_id)] = {
                "user_id": user_id,
                **found[1],
            }
    for table in {COLLECTION_OF[data_type] for _, data_type, _, _ in events}:
        docs = expected.get(table, {})
        rows = read_table(db, table)
        assert sorted((r["user_id"], r["id"]) for r in rows) == sorted(docs), table
        for row in rows:
            assert mismatches(table, docs[(row["user_id"], row["id"])], row) == []
    assert sum(len(d) for d in expected.values()) > 10
