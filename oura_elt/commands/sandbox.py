"""`oura-elt sandbox ...`: the local Oura-compatible API server and its ground truth."""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path

import typer

from oura_elt.commands.app import App
from oura_elt.commands.options import parse_day, port_option
from oura_elt.console import console
from pipelines.core.config import Endpoints
from pipelines.core.errors import OuraEltError, UsageError
from sandbox.application import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, SANDBOX_HOST, SANDBOX_PORT

app = App(
    help="The local Oura-compatible API server (no Oura account needed).", no_args_is_help=True
)

SeedOpt = typer.Option(0, "--seed", help="Seed of the generated world (same seed, same data).")
UsersOpt = typer.Option(2, "--users", min=1, help="Number of sandbox users (ring wearers).")
TodayOpt = typer.Option(
    None, "--today", metavar="DATE", help="Server clock: this date at 12:00 UTC (YYYY-MM-DD)."
)
NowOpt = typer.Option(
    None, "--now", metavar="INSTANT", help="Server clock as an ISO instant (overrides --today)."
)
HistStartOpt = typer.Option(
    None,
    "--history-start",
    metavar="DATE",
    help="First day of ring data (default: clock - history days).",
)
HistDaysOpt = typer.Option(
    730, "--history-days", min=1, help="Days of history when --history-start is not given."
)


def clock(today: str | None, now: str | None) -> datetime | None:
    """The server clock from `--now` or `--today` (None: the real current time)."""
    if now:
        try:
            parsed = datetime.fromisoformat(now.replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(f"--now {now!r} is not an ISO date-time") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if today:
        return datetime.combine(parse_day(today, "--today"), time(12), UTC)
    return None


@app.command()
def serve(
    host: str = typer.Option(
        SANDBOX_HOST,
        "--host",
        metavar="HOST",
        help="Interface to listen on (loopback by default).",
    ),
    port: int = port_option(SANDBOX_PORT, "TCP port (1 to 65535)."),
    seed: int = SeedOpt,
    users: int = UsersOpt,
    today: str | None = TodayOpt,
    now: str | None = NowOpt,
    history_start: str | None = HistStartOpt,
    history_days: int = HistDaysOpt,
    page_size: int = typer.Option(100, "--page-size", min=1, help="Documents per page."),
    series_page_size: int = typer.Option(
        1000, "--series-page-size", min=1, help="Time-series rows per page."
    ),
    rate_limit: int = typer.Option(
        5000, "--rate-limit", min=1, help="Requests per window per access token."
    ),
    app_rate_limit: int = typer.Option(
        5000, "--app-rate-limit", min=1, help="Requests per window per application."
    ),
    rate_window: int = typer.Option(
        300, "--rate-window", min=1, help="Rate-limit window in seconds."
    ),
    access_ttl: int = typer.Option(
        86400, "--access-ttl", min=1, help="Access-token lifetime (expires_in), seconds."
    ),
    lapsed_user: list[int] = typer.Option(
        [], "--lapsed-user", help="User index whose membership lapsed (403)."
    ),
    redirect_uri: list[str] = typer.Option(
        [],
        "--redirect-uri",
        metavar="URL",
        help="Extra redirect URI registered for the sandbox app.",
    ),
    latency_ms: float = typer.Option(
        0.0, "--latency-ms", min=0, help="Latency added to every data request."
    ),
    fault_seed: int = typer.Option(0, "--fault-seed", help="Seed of the fault draws."),
    fault_5xx: float = typer.Option(0.0, "--fault-5xx", min=0, max=1, help="Probability of a 5xx."),
    fault_429: float = typer.Option(
        0.0, "--fault-429", min=0, max=1, help="Probability of a 429 storm."
    ),
    fault_drop: float = typer.Option(
        0.0, "--fault-drop", min=0, max=1, help="Probability of a dropped connection."
    ),
    fault_truncate: float = typer.Option(
        0.0, "--fault-truncate", min=0, max=1, help="Probability of a truncated page."
    ),
    fault_malformed: float = typer.Option(
        0.0, "--fault-malformed", min=0, max=1, help="Probability of a non-JSON page."
    ),
) -> None:
    """Serve the Oura API v2 (data routes, OAuth2, errors, quirks) on HOST:PORT."""
    from sandbox.faults import FaultPlan
    from sandbox.runner import listen, serve_forever
    from sandbox.server import SandboxSettings

    settings = SandboxSettings(
        seed=seed,
        users=users,
        now=clock(today, now),
        history_start=parse_day(history_start, "--history-start") if history_start else None,
        history_days=history_days,
        page_size=page_size,
        series_page_size=series_page_size,
        token_limit=rate_limit,
        app_limit=app_rate_limit,
        rate_window_seconds=rate_window,
        access_ttl_seconds=access_ttl,
        lapsed_users=frozenset(lapsed_user),
        redirect_uris=tuple(redirect_uri),
        faults=FaultPlan(
            seed=fault_seed,
            latency_ms=latency_ms,
            error_5xx=fault_5xx,
            rate_429=fault_429,
            drop=fault_drop,
            truncate=fault_truncate,
            malformed=fault_malformed,
        ),
    )
    try:
        sock = listen(host, port)  # before the banner: a busy port is one line, nothing else
    except OSError as exc:
        raise OuraEltError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another --port"
        ) from None
    base = f"http://{host}:{port}"
    console.print(f"[bold]Oura sandbox[/] on {base}  (users={users}, seed={seed})")
    console.print(
        f"  OURA_API_BASE_URL={base}  OURA_CLIENT_ID={SANDBOX_CLIENT_ID}  "
        f"OURA_CLIENT_SECRET={SANDBOX_CLIENT_SECRET}",
        soft_wrap=True,
    )
    console.print(
        f"  personal tokens: sandbox-pat-0 .. sandbox-pat-{users - 1}; "
        f"admin: {base}/_sandbox/state",
        soft_wrap=True,
    )
    serve_forever(settings, sock)


