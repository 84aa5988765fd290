"""`oura-elt schedule`: serve the nightly refresh and the on-demand backfill with Prefect.

Runs until interrupted. Uses the Prefect server named by `--api-url` or
`PREFECT_API_URL` (or one already answering on `--port`); otherwise starts
`prefect server start` with its own `PREFECT_HOME` under the oura-elt home and
stops it on the way out. The deployments themselves are declared in
`flows/schedule.py` (and, for work pools, in `prefect.yaml`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from oura_elt.commands.options import (
    DestinationOpt,
    DuckdbOpt,
    check_destination,
    port_option,
)
from oura_elt.console import console
from pipelines.core.config import DEFAULT_LOOKBACK_DAYS

if TYPE_CHECKING:
    from pipelines.core.target import Target


CronOpt = Annotated[
    str,
    typer.Option("--cron", metavar="CRON", help="When the nightly refresh runs (cron, 5 fields)."),
]
TimezoneOpt = Annotated[
    str | None,
    typer.Option(
        "--timezone",
        metavar="ZONE",
        help="IANA time zone of the cron, e.g. Europe/Helsinki (default: this machine's).",
    ),
]
IntervalOpt = Annotated[
    float | None,
    typer.Option(
        "--interval",
        min=1,
        metavar="SECONDS",
        help="Refresh every SECONDS (1 or more) instead of the cron (for trying it out).",
    ),
]
ApiUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--api-url",
        metavar="URL",
        help="Prefect API of a running server (default: PREFECT_API_URL, else start a local one).",
    ),
]
# A list option keeps its default in the option (a mutable default in a signature is a trap).
ProfilesOpt = typer.Option(
    [],
    "--profile",
    "-p",
    metavar="NAME",
    help="Profile to refresh (repeatable; default: every saved login).",
)
NightlyLookbackOpt = Annotated[
    int,
    typer.Option(
        "--lookback-days",
        min=0,
        metavar="DAYS",
        help="Trailing days the nightly refresh fetches again.",
    ),
]
WebhooksOpt = Annotated[
    bool,
    typer.Option(
        "--webhooks",
        help="Also renew the app's webhook subscriptions every day (oura-renew-webhooks).",
    ),
]


def schedule(
    cron: CronOpt = "30 5 * * *",
    timezone: TimezoneOpt = None,
    interval: IntervalOpt = None,
    api_url: ApiUrlOpt = None,
    port: int = port_option(4200, "Port of the local Prefect server this command starts."),
    profiles: list[str] = ProfilesOpt,
    destination: DestinationOpt = "duckdb",
    duckdb_path: DuckdbOpt = None,
    lookback_days: NightlyLookbackOpt = DEFAULT_LOOKBACK_DAYS,
    webhooks: WebhooksOpt = False,
) -> None:
    """Serve 'oura-nightly' (refresh + dbt build every night) and 'oura-backfill' with Prefect."""
    from flows.server import prefect_server, prepare_prefect_env

    prepare_prefect_env()
    from flows import schedule as schedules

    zone = schedules.check_timezone(timezone)
    if interval is None:
        schedules.check_cron(cron)
    target, parameters = _nightly_parameters(profiles, destination, duckdb_path, lookback_days)

    with prefect_server(api_url, port=port) as server:
        from prefect.settings import PREFECT_API_URL, temporary_settings

        verb = "started" if server.started_here else "in use"
        console.print(
            f"Prefect server {verb}: {server.api_url} (UI: {server.api_url.removesuffix('/api')})"
        )
        os.environ["PREFECT_API_URL"] = server.api_url  # inherited by the flow-run processes
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            served = schedules.deployments(cron, zone, interval, parameters, webhooks=webhooks)
            _print_serving(server.api_url, target, cron, zone, interval, webhooks)
            schedules.serve(served)


def _nightly_parameters(
    profiles: list[str], destination: str, duckdb_path: Path | None, lookback_days: int
) -> tuple[Target, dict[str, Any]]:
    """The checked target, and the parameters of the nightly deployment's runs."""
    from pipelines.auth import validate_profile
    from pipelines.core.target import Target

    for name in profiles:
        validate_profile(name)
    check_destination(destination, duckdb_path)
    target = Target.of(destination, duckdb_path)  # absolute now: flow runs may start elsewhere
    parameters: dict[str, Any] = {"destination": destination, "lookback_days": lookback_days}
    if target.duckdb_path is not None:
        parameters["duckdb_path"] = str(target.duckdb_path)
    if profiles:
        parameters["profiles"] = list(profiles)
    return target, parameters


def _print_serving(
    api_url: str,
    target: Target,
    cron: str,
    zone: str,
    interval: float | None,
    webhooks: bool,
) -> None:
    """What is served, when it runs, and how to start a backfill."""
    from flows import schedule as schedules

    if interval is not None:
        when = f"every {interval:g} s"
    else:
        next_run = schedules.next_nightly_run(cron, zone)
        when = f"'{cron}' in {zone}, next run {next_run:%Y-%m-%d %H:%M %Z}"
    console.print(f"serving {schedules.NIGHTLY} (refresh, {when}) into {target}")
    console.print(
        f"and {schedules.BACKFILL} (on demand): PREFECT_API_URL={api_url} "
        f"prefect deployment run 'backfill/{schedules.BACKFILL}' -p start_date=2024-01-01"
    )
    if webhooks:
        console.print(
            f"and {schedules.RENEW_WEBHOOKS} (daily at '{schedules.RENEW_CRON}' in {zone})"
        )
    console.print(
        "[dim]Ctrl+C stops serving (schedules are paused) and any server started here.[/]"
    )
