"""The schedules, in one place: the `oura-nightly` and `oura-backfill` deployments.

`oura-nightly` runs `refresh` on a cron schedule (default 05:30 every day, in the
machine's time zone unless one is given); `oura-backfill` runs `backfill` only
when asked (`prefect deployment run backfill/oura-backfill -p start_date=...`).
`oura-elt schedule` serves both from one process against a real Prefect server;
`prefect.yaml` declares the same two for work pools (a test keeps them equal).

Prefect is imported inside the functions: call `flows.server.prepare_prefect_env()`
first (the CLI and `run_backfill` do).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pipelines.core.errors import UsageError

NIGHTLY = "oura-nightly"
BACKFILL = "oura-backfill"
RENEW_WEBHOOKS = "oura-renew-webhooks"
RENEW_CRON = "15 5 * * *"
DEFAULT_CRON = "30 5 * * *"
TAGS = ["oura"]
NIGHTLY_DESCRIPTION = (
    "Every night: each profile's recent Oura days (lookback window), then dbt build."
)
BACKFILL_DESCRIPTION = (
    "On demand: a date range (default: the whole history) in resumable chunks, then dbt build."
)


def local_timezone() -> str:
    """The machine's IANA time zone name (`TZ`, `/etc/localtime`, `/etc/timezone`), else "UTC"."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    localtime = Path("/etc/localtime")
    if localtime.is_symlink():
        target = str(localtime.resolve())
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    try:
        candidates.append(Path("/etc/timezone").read_text().strip())
    except OSError:
        pass
    for name in candidates:
        if name and _is_zone(name):
            return name
    return "UTC"


def _is_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return "/" in name or name == "UTC"


def check_timezone(name: str | None) -> str:
    """`name` if it is an IANA time zone (e.g. Europe/Helsinki), else the machine's.

    Raises:
        UsageError: not a known time zone.
    """
    if not name:
        return local_timezone()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(
            f"unknown time zone {name!r}; use an IANA name such as Europe/Helsinki"
        ) from None
    return name


def check_cron(cron: str) -> str:
    """`cron` if it is a valid 5-field cron expression.

    Raises:
        UsageError: it is not.
    """
    from prefect.schedules import Cron

    try:
        Cron(cron)
    except ValueError:
        raise UsageError(
            f"invalid cron expression {cron!r}; e.g. '30 5 * * *' is 05:30 every day"
        ) from None
    return cron


def nightly_schedule(
    cron: str = DEFAULT_CRON,
    timezone_name: str | None = None,
    interval_seconds: float | None = None,
) -> Any:
    """The nightly schedule: `cron` in `timezone_name`, or every `interval_seconds` (for tests)."""
    from prefect.schedules import Cron, Interval

    if interval_seconds is not None:
        if interval_seconds <= 0:
            raise UsageError("--interval must be a positive number of seconds")
        return Interval(timedelta(seconds=interval_seconds), timezone="UTC")
    return Cron(check_cron(cron), timezone=check_timezone(timezone_name))


def deployments(
    cron: str = DEFAULT_CRON,
    timezone_name: str | None = None,
    interval_seconds: float | None = None,
    parameters: dict[str, Any] | None = None,
    webhooks: bool = False,
) -> list[Any]:
    """`oura-nightly` (scheduled `refresh`) and `oura-backfill` (unscheduled `backfill`),
    and with `webhooks`, `oura-renew-webhooks` (daily `renew_webhooks`).

    Args:
        cron: when the nightly refresh runs.
        timezone_name: time zone of the cron (default: the machine's).
        interval_seconds: run every this many seconds instead of the cron (testing).
        parameters: default parameters of both flows (profiles, duckdb_path, ...);
            never secrets.
        webhooks: also renew the application's webhook subscriptions every day
            (needs `OURA_CLIENT_ID` and `OURA_CLIENT_SECRET` where the flow runs).
    """
    from prefect.types.entrypoint import EntrypointType

    from flows.backfill import backfill
    from flows.refresh import refresh

    shared = dict(parameters or {})
    nightly = refresh.to_deployment(
        NIGHTLY,
        schedules=[nightly_schedule(cron, timezone_name, interval_seconds)],
        parameters={k: v for k, v in shared.items() if k in _parameter_names(refresh)},
        description=NIGHTLY_DESCRIPTION,
        tags=TAGS,
        entrypoint_type=EntrypointType.MODULE_PATH,  # runs from any working directory
    )
    on_demand = backfill.to_deployment(
        BACKFILL,
        parameters={k: v for k, v in shared.items() if k in _parameter_names(backfill)},
        description=BACKFILL_DESCRIPTION,
        tags=TAGS,
        entrypoint_type=EntrypointType.MODULE_PATH,
    )
    served = [nightly, on_demand]
    if webhooks:
        from prefect.schedules import Cron

        from flows.webhooks import renew_webhooks

        served.append(
            renew_webhooks.to_deployment(
                RENEW_WEBHOOKS,
                schedules=[Cron(RENEW_CRON, timezone=check_timezone(timezone_name))],
                description=(
                    "Every day: renew Oura webhook subscriptions that expire within 7 days."
                ),
                tags=TAGS,
                entrypoint_type=EntrypointType.MODULE_PATH,
            )
        )
    return served


def _parameter_names(flow: Any) -> set[str]:
    import inspect

    return set(inspect.signature(flow.fn).parameters)


def serve(served: list[Any]) -> None:
    """Serve deployments until interrupted, one flow run at a time (runs share a
    warehouse and a request budget). Schedules are paused again on shutdown."""
    import prefect

    prefect.serve(*served, limit=1, print_starting_message=False)


def next_nightly_run(
    cron: str = DEFAULT_CRON, timezone_name: str | None = None, after: datetime | None = None
) -> datetime:
    """When `oura-nightly` next runs, in its time zone (Prefect's own schedule arithmetic)."""
    import asyncio

    from prefect.server.schemas.schedules import CronSchedule

    zone = check_timezone(timezone_name)
    schedule = CronSchedule(cron=check_cron(cron), timezone=zone)
    start = after or datetime.now(UTC)
    (first,) = asyncio.run(schedule.get_dates(n=1, start=start))
    return datetime.fromisoformat(first.isoformat()).astimezone(ZoneInfo(zone))


def describe_nightly(
    cron: str = DEFAULT_CRON, timezone_name: str | None = None, after: datetime | None = None
) -> str:
    """One line saying when and where the nightly refresh would run (for `make demo`)."""
    zone = check_timezone(timezone_name)
    when = next_nightly_run(cron, zone, after)
    return (
        f"{NIGHTLY}: refresh at '{cron}' ({zone}), next run {when:%Y-%m-%d %H:%M %Z}, "
        "served by `oura-elt schedule` on a local Prefect server (http://127.0.0.1:4200)"
    )
