"""The fault suite (`make chaos`): seeded trials of every scenario against the local
sandbox, each ending with the warehouse compared to the server's ground truth.

Run: `python -m bench.chaos [--trials N] [--quick] [--scenario NAME ...] [--seed S] [--jobs J]`.
Prints one table (scenario, trials, documents expected, loaded, missing,
duplicated, stale, refresh tokens burned, clear error) and exits non-zero if any
scenario lost, duplicated or kept stale documents, burned a refresh token it
should not have, showed an unclear error, or failed otherwise. Each failure is
listed under the table with the command that repeats its trial.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.chaos_harness import with_bytecode_cache
from bench.chaos_scenarios import SCENARIOS, Scenario, Trial, TrialContext
from bench.truth_compare import Counts
from pipelines.core import config

config.telemetry_off()
out = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
progress = Console(stderr=True, highlight=False)


@dataclass
class ScenarioResult:
    """Every trial of one scenario, summed."""

    scenario: Scenario
    trials: list[tuple[int, Trial]] = field(default_factory=list)  # (seed, outcome)
    seconds: float = 0.0

    @property
    def counts(self) -> Counts:
        """Documents expected, loaded, missing, duplicated and stale over all trials."""
        total = Counts()
        for _, trial in self.trials:
            total.add(trial.counts)
        return total

    @property
    def burned(self) -> int:
        """Refresh tokens burned over all trials."""
        return sum(trial.burned for _, trial in self.trials)

    @property
    def clear(self) -> str:
        """ "yes" if every error the user saw was one clear line, "no" if not, "-" if none."""
        if any(trial.unclear for _, trial in self.trials):
            return "no"
        return "yes" if any(trial.errors_judged for _, trial in self.trials) else "-"

    def problems(self) -> list[tuple[int, str]]:
        """(seed, what went wrong) of every failed trial."""
        found = []
        for seed, trial in self.trials:
            allowed = self.scenario.burns_allowed_per_trial
            for text in trial.failures + [f"unclear error: {u}" for u in trial.unclear]:
                found.append((seed, text))
            if trial.burned > allowed:
                found.append((seed, f"{trial.burned} refresh token(s) burned (allowed: {allowed})"))
        return found

    @property
    def ok(self) -> bool:
        """Nothing lost, duplicated or stale, no unclear error, nothing else wrong."""
        return self.counts.exact and not self.problems()

    def notes(self) -> str:
        """Scenario-specific counters summed over trials, e.g. `kills landed 23`."""
        summed: dict[str, float] = {}
        for _, trial in self.trials:
            for name, value in trial.notes.items():
                summed[name] = summed.get(name, 0) + value
        return ", ".join(f"{name} {value:g}" for name, value in summed.items())


@contextmanager
def bytecode_cache() -> Iterator[None]:
    """Worker processes started meanwhile cache compiled modules (see `with_bytecode_cache`)."""
    names = ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")
    saved = {name: os.environ.get(name) for name in names}
    with_bytecode_cache(os.environ)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_trial(name: str, seed: int, root: Path, quick: bool) -> Trial:
    """One trial of scenario `name` (in a worker process); a harness crash is a failed trial."""
    config.telemetry_off()
    try:
        return SCENARIOS[name].run(TrialContext(seed, root, quick))
    except Exception as exc:
        return Trial(failures=[f"the trial crashed: {type(exc).__name__}: {exc}"])


def run_suite(
    plan: list[tuple[Scenario, int]],
    seed: int,
    quick: bool,
    workdir: Path,
    jobs: int = 2,
    keep: bool = False,
) -> list[ScenarioResult]:
    """Run each scenario's trials (seeds `seed`, `seed + 1`, ...), `jobs` trials at a time.

    Every trial is a separate worker process with its own sandbox and folder under
    `workdir`; a trial's folder is deleted unless it failed or `keep` is set.
    """
    results = {scenario.name: ScenarioResult(scenario) for scenario, _ in plan}
    started = time.monotonic()
    spawn = multiprocessing.get_context("spawn")
    with bytecode_cache(), ProcessPoolExecutor(max_workers=jobs, mp_context=spawn) as pool:
        futures = {}
        for scenario, trials in plan:
            for number in range(trials):
                root = workdir / f"{scenario.name}-{seed + number}"
                future = pool.submit(run_trial, scenario.name, seed + number, root, quick)
                futures[future] = (scenario, seed + number, root, time.monotonic())
        for future in as_completed(futures):
            scenario, trial_seed, root, _ = futures[future]
            trial = future.result()
            result = results[scenario.name]
            result.trials.append((trial_seed, trial))
            result.seconds = time.monotonic() - started
            failed = bool(trial.failures or trial.unclear or not trial.counts.exact)
            progress.print(
                f"[dim]{scenario.name} seed {trial_seed}: {'[red]FAILED[/]' if failed else 'ok'} "
                f"({len(result.trials)} done, {time.monotonic() - started:.0f} s into the suite)[/]"
            )
            if not (failed or keep):
                shutil.rmtree(root, ignore_errors=True)
    for result in results.values():
        result.trials.sort(key=lambda pair: pair[0])
    return list(results.values())


def table(results: list[ScenarioResult]) -> Table:
    """The chaos table."""
    grid = Table(title="oura-elt fault suite: warehouse vs. ground truth after every trial")
    for name, justify in (
        ("scenario", "left"),
        ("trials", "right"),
        ("expected", "right"),
        ("loaded", "right"),
        ("missing", "right"),
        ("duplicated", "right"),
        ("stale", "right"),
        ("refresh tokens burned", "right"),
        ("clear error", "center"),
        ("notes", "left"),
    ):
        grid.add_column(name, justify=justify)  # type: ignore[arg-type]
    for result in results:
        counts = result.counts
        allowed = result.scenario.burns_allowed_per_trial
        burned = f"{result.burned}" + (
            f" (lost answers: {allowed}/trial expected)" if allowed else ""
        )
        style = "" if result.ok else "red"
        grid.add_row(
            result.scenario.title,
            str(len(result.trials)),
            f"{counts.expected:,}",
            f"{counts.loaded:,}",
            str(counts.missing),
            str(counts.duplicated),
            str(counts.stale),
            burned,
            result.clear,
            result.notes(),
            style=style,
        )
    return grid


def main(argv: list[str] | None = None) -> int:
    """Run the suite; 0 if every scenario came out exact and clear."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.chaos", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--trials", type=int, help="trials per scenario (default: each scenario's own)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="few trials, small histories (a smoke run)"
    )
    parser.add_argument(
        "--scenario",
        action="append",
        choices=list(SCENARIOS),
        metavar="NAME",
        help=f"run only this scenario (repeatable): {', '.join(SCENARIOS)}",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the first trial (default 1)")
    parser.add_argument(
        "--jobs", type=int, default=2, help="trials run at the same time (default 2)"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep every trial's folder (failed ones are kept)"
    )
    parser.add_argument(
        "--workdir", type=Path, help="where trial folders go (default: a new temp folder)"
    )
    args = parser.parse_args(argv)

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="oura-elt-chaos-"))
    workdir.mkdir(parents=True, exist_ok=True)
    plan = []
    for name in args.scenario or list(SCENARIOS):
        scenario = SCENARIOS[name]
        plan.append(
            (scenario, args.trials or (scenario.quick_trials if args.quick else scenario.trials))
        )
    results = run_suite(plan, args.seed, args.quick, workdir, args.jobs, args.keep)
    out.print(table(results))

    failed = [r for r in results if not r.ok]
    for result in failed:
        for seed, text in result.problems():
            out.print(f"[red]{result.scenario.name}[/] seed {seed}: {text}", soft_wrap=True)
            out.print(
                f"  repeat: python -m bench.chaos --scenario {result.scenario.name}"
                f" --seed {seed} --trials 1" + (" --quick" if args.quick else ""),
                soft_wrap=True,
            )
    if not any(workdir.iterdir()) and not args.workdir:
        workdir.rmdir()
    elif failed or args.keep:
        out.print(f"trial folders: {workdir}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
