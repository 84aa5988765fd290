"""Every command that opens the warehouse, through the installed console script, when the
DuckDB file is held open by another program, is not a DuckDB database, or cannot exist.

Each answers in one line that names the cause (and the holding process, which DuckDB
names) and what to do, exits non-zero, and writes nothing: the file and its folder are
byte for byte as before (no lock file, no write-ahead log). `load` and `run` say so
before any network: the API address here is one where nothing listens, so a command that
did not check first would fail on the network instead.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

OURA_ELT = Path(sys.executable).with_name("oura-elt")

COMMANDS = {
    "load": ["load"],
    "run": ["run"],
    "transform": ["transform"],
    "report": ["report"],
    "export": ["export"],
    "users": ["users"],
    "users remove": ["users", "remove", "--user-id", "someone", "--erase", "--yes"],
    "webhooks serve": ["webhooks", "serve", "--port", "PORT"],
}


def run(args: list[str], tmp_path: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """`oura-elt ARGS` as a user with a token and an API address where nothing listens."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OURA_")}
    env.update(
        OURA_ELT_HOME=str(tmp_path / "home"),
        OURA_ACCESS_TOKEN="sandbox-pat-0",
        OURA_API_BASE_URL="http://127.0.0.1:9",
        COLUMNS="200",
    )
    return subprocess.run(
        [str(OURA_ELT), *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file under `folder`: its content's hash and its modification time."""
    return {
        str(p.relative_to(folder)): (
            hashlib.sha256(p.read_bytes()).hexdigest(),
            p.stat().st_mtime_ns,
        )
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def held(tmp_path) -> Iterator[tuple[Path, int]]:
    """A DuckDB warehouse another program holds open for writing, and that program's PID."""
    db = tmp_path / "data" / "oura.duckdb"
    db.parent.mkdir()
    with duckdb.connect(str(db)) as con:
        con.execute("create schema oura_raw")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; c = duckdb.connect(sys.argv[1]); "
            "print('open', flush=True); sys.stdin.read()",
            str(db),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        yield db, holder.pid
    finally:
        holder.communicate("", timeout=30)


def with_port(args: list[str], port: int) -> list[str]:
    return [str(port) if word == "PORT" else word for word in args]


@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_file_held_by_another_program_is_one_line_naming_it(name, held, tmp_path, busy_port):
    db, pid = held
    before = snapshot(db.parent)
    result = run([*with_port(COMMANDS[name], busy_port), "--duckdb", str(db)], tmp_path)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"{db} is open" in lines[0] and "another program (python" in lines[0], lines[0]
    assert f"PID {pid})" in lines[0], lines[0]
    assert result.returncode == 1 and lines[0].startswith("error: ")
    assert "close it there, or wait for it to finish, and run again" in lines[0]
    if name == "users":  # the listing still shows the saved logins (tests/test_users.py)
        assert "listing logins only" in lines[0]
    assert snapshot(db.parent) == before  # no lock file, nothing written


@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_file_that_is_not_a_duckdb_database_is_one_line(name, tmp_path, busy_port):
    db = tmp_path / "data" / "notes.duckdb"
    db.parent.mkdir()
    db.write_text("my sleep diary, not a database\n")
    before = snapshot(db.parent)
    result = run([*with_port(COMMANDS[name], busy_port), "--duckdb", str(db)], tmp_path)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: {db} is not a DuckDB database; give --duckdb a DuckDB file, or a new path"
    ]
    assert snapshot(db.parent) == before


def test_a_file_an_oura_elt_writer_holds_is_its_turn_not_an_error(tmp_path):
    """A load's commit or a dbt build holds the warehouse lock while it has the file open;
    another writer's check lets it wait for its turn (loads of a cohort take turns), while
    the same file held by a program without the lock is refused."""
    from pipelines.core.locks import warehouse_lock_path
    from pipelines.core.warehouse_file import WarehouseInUse, check

    db = tmp_path / "oura.duckdb"
    duckdb.connect(str(db)).close()
    lock = warehouse_lock_path("duckdb", db, "oura_raw")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; from pathlib import Path; "
            "from pipelines.core.locks import warehouse_lock\n"
            "with warehouse_lock('duckdb', Path(sys.argv[1]), 'oura_raw'):\n"
            "    c = duckdb.connect(sys.argv[1]); print('open', flush=True); sys.stdin.read()",
            str(db),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        check(db, write=True, lock_path=lock)  # an oura-elt writer: wait for the lock
        with pytest.raises(WarehouseInUse, match=rf"PID {holder.pid}\)"):
            check(db, write=True)  # were it not known to be oura-elt's, it is refused
    finally:
        holder.communicate("", timeout=30)


def test_an_unusable_path_fails_within_seconds(tmp_path):
    """/proc takes no new files: the DuckDB file cannot be made, nor its lock file (which
    filelock used to retry for ever)."""
    load = run(["load", "--duckdb", "/proc/oura-elt-test.duckdb"], tmp_path, timeout=60)
    assert load.returncode == 1
    assert load.stderr.strip().splitlines() == [
        "error: cannot create the DuckDB file /proc/oura-elt-test.duckdb: "
        "No such file or directory; choose a writable --duckdb path"
    ]
    erase = run(
        [
            "users",
            "remove",
            "--user-id",
            "someone",
            "--erase",
            "--yes",
            "--duckdb",
            "/proc/oura-elt-test.duckdb",
        ],
        tmp_path,
        timeout=60,
    )
    assert erase.returncode == 1
    assert erase.stderr.strip().splitlines() == [
        "error: cannot lock the warehouse /proc/oura-elt-test.duckdb "
        "(lock file /proc/oura-elt-test.duckdb.lock): No such file or directory"
    ]


def test_erasing_a_user_id_with_no_rows_and_no_login_fails_unless_missing_ok(tmp_path):
    db = tmp_path / "oura.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create schema oura_raw")
        con.execute("create table oura_raw.daily_sleep (user_id varchar, id varchar)")
        con.execute("insert into oura_raw.daily_sleep values ('a-real-user', 'x')")
    args = ["users", "remove", "--user-id", "not-a-uuid", "--erase", "--yes", "--duckdb", str(db)]
    mistyped = run(args, tmp_path)
    assert mistyped.returncode == 1
    assert mistyped.stderr.strip().splitlines() == [
        f"error: user 'not-a-uuid' has no rows in {db} and no saved login: nothing was erased; "
        "check the id (oura-elt users lists them), or pass --missing-ok"
    ]
    accepted = run([*args, "--missing-ok"], tmp_path)
    assert accepted.returncode == 0, accepted.stderr
    assert f"No rows of user not-a-uuid in {db}." in accepted.stdout
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select count(*) from oura_raw.daily_sleep").fetchone()[0] == 1


def test_bigquery_without_credentials_points_at_no_missing_log(tmp_path):
    env_names = ("GOOGLE_APPLICATION_CREDENTIALS", "OURA_BIGQUERY_", "DESTINATION__", "DBT_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(env_names)}
    env.update(
        HOME=str(tmp_path),
        DBT_LOG_PATH=str(tmp_path / "dbt-logs"),
        OURA_ELT_HOME=str(tmp_path / "home"),
        COLUMNS="200",
    )
    result = subprocess.run(
        [str(OURA_ELT), "transform", "--target", "bigquery"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert lines[0].startswith("error: dbt build could not run: ")
    assert "OURA_BIGQUERY_METHOD" in lines[0]
    for pointed in (word.rstrip(".;,)") for word in lines[0].split() if "/" in word):
        if pointed.endswith(".log"):
            assert Path(pointed).is_file(), f"the message points at {pointed}, which does not exist"
    assert "details in" not in lines[0] or (tmp_path / "dbt-logs" / "dbt.log").is_file()


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port another program listens on (a server that did not check the warehouse
    first would say that instead)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]
