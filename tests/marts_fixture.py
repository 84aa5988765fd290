"""A small built warehouse shared by the report, export and browser tests.

Two sandbox users ("user0", "user1") with 90 days of history are loaded by the real
loader (`pipelines.load.load`, one dlt pipeline per profile) and the marts are built
by the real `dbt build` (`pipelines.transform.transform`, models only). The build runs once per test
session, whichever of the modules asks first; the tests only read it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import CLOCK

from oura_elt.commands.sandbox import sandbox_endpoints

USERS = 2
HISTORY_DAYS = 90
SEED = 7
PROFILES = tuple(f"user{n}" for n in range(USERS))

_built: dict[str, Path] = {}


def built_marts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The DuckDB file with raw tables and marts of `PROFILES` (built on first use)."""
    if "db" not in _built:
        _built["db"] = _build(tmp_path_factory.mktemp("marts"))
    return _built["db"]


def load_sandbox_users(folder: Path, users: int, history_days: int) -> Path:
    """`folder/oura.duckdb` with `users` sandbox users ("user0", ...) loaded by the real loader."""
    from pipelines.auth import StaticTokenProvider
    from pipelines.load import load
    from pipelines.oura.ratelimit import RateBudget
    from sandbox.runner import start_in_thread
    from sandbox.server import SandboxSettings

    db = folder / "oura.duckdb"
    # Bigger pages than the default only make the load faster; the documents are the same.
    settings = SandboxSettings(
        users=users,
        history_days=history_days,
        seed=SEED,
        now=CLOCK,
        page_size=1000,
        series_page_size=20000,
    )
    running = start_in_thread(settings)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("OURA_ELT_HOME", str(folder / "home"))
            patch.delenv("OURA_ACCESS_TOKEN", raising=False)
            for user in range(users):
                profile = f"user{user}"
                summary = load(
                    profile,
                    endpoints=sandbox_endpoints(running.base_url),
                    provider=StaticTokenProvider(f"sandbox-pat-{user}", profile=profile),
                    budget=RateBudget(10_000, 1),
                    duckdb_path=db,
                    now=CLOCK,
                )
                assert summary.ok, summary.failed
    finally:
        running.stop()
    return db


def sandbox_world(users: int, history_days: int):
    """The world `load_sandbox_users(folder, users, history_days)` loads, at its clock:
    the ground truth to check a warehouse it built against."""
    from sandbox.world import World

    return World(seed=SEED, users=users, now=CLOCK, history_days=history_days)


def _build(folder: Path) -> Path:
    from pipelines.transform import transform

    db = load_sandbox_users(folder, USERS, HISTORY_DAYS)
    # Models only: their data and unit tests run in test_dbt_build; here they would only add time.
    transform(
        db, target_path=folder / "dbt", exclude=["resource_type:test", "resource_type:unit_test"]
    )
    return db
