"""`oura-elt status` through the installed console script, on a warehouse with two fresh
people and one whose ring stopped syncing 60 hours before the load (`gap_fixture`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from gap_fixture import GAP_USER, USERS, gap_warehouse

from pipelines.status import parse_duration

pytestmark = pytest.mark.slow

OURA_ELT = Path(sys.executable).with_name("oura-elt")


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    return gap_warehouse(tmp_path_factory)


def status(
    warehouse,
    *args: str,
    now: datetime | None = None,
    db: Path | None = None,
    home: Path | None = None,
) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "OURA_ELT_NOW": (now or warehouse.clock).isoformat(),
        "OURA_ELT_HOME": str(home or warehouse.home),
        "COLUMNS": "200",
    }
    return subprocess.run(
        [OURA_ELT, "status", "--duckdb", str(db or warehouse.db), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def person_lines(output: str, profile: str) -> list[str]:
    """The lines of one person's block."""
    lines = output.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith(f"{profile}  "))
    rest = range(first + 1, len(lines))
    end = next((i for i in rest if not lines[i].startswith(" ")), len(lines))
    return lines[first:end]


def mart(db: Path, sql: str, *params) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def test_the_text_says_who_is_stale_and_why_nights_are_missing(warehouse):
    world = warehouse.world()
    run = status(warehouse, "--max-age", "36h")
    assert run.returncode == 3, run.stderr
    out = run.stdout
    clock = warehouse.clock.strftime("%Y-%m-%d %H:%M UTC")
    assert out.splitlines()[0] == f"Data status at {clock} ({warehouse.db}); stale after 36 h"
    stopped_contact = mart(
        warehouse.db,
        "select max(ring_last_contact_at) from oura_marts.data_coverage where user_id = ?",
        world.users[GAP_USER].user_id,
    )[0][0]
    age = warehouse.clock - stopped_contact
    gap = person_lines(out, f"user{GAP_USER}")
    assert gap[0] == (
        f"user{GAP_USER}  {world.users[GAP_USER].user_id}  STALE: the ring last "
        f"reported {age.days} d {age.seconds // 3600} h ago "
        f"({stopped_contact:%Y-%m-%d %H:%M} UTC), more than 36 h"
    )
    assert gap[1].startswith(f"  last load   {clock}, days ") and gap[1].endswith(
        "17 collections, complete"
    )
    heart = next(line for line in gap if line.strip().startswith("heartrate "))
    assert f"{stopped_contact:%Y-%m-%d}" in heart
    waiting = mart(
        warehouse.db,
        "select coverage_date from oura_marts.data_coverage "
        "where user_id = ? and sleep_status = 'not_synced_yet' order by 1 desc",
        world.users[GAP_USER].user_id,
    )
    nights = [line.strip() for line in gap if line.strip()[:4].isdigit()]
    for (day,) in waiting:
        assert (
            f"{day}  not_synced_yet  nothing from the ring since before the night was over; "
            "it may still arrive" in nights
        )
    for user in range(USERS):
        if user != GAP_USER:
            lines = person_lines(out, f"user{user}")
            assert lines[0].startswith(
                f"user{user}  {world.users[user].user_id}  fresh: the ring last reported "
            )
            assert " min ago (" in lines[0]


def test_json_has_every_person_with_the_marts_counts_and_the_stale_names(warehouse):
    world = warehouse.world()
    run = status(warehouse, "--json", "--max-age", "36h")
    assert run.returncode == 3, run.stderr
    report = json.loads(run.stdout)
    assert report["stale"] == [f"user{GAP_USER}"]
    assert report["max_age_seconds"] == 36 * 3600
    assert datetime.fromisoformat(report["now"]) == warehouse.clock
    assert [p["profile"] for p in report["people"]] == [f"user{u}" for u in range(USERS)]
    for user, person in enumerate(report["people"]):
        assert person["user_id"] == world.users[user].user_id
        assert person["stale"] is (user == GAP_USER)
        assert person["last_load"]["result"] == "complete"
        assert datetime.fromisoformat(person["last_load"]["loaded_at"]) == warehouse.clock
        counted = dict(
            mart(
                warehouse.db,
                "select sleep_status, count(*) from oura_marts.data_coverage where user_id = ? and "
                "coverage_date > (select max(coverage_date) from oura_marts.data_coverage "
                "where user_id = ?) - 30 group by 1",
                person["user_id"],
                person["user_id"],
            )
        )
        assert {s: n for s, n in person["nights"].items() if n} == counted
        gaps = {g["day"]: g["sleep_status"] for g in person["night_gaps"]}
        assert len(gaps) == sum(n for s, n in counted.items() if s != "present")
        assert {len(person["freshness"])} == {17}


