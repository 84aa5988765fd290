"""The chaos scenarios: each trial builds a fresh sandbox world from its seed, does its
worst to `oura-elt load`, and ends by comparing the warehouse with the ground truth.

A trial returns a `Trial`: the comparison counts, refresh tokens burned, whether
every failure the user saw was one clear line, and what went wrong (`failures`).
A full trial loads every collection of the user's whole history the way a user
does (no dates); a quick trial (`make test`) loads a few collections from the
first day of data, to stay fast.
"""

from __future__ import annotations

import os
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.chaos_harness import (
    CLOCK,
    ApiChaos,
    CliProcess,
    CliRun,
    RunningSandbox,
    Workspace,
    burned_refresh_tokens,
    can_mount,
    clear_error,
    cli_env,
    free_port,
    login_profile,
    mount,
    no_traceback,
    run_cli,
    sandbox_settings,
    start_sandbox,
    truth_span,
    umount,
)
from bench.truth_compare import Comparison, Counts, compare_warehouse, key_of, read_table, table_of
from sandbox.truth import ALL_COLLECTIONS

PROFILE = "chaos"
# How an error line may name the cause of a bad database path (any one will do).
CAUSES = {
    "disk-full": ("no space left", "disk is full", "disk full", "out of space"),
    "read-only": ("read-only", "read only", "not writable", "permission denied"),
    "not-a-directory": ("not a directory", "not a folder", "is a file"),
}
QUICK_COLLECTIONS = (
    "personal_info",
    "ring_configuration",
    "daily_sleep",
    "sleep",
    "workout",
    "heartrate",
)


@dataclass
class TrialContext:
    """What a trial gets: its seed (everything random derives from it), a folder, the size."""

    seed: int
    root: Path
    quick: bool

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def history_days(self) -> int:
        """Days of ring data of the trial's user (small: the suite must stay fast)."""
        return self.rng.randint(7, 12) if self.quick else self.rng.randint(30, 90)

    def now(self):
        """The server clock: up to four days after the reference clock, at any hour."""
        return CLOCK + timedelta(hours=self.rng.randint(0, 96))


@dataclass
class Trial:
    """The outcome of one trial."""

    counts: Counts = field(default_factory=Counts)
    burned: int = 0
    errors_judged: int = 0  # failed runs whose output was judged
    unclear: list[str] = field(default_factory=list)  # failed runs without one clear line
    failures: list[str] = field(default_factory=list)  # anything else that went wrong
    notes: dict[str, float] = field(default_factory=dict)  # scenario-specific counters

    def judge(self, run: CliRun, *must_contain: str, any_of: tuple[str, ...] = ()) -> bool:
        """Judge a run that failed: one clear line (see `clear_error`), no traceback?"""
        self.errors_judged += 1
        clear, line = clear_error(run, *must_contain, any_of=any_of)
        if not clear:
            self.unclear.append(f"{' '.join(run.args)}: {line}")
        return clear

    def expect_success(self, run: CliRun, what: str) -> bool:
        """A run that must succeed; a failure is recorded (and its output judged).

        An error that sends the user to `oura-elt auth login` must name the profile.
        """
        if run.code == 0 and no_traceback(run):
            return True
        self.failures.append(
            f"{what} exited {run.code}: {' | '.join(run.error_lines)[:400] or run.tail(400)}"
        )
        if run.code != 0:
            profile = run.args[run.args.index("--profile") + 1] if "--profile" in run.args else None
            relogin = profile and any("auth login" in line for line in run.error_lines)
            self.judge(run, *([f"oura-elt auth login --profile {profile}"] if relogin else []))
        return False

    def compared(self, comparison: Comparison, lost_before: int = 0) -> None:
        """Take the final comparison (plus documents lost earlier, counted as missing)."""
        self.counts = comparison.total
        self.counts.missing += lost_before
        if not comparison.total.exact:
            self.failures.append("warehouse != truth: " + " | ".join(comparison.examples))
        if lost_before and not any("were gone" in f for f in self.failures):
            self.failures.append(
                f"{lost_before} documents committed earlier were gone after the failure"
            )

    def note(self, name: str, value: float = 1) -> None:
        """Add to a scenario-specific counter."""
        self.notes[name] = self.notes.get(name, 0) + value


