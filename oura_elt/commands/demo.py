"""`oura-elt demo`: the whole pipeline on the local Oura-compatible server.

Nothing here is special-cased for the demo: it starts the sandbox, logs in through
the real OAuth2 flow (the demo acts as the browser), and loads through the same
Prefect `backfill` flow a scheduled run uses (chunked, resumable, then `dbt build`).
Everything it writes lives under `data/demo/` (its own warehouse, token store and
pipeline state), so it never touches your real data, and every run
starts from nothing.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urljoin

import typer
from rich.markup import escape

from oura_elt.commands.sandbox import sandbox_endpoints
from oura_elt.console import console

DEMO_DIR = Path("data") / "demo"
PROFILE = "demo"


def act_as_browser(authorize_url: str) -> None:
    """Open the authorize URL like a browser would: follow the sandbox's redirect to
    the loopback callback (consent is automatic for the sandbox's demo user)."""
    import requests

    def browse() -> None:
        resp = requests.get(authorize_url, allow_redirects=False, timeout=30)
        location = resp.headers.get("location")
        if resp.status_code in (302, 303) and location:
            requests.get(urljoin(authorize_url, location), timeout=30)

    threading.Thread(target=browse, daemon=True).start()


DaysOpt = Annotated[int, typer.Option("--days", min=1, help="Days of history to load.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of the sandbox's generated world.")]

# daily_summary column -> short heading that fits a terminal
WEEK_COLUMNS = {
    "summary_date": "day",
    "sleep_score": "sleep",
    "readiness_score": "ready",
    "activity_score": "act.",
    "steps": "steps",
    "total_sleep_seconds": "slept s",
    "average_hrv_ms": "HRV",
    "lowest_heart_rate_bpm": "low HR",
    "resilience_level": "resilience",
}


def demo(days: DaysOpt = 730, seed: SeedOpt = 0) -> None:
    """Start the sandbox, log in with OAuth2, load two years of a demo user, build the marts."""
    duckdb_path = _start_from_nothing()
    report = _serve_log_in_and_load(days, seed, duckdb_path)

    console.rule("[bold]4. the marts (dbt build: staging, intermediate, marts)")
    _print_marts(report, duckdb_path)

    console.rule("[bold]5. every night")
    from flows.run import nightly_preview

    console.print(escape(nightly_preview()), soft_wrap=True)
    console.print("to serve it: make schedule   (or: oura-elt schedule --timezone Europe/Helsinki)")
    console.rule("[bold]6. the report")
    from oura_elt.report import write_report

    page = write_report(duckdb_path)
    console.print(f"report: {page}  (open it in a browser; no network needed)")
    console.rule("[bold green]done")
    console.print(f"warehouse: {duckdb_path}  (raw: oura_raw, marts: oura_marts)")


def _start_from_nothing() -> Path:
    """An empty `data/demo/` (owner only) as this process's home; the demo warehouse's path."""
    from pipelines.core.private import private_folder

    if DEMO_DIR.exists():
        shutil.rmtree(DEMO_DIR)
    private_folder(DEMO_DIR)  # its warehouse and report are health data in form: owner only
    # The token store and pipeline state are found through OURA_ELT_HOME at every layer
    # (the flow's tasks included), so the demo's home is set for the whole process.
    os.environ["OURA_ELT_HOME"] = str((DEMO_DIR / "home").resolve())
    return (DEMO_DIR / "oura.duckdb").resolve()


def _serve_log_in_and_load(days: int, seed: int, duckdb_path: Path) -> Any:
    """Steps 1 to 3: a one-user sandbox, an OAuth2 login to it, the backfill flow; its report."""
    from flows.run import run_backfill
    from oura_elt.commands.load import print_summary
    from pipelines.auth import login
    from pipelines.load import LoadSummary
    from sandbox.runner import start_in_thread
    from sandbox.server import SandboxSettings

    console.rule("[bold]1. the local Oura-compatible server")
    callback = f"http://127.0.0.1:{_free_port()}/callback/"
    running = start_in_thread(
        SandboxSettings(users=1, seed=seed, history_days=days, redirect_uris=(callback,))
    )
    try:
        endpoints = sandbox_endpoints(running.base_url)
        user = running.sandbox.world.users[0]
        console.print(
            f"sandbox on {running.base_url}: user {user.user_id}, history from {user.history_start}"
        )

        console.rule("[bold]2. OAuth2 login (the demo acts as the browser)")
        record = login(
            PROFILE,
            endpoints=endpoints,
            redirect_uri=callback,
            open_browser=False,
            show_url=act_as_browser,
            notify=lambda line: console.print(f"[dim]{line}[/]"),
        )
        console.print(f"logged in as {record.user_id}; scopes: {', '.join(sorted(record.scopes))}")

        console.rule(f"[bold]3. the Prefect backfill flow: {days} days, then dbt build")
        console.print(f"into {duckdb_path}")
        os.environ["OURA_API_BASE_URL"] = running.base_url  # refreshes go to the sandbox too
        report = run_backfill(PROFILE, duckdb_path=duckdb_path, api_base_url=running.base_url)
        print_summary(LoadSummary.combined(report.summaries[PROFILE]))
    finally:
        running.stop()
    return report


def _print_marts(report: Any, duckdb_path: Path) -> None:
    """dbt's result, the rows of each mart and the last week of daily_summary."""
    from rich.table import Table

    from pipelines.transform import mart_row_counts, recent_daily_summary

    if report.dbt is not None:
        console.print(
            f"dbt build passed in {report.dbt.seconds:.0f} s: {report.dbt.models} models, "
            f"{report.dbt.tests} tests, {report.dbt.unit_tests} unit tests"
        )
    counts = Table("mart", "rows", box=None)
    for name, rows in sorted(mart_row_counts(duckdb_path).items()):
        counts.add_row(name, f"{rows:,}")
    console.print(counts)
    week = recent_daily_summary(duckdb_path, days=7)
    if week:
        table = Table(box=None, title="the last week of daily_summary")
        for heading in WEEK_COLUMNS.values():
            table.add_column(heading, no_wrap=True)
        for row in week:
            table.add_row(*("" if row.get(c) is None else str(row[c]) for c in WEEK_COLUMNS))
        console.print(table)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
