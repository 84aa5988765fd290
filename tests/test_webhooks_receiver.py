"""The webhook receiver over real HTTP: Oura's challenge, and every way a call can be
wrong (forged or foreign signature, stale or future timestamp, replay, oversized or
malformed body) answered with the right status and nothing journaled."""

from __future__ import annotations

import json
import sqlite3
import stat
import time

import pytest
import requests
from webhook_helpers import oura_signature, serving

from pipelines.webhooks.journal import Journal
from pipelines.webhooks.receiver import ReceiverConfig, create_receiver
from sandbox.application import SANDBOX_CLIENT_SECRET

TOKEN = "verification-token-for-tests"
EVENT = {
    "event_type": "update",
    "data_type": "sleep",
    "object_id": "9fc867f2-b455-4c41-a05a-751c6e764ffa",
    "event_time": "2026-11-20T08:21:00+00:00",
    "user_id": "bd913327d56d-a0adf03b515a1d8ed46082e",
}


@pytest.fixture
def receiver(tmp_path):
    """(callback URL, journal, app) of a receiver on a free port."""
    journal = Journal(tmp_path / "webhooks" / "journal.sqlite3")
    woken = []
    app = create_receiver(
        ReceiverConfig(SANDBOX_CLIENT_SECRET, TOKEN), journal, on_accept=lambda: woken.append(1)
    )
    app.state.woken = woken
    with serving(app) as base:
        yield base + "/oura/webhook", journal, app
    journal.close()


def post(
    url: str,
    body: bytes,
    *,
    secret: str = SANDBOX_CLIENT_SECRET,
    stamp: str | None = None,
    signature: str | None = None,
    headers: dict | None = None,
) -> requests.Response:
    """POST `body` signed like Oura (or with the given pieces)."""
    stamp = str(int(time.time())) if stamp is None else stamp
    sent = {
        "content-type": "application/json",
        "x-oura-timestamp": stamp,
        "x-oura-signature": signature or oura_signature(secret, stamp, body),
    }
    sent.update(headers or {})
    return requests.post(
        url, data=body, headers={k: v for k, v in sent.items() if v is not None}, timeout=10
    )


def compact(event: dict) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()


def test_the_challenge_is_answered_only_for_our_token(receiver):
    url, journal, _ = receiver
    ok = requests.get(url, params={"verification_token": TOKEN, "challenge": "c-123"}, timeout=10)
    assert ok.status_code == 200 and ok.json() == {"challenge": "c-123"}
    wrong = requests.get(
        url, params={"verification_token": "guess", "challenge": "c-123"}, timeout=10
    )
    assert wrong.status_code == 401 and "c-123" not in wrong.text
    assert requests.get(url, params={"challenge": "c-123"}, timeout=10).status_code == 400
    assert journal.counts() == {}