@dataclass(frozen=True)
class Scenario:
    """A named fault and how to run one trial of it."""

    name: str
    title: str
    run: Callable[[TrialContext], Trial]
    trials: int
    quick_trials: int
    burns_allowed_per_trial: int = 0


class Stage:
    """One trial's sandbox, workspace and way of calling `oura-elt load`.

    Args:
        ctx: the trial.
        oauth: log in profile `chaos` through the sandbox's OAuth flow (else a static token).
        settings: extra `SandboxSettings`.
    """

    def __init__(self, ctx: TrialContext, oauth: bool = False, **settings: Any) -> None:
        self.ctx, self.oauth = ctx, oauth
        self.redirect = f"http://127.0.0.1:{free_port()}/callback/"
        holder: list[ApiChaos] = []

        def wrap(app, state):
            holder.append(ApiChaos(app, state))
            return holder[0]

        self.sandbox: RunningSandbox = start_sandbox(
            sandbox_settings(
                ctx.seed, ctx.history_days(), ctx.now(), redirect_uris=(self.redirect,), **settings
            ),
            wrap=wrap,
        )
        self.chaos = holder[0]
        self.ws = Workspace(ctx.root)
        if oauth:
            self.login()

    def __enter__(self) -> Stage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sandbox.stop()

    def login(self) -> None:
        """(Re-)log in the profile as sandbox user 0."""
        login_profile(self.sandbox, self.ws.home, PROFILE, self.redirect)

    def env(self) -> dict[str, str]:
        """The user's environment (the clock pinned to the server's)."""
        return cli_env(
            self.sandbox, self.ws.home, self.ws.db, token=None if self.oauth else "sandbox-pat-0"
        )

    def args(self, *extra: str) -> list[str]:
        """`load` arguments: the profile, and in a quick trial a few collections from day one."""
        args = ["load"]
        if self.oauth:
            args += ["--profile", PROFILE]
        if self.ctx.quick:
            args += [
                "--collections",
                ",".join(QUICK_COLLECTIONS),
                "--start-date",
                self.first_day().isoformat(),
            ]
        return args + list(extra)

    def first_day(self) -> date:
        """The user's first day of data."""
        return self.sandbox.world.users[0].history_start

    def middle_day(self) -> date:
        """A day inside the user's history (the end of a first, partial load)."""
        today = self.sandbox.world.local_today(0)
        return self.first_day() + (today - self.first_day()) / 2

    def run(self, label: str, *extra: str) -> CliRun:
        """Run `oura-elt load` to completion."""
        return run_cli(*self.args(*extra), env=self.env(), log=self.ws.log(label))

    def spawn(self, label: str, *extra: str) -> CliProcess:
        """Start `oura-elt load` in the background."""
        return CliProcess(*self.args(*extra), env=self.env(), log=self.ws.log(label))

    def compare(self) -> Comparison:
        """The warehouse against the ground truth at the server's current clock."""
        start, end = truth_span(self.sandbox)
        if self.ctx.quick:
            return compare_warehouse(
                self.ws.db, self.sandbox.world, self.first_day(), end, collections=QUICK_COLLECTIONS
            )
        return compare_warehouse(self.ws.db, self.sandbox.world, start, end)

    def burned(self) -> int:
        """Refresh tokens burned at the server so far."""
        return burned_refresh_tokens(self.sandbox.oauth_stats())


def stored_keys(db: Path) -> set[tuple]:
    """(table, document key) of every row in the raw tables."""
    keys: set[tuple] = set()
    for collection in ALL_COLLECTIONS:
        table = table_of(collection)
        keys.update((table, key_of(table, row)) for row in read_table(db, table))
    return keys


# ----------------------------------------------------------------------------- scenarios


