"""Files holding health data are readable by their owner only.

The warehouse, the exports, the report and the sandbox's dumps are created 0600, and the
folders the tool creates for them 0700, whatever the umask (here the usual 022); folders
that already existed keep their mode. Every file is made by the installed console script,
as a user makes it.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from marts_fixture import built_marts

OURA_ELT = Path(sys.executable).with_name("oura-elt")


def oura_elt(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`oura-elt ARGS` to completion with the umask most systems have (022)."""
    environment = {
        k: v
        for k, v in os.environ.items()  # the test's own OURA_ELT_HOME stays
        if not k.startswith("OURA_") or k == "OURA_ELT_HOME"
    }
    environment.update(env or {})
    result = subprocess.run(
        [str(OURA_ELT), *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        preexec_fn=lambda: os.umask(0o022),
    )
    assert result.returncode == 0, result.stderr
    return result


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def assert_private_tree(top: Path, made: Path) -> None:
    """Folders from `top` (exclusive) down to `made` are 0700, every file under `made` 0600."""
    folder = made
    while folder != top:
        assert mode(folder) == 0o700, f"{folder} is {oct(mode(folder))}"
        folder = folder.parent
    files = [p for p in made.rglob("*") if p.is_file()]
    assert files
    for path in files:
        assert mode(path) == 0o600, f"{path} is {oct(mode(path))}"


@pytest.fixture
def shared_folder(tmp_path) -> Path:
    """A folder others may read, as a project's `data/` often is (it keeps its mode)."""
    folder = tmp_path / "shared"
    folder.mkdir()
    folder.chmod(0o755)
    return folder


def test_the_warehouse_is_private_and_stays_so_after_an_erasure(sandbox, shared_folder, tmp_path):
    db = shared_folder / "new" / "deeper" / "oura.duckdb"
    start = (sandbox.world.now - timedelta(days=5)).date().isoformat()
    env = {
        "OURA_API_BASE_URL": sandbox.base_url,
        "OURA_ACCESS_TOKEN": "sandbox-pat-0",
        "OURA_ELT_HOME": str(tmp_path / "home"),
        "OURA_ELT_NOW": sandbox.world.now.isoformat(),
    }
    oura_elt(
        "load",
        "--collections",
        "daily_sleep,personal_info",
        "--start-date",
        start,
        "--duckdb",
        str(db),
        env=env,
    )
    assert mode(db) == 0o600
    assert mode(db.parent) == mode(db.parent.parent) == 0o700
    assert mode(shared_folder) == 0o755  # not made by the tool: left as it was

    user_id = sandbox.world.users[0].user_id
    erased = oura_elt(
        "users", "remove", "--user-id", user_id, "--erase", "--yes", "--duckdb", str(db), env=env
    )
    assert "Rewrote the DuckDB file" in erased.stdout  # a new file replaced the old one
    assert mode(db) == 0o600
    assert sorted(p.name for p in db.parent.iterdir()) == ["oura.duckdb", "oura.duckdb.lock"]


def test_exports_and_the_report_are_private(tmp_path_factory, shared_folder):
    db = shared_folder / "oura.duckdb"
    shutil.copy(built_marts(tmp_path_factory), db)
    db.chmod(0o600)
    for fmt in ("parquet", "csv"):
        out = shared_folder / "exports" / fmt
        oura_elt("export", "--duckdb", str(db), "--format", fmt, "--out", str(out))
        assert_private_tree(shared_folder, out)
        assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no scratch left
    default = oura_elt("export", "--duckdb", str(db))
    assert_private_tree(shared_folder, shared_folder / "export")
    assert str(shared_folder / "export") in default.stdout

    report = shared_folder / "reports" / "2026" / "report.html"
    oura_elt("report", "--duckdb", str(db), "--out", str(report))
    assert_private_tree(shared_folder, report.parent)
    oura_elt("report", "--duckdb", str(db))  # beside the warehouse, in a folder the user made
    assert mode(shared_folder / "oura-report.html") == 0o600


def test_sandbox_dumps_are_private(shared_folder):
    out = shared_folder / "truth" / "seed-7"
    oura_elt(
        "sandbox",
        "dump",
        "--out",
        str(out),
        "--users",
        "1",
        "--history-days",
        "3",
        "--today",
        "2026-11-20",
    )
    assert_private_tree(shared_folder, out)
    assert len(list(out.glob("*.jsonl"))) > 10
