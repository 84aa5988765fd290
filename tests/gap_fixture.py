"""A built warehouse of three sandbox people, loaded while user 2's ring is not syncing.

The world (seed 7, history from 2026-07-25) is the same at any clock, so its ground truth
(`sandbox.truth.sleep_statuses`) can be asked at the load's clock. The clock is two and a
half days into a sync gap of user 2 (users from 2 on have them): users 0 and 1 are fresh,
user 2's newest data is 2.5 days old and its last nights have not arrived yet. Users are
loaded by the real loader (profiles user0..user2) and the marts built by the real
`dbt build` with OURA_ELT_NOW at the clock. Built once per session; tests that change it
work on a copy.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

SEED = 7
USERS = 3
HISTORY_START = date(2026, 7, 25)
REFERENCE = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
GAP_USER = 2

_built: dict[str, GapWarehouse] = {}


@dataclass(frozen=True)
class GapWarehouse:
    """The built warehouse and what it was built from.

    Attributes:
        db: the DuckDB file.
        home: OURA_ELT_HOME of the loads (the loader's pipelines live there).
        clock: the instant of the load and of the build.
        stopped: when user 2's ring stopped syncing.
        resumed: when it syncs again.
    """

    db: Path
    home: Path
    clock: datetime
    stopped: datetime
    resumed: datetime

    def world(self, now: datetime | None = None):
        """The sandbox world at `now` (default: the load's clock)."""
        from sandbox.world import World

        return World(seed=SEED, users=USERS, now=now or self.clock, history_start=HISTORY_START)

    def copy(self, folder: Path) -> Path:
        """A copy of the warehouse in `folder`, to change."""
        target = folder / "oura.duckdb"
        shutil.copy2(self.db, target)
        return target


def gap_sync(world) -> tuple[datetime, datetime]:
    """The last sync gap of user 2 of at least 72 hours before the reference clock."""
    start = world.users[GAP_USER].history_start + timedelta(days=14)
    gaps = world.sync_gaps(GAP_USER, start, REFERENCE.date())
    return [g for g in gaps if g[1] - g[0] >= timedelta(hours=72)][-1]


def gap_warehouse(tmp_path_factory: pytest.TempPathFactory) -> GapWarehouse:
    """The warehouse (built on first use)."""
    if "warehouse" not in _built:
        _built["warehouse"] = _build(tmp_path_factory.mktemp("gap"))
    return _built["warehouse"]


def sandbox_settings(now: datetime):
    """The sandbox of this world at `now` (big pages: only faster)."""
    from sandbox.server import SandboxSettings

    return SandboxSettings(
        users=USERS,
        seed=SEED,
        now=now,
        history_start=HISTORY_START,
        page_size=1000,
        series_page_size=20000,
    )


def load_everyone(base_url: str, db: Path, home: Path, now: datetime) -> None:
    """Load every user (profile userN) into `db` with the real loader, at `now`."""
    from oura_elt.commands.sandbox import sandbox_endpoints
    from pipelines.auth import StaticTokenProvider
    from pipelines.load import load
    from pipelines.oura.ratelimit import RateBudget

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OURA_ELT_HOME", str(home))
        patch.delenv("OURA_ACCESS_TOKEN", raising=False)
        for user in range(USERS):
            profile = f"user{user}"
            summary = load(
                profile,
                endpoints=sandbox_endpoints(base_url),
                provider=StaticTokenProvider(f"sandbox-pat-{user}", profile=profile),
                budget=RateBudget(10_000, 1),
                duckdb_path=db,
                now=now,
            )
            assert summary.ok, summary.failed


def build_marts(db: Path, now: datetime, folder: Path) -> None:
    """`dbt build` (models and data tests) with OURA_ELT_NOW at `now`."""
    from pipelines.transform import transform

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OURA_ELT_NOW", now.isoformat())
        transform(db, target_path=folder, exclude=["resource_type:unit_test"])


def _build(folder: Path) -> GapWarehouse:
    from sandbox.runner import start_in_thread
    from sandbox.world import World

    stopped, resumed = gap_sync(
        World(seed=SEED, users=USERS, now=REFERENCE, history_start=HISTORY_START)
    )
    clock = stopped + timedelta(hours=60)
    db, home = folder / "oura.duckdb", folder / "home"
    running = start_in_thread(sandbox_settings(clock))
    try:
        load_everyone(running.base_url, db, home, clock)
    finally:
        running.stop()
    build_marts(db, clock, folder / "dbt")
    return GapWarehouse(db, home, clock, stopped, resumed)