def kill_nine(ctx: TrialContext) -> Trial:
    """`kill -9` at a random moment of a backfill (sometimes the rerun too), then rerun.

    A second killed load starts from what the first one committed, and the server has not
    changed in between, so every document stored before it must still be stored after its
    kill (a merge's DELETE must never outlive its INSERT).
    """
    trial, rng = Trial(), ctx.rng
    with Stage(ctx) as stage:
        stage.sandbox.faults(seed=ctx.seed, latency_ms=rng.choice([0, 2, 5]))
        kills = 2 if rng.random() < 0.25 else 1
        for attempt in range(kills):
            before = stored_keys(stage.ws.db) if attempt else set()
            load = stage.spawn(f"killed-{attempt + 1}")
            if rng.random() < 0.35:  # right around a commit: the riskiest moment
                wanted, deadline = rng.randint(1, 2), time.monotonic() + 120
                while (
                    load.running() and load.commits_seen() < wanted and time.monotonic() < deadline
                ):
                    time.sleep(0.005)
                time.sleep(rng.uniform(0.0, 0.6))
            else:  # anywhere: start-up, planning, fetching, normalizing, loading
                longest = (2.5 if ctx.quick else 8.0) if attempt == 0 else 3.0
                time.sleep(rng.uniform(0.3, longest))
            if load.kill9():
                trial.note("kills landed")
            else:
                trial.note("finished before the kill")
                if not trial.expect_success(load.wait(), "a load that finished before its kill"):
                    return trial
            if before:
                trial.note("checked between kills")
                lost = before - stored_keys(stage.ws.db)
                if lost:
                    tables = sorted({table for table, _ in lost})
                    trial.note("lost after a kill", len(lost))
                    trial.failures.append(
                        f"{len(lost)} documents committed before the second load were gone "
                        f"after its kill (tables {', '.join(tables)})"
                    )
        if rng.random() < 0.5:  # time passes before the rerun: revised and late documents
            stage.sandbox.advance(rng.choice([3, 14, 27]) * 3600)
            trial.note("clock moved")
        trial.expect_success(stage.run("rerun"), "the rerun after kill -9")
        trial.compared(stage.compare())
    return trial


def _fault_trial(ctx: TrialContext, plan: dict, outages: int = 0) -> Trial:
    """A backfill under a fault plan (and whole-API outages); it must load everything.

    A quick trial makes a tenth of the requests, so its faults are three times as likely.
    """
    trial = Trial()
    if ctx.quick:
        plan = {k: (min(v * 3, 0.3) if isinstance(v, float) else v) for k, v in plan.items()}
    with Stage(ctx) as stage:
        stage.sandbox.faults(seed=ctx.seed, **plan)
        load = stage.spawn("under-faults")
        for _ in range(outages):
            time.sleep(ctx.rng.uniform(0.5, 3.0))
            stage.chaos.outage(ctx.rng.uniform(0.5, 2.5))
            trial.note("outages")
        run = load.wait()
        injected = stage.sandbox.injected() + stage.chaos.outage_answers
        trial.note("faults injected", injected)
        if not injected:
            trial.failures.append(
                "no fault was injected: the trial proves nothing (raise the rates)"
            )
        trial.expect_success(run, "the load under faults")
        trial.compared(stage.compare())
    return trial


def storms_429(ctx: TrialContext) -> Trial:
    """429 storms: runs of consecutive 429s with Retry-After."""
    rng = ctx.rng
    return _fault_trial(
        ctx,
        dict(
            rate_429=rng.uniform(0.03, 0.08),
            storm_length=rng.randint(3, 8),
            retry_after=rng.choice([0, 1]),
            max_faults=rng.randint(10, 24),
        ),
    )


def bursts_5xx(ctx: TrialContext) -> Trial:
    """5xx: scattered 500s, and whole-API outages (503 to everything for seconds)."""
    rng = ctx.rng
    return _fault_trial(
        ctx,
        dict(error_5xx=rng.uniform(0.04, 0.10), max_faults=rng.randint(10, 30)),
        outages=rng.randint(1, 2),
    )


def dropped_connections(ctx: TrialContext) -> Trial:
    """Connections cut in the middle of a response body."""
    rng = ctx.rng
    return _fault_trial(ctx, dict(drop=rng.uniform(0.04, 0.10), max_faults=rng.randint(10, 30)))


def bad_pages(ctx: TrialContext) -> Trial:
    """Truncated JSON, HTML error pages sent as 200, repeated next_tokens."""
    rng = ctx.rng
    return _fault_trial(
        ctx,
        dict(
            truncate=rng.uniform(0.03, 0.06),
            malformed=rng.uniform(0.03, 0.06),
            repeat_token=0.02,
            max_faults=rng.randint(10, 30),
        ),
    )


