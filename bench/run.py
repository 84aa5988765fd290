"""`make bench`: every figure of bench/README.md, each beside its baseline from the same run.

These machines are noisy, so every ratio compares two measurements taken minutes
apart in one process, never a figure from another day. Loads run in child
processes (`bench.one_load`) so that their peak memory is their own; the sandbox
runs in its own process too, like the real API. Usage:

    .venv/bin/python -m bench.run [--quick] [--only backfill,heartrate,...]

`--quick` shrinks every case (for checking the harness, not for the README).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

import duckdb
import requests
from rich.console import Console
from rich.table import Table

from bench.harness import NOW, child_load, sandbox
from bench.naive import naive_load
from oura_elt.commands.sandbox import sandbox_endpoints

CASES = ("backfill", "heartrate", "nightly", "dbt", "memory", "cohort", "bigquery")
LATENCY_MS = 100


@dataclass
class Row:
    """One line of the table: a figure, its baseline, their ratio and the target."""

    case: str
    figure: str
    baseline: str = ""
    ratio: str = ""
    target: str = ""
    met: str = ""


@dataclass
class Bench:
    quick: bool
    workdir: Path
    rows: list[Row] = field(default_factory=list)
    console: Console = field(default_factory=Console)

    def folder(self, name: str) -> Path:
        path = self.workdir / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def say(self, text: str) -> None:
        self.console.print(f"[dim]{datetime.now():%H:%M:%S}[/] {text}")

    # ------------------------------------------------------------------ 1
    def backfill(self) -> None:
        years = 1 if self.quick else 3
        days = 365 * years
        naive_days = 5 if self.quick else 30
        with sandbox(days=days + 30, latency_ms=LATENCY_MS) as sb:
            self.say(f"backfill: {years} years, every collection, {LATENCY_MS} ms per request")
            ours = child_load(
                sb.base_url,
                self.folder("backfill") / "oura.duckdb",
                self.folder("backfill-home"),
                days=days,
            )
            self.say(f"  ours: {ours['seconds']:.1f} s, {ours['requests']} requests")
            self.say(f"naive loader: {naive_days} days (its time grows linearly with days)")
            start = (NOW - timedelta(days=naive_days - 1)).date()
            naive = naive_load(
                sb.base_url,
                "sandbox-pat-0",
                start,
                NOW.date(),
                self.folder("naive") / "naive.duckdb",
            )
            naive_full = naive.seconds * days / naive_days
            chain = longest_chain(sb.base_url, days)
            sb.latency(0)
            floor = child_load(
                sb.base_url,
                self.folder("floor") / "oura.duckdb",
                self.folder("floor-home"),
                days=days,
            )
        self.rows += _backfill_rows(years, ours, naive, naive_full, naive_days, chain, floor)
        self.peak_3y = ours["peak_mb"]

    # ------------------------------------------------------------------ 2
    def heartrate(self) -> None:
        users = 1 if self.quick else 3
        days = 365 if self.quick else 1095
        with sandbox(users=users, days=days + 30, series_page_size=10000) as sb:
            total, seconds = 0, 0.0
            for user in range(users):
                self.say(f"heart rate: user {user + 1}/{users}, {days} days, heartrate only")
                run = child_load(
                    sb.base_url,
                    self.folder("hr") / "oura.duckdb",
                    self.folder("hr-home"),
                    user=user,
                    days=days,
                    collections=["heartrate"],
                )
                total, seconds = total + run["heartrate"], seconds + run["seconds"]
            self.say("heart rate: the same pages saved to disk, then DuckDB's own read_json")
            pages = save_pages(sb.base_url, users, days, self.folder("hr-pages"))
        reference = duckdb_ingest(pages, self.folder("hr-ref") / "ref.duckdb")
        ours_rate, ref_rate = total / seconds, reference[0] / reference[1]
        self.rows.append(
            Row(
                "2. heart rate",
                f"{total:,} samples at {ours_rate:,.0f}/s (HTTP included)",
                f"DuckDB read_json of the saved pages: {ref_rate:,.0f}/s",
                f"{ours_rate / ref_rate:.2f}x",
                ">= 0.25x",
                yes(ours_rate / ref_rate >= 0.25),
            )
        )

    # ------------------------------------------------------------------ 3
    def nightly(self) -> None:
        days = 90 if self.quick else 1095
        with sandbox(days=days) as sb:
            db, home = self.folder("nightly") / "oura.duckdb", self.folder("nightly-home")
            # As a user runs it: `oura-elt load` with no dates, the first time (the whole
            # history) and the next morning (on from dlt's saved cursors, with the lookback).
            self.say(f"nightly: a first load of {days} days of history, then the next morning's")
            child_load(sb.base_url, db, home)
            sb.admin("clock", {"advance_days": 1})
            refresh = child_load(sb.base_url, db, home, now=NOW + timedelta(days=1))
        from pipelines.oura.settings import ALL_NAMES

        per = refresh["requests"] / len(ALL_NAMES)
        self.rows.append(
            Row(
                "3. nightly refresh",
                f"{refresh['requests']} requests, {refresh['seconds']:.1f} s",
                f"{len(ALL_NAMES)} collections",
                f"{per:.2f} requests per collection",
                "about 1",
                yes(per <= 1.5),
            )
        )

    # ------------------------------------------------------------------ 4
    def dbt(self) -> None:
        from pipelines.transform import transform

        one_days = 120 if self.quick else 1095
        many, many_days = (3, 30) if self.quick else (10, 365)
        with sandbox(users=many, days=max(one_days, many_days) + 30) as sb:
            self.say(f"dbt: load 1 user x {one_days} days")
            one = self.folder("dbt-one") / "oura.duckdb"
            child_load(sb.base_url, one, self.folder("dbt-one-home"), days=one_days)
            cohort = self.folder("dbt-many") / "oura.duckdb"
            for user in range(many):
                self.say(f"dbt: load user {user + 1}/{many} x {many_days} days")
                child_load(
                    sb.base_url, cohort, self.folder("dbt-many-home"), user=user, days=many_days
                )
        self.say("dbt build: one user")
        first = transform(one, target_path=self.folder("dbt-one-target"))
        self.say("dbt build: cohort")
        second = transform(cohort, target_path=self.folder("dbt-many-target"))
        self.rows += [
            Row(
                "4. dbt build",
                f"{first.seconds:.1f} s",
                f"1 user x {one_days} days",
                "",
                "< 20 s",
                yes(first.seconds < 20),
            ),
            Row(
                "",
                f"{second.seconds:.1f} s",
                f"{many} users x {many_days} days",
                f"{second.seconds / first.seconds:.1f}x the one-user build",
                "",
                "",
            ),
        ]

    # ------------------------------------------------------------------ 5
    def memory(self) -> None:
        spans = (30, 365) if self.quick else (365, 1095, 3650)
        peaks = {}
        with sandbox(days=max(spans) + 30) as sb:
            for days in spans:
                self.say(f"memory: backfill {days} days (no latency)")
                run = child_load(
                    sb.base_url,
                    self.folder(f"mem-{days}") / "oura.duckdb",
                    self.folder(f"mem-{days}-home"),
                    days=days,
                )
                peaks[days] = run["peak_mb"]
        first, last = peaks[spans[0]], peaks[spans[-1]]
        growth = last / first
        figures = ", ".join(
            f"{d // 365 or d} {'y' if d >= 365 else 'd'}: {p:.0f} MB" for d, p in peaks.items()
        )
        self.rows.append(
            Row(
                "5. peak memory",
                figures,
                f"{spans[0]} days: {first:.0f} MB",
                f"{growth:.2f}x from {spans[0]} to {spans[-1]} days",
                "flat, < 400 MB",
                yes(growth < 1.25 and max(peaks.values()) < 400),
            )
        )

    # ------------------------------------------------------------------ 6
    def cohort(self) -> None:
        from pipelines.auth import StaticTokenProvider
        from pipelines.load import load
        from pipelines.oura.ratelimit import RateBudget

        users, days = (6, 14) if self.quick else (50, 30)
        limit, window = (120, 20) if self.quick else (600, 60)
        budget = RateBudget(int(limit * 0.9), window)  # the loader's default share of a limit
        db = self.folder("cohort") / "oura.duckdb"
        self.say(f"cohort: {users} users x {days} days under {limit} requests per {window} s")
        with sandbox(users=users, days=days + 30, app_limit=limit, window=window) as sb:
            started = time.monotonic()

            def one(user: int):
                return load(
                    f"user{user}",
                    start_date=(NOW - timedelta(days=days - 1)).date(),
                    endpoints=sandbox_endpoints(sb.base_url),
                    provider=StaticTokenProvider(f"sandbox-pat-{user}", profile=f"user{user}"),
                    budget=budget,
                    duckdb_path=db,
                    now=NOW,
                )

            with ThreadPoolExecutor(max_workers=4) as pool:
                summaries = list(pool.map(one, range(users)))
            elapsed = time.monotonic() - started
            state = sb.state()
        sent = sum(s.requests for s in summaries)
        rejected = state["rate_limit"]["rejected"]
        failed = sum(len(s.failed) for s in summaries) + rejected
        used = sent / (limit * elapsed / window)
        self.rows.append(
            Row(
                "6. cohort",
                f"{users} users in {elapsed:.0f} s, {sent:,} requests",
                f"{limit} requests / {window} s",
                f"{used:.0%} of the budget used, {failed} failed requests",
                "> 80 %, 0 failed",
                yes(used > 0.8 and failed == 0),
            )
        )

    # ------------------------------------------------------------------ 7
    def bigquery(self) -> None:
        """The same cohort through the Prefect backfill flow into DuckDB, then into BigQuery
        (the tests' local BigQuery API: bqemulator behind its correcting proxy)."""
        users, days = (3, 7) if self.quick else (5, 30)
        emulator = _bigquery_emulator()
        reason = emulator.missing_reason()
        if reason:
            self.rows.append(Row("7. BigQuery cohort", f"not run: {reason}"))
            return
        self.say(
            f"BigQuery: {users} users x {days} days through the backfill flow, DuckDB then BigQuery"
        )
        on_duckdb, on_bigquery, report = self._bigquery_cohort(emulator, users, days)
        self.rows.append(
            Row(
                "7. BigQuery cohort",
                f"{users} users, {report.documents:,} documents into BigQuery in "
                f"{on_bigquery:.0f} s",
                f"DuckDB: {on_duckdb:.0f} s",
                f"{on_bigquery / on_duckdb:.1f}x",
                "(emulator: no target)",
                "-",
            )
        )

    def _bigquery_cohort(self, emulator, users: int, days: int) -> tuple[float, float, object]:
        """Seconds of the backfill flow into DuckDB and into BigQuery, and the latter's report."""
        from prefect.testing.utilities import prefect_test_harness

        from flows.backfill import backfill

        home = self.folder("bigquery-home")
        service = None
        with _environment(
            OURA_ELT_HOME=str(home),
            OURA_ELT_NOW=NOW.isoformat(),
            PREFECT_HOME=str(home / "prefect"),
        ):
            try:
                with (
                    sandbox(users=users, days=days + 30) as sb,
                    prefect_test_harness(server_startup_timeout=90),
                ):
                    save_sandbox_logins(sb.base_url, users)
                    service = emulator.start_local_bigquery(self.folder("bqemulator"))
                    project = service.project("ourabench")  # a valid id: 6 to 30 characters
                    params = dict(
                        profiles=[f"user{u}" for u in range(users)],
                        start_date=(NOW - timedelta(days=days - 1)).date(),
                        end_date=NOW.date(),
                        api_base_url=sb.base_url,
                        run_dbt=False,
                        max_parallel=users,
                        rate_limit="100000/1",
                    )
                    started = time.monotonic()
                    duck = self.folder("bigquery-duckdb") / "oura.duckdb"
                    backfill(destination="duckdb", duckdb_path=str(duck), **params)
                    on_duckdb = time.monotonic() - started
                    self.say(f"  DuckDB: {on_duckdb:.1f} s")
                    os.environ.update(project.env)
                    started = time.monotonic()
                    report = backfill(destination="bigquery", **params)
                    on_bigquery = time.monotonic() - started
                    self.say(f"  BigQuery (emulated): {on_bigquery:.1f} s")
            finally:
                if service is not None:
                    service.stop()
        return on_duckdb, on_bigquery, report

    def table(self) -> Table:
        table = Table(title="oura-elt benchmarks (ratios within this run)", show_lines=False)
        for name in ("case", "figure", "baseline", "ratio", "target", "met"):
            table.add_column(name)
        for row in self.rows:
            table.add_row(row.case, row.figure, row.baseline, row.ratio, row.target, row.met)
        return table


def _backfill_rows(years, ours, naive, naive_full, naive_days, chain, floor) -> list[Row]:
    """The rows of case 1: ours against the naive loader (measured on `naive_days` days),
    the request-chain bound and the same load with no latency."""
    bound = chain * LATENCY_MS / 1000
    docs_per_s = ours["documents"] / ours["seconds"]
    days = 365 * years
    return [
        Row(
            "1. backfill",
            f"{ours['seconds']:.1f} s, {ours['requests']:,} requests, "
            f"{ours['documents']:,} docs ({docs_per_s:,.0f}/s)",
            "",
            "",
            f"{years} y, {LATENCY_MS} ms latency",
        ),
        Row(
            "",
            "vs naive loader",
            f"{naive_full:.0f} s ({naive.requests * days // naive_days:,} requests; "
            f"measured on {naive_days} days)",
            f"{naive_full / ours['seconds']:.1f}x faster",
            ">= 10x",
            yes(naive_full / ours["seconds"] >= 10),
        ),
        Row(
            "",
            "vs lower bound",
            f"{bound:.1f} s (chain of {chain} requests x {LATENCY_MS} ms)",
            f"{ours['seconds'] / bound:.1f}x the bound",
            "<= 2x",
            yes(ours["seconds"] / bound <= 2),
        ),
        Row(
            "",
            "vs the same load with no latency",
            f"{floor['seconds']:.1f} s (processing floor)",
            f"{ours['seconds'] / floor['seconds']:.2f}x",
            "",
            "",
        ),
    ]


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    """`os.environ` with `values` (and whatever is set inside), restored afterwards."""
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _bigquery_emulator():
    """The tests' local BigQuery API (`tests/bigquery_emulator.py`): one place for the
    emulator and its corrections."""
    import importlib.util
    import sys

    if "bigquery_emulator" not in sys.modules:
        path = Path(__file__).resolve().parent.parent / "tests" / "bigquery_emulator.py"
        spec = importlib.util.spec_from_file_location("bigquery_emulator", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["bigquery_emulator"] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules["bigquery_emulator"]


def save_sandbox_logins(base_url: str, users: int) -> None:
    """Saved logins `user0`, `user1`, ... holding the sandbox's personal tokens (what
    `oura-elt auth login --profile userN` leaves, without the browser)."""
    from pipelines.auth import TokenRecord, TokenStore
    from sandbox.application import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET
    from sandbox.oauth import ALL_SCOPES

    for user in range(users):
        store = TokenStore(f"user{user}")
        with store.lock():
            store.save(
                TokenRecord(
                    profile=f"user{user}",
                    access_token=f"sandbox-pat-{user}",
                    refresh_token=None,
                    expires_at=None,
                    token_type="Bearer",
                    scopes=tuple(sorted(ALL_SCOPES)),
                    raw_scopes=tuple(sorted(ALL_SCOPES)),
                    token_url=f"{base_url}/oauth/token",
                    revoke_url=f"{base_url}/oauth/revoke",
                    api_base_url=base_url,
                    client_id=SANDBOX_CLIENT_ID,
                    client_secret=SANDBOX_CLIENT_SECRET,
                    user_id=None,
                    obtained_at=time.time(),
                )
            )


def yes(ok: bool) -> str:
    return "yes" if ok else "NO"


def longest_chain(base_url: str, days: int) -> int:
    """Requests that must follow one another: `personal_info` (who), `ring_configuration`
    (where history starts), then the longest `next_token` chain of any one window (29 days
    for time series, 90 for daily routes: the windows the loader asks for), walked with no
    latency. Every other request could run beside these."""
    from pipelines.oura.settings import COLLECTIONS, DAILY_WINDOW_DAYS, SERIES, SERIES_WINDOW_DAYS

    headers = {"Authorization": "Bearer sandbox-pat-0"}
    requests.post(f"{base_url}/_sandbox/faults", json={}, timeout=30)
    end = NOW.date()
    longest = 1
    for collection in COLLECTIONS:
        if not collection.dated:
            continue
        series = collection.kind == SERIES
        span = min(days, SERIES_WINDOW_DAYS if series else DAILY_WINDOW_DAYS)
        first = end - timedelta(days=span)
        if series:
            lo = datetime.combine(first, dtime(), UTC)
            params = {
                "start_datetime": lo.isoformat(),
                "end_datetime": (lo + timedelta(days=span)).isoformat(),
            }
        else:
            params = {"start_date": first.isoformat(), "end_date": end.isoformat()}
        pages = 0
        while True:
            body = requests.get(
                f"{base_url}/v2/usercollection/{collection.route}",
                params=params,
                headers=headers,
                timeout=60,
            ).json()
            pages += 1
            if not body.get("next_token"):
                break
            params = {**params, "next_token": body["next_token"]}
        longest = max(longest, pages)
    requests.post(f"{base_url}/_sandbox/faults", json={"latency_ms": LATENCY_MS}, timeout=30)
    return 2 + longest


def save_pages(base_url: str, users: int, days: int, folder: Path) -> Path:
    """Every heart-rate page of every user, as the API sent it, one file per page."""
    session = requests.Session()
    count = 0
    for user in range(users):
        headers = {"Authorization": f"Bearer sandbox-pat-{user}"}
        lo = datetime.combine(NOW.date() - timedelta(days=days), dtime(), UTC)
        end = NOW
        while lo < end:
            hi = min(lo + timedelta(days=29), end)
            params = {"start_datetime": lo.isoformat(), "end_datetime": hi.isoformat()}
            while True:
                resp = session.get(
                    f"{base_url}/v2/usercollection/heartrate",
                    params=params,
                    headers=headers,
                    timeout=60,
                )
                resp.raise_for_status()
                (folder / f"page-{count:06d}.json").write_bytes(resp.content)
                count += 1
                token = resp.json().get("next_token")
                if not token:
                    break
                params = {**params, "next_token": token}
            lo = hi
    return folder


def duckdb_ingest(pages: Path, db: Path) -> tuple[int, float]:
    """(samples, seconds) for DuckDB to read the saved pages into a table: the reference."""
    with duckdb.connect(str(db)) as con:
        started = time.perf_counter()
        con.execute(
            f"CREATE TABLE heartrate AS SELECT unnest(data, recursive := true) "
            f"FROM read_json('{pages}/*.json', format = 'auto')"
        )
        seconds = time.perf_counter() - started
        samples = con.execute("SELECT count(*) FROM heartrate").fetchone()[0]
    return samples, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small cases, to check the harness")
    parser.add_argument(
        "--only", default=",".join(CASES), help=f"comma-separated subset of {','.join(CASES)}"
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args()
    chosen = [c.strip() for c in args.only.split(",") if c.strip()]
    unknown = set(chosen) - set(CASES)
    if unknown:
        raise SystemExit(
            f"unknown case(s): {', '.join(sorted(unknown))}; choose from {', '.join(CASES)}"
        )
    from pipelines.core import config

    config.telemetry_off()
    workdir = Path(tempfile.mkdtemp(prefix="oura-elt-bench-"))
    bench = Bench(args.quick, workdir)
    try:
        for case in chosen:
            getattr(bench, case)()
    finally:
        bench.console.print(bench.table())
        if args.json:
            args.json.write_text(json.dumps([r.__dict__ for r in bench.rows], indent=1))
        if args.keep:
            bench.say(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
