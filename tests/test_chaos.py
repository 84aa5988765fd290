"""The fault suite's small cases (`make chaos` runs the full one): every scenario once,
in quick mode (a few collections, about ten days), two trials at a time, and the
warehouse must equal the ground truth afterwards with every error one clear line.

Also checks the comparison itself: it must notice a missing, a duplicated and a
stale document, or the suite's zeros would mean nothing.
"""

from __future__ import annotations

import duckdb
import pytest
from test_load_sandbox import run_load

from bench.chaos import ScenarioResult, run_suite
from bench.chaos_scenarios import SCENARIOS
from bench.truth_compare import compare_warehouse, day_before
from pipelines.oura.kinds import latest_day

SEED = 1
# Loader bugs the suite found, reported to the loader's owner; delete an entry once fixed
# (the test then has to pass). Not strict: a lucky trial may pass anyway.
KNOWN_LOADER_BUGS: dict[str, str] = {}  # scenario -> why it can fail today (xfail); none now


def _scenario(name: str):
    reason = KNOWN_LOADER_BUGS.get(name)
    return (
        pytest.param(name, marks=pytest.mark.xfail(reason=reason, strict=False)) if reason else name
    )


@pytest.fixture(scope="module")
def quick_suite(tmp_path_factory) -> dict[str, ScenarioResult]:
    """Every scenario once (quick), run in parallel pairs; results by scenario name."""
    workdir = tmp_path_factory.mktemp("chaos")
    results = run_suite(
        [(s, 1) for s in SCENARIOS.values()], SEED, quick=True, workdir=workdir, jobs=2
    )
    return {r.scenario.name: r for r in results}


@pytest.mark.slow
@pytest.mark.parametrize("name", [_scenario(name) for name in SCENARIOS])
def test_scenario_leaves_exactly_the_ground_truth(quick_suite, name):
    result = quick_suite[name]
    counts = result.counts
    problems = "; ".join(f"seed {seed}: {text}" for seed, text in result.problems())
    assert result.ok, (
        f"{name}: {problems}"
        f" (repeat: python -m bench.chaos --scenario {name} --seed {SEED} --quick)"
    )
    assert counts.expected > 1000 and counts.loaded == counts.expected
    assert result.clear in ("yes", "-")


def test_the_comparison_counts_missing_duplicated_and_stale(sandbox_factory, tmp_path):
    sandbox = sandbox_factory(users=1, history_days=5)
    db = tmp_path / "oura.duckdb"
    collections = ["daily_sleep", "sleep"]
    run_load(sandbox, db, collections=collections, start_date=sandbox.world.users[0].history_start)
    span = (day_before(sandbox.world.users[0].history_start), latest_day(sandbox.world.now))

    clean = compare_warehouse(db, sandbox.world, *span, collections=collections).total
    assert clean.exact and clean.expected == clean.loaded > 5

    with duckdb.connect(str(db)) as con:
        con.execute(
            "DELETE FROM oura_raw.daily_sleep WHERE id = (SELECT min(id) FROM oura_raw.daily_sleep)"
        )
        con.execute(
            "INSERT INTO oura_raw.sleep SELECT * FROM oura_raw.sleep "
            "WHERE id = (SELECT min(id) FROM oura_raw.sleep)"
        )
        con.execute(
            "UPDATE oura_raw.sleep SET average_breath = average_breath + 1 "
            "WHERE id = (SELECT max(id) FROM oura_raw.sleep)"
        )
    broken = compare_warehouse(db, sandbox.world, *span, collections=collections)
    total = broken.total
    assert (total.missing, total.duplicated, total.stale) == (1, 1, 1), broken.examples
    assert total.loaded == clean.loaded  # one row gone, one row doubled
    assert broken.tables["sleep"].duplicated == 1 and broken.tables["daily_sleep"].missing == 1

    sandbox.advance(days=1)  # documents revised since the load are stale, new ones missing
    later = compare_warehouse(
        db, sandbox.world, span[0], latest_day(sandbox.world.now), collections=collections
    ).total
    assert later.stale > total.stale and later.missing > total.missing
