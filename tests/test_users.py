"""`pipelines.users` and `oura-elt users` against a real sandbox (OAuth logins, loads, dbt).

One cohort is built once per module: alice and bob log in through the real OAuth flow
(the test plays the browser) and are loaded; then carol is added and loaded (which must
leave alice's and bob's rows, progress, state and logins byte-identical); then dbt
builds the marts. Every test starts from a pristine copy of that warehouse and home
(same paths, so the loader's per-warehouse pipeline folders still match).
"""

from __future__ import annotations

import hashlib
import json
import os
import pty
import queue
import select
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import duckdb
import pytest
import requests
from conftest import CLOCK, forget_failed_default_credentials
from typer.testing import CliRunner

from oura_elt.commands.sandbox import sandbox_endpoints
from oura_elt.commands.users import app as users_app
from oura_elt.console import console
from pipelines.auth import StaticTokenProvider, TokenRecord, TokenStore, login
from pipelines.core.target import Target, warehouse_lock
from pipelines.load import load
from pipelines.oura.helpers import RetryPolicy
from pipelines.oura.kinds import latest_day
from pipelines.oura.ratelimit import RateBudget
from pipelines.people import (
    WarehouseBusy,
    erase_user,
    list_users,
    resolve_removal,
)
from pipelines.people.leftovers import pipelines_dir
from sandbox.oauth import ALL_SCOPES, AuthError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PEOPLE = {"alice": 0, "bob": 1, "carol": 2}  # profile -> sandbox user index
HISTORY_DAYS = 30  # seed 9: users 1 and 2 start 1 and 5 days later (every user has data)
FAST_RETRIES = RetryPolicy(backoff_seconds=0.01, max_backoff_seconds=0.05, read_timeout=5)
# The CLI root with the users group registered as the lead will (`oura_elt.cli.main`
# turns errors into one line).
CLI = (
    "import sys; from oura_elt import cli; from oura_elt.commands import users; "
    "[g for g in cli.app.registered_groups if g.name == 'users'] or "
    "cli.app.add_typer(users.app, name='users'); sys.argv[0] = 'oura-elt'; cli.main()"
)