def expiring_tokens(ctx: TrialContext) -> Trial:
    """An OAuth login whose access tokens expire every few requests (401, refresh, retry)."""
    trial = Trial()
    with Stage(ctx, oauth=True) as stage:
        stage.chaos.expire_every = ctx.rng.randint(3, 8)
        run = stage.run("expiring")
        stats = stage.sandbox.oauth_stats()
        trial.burned = burned_refresh_tokens(stats)
        trial.note("token expirations", stage.chaos.expirations)
        trial.note("refreshes", stats.get("refreshes_ok", 0))
        trial.expect_success(
            run, f"the load with tokens expiring every {stage.chaos.expire_every} requests"
        )
        trial.compared(stage.compare())
    return trial


def lost_refresh(ctx: TrialContext) -> Trial:
    """The token endpoint rotates the refresh token but its answer is lost.

    A first load commits part of the history; in the second, a token expires, the
    answer to its refresh never arrives, and the load must stop with the one-line
    re-login message, keeping what was committed. After `auth login`, a rerun
    completes.
    """
    trial, rng = Trial(), ctx.rng
    with Stage(ctx, oauth=True) as stage:
        if not trial.expect_success(
            stage.run("partial", "--end-date", stage.middle_day().isoformat()),
            "the first, partial load",
        ):
            return trial
        before = stored_keys(stage.ws.db)

        stage.chaos.expire_every = rng.randint(2, 12)
        stage.chaos.lose_refreshes = 1
        stage.chaos.lose_mode = rng.choice(["502", "cut"])
        broken = stage.run(f"refresh-lost-{stage.chaos.lose_mode}")
        stage.chaos.expire_every = 0
        trial.note("refresh answers lost", stage.chaos.lost)
        if stage.chaos.lost == 0:
            trial.failures.append("no refresh happened, so no answer could be lost")
        elif broken.code == 0:
            trial.failures.append("the load succeeded although its refresh token was gone")
        else:
            trial.judge(broken, f"oura-elt auth login --profile {PROFILE}")
        lost = len(before - stored_keys(stage.ws.db))
        trial.burned = stage.burned()

        stage.login()
        trial.expect_success(stage.run("after-relogin"), "the rerun after auth login")
        trial.compared(stage.compare(), lost_before=lost)
    return trial


def two_loads(ctx: TrialContext) -> Trial:
    """Two `oura-elt load` processes at once, one profile, one database."""
    trial, rng = Trial(), ctx.rng
    oauth = ctx.seed % 2 == 1
    with Stage(ctx, oauth=oauth) as stage:
        if oauth:  # tokens expire too, so that both processes refresh the same login
            stage.chaos.expire_every = rng.randint(10, 30)
            trial.note("oauth")
        first = stage.spawn("first")
        time.sleep(rng.uniform(0.0, 2.5))
        second = stage.spawn("second")
        runs = [first.wait(), second.wait()]
        ok = [run for run in runs if run.code == 0 and no_traceback(run)]
        for run in runs:
            if run not in ok:
                trial.judge(run)
                trial.note("refused")
        if not ok:
            trial.failures.append("neither of the two loads succeeded")
        trial.burned = stage.burned()
        trial.compared(stage.compare())
    return trial


