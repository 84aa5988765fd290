"""Many ring wearers in one flow run: which profiles, one request budget, bounded fan-out.

Oura's rate limit is per application (5000 requests per 5 minutes across all of
its users), so a cohort shares ONE `RateBudget`, created once per flow run and
handed to every load task. At most `max_parallel` profiles are in flight at once;
one profile failing does not stop the others. Loads into the same warehouse fetch
at the same time; into a DuckDB file they take turns for their commits, into BigQuery
they commit at the same time too (`pipelines.core.locks.commit_lock`). The shared budget
is what keeps any mix of concurrent loads under the limit.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pipelines.core import config
from pipelines.core.errors import OuraEltError, UsageError


def resolve_profiles(profiles: Iterable[str] | None, token_block: str | None = None) -> list[str]:
    """The profiles a flow run covers: the given ones, else every saved login.

    With `OURA_ACCESS_TOKEN` or a token block (one token, so one person) and no
    profiles given, only the default profile.

    Raises:
        UsageError: an invalid or repeated profile name.
        OuraEltError: nobody is logged in.
    """
    from pipelines.auth import list_profiles, resolve_profile, validate_profile

    if profiles:
        names = [validate_profile(p) for p in profiles]
        if len(set(names)) != len(names):
            raise UsageError(f"a profile is listed twice: {', '.join(names)}")
        return names
    if token_block or (os.environ.get("OURA_ACCESS_TOKEN") or "").strip():
        return [resolve_profile(None)]
    names = list_profiles()
    if not names:
        raise OuraEltError(
            f"no saved Oura login under {config.home()}; run: oura-elt auth login --profile NAME"
        )
    return names


def make_budget(rate_limit: str | None) -> Any:
    """The request budget of a flow run: `"<requests>/<seconds>"`, else the process's
    shared one (`OURA_ELT_RATE_LIMIT`, else 90 % of Oura's published limit).

    Raises:
        UsageError: a malformed `rate_limit`.
    """
    from pipelines.oura.ratelimit import RateBudget, parse_rate, shared_budget

    try:
        return RateBudget(*parse_rate(rate_limit)) if rate_limit else shared_budget()
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def fan_out(submit: Callable[[str], Any], profiles: list[str], max_parallel: int) -> dict[str, Any]:
    """Submit one task per profile, keeping at most `max_parallel` of them running.

    Args:
        submit: starts the work of one profile and returns its Prefect future.
        profiles: the profiles, in order.
        max_parallel: profiles in flight at once.

    Returns:
        The finished futures by profile (some may hold failures).
    """
    from prefect.futures import as_completed

    if max_parallel < 1:
        raise UsageError("max_parallel must be at least 1")
    waiting = list(reversed(profiles))
    running: dict[int, tuple[Any, str]] = {}  # by id(): futures need not be hashable
    finished: dict[str, Any] = {}
    while waiting or running:
        while waiting and len(running) < max_parallel:
            profile = waiting.pop()
            future = submit(profile)
            running[id(future)] = (future, profile)
        done = next(iter(as_completed([f for f, _ in running.values()])))
        _, profile = running.pop(id(done))
        finished[profile] = done
    return {p: finished[p] for p in profiles}


def outcomes(futures: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Split finished futures into results and one-line failures, by profile."""
    results: dict[str, Any] = {}
    failures: dict[str, str] = {}
    for profile, future in futures.items():
        try:
            results[profile] = future.result()
        except Exception as exc:  # noqa: BLE001 - reported as one line per profile
            failures[profile] = str(exc) or type(exc).__name__
    return results, failures


def build_and_check(
    kind: str,
    report: CohortReport,
    failures: dict[str, str],
    total: int,
    build: Callable[[], Any] | None,
) -> CohortReport:
    """Run `build` (dbt) if anything loaded, then fail with one line naming every
    profile that did not load and the dbt failure, if any.

    Raises:
        OuraEltError: a profile failed or the build failed.
    """
    problems = []
    if failures:
        detail = "; ".join(f"{p}: {m}" for p, m in failures.items())
        problems.append(f"{len(failures)} of {total} profile(s) failed: {detail}")
    if build is not None and report.summaries:
        try:
            report.dbt = build()
        except OuraEltError as exc:
            problems.append(str(exc))
    if problems:
        raise OuraEltError(f"{kind}: " + "; ".join(problems))
    return report


def run_cohort(
    kind: str,
    submit: Callable[[str, Any, Any], Any],
    *,
    profiles: Iterable[str] | None,
    token_block: str | None,
    destination: str,
    duckdb_path: str | None,
    rate_limit: str | None,
    max_parallel: int,
    run_dbt: bool,
) -> CohortReport:
    """The shape every cohort flow shares: resolve the profiles and the target, fan out
    `submit(profile, target, budget)` under one budget, then dbt build and report.

    Args:
        kind: the flow's name, for the failure line.
        submit: starts one profile's work and returns its Prefect future, whose result
            is a `LoadSummary` or a list of them.
        profiles, token_block, destination, duckdb_path, rate_limit, max_parallel,
            run_dbt: the flow's parameters of the same names.

    Raises:
        OuraEltError: a profile failed (after its retries) or dbt failed.
    """
    from flows.tasks import dbt_build
    from pipelines.core.target import Target

    target = Target.of(destination, duckdb_path)
    names = resolve_profiles(profiles, token_block)
    budget = make_budget(rate_limit)
    futures = fan_out(lambda profile: submit(profile, target, budget), names, max_parallel)
    results, failures = outcomes(futures)
    report = CohortReport({p: r if isinstance(r, list) else [r] for p, r in results.items()})
    build = (lambda: dbt_build(target)) if run_dbt else None
    return build_and_check(kind, report, failures, len(names), build)


@dataclass
class CohortReport:
    """What a flow run did.

    Attributes:
        summaries: the loader's `LoadSummary` objects per profile (one per load task).
        dbt: what `dbt build` returned (None: not run).
    """

    summaries: dict[str, list[Any]] = field(default_factory=dict)
    dbt: Any = None

    @property
    def documents(self) -> int:
        """Rows written over all profiles and tables."""
        return sum(s.total_documents for runs in self.summaries.values() for s in runs)

    @property
    def requests(self) -> int:
        """HTTP requests sent over all profiles."""
        return sum(s.requests for runs in self.summaries.values() for s in runs)