def test_a_signed_event_is_journaled_durably_before_the_answer(receiver, tmp_path):
    url, journal, app = receiver
    started = time.monotonic()
    answer = post(url, compact(EVENT))
    assert answer.status_code == 200 and answer.json() == {"status": "accepted"}
    assert time.monotonic() - started < 1.0
    (entry,) = journal.entries()
    assert {k: entry[k] for k in EVENT} == EVENT and entry["status"] == "pending"
    assert app.state.woken == [1]
    # On disk (another connection sees it), in WAL mode, fsynced on every commit, private.
    with sqlite3.connect(journal.path) as other:
        assert other.execute("SELECT count(*) FROM events").fetchone() == (1,)
        assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert journal._db.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
    assert stat.S_IMODE(journal.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(journal.path.parent.stat().st_mode) == 0o700


def test_signatures_are_hex_in_any_case_and_may_cover_the_compact_body(receiver):
    url, journal, _ = receiver
    body = compact({**EVENT, "object_id": "lower"})
    stamp = str(int(time.time()))
    assert (
        post(
            url,
            body,
            stamp=stamp,
            signature=oura_signature(SANDBOX_CLIENT_SECRET, stamp, body).lower(),
        ).status_code
        == 200
    )
    # Oura's Node sample signs JSON.stringify(parsed body): a body sent with spaces still verifies.
    spaced = json.dumps({**EVENT, "object_id": "spaced"}, indent=2).encode()
    signature = oura_signature(
        SANDBOX_CLIENT_SECRET, stamp, compact({**EVENT, "object_id": "spaced"})
    )
    assert post(url, spaced, stamp=stamp, signature=signature).status_code == 200
    assert journal.counts() == {"pending": 2}


def test_forged_foreign_stale_and_unsigned_calls_are_refused_and_not_journaled(receiver):
    url, journal, app = receiver
    body = compact(EVENT)
    now = int(time.time())
    refused = {
        "forged signature": post(url, body, signature="A" * 64),
        "other app's secret": post(url, body, secret="oura-elt-sandbox-v2-secret"),
        "signature of another body": post(
            url,
            body,
            signature=oura_signature(
                SANDBOX_CLIENT_SECRET, str(now), compact({**EVENT, "object_id": "x"})
            ),
        ),
        "timestamp swapped after signing": post(
            url,
            body,
            stamp=str(now + 1),
            signature=oura_signature(SANDBOX_CLIENT_SECRET, str(now), body),
        ),
        "stale": post(url, body, stamp=str(now - 600)),
        "from the future": post(url, body, stamp=str(now + 600)),
        "unsigned": post(url, body, headers={"x-oura-signature": None}),
        "no timestamp": requests.post(
            url,
            data=body,
            headers={"x-oura-signature": oura_signature(SANDBOX_CLIENT_SECRET, "", body)},
            timeout=10,
        ),
        "non-ASCII signature": post(url, body, signature="é" * 64),
    }
    for case, answer in refused.items():
        assert answer.status_code == 401, case
    assert post(url, body, stamp="yesterday").status_code == 400
    assert journal.counts() == {}
    # Within the clock-skew window it is fine.
    assert post(url, body, stamp=str(now - 200)).status_code == 200
    assert journal.counts() == {"pending": 1}
    assert app.state.stats["rejected:signature"] == 5 and app.state.stats["rejected:stale"] == 2


def test_replays_and_retries_are_acknowledged_once(receiver):
    url, journal, app = receiver
    body = compact(EVENT)
    first = post(url, body)
    stamp = first.request.headers["x-oura-timestamp"]
    replay = requests.post(url, data=body, headers=dict(first.request.headers), timeout=10)
    retry = post(url, body, stamp=str(int(stamp) + 1))  # Oura's retry: same event, new signature
    assert [first.json(), replay.json(), retry.json()] == [
        {"status": "accepted"},
        {"status": "duplicate"},
        {"status": "duplicate"},
    ]
    assert replay.status_code == retry.status_code == 200  # 2xx, so Oura stops retrying
    assert journal.counts() == {"pending": 1} and app.state.woken == [1]
    later = post(url, compact({**EVENT, "event_time": "2026-11-20T09:00:00+00:00"}))
    assert later.json() == {
        "status": "accepted"
    }  # a new change of the same document is a new event


def test_oversized_bodies_are_refused_while_reading(receiver):
    url, journal, _ = receiver
    big = compact({**EVENT, "padding": "x" * 70_000})
    assert post(url, big).status_code == 413

    def chunks():  # no Content-Length: the limit holds while streaming
        yield compact(EVENT)[:-1]
        for _ in range(80):
            yield b', "pad": "' + b"x" * 1000 + b'"'
        yield b"}"

    stamp = str(int(time.time()))
    answer = requests.post(
        url,
        data=chunks(),
        headers={"x-oura-timestamp": stamp, "x-oura-signature": "0" * 64},
        timeout=10,
    )
    assert answer.status_code == 413
    assert journal.counts() == {}


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        compact({k: v for k, v in EVENT.items() if k != "object_id"}),
        compact({**EVENT, "event_type": "upsert"}),
        compact({**EVENT, "user_id": 42}),
        compact({**EVENT, "event_time": "yesterday"}),
        compact({**EVENT, "object_id": "x" * 300}),
        b"",
    ],
)
def test_signed_but_malformed_bodies_are_400(receiver, body):
    url, journal, _ = receiver
    answer = post(url, body)
    assert answer.status_code == 400, answer.text
    assert journal.counts() == {}


def test_events_of_types_we_cannot_load_are_still_acknowledged(receiver):
    url, journal, _ = receiver
    assert (
        post(url, compact({**EVENT, "data_type": "meal"})).status_code == 200
    )  # the worker drops it
    assert journal.counts() == {"pending": 1}