def bad_disk(ctx: TrialContext) -> Trial:
    """A full disk or a read-only database folder, after part of the history was loaded.

    Real mounts where this process may mount (root): odd seeds shrink a tmpfs holding
    the database to what the first load used (seeds 1, 5, 9, ...: the pipeline's
    working folder too), even seeds bind-mount the database's folder read-only.
    Without mount rights, the path is under a regular file (ENOTDIR). The load must
    stop with one clear line naming the cause and lose nothing; once the fault is
    gone (space freed, folder writable again), a rerun must complete.
    """
    mode = ("disk-full" if ctx.seed % 2 else "read-only") if can_mount() else "not-a-directory"
    trial = Trial()
    trial.note(mode)
    with Stage(ctx) as stage:
        disk = stage.ws.db.parent
        disk.mkdir(parents=True, exist_ok=True)
        mounted = False
        try:
            if mode == "disk-full":
                mount("-t", "tmpfs", "-o", "size=256m", "tmpfs", str(disk))
                mounted = True
                if ctx.seed % 4 == 1:  # the pipeline's working folder on the full disk too
                    stage.ws.home = disk / "home"
                    trial.note("home on the full disk")
            if not trial.expect_success(
                stage.run("partial", "--end-date", stage.middle_day().isoformat()),
                "the first, partial load",
            ):
                return trial
            before = stored_keys(stage.ws.db)

            target, mounted = _make_fault(ctx, mode, disk, mounted, stage.ws.db)
            broken = stage.run(mode, "--duckdb", str(target))
            if broken.code == 0:
                trial.failures.append(f"the load on a {mode} path succeeded")
            else:
                trial.judge(broken, any_of=CAUSES[mode])
            lost = _lost_since(ctx, trial, before, stage.ws.db, disk)
            if mode == "read-only":
                umount(disk)
                mounted = False
            elif mode == "disk-full":
                mount("-o", "remount,size=256m", "tmpfs", str(disk))  # the user frees space
            trial.expect_success(
                stage.run("after-fix"), f"the rerun once the {mode} fault was gone"
            )
            trial.compared(stage.compare(), lost_before=len(lost))
        finally:
            if mounted:
                if (
                    trial.failures or trial.unclear
                ):  # keep the evidence: the tmpfs dies with the mount
                    shutil.copytree(disk, ctx.root / "disk-at-failure", dirs_exist_ok=True)
                umount(disk)
    return trial


def _make_fault(
    ctx: TrialContext, mode: str, disk: Path, mounted: bool, db: Path
) -> tuple[Path, bool]:
    """Break the warehouse's folder as `mode` says: (the path to load into, mounted)."""
    if mode == "disk-full":
        room = _used_bytes(disk) + ctx.rng.randint(64, 1024) * 1024
        mount("-o", f"remount,size={room}", "tmpfs", str(disk))
        return db, mounted
    if mode == "read-only":
        mount("--bind", str(disk), str(disk))
        try:
            mount("-o", "remount,bind,ro", str(disk))
        except BaseException:
            umount(disk)
            raise
        return db, True
    blocker = ctx.root / "not-a-folder"
    blocker.write_text("a file where a folder should be\n")
    return blocker / "oura.duckdb", mounted


def _lost_since(ctx: TrialContext, trial: Trial, before: set, db: Path, disk: Path) -> set:
    """Documents stored `before` the failed load and gone after it (a failure, with the
    warehouse kept as the failure left it)."""
    lost = before - stored_keys(db)
    if lost:
        shutil.copytree(disk, ctx.root / "after-the-failed-load", dirs_exist_ok=True)
        tables = sorted({table for table, _ in lost})
        trial.note("lost after the failure", len(lost))
        trial.failures.append(
            f"{len(lost)} documents committed before were gone after the failed load "
            f"(tables {', '.join(tables)})"
        )
    return lost


def _used_bytes(mount_point: Path) -> int:
    """Bytes in use on the file system at `mount_point` (what a shrunk tmpfs must keep)."""
    stats = os.statvfs(mount_point)
    return (stats.f_blocks - stats.f_bfree) * stats.f_frsize


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("kill9", "kill -9 mid-backfill, rerun", kill_nine, trials=20, quick_trials=1),
        Scenario("429", "429 storms", storms_429, trials=3, quick_trials=1),
        Scenario("5xx", "5xx bursts and outages", bursts_5xx, trials=3, quick_trials=1),
        Scenario("drops", "dropped connections", dropped_connections, trials=3, quick_trials=1),
        Scenario("bad-pages", "truncated/malformed pages", bad_pages, trials=3, quick_trials=1),
        Scenario(
            "expiring-tokens",
            "tokens expire every few requests",
            expiring_tokens,
            trials=3,
            quick_trials=1,
        ),
        Scenario(
            "lost-refresh",
            "refresh answer lost",
            lost_refresh,
            trials=3,
            quick_trials=1,
            burns_allowed_per_trial=1,
        ),
        Scenario("two-loads", "two loads at once", two_loads, trials=4, quick_trials=1),
        Scenario("bad-disk", "disk full / read-only path", bad_disk, trials=4, quick_trials=1),
    )
}