@app.command()
def dump(
    out: Path = typer.Option(
        ..., "--out", help="Directory for one JSON-lines file per collection."
    ),
    start_date: str | None = typer.Option(
        None, "--start-date", metavar="DATE", help="First day (default: history start)."
    ),
    end_date: str | None = typer.Option(
        None, "--end-date", metavar="DATE", help="Last day (default: the clock's today)."
    ),
    seed: int = SeedOpt,
    users: int = UsersOpt,
    today: str | None = TodayOpt,
    now: str | None = NowOpt,
    history_start: str | None = HistStartOpt,
    history_days: int = HistDaysOpt,
) -> None:
    """Write exactly the documents the server holds for these users, range, seed and clock."""
    from pipelines.core.private import open_private, private_folder
    from sandbox.truth import dump as write_dump
    from sandbox.world import World

    world = World(
        seed=seed,
        users=users,
        now=clock(today, now),
        history_start=parse_day(history_start, "--history-start") if history_start else None,
        history_days=history_days,
    )
    start = (
        parse_day(start_date, "--start-date")
        if start_date
        else min(u.history_start for u in world.users)
    )
    end = parse_day(end_date, "--end-date") if end_date else world.now.date()
    if start > end:
        raise UsageError(f"--start-date {start} is after --end-date {end}")
    try:
        private_folder(out)  # synthetic, but shaped like health data: owner only
    except OSError as exc:
        raise OuraEltError(
            f"cannot create {out}: {exc.strerror or exc}; choose another --out"
        ) from None
    counts = write_dump(world, start, end, out, open_file=open_private)
    for collection, n in counts.items():
        console.print(f"{collection:28} {n:>9,}")
    console.print(
        f"wrote {sum(counts.values()):,} documents for {users} user(s), {start}..{end}, to {out}"
    )


def sandbox_endpoints(base_url: str) -> Endpoints:
    """The endpoints and documented application of a local sandbox server at `base_url`."""
    base = base_url.rstrip("/")
    return Endpoints(
        api_base_url=base,
        authorize_url=f"{base}/oauth/authorize",
        token_url=f"{base}/oauth/token",
        revoke_url=f"{base}/oauth/revoke",
        client_id=SANDBOX_CLIENT_ID,
        client_secret=SANDBOX_CLIENT_SECRET,
    )