# --------------------------------------------------------------------------- helpers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def browser_login(base_url: str, callback_uri: str, profile: str, user_index: int) -> TokenRecord:
    """`login()` in a thread while this thread consents as sandbox user `user_index`."""
    urls: queue.Queue[str] = queue.Queue()
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["record"] = login(
                profile, endpoints=sandbox_endpoints(base_url), redirect_uri=callback_uri,
                open_browser=False, timeout=20, show_url=urls.put,
            )  # fmt: skip
        except Exception as exc:  # handed to the test
            outcome["record"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    authorize = urls.get(timeout=10) + "&" + urlencode({"sandbox_user": user_index})
    consent = requests.get(authorize, allow_redirects=False, timeout=10)
    assert consent.status_code == 302, consent.text
    requests.get(consent.headers["location"], timeout=30)
    thread.join(timeout=30)
    record = outcome["record"]
    assert isinstance(record, TokenRecord), record
    return record


def load_profile(base_url: str, db: Path, profile: str):
    """Load a profile's whole sandbox history (one chunk: from the first day with data)."""
    return load(
        profile, endpoints=sandbox_endpoints(base_url), duckdb_path=db, now=CLOCK,
        start_date=CLOCK.date() - timedelta(days=HISTORY_DAYS), budget=RateBudget(10_000, 1),
        policy=FAST_RETRIES,
    )  # fmt: skip


def base_tables(con) -> list[tuple[str, str, set[str]]]:
    rows = con.execute(
        "SELECT c.table_schema, c.table_name, list(c.column_name)"
        " FROM information_schema.columns c"
        " JOIN information_schema.tables t USING (table_catalog, table_schema, table_name) "
        "WHERE t.table_type = 'BASE TABLE' GROUP BY 1, 2 ORDER BY 1, 2"
    ).fetchall()
    return [(s, n, set(cols)) for s, n, cols in rows]


def rows_by_user(
    db: Path, schema_only: str | None = None, *, md5: bool = False
) -> dict[tuple[str, str], tuple]:
    """(schema.table, user_id) -> (row count, fingerprint) over every table with user_id.

    The fingerprint is the sum of 64-bit hashes of whole rows (every column), or with
    `md5` the md5 of the rows' text sorted and joined (slower, byte for byte).
    """
    fingerprint = (
        "md5(string_agg(t::VARCHAR, chr(10) ORDER BY t::VARCHAR))" if md5 else "sum(hash(t))"
    )
    out: dict[tuple[str, str], tuple] = {}
    with duckdb.connect(str(db), read_only=True) as con:
        for schema, name, columns in base_tables(con):
            if "user_id" not in columns or schema_only not in (None, schema):
                continue
            for user_id, count, digest in con.execute(
                f'SELECT user_id, count(*), {fingerprint} FROM "{schema}"."{name}" AS t'
                " GROUP BY user_id"
            ).fetchall():
                out[(f"{schema}.{name}", user_id)] = (count, digest)
    return out


def bookkeeping(db: Path) -> tuple[dict[str, str], set[str]]:
    """dlt's pipeline state (pipeline -> md5 of its rows) and the load ids in `_dlt_loads`."""
    with duckdb.connect(str(db), read_only=True) as con:
        state = dict(
            con.execute(
                "SELECT pipeline_name, md5(string_agg(s::VARCHAR, chr(10) ORDER BY s::VARCHAR)) "
                "FROM oura_raw._dlt_pipeline_state AS s GROUP BY 1"
            ).fetchall()
        )
        loads = {r[0] for r in con.execute("SELECT load_id FROM oura_raw._dlt_loads").fetchall()}
    return state, loads


def schema_facts(db: Path) -> tuple:
    """Columns (types, nullability, comments), constraints and view definitions of the file."""
    with duckdb.connect(str(db), read_only=True) as con:
        where = "WHERE database_name = current_database()"
        return tuple(
            con.execute(sql).fetchall()
            for sql in (
                "SELECT schema_name, table_name, column_index, column_name, data_type,"
                f" is_nullable, comment FROM duckdb_columns() {where} ORDER BY ALL",
                "SELECT schema_name, table_name, constraint_type, constraint_text"
                f" FROM duckdb_constraints() {where} ORDER BY ALL",
                "SELECT schema_name, view_name, sql, comment"
                f" FROM duckdb_views() {where} AND NOT internal ORDER BY ALL",
            )
        )


def load_ids_of(db: Path, user_id: str) -> set[str]:
    with duckdb.connect(str(db), read_only=True) as con:
        return {
            r[0]
            for r in con.execute(
                "SELECT DISTINCT _dlt_load_id FROM oura_raw._oura_load_progress WHERE user_id = ?",
                [user_id],
            ).fetchall()
        }


def folder_digest(folder: Path) -> str:
    digest = hashlib.md5()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def person_state(db: Path, home: Path, profiles: list[str], user_ids: list[str]) -> dict:
    """Everything of these people: rows per table, progress, dlt state, logins, pipeline folders."""
    rows = rows_by_user(
        db, "oura_raw", md5=True
    )  # dlt's staging copy is scratch, emptied by every merge
    state, _ = bookkeeping(db)
    folders = pipelines_dir(db.resolve(), "oura_raw")
    return {
        "rows": {k: v for k, v in rows.items() if k[1] in user_ids},
        "state": {p: state.get(f"oura_{p}") for p in profiles},
        "logins": {p: (home / "profiles" / p / "token.json").read_bytes() for p in profiles},
        "folders": {p: folder_digest(folders / f"oura_{p}") for p in profiles},
    }


def run_main(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """`oura_elt.cli.main()` in this process, with the users group registered as the lead will."""
    from typer.models import TyperInfo

    from oura_elt import cli

    groups = [g for g in cli.app.registered_groups if g.name != "users"]
    monkeypatch.setattr(cli.app, "registered_groups", [*groups, TyperInfo(users_app, name="users")])
    monkeypatch.setattr(sys, "argv", ["oura-elt", *args])
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def token_works(cohort: Cohort, token: str) -> bool:
    try:
        cohort.sandbox.oauth.authenticate(f"Bearer {token}")
    except AuthError:
        return False
    return True


# --------------------------------------------------------------------------- the cohort


@dataclass
class Cohort:
    base_url: str
    sandbox: object  # sandbox.server.Sandbox
    db: Path
    home: Path
    pristine_db: Path
    pristine_home: Path
    records: dict[str, TokenRecord]
    user_ids: dict[str, str]
    before_carol: dict
    after_carol: dict
    carol_rows: int
    started: float


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Cohort:
    from pipelines.transform import transform
    from sandbox.runner import start_in_thread
    from sandbox.server import SandboxSettings

    base = tmp_path_factory.mktemp("users")
    db, home = base / "oura.duckdb", base / "home"
    callback = f"http://127.0.0.1:{free_port()}/callback/"
    running = start_in_thread(
        SandboxSettings(
            users=3, history_days=HISTORY_DAYS, now=CLOCK, seed=9, redirect_uris=(callback,)
        )
    )
    started = time.time()
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("OURA_ELT_HOME", str(home))
            for name in [n for n in os.environ if n.startswith("OURA_") and n != "OURA_ELT_HOME"]:
                mp.delenv(name)
            records = {}
            for profile in ("alice", "bob"):
                records[profile] = browser_login(
                    running.base_url, callback, profile, PEOPLE[profile]
                )
                load_profile(running.base_url, db, profile)
            ids = {p: r.user_id for p, r in records.items()}
            before = person_state(db, home, ["alice", "bob"], list(ids.values()))

            records["carol"] = browser_login(running.base_url, callback, "carol", PEOPLE["carol"])
            summary = load_profile(running.base_url, db, "carol")
            after = person_state(db, home, ["alice", "bob"], list(ids.values()))
            # Models only: the data tests belong to the dbt suites; here the marts' rows matter.
            transform(
                db,
                target_path=base / "dbt-target",
                exclude=["resource_type:test", "resource_type:unit_test"],
            )
    except BaseException:
        running.stop()
        raise
    shutil.copy(db, base / "pristine.duckdb")
    shutil.copytree(home, base / "pristine-home")
    yield Cohort(
        running.base_url, running.sandbox, db, home,
        base / "pristine.duckdb", base / "pristine-home",
        records, {p: r.user_id for p, r in records.items()}, before, after,
        summary.total_documents, started,
    )  # fmt: skip
    running.stop()


@pytest.fixture
def world(cohort, monkeypatch) -> Cohort:
    """The cohort's warehouse and home, restored to how the module fixture left them."""
    shutil.copy(cohort.pristine_db, cohort.db)
    shutil.rmtree(cohort.home, ignore_errors=True)
    shutil.copytree(cohort.pristine_home, cohort.home)
    monkeypatch.setenv("OURA_ELT_HOME", str(cohort.home))
    return cohort


# --------------------------------------------------------------------------- adding a person


def test_adding_a_person_leaves_everyone_else_untouched(cohort):
    assert len(set(cohort.user_ids.values())) == 3
    before, after = cohort.before_carol, cohort.after_carol
    raw = {k for k in before["rows"] if k[0].startswith("oura_raw.")}
    for profile in ("alice", "bob"):  # the snapshot is not vacuous
        uid = cohort.user_ids[profile]
        assert before["rows"][("oura_raw.heartrate", uid)][0] > 1000
        assert before["rows"][("oura_raw._oura_load_progress", uid)][0] > 0
        assert before["state"][profile] and before["logins"][profile]
    assert len(raw) >= 30
    assert after == before  # rows, progress, dlt state, logins and pipeline folders: identical
    assert cohort.carol_rows > 1000
    carol = {
        k: v
        for k, v in rows_by_user(cohort.pristine_db).items()
        if k[1] == cohort.user_ids["carol"]
    }
    assert carol[("oura_raw.heartrate", cohort.user_ids["carol"])][0] > 1000


# --------------------------------------------------------------------------- listing


def test_listing_shows_user_id_scopes_expiry_and_last_load(world):
    people = {p.profile: p for p in list_users(world.db)}
    assert sorted(people) == ["alice", "bob", "carol"]
    stored = rows_by_user(world.db)
    for profile, person in people.items():
        assert person.user_id == world.user_ids[profile]
        assert person.user_id == world.sandbox.world.users[PEOPLE[profile]].user_id
        assert set(person.scopes) == set(ALL_SCOPES)
        assert person.expires_at == world.records[profile].expires_at > time.time() + 3600
        assert world.started - 5 <= person.last_load_at.timestamp() <= time.time()
        raw_docs = sum(
            count
            for (table, uid), (count, _) in stored.items()
            if uid == person.user_id
            and table.startswith("oura_raw.")
            and table != "oura_raw._oura_load_progress"
        )
        assert person.documents == raw_docs > 1000
        # The days the last load read: through today wherever today began first (UTC+14).
        assert person.first_day <= person.last_day == latest_day(CLOCK)

    result = CliRunner().invoke(users_app, ["--duckdb", str(world.db)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= console.width  # wrapped for the terminal (80 here)
    for profile, uid in world.user_ids.items():
        at = lines.index(next(line for line in lines if line.startswith(profile)))
        block = " ".join(" ".join(lines[at : at + 5]).split())
        person = people[profile]
        assert (
            block.startswith(f"{profile} {uid} scopes daily ") and "token expires in 23 h" in block
        )
        assert (
            f"last load {person.last_load_at.astimezone():%Y-%m-%d %H:%M}"
            f" ({person.documents:,} documents, days {person.first_day} .. {person.last_day})"
            in block
        )
    as_json = CliRunner().invoke(users_app, ["--duckdb", str(world.db), "--json"])
    assert [p["user_id"] for p in json.loads(as_json.output)] == [
        world.user_ids[p] for p in ("alice", "bob", "carol")
    ]
    assert (
        "access_token" not in as_json.output
        and world.records["alice"].access_token not in as_json.output
    )


def test_listing_while_a_load_holds_the_file_lists_logins_only(world):
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ok', flush=True); "
         "sys.stdin.read()", str(world.db)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "ok"
        with pytest.raises(WarehouseBusy):
            list_users(world.db)
        result = CliRunner().invoke(users_app, ["--duckdb", str(world.db)])
        assert result.exit_code == 1 and "error: " in result.output  # a script sees it was partial
        assert result.output.count("unknown (the warehouse is busy)") == 3
        assert world.user_ids["alice"] in result.output
    finally:
        holder.communicate("")


# --------------------------------------------------------------------------- erasure


def test_erase_removes_exactly_one_person_and_nothing_else(world):
    bob, token = world.user_ids["bob"], world.records["bob"].access_token
    others = [world.user_ids["alice"], world.user_ids["carol"]]
    before = rows_by_user(world.db)
    state_before, loads_before = bookkeeping(world.db)
    bob_loads = load_ids_of(world.db, bob)
    folders = pipelines_dir(world.db.resolve(), "oura_raw")
    assert token_works(world, token)
    bob_tables = {table for (table, uid) in before if uid == bob}
    for table in (
        "oura_raw.heartrate",
        "oura_raw.sleep",
        "oura_raw._oura_load_progress",
        "oura_marts.daily_summary",
        "oura_marts.heart_rate_samples",
        "oura_marts.sleep_epochs",
        "oura_marts.users",
    ):
        assert table in bob_tables, table  # bob really is in the raw tables and the marts
    assert all(table.split(".")[0] in ("oura_raw", "oura_marts") for table in bob_tables)
    assert bob_loads and bob_loads <= loads_before and (folders / "oura_bob" / "load").is_dir()
    with duckdb.connect(str(world.db), read_only=True) as con:
        state_rows = con.execute(
            "SELECT count(*) FROM oura_raw._dlt_pipeline_state WHERE pipeline_name = 'oura_bob'"
        ).fetchone()[0]
    assert state_rows >= 1
    facts = schema_facts(world.db)
    assert bob.encode() in world.db.read_bytes()

    result = CliRunner().invoke(
        users_app, ["remove", "bob", "--erase", "--yes", "--duckdb", str(world.db)]
    )
    assert result.exit_code == 0, result.output

    after = rows_by_user(world.db)
    assert not [k for k in after if k[1] == bob]  # every table: none of bob's rows left
    assert {k: v for k, v in after.items() if k[1] in others} == {
        k: v for k, v in before.items() if k[1] in others
    }
    state_after, loads_after = bookkeeping(world.db)
    assert "oura_bob" not in state_after
    assert state_after == {k: v for k, v in state_before.items() if k != "oura_bob"}
    assert loads_after == loads_before - bob_loads
    assert (
        bob.encode() not in world.db.read_bytes()
    )  # the file was rewritten: no stale bytes either
    assert schema_facts(world.db) == facts  # same tables, types, constraints, comments and views
    with duckdb.connect(str(world.db), read_only=True) as con:  # the dbt views still resolve
        assert con.execute(
            "SELECT count(DISTINCT user_id) FROM oura_staging.stg_oura__sleep_periods"
        ).fetchone() == (2,)
    assert not (folders / "oura_bob").exists()
    assert (folders / "oura_alice").is_dir() and (folders / "oura_carol").is_dir()
    assert not TokenStore("bob").exists() and TokenStore("alice").exists()
    assert not token_works(world, token)  # revoked at the sandbox, refresh token included
    refresh = requests.post(
        world.base_url + "/oauth/token",
        timeout=10,
        data={
            "grant_type": "refresh_token",
            "refresh_token": world.records["bob"].refresh_token,
            "client_id": world.records["bob"].client_id,
            "client_secret": world.records["bob"].client_secret,
        },
    )
    assert refresh.status_code == 400 and refresh.json()["error"] == "invalid_grant"
    assert (
        requests.get(
            world.base_url + "/v2/usercollection/personal_info",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).status_code
        == 401
    )

    bob_rows = sum(count for (table, uid), (count, _) in before.items() if uid == bob)
    total = bob_rows + state_rows + len(bob_loads)  # + bob's pipeline state and load records
    assert f"total {total:,}" in " ".join(result.output.split())
    assert (
        f"oura_marts.heart_rate_samples {before[('oura_marts.heart_rate_samples', bob)][0]:,}"
        in " ".join(result.output.split())
    )
    assert "Revoked the login of profile 'bob'" in result.output

    # Added again, bob starts clean and gets all of his data back.
    store = TokenStore("bob")  # a sandbox personal token stands in for a new login
    with store.lock():
        store.save(world.records["bob"].replace(access_token="sandbox-pat-1", refresh_token=None))
    load_profile(world.base_url, world.db, "bob")
    again = rows_by_user(world.db)
    for (table, uid), (count, _) in before.items():
        if uid == bob and table.startswith("oura_raw.") and table != "oura_raw._oura_load_progress":
            assert again[(table, uid)][0] == count, table


def test_remove_without_erase_keeps_rows_then_erase_by_user_id(world):
    carol, token = world.user_ids["carol"], world.records["carol"].access_token
    before = rows_by_user(world.db)
    # Loads empty dlt's merge staging once committed: no second copy of anyone's rows.
    assert not [table for table, _ in before if table.startswith("oura_raw_staging.")]
    assert token_works(world, token)

    kept = CliRunner().invoke(users_app, ["remove", "carol", "--yes", "--duckdb", str(world.db)])
    assert kept.exit_code == 0, kept.output
    assert "Kept every row" in kept.output and carol in kept.output
    assert rows_by_user(world.db) == before
    assert not TokenStore("carol").exists() and not token_works(world, token)
    listed = {p.user_id: p for p in list_users(world.db)}
    assert listed[carol].profile is None and listed[carol].documents > 1000

    erased = CliRunner().invoke(
        users_app,
        [
            "remove",
            "--user-id",
            carol,
            "--erase",
            "--yes",
            "--no-compact",
            "--duckdb",
            str(world.db),
        ],
    )
    assert erased.exit_code == 0, erased.output
    assert "Rewrote" not in erased.output
    after = rows_by_user(world.db)
    assert not [k for k in after if k[1] == carol]
    assert after == {k: v for k, v in before.items() if k[1] != carol}
    assert not (
        pipelines_dir(world.db.resolve(), "oura_raw") / "oura_carol"
    ).exists()  # found via its loads
    assert "oura_carol" not in bookkeeping(world.db)[0]
    assert carol not in {p.user_id for p in list_users(world.db)}


def test_a_profile_never_loaded_erases_nothing_and_says_so(world):
    record = world.records["alice"].replace(
        profile="dora", user_id=None, access_token="not-a-token", refresh_token=None
    )
    store = TokenStore("dora")
    with store.lock():
        store.save(record)
    before, books = rows_by_user(world.db), bookkeeping(world.db)
    removal = resolve_removal("dora", duckdb_path=world.db)
    assert removal.user_id is None and removal.user_id_source == "unknown"

    result = CliRunner().invoke(
        users_app, ["remove", "dora", "--erase", "--yes", "--duckdb", str(world.db)]
    )
    assert result.exit_code == 0, result.output
    assert "unknown (never loaded): erased no data rows" in result.output
    assert rows_by_user(world.db) == before and bookkeeping(world.db) == books
    assert not store.exists()


def test_child_tables_are_erased_through_root_and_parent_ids(tmp_path):
    """dlt child tables carry no user_id: merge children link by _dlt_root_id, append ones by
    _dlt_parent_id."""
    import dlt

    db = tmp_path / "kids.duckdb"
    rows = [
        {
            "user_id": uid,
            "id": f"{uid}-{n}",
            "items": [{"k": i, "deep": [{"v": i * 10 + j} for j in range(2)]} for i in range(3)],
        }
        for uid in ("u1", "u2")
        for n in range(2)
    ]
    pipeline = dlt.pipeline(
        "kids",
        destination=dlt.destinations.duckdb(str(db)),
        dataset_name="oura_raw",
        pipelines_dir=str(tmp_path / "dlt"),
    )
    pipeline.run(
        dlt.resource(rows, name="things", write_disposition="merge", primary_key=["user_id", "id"])
    )
    pipeline.run(dlt.resource(rows, name="notes", write_disposition="append"))

    def counts() -> dict[str, int]:
        with duckdb.connect(str(db), read_only=True) as con:
            return {
                f"{s}.{n}": con.execute(f'SELECT count(*) FROM "{s}"."{n}"').fetchone()[0]
                for s, n, cols in base_tables(con)
                if n.startswith(("things", "notes"))
            }

    before = counts()
    with duckdb.connect(str(db), read_only=True) as con:
        columns = {n: cols for s, n, cols in base_tables(con) if s == "oura_raw"}
    assert (
        "_dlt_root_id" in columns["things__items__deep"]
        and "user_id" not in columns["things__items__deep"]
    )
    assert (
        "_dlt_root_id" not in columns["notes__items__deep"]
        and "_dlt_parent_id" in columns["notes__items__deep"]
    )

    report = erase_user("u1", duckdb_path=db)
    after = counts()
    expected = {
        "things": 2,
        "things__items": 6,
        "things__items__deep": 12,
        "notes": 2,
        "notes__items": 6,
        "notes__items__deep": 12,
    }
    for table, gone in expected.items():
        assert report.deleted[f"oura_raw.{table}"] == gone
        assert (
            after[f"oura_raw.{table}"] == before[f"oura_raw.{table}"] - gone == gone
        )  # u2's half stays
    with duckdb.connect(str(db), read_only=True) as con:
        assert (
            con.execute(
                "SELECT count(*) FROM oura_raw.things__items__deep d JOIN oura_raw.things t "
                "ON t._dlt_id = d._dlt_root_id WHERE t.user_id = 'u2'"
            ).fetchone()[0]
            == 12
        )


# --------------------------------------------------------------------------- refusals


def test_unknown_profile_and_missing_yes_are_one_error_line(world, monkeypatch, capsys):
    code, out, err = run_main(
        monkeypatch,
        capsys,
        "users",
        "remove",
        "nobody",
        "--erase",
        "--yes",
        "--duckdb",
        str(world.db),
    )
    assert code == 2 and not out
    assert (
        err.count("\n") == 1
        and err.startswith("error: unknown profile 'nobody'")
        and "alice" in err
    )

    before = rows_by_user(world.db)
    code, out, err = run_main(
        monkeypatch, capsys, "users", "remove", "alice", "--erase", "--duckdb", str(world.db)
    )
    assert code == 2 and err.count("\n") == 1 and "--yes" in err
    code, out, err = run_main(
        monkeypatch, capsys, "users", "remove", "--user-id", world.user_ids["alice"], "--yes"
    )
    assert code == 2 and err.count("\n") == 1 and "add --erase" in err
    assert rows_by_user(world.db) == before and TokenStore("alice").exists()
    assert token_works(world, world.records["alice"].access_token)


def test_interactive_confirmation_no_changes_nothing(world):
    before = rows_by_user(world.db)
    primary, secondary = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OURA_")}
    env["OURA_ELT_HOME"] = str(world.home)
    proc = subprocess.Popen(
        [sys.executable, "-c", CLI,
         "users", "remove", "alice", "--erase", "--duckdb", str(world.db)],
        stdin=secondary, stdout=secondary, stderr=subprocess.PIPE, env=env, cwd=PROJECT_ROOT,
    )  # fmt: skip
    os.close(secondary)
    seen = b""
    deadline = time.monotonic() + 30
    while b"[y/N]" not in seen and time.monotonic() < deadline:
        if select.select([primary], [], [], 1)[0]:
            seen += os.read(primary, 4096)
    os.write(primary, b"n\n")
    _, stderr = proc.communicate(timeout=30)
    os.close(primary)
    prompt = " ".join(seen.decode().split())
    total = erase_user(
        world.user_ids["alice"], profile="alice", duckdb_path=world.db, dry_run=True
    ).total
    assert (
        total > sum(c for (t, u), (c, _) in before.items() if u == world.user_ids["alice"]) > 1000
    )
    assert (
        f"Erase all data of profile 'alice' (user {world.user_ids['alice']}): {total:,} rows"
        in prompt
    )
    assert proc.returncode == 1 and "not confirmed" in stderr.decode()
    assert rows_by_user(world.db) == before and TokenStore("alice").exists()


def test_a_busy_warehouse_is_refused_and_nothing_changes(world, monkeypatch, capsys):
    before = rows_by_user(world.db)
    with warehouse_lock(Target.of("duckdb", world.db)):  # what flows hold while loading or building
        with pytest.raises(WarehouseBusy, match="in use by a running load"):
            erase_user(world.user_ids["bob"], profile="bob", duckdb_path=world.db)
        code, _, err = run_main(
            monkeypatch,
            capsys,
            "users",
            "remove",
            "bob",
            "--erase",
            "--yes",
            "--duckdb",
            str(world.db),
        )
    assert code == 1 and err.count("\n") == 1 and "in use by a running load" in err

    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ok', flush=True); "
         "sys.stdin.read()", str(world.db)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "ok"
        with pytest.raises(WarehouseBusy):
            erase_user(world.user_ids["bob"], profile="bob", duckdb_path=world.db)
    finally:
        holder.communicate("")
    assert rows_by_user(world.db) == before
    assert (
        TokenStore("bob").exists()
        and (pipelines_dir(world.db.resolve(), "oura_raw") / "oura_bob").is_dir()
    )


def test_pipelines_dir_is_the_loaders(tmp_path):
    from pipelines.warehouse import make_pipeline

    db = tmp_path / "w.duckdb"
    pipeline, _ = make_pipeline("someone", "duckdb", db, "oura_raw")
    assert Path(pipeline.pipelines_dir) == pipelines_dir(db.resolve(), "oura_raw")


def test_erasure_also_forgets_the_person_in_the_webhook_journal(tmp_path):
    from pipelines.people import erase_user
    from pipelines.webhooks.journal import Journal, WebhookEvent
    from pipelines.webhooks.settings import default_journal_path

    journal = Journal(default_journal_path())
    for user, doc in (("bob-id", "d1"), ("bob-id", "d2"), ("carol-id", "d3")):
        journal.accept(
            WebhookEvent.from_json(
                {
                    "event_type": "update",
                    "data_type": "daily_sleep",
                    "object_id": doc,
                    "event_time": "2026-11-20T06:00:00+00:00",
                    "user_id": user,
                }
            )
        )
    journal.close()

    report = erase_user("bob-id", duckdb_path=tmp_path / "none.duckdb", dry_run=True)
    assert report.journal_rows == 2
    report = erase_user("bob-id", duckdb_path=tmp_path / "none.duckdb")
    assert report.journal_rows == 2 and not report.warehouse_found
    journal = Journal(default_journal_path())
    try:
        assert sorted(e["user_id"] for e in journal.entries()) == ["carol-id"]
    finally:
        journal.close()


# --------------------------------------------------------------------------- BigQuery


@dataclass
class BigQueryCohort:
    project: object  # bigquery_emulator.Project
    built_marts: list[str]


@pytest.fixture(scope="module")
def bq_cohort(cohort, local_bigquery, tmp_path_factory) -> BigQueryCohort:
    """The cohort's three people loaded into a project of the local BigQuery API too (their
    saved logins, from a copy of the home), with every mart the emulator can build."""
    from test_bigquery_transform import CANNOT_RUN

    from pipelines.transform import transform

    project = local_bigquery.project("userserasure")
    home = tmp_path_factory.mktemp("bq-users") / "home"
    shutil.copytree(cohort.pristine_home, home)
    with pytest.MonkeyPatch.context() as mp:
        # Keep dlt's staging copies (as a crashed load leaves them): the erasure must find them too.
        settings = {
            **project.env,
            "OURA_ELT_HOME": str(home),
            "LOAD__TRUNCATE_STAGING_DATASET": "false",
        }
        for name, value in settings.items():
            mp.setenv(name, value)
        forget_failed_default_credentials(mp)
        for profile in PEOPLE:
            # Their sandbox personal tokens: the OAuth logins may be revoked by then (the
            # sandbox outlives the tests that remove people).
            summary = load(
                profile, endpoints=sandbox_endpoints(cohort.base_url), destination="bigquery",
                now=CLOCK, start_date=CLOCK.date() - timedelta(days=HISTORY_DAYS),
                budget=RateBudget(10_000, 1), policy=FAST_RETRIES,
                provider=StaticTokenProvider(f"sandbox-pat-{PEOPLE[profile]}", profile=profile),
            )  # fmt: skip
            assert summary.ok and summary.total_documents > 1000
        transform(
            target="bigquery",
            target_path=home.parent / "dbt",
            exclude=[
                "resource_type:test",
                "resource_type:unit_test",
                *(f"{m}+" for m in CANNOT_RUN),
            ],
        )
    return BigQueryCohort(project, project.tables("oura_marts"))


BQ_DATASETS = ("oura_raw", "oura_staging", "oura_intermediate", "oura_marts")


def bq_rows_by_user(project) -> dict[tuple[str, str], tuple[int, str]]:
    """(dataset.table, user_id) -> (rows, md5 of the rows' JSON text sorted) over every base
    table with user_id of raw, every pipeline's staging dataset and dbt's three."""
    out: dict[tuple[str, str], tuple[int, str]] = {}
    datasets = [
        d for d in project.datasets() if d in BQ_DATASETS or d.startswith("oura_raw_staging")
    ]
    for dataset in datasets:
        schema = f"`{project.name}.{dataset}.INFORMATION_SCHEMA"
        owned = [
            t
            for (t,) in project.query(
                f"SELECT c.table_name FROM {schema}.COLUMNS` AS c JOIN {schema}.TABLES` AS t "
                "ON t.table_name = c.table_name "
                "WHERE c.column_name = 'user_id' AND t.table_type = 'BASE TABLE'"
            )
        ]
        if not owned:
            continue
        union = " UNION ALL ".join(
            f"SELECT '{dataset}.{table}' AS t_name, user_id, COUNT(*) AS n, TO_HEX(MD5(STRING_AGG("
            f"TO_JSON_STRING(t), '\\n' ORDER BY TO_JSON_STRING(t)))) AS digest "
            f"FROM `{project.name}.{dataset}.{table}` AS t GROUP BY user_id"
            for table in owned
        )
        for name, user_id, count, digest in project.query(union):
            out[(name, user_id)] = (count, digest)
    return out


def view_rows(project, view: str, user_id: str) -> int:
    """Rows of a person in a dbt view (dbt's staging models are views: they hold no rows of
    their own but must show none of an erased person's)."""
    return project.query(
        f"SELECT COUNT(*) FROM `{project.name}.oura_staging.{view}` WHERE user_id = '{user_id}'"
    )[0][0]


def bq_bookkeeping(project) -> tuple[set[str], set[str]]:
    """The pipelines with state rows, and the load ids in `_dlt_loads`."""
    raw = f"`{project.name}.oura_raw"
    pipelines = project.query(f"SELECT DISTINCT pipeline_name FROM {raw}._dlt_pipeline_state`")
    loads = project.query(f"SELECT load_id FROM {raw}._dlt_loads`")
    return {r[0] for r in pipelines}, {r[0] for r in loads}


def test_bigquery_erasure_counts_and_deletes_what_the_duckdb_erasure_does(
    world, bq_cohort, monkeypatch
):
    """The same people in DuckDB and BigQuery: the BigQuery erasure counts the same raw rows as
    the DuckDB erasure, deletes them in one transaction, and leaves everyone else's rows."""
    from pipelines.people import erase_bigquery

    project = bq_cohort.project
    for name, value in project.env.items():
        monkeypatch.setenv(name, value)
    forget_failed_default_credentials(monkeypatch)
    bob = world.user_ids["bob"]
    before = bq_rows_by_user(project)
    pipelines_before, loads_before = bq_bookkeeping(project)
    assert {
        ("oura_raw.heartrate", bob),
        ("oura_raw_staging_oura_bob.heartrate", bob),
        ("oura_marts.daily_summary", bob),
        ("oura_marts.heart_rate_samples", bob),
    } <= set(before)
    preview = erase_user(bob, profile="bob", duckdb_path=world.db, dry_run=True, compact=False)

    def raw_only(counts: dict) -> dict:
        return {k: v for k, v in counts.items() if k.startswith("oura_raw.")}

    assert raw_only(preview.deleted)

    counted = erase_bigquery.erase_user_bigquery(bob, profile="bob", dry_run=True)
    assert raw_only(counted.deleted) == raw_only(preview.deleted) and counted.total > 1000
    assert bq_rows_by_user(project) == before  # a dry run changes nothing
    proxy = project.service.proxy
    sent = len(proxy.queries)
    done = erase_bigquery.erase_user_bigquery(bob, profile="bob")

    script = next(q for q in proxy.queries[sent:] if "BEGIN TRANSACTION;" in q)
    assert (
        script.index("BEGIN TRANSACTION;")
        < script.index("DELETE")
        < script.index("COMMIT TRANSACTION;")
    )
    assert "@user_id" in script and bob not in script  # the id travels as a parameter
    assert done.deleted == counted.deleted and done.note and "time travel" in done.note
    after = bq_rows_by_user(project)
    assert not [k for k in after if k[1] == bob]
    assert after == {k: v for k, v in before.items() if k[1] != bob}  # the others', byte for byte
    pipelines_after, loads_after = bq_bookkeeping(project)
    assert pipelines_after == pipelines_before - {"oura_bob"} and "oura_bob" in pipelines_before
    assert loads_after < loads_before


def test_remove_erase_on_bigquery_deletes_one_persons_rows_from_raw_staging_and_marts(
    world, bq_cohort
):
    """`oura-elt users remove carol --erase --destination bigquery`, as a user runs it."""
    project = bq_cohort.project
    carol = world.user_ids["carol"]
    before = bq_rows_by_user(project)
    carol_tables = {table for (table, uid) in before if uid == carol}
    for table in (
        "oura_raw.heartrate",
        "oura_raw._oura_load_progress",
        "oura_raw_staging_oura_carol.heartrate",
        "oura_marts.daily_summary",
        "oura_marts.heart_rate_samples",
        "oura_marts.users",
    ):
        assert table in carol_tables, table
    assert view_rows(project, "stg_oura__heart_rate_samples", carol) > 1000
    env = {**os.environ, **project.env, "COLUMNS": "200"}

    remove = [
        str(Path(sys.executable).with_name("oura-elt")),
        "users",
        "remove",
        "carol",
        "--erase",
        "--yes",
        "--destination",
        "bigquery",
    ]
    refused = subprocess.run(
        [*remove, "--duckdb", "x.duckdb"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert refused.returncode != 0 and "--duckdb only applies" in refused.stderr
    result = subprocess.run(
        remove, env=env, capture_output=True, text=True, timeout=300, check=False
    )

    assert result.returncode == 0, result.stderr
    text = " ".join((result.stdout + result.stderr).split())
    assert f"Erased user {carol} from BigQuery project {project.name}" in text
    heart = before[("oura_marts.heart_rate_samples", carol)][0]
    assert f"oura_marts.heart_rate_samples {heart:,}" in text and "time travel" in text
    after = bq_rows_by_user(project)
    assert not [k for k in after if k[1] == carol]
    assert after == {k: v for k, v in before.items() if k[1] != carol}
    assert view_rows(project, "stg_oura__heart_rate_samples", carol) == 0
    assert not TokenStore("carol").exists() and TokenStore("alice").exists()