@pytest.mark.parametrize(("max_age", "code"), [("36h", 3), ("2d", 3), ("3d", 0), ("1d12h", 3)])
def test_max_age_sets_the_exit_code(warehouse, max_age, code):
    run = status(warehouse, "--json", "--max-age", max_age)
    assert run.returncode == code, run.stderr
    assert json.loads(run.stdout)["stale"] == ([f"user{GAP_USER}"] if code else [])


def test_the_clock_decides_the_age_and_without_max_age_nothing_is_stale(warehouse):
    later = status(warehouse, "--json", "--max-age", "36h", now=warehouse.clock + timedelta(days=2))
    assert later.returncode == 3
    assert json.loads(later.stdout)["stale"] == [f"user{u}" for u in range(USERS)]
    plain = status(warehouse, now=warehouse.clock + timedelta(days=2))
    assert plain.returncode == 0 and "STALE" not in plain.stdout


def test_one_profile_and_bad_input_are_one_clear_line(warehouse, tmp_path):
    run = status(warehouse, "--profile", "user1")
    assert run.returncode == 0
    assert [line for line in run.stdout.splitlines() if line.startswith("user")] == [
        line for line in run.stdout.splitlines() if line.startswith("user1  ")
    ]
    for args, needle in (
        (("--max-age", "36x"), "--max-age '36x' is not a duration"),
        (("--max-age", "36 hours"), "--max-age '36 hours' is not a duration; use e.g. 36h"),
        (("--max-age", "0h"), "must be longer than zero"),
        (("--profile", "nobody"), "no profile or user id 'nobody'"),
        (("--days", "0"), "--days must be 1 or more"),
    ):
        run = status(warehouse, *args)
        assert run.returncode == 2 and run.stdout == "", (args, run.stdout)
        assert len(run.stderr.strip().splitlines()) == 1 and needle in run.stderr, run.stderr
    empty = tmp_path / "no-marts.duckdb"
    duckdb.connect(str(empty)).close()
    run = status(warehouse, db=empty)
    assert run.returncode == 1 and "oura-elt transform" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    run = status(warehouse, db=tmp_path / "missing.duckdb")
    assert run.returncode == 2 and "no warehouse at" in run.stderr


def test_a_saved_login_without_data_is_listed_and_counts_as_stale(warehouse, tmp_path):
    from pipelines.auth.store import TokenRecord, TokenStore

    home = tmp_path / "home"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OURA_ELT_HOME", str(home))
        TokenStore("newcomer").save(
            TokenRecord(
                profile="newcomer",
                access_token="a",
                refresh_token="r",
                expires_at=None,
                token_type="Bearer",
                scopes=(),
                raw_scopes=(),
                token_url="http://127.0.0.1:9/t",
                revoke_url="http://127.0.0.1:9/r",
                api_base_url="http://127.0.0.1:9",
                client_id="c",
                client_secret="s",
                user_id=None,
                obtained_at=0.0,
            )
        )
    run = status(warehouse, "--json", "--max-age", "3d", home=home)
    assert run.returncode == 3
    report = json.loads(run.stdout)
    assert report["stale"] == ["newcomer"]
    newcomer = report["people"][0]
    assert newcomer["profile"] == "newcomer" and newcomer["last_load"] is None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("36h", 36 * 3600),
        ("2d", 2 * 86400),
        ("90m", 5400),
        ("1d12h", 36 * 3600),
        ("1.5h", 5400),
        ("45s", 45),
        ("1w", 7 * 86400),
        (" 2 D ", 2 * 86400),
    ],
)
def test_durations_parse(text, seconds):
    assert parse_duration(text).total_seconds() == seconds


def test_the_status_module_names_the_loaders_tables_as_the_loader_does():
    from pipelines import status as status_module
    from pipelines.oura.settings import PROGRESS_TABLE
    from pipelines.people.tables import LOADS_TABLE, STATE_TABLE

    assert (status_module.PROGRESS_TABLE, status_module.LOADS_TABLE, status_module.STATE_TABLE) == (
        PROGRESS_TABLE,
        LOADS_TABLE,
        STATE_TABLE,
    )
