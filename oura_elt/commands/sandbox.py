"""`oura-elt sandbox ...`: the local Oura-compatible API server and its ground truth."""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from oura_elt.commands.app import App
from oura_elt.commands.options import parse_day, port_option
from oura_elt.console import console
from pipelines.core.config import Endpoints
from pipelines.core.errors import OuraEltError, UsageError
from sandbox.application import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, SANDBOX_HOST, SANDBOX_PORT

if TYPE_CHECKING:
    import socket

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


HostOpt = Annotated[
    str,
    typer.Option("--host", metavar="HOST", help="Interface to listen on (loopback by default)."),
]
PageSizeOpt = Annotated[int, typer.Option("--page-size", min=1, help="Documents per page.")]
SeriesPageSizeOpt = Annotated[
    int, typer.Option("--series-page-size", min=1, help="Time-series rows per page.")
]
RateLimitOpt = Annotated[
    int, typer.Option("--rate-limit", min=1, help="Requests per window per access token.")
]
AppRateLimitOpt = Annotated[
    int, typer.Option("--app-rate-limit", min=1, help="Requests per window per application.")
]
RateWindowOpt = Annotated[
    int, typer.Option("--rate-window", min=1, help="Rate-limit window in seconds.")
]
AccessTtlOpt = Annotated[
    int,
    typer.Option("--access-ttl", min=1, help="Access-token lifetime (expires_in), seconds."),
]
# List options keep their default in the option (a mutable default in a signature is a trap).
LapsedUserOpt = typer.Option([], "--lapsed-user", help="User index whose membership lapsed (403).")
RedirectUriOpt = typer.Option(
    [],
    "--redirect-uri",
    metavar="URL",
    help="Extra redirect URI registered for the sandbox app.",
)
LatencyOpt = Annotated[
    float, typer.Option("--latency-ms", min=0, help="Latency added to every data request.")
]
FaultSeedOpt = Annotated[int, typer.Option("--fault-seed", help="Seed of the fault draws.")]


def _probability(option: str, help: str) -> typer.models.OptionInfo:
    """A fault's probability option: 0 to 1."""
    return typer.Option(option, min=0, max=1, help=help)


Fault5xxOpt = Annotated[float, _probability("--fault-5xx", "Probability of a 5xx.")]
Fault429Opt = Annotated[float, _probability("--fault-429", "Probability of a 429 storm.")]
FaultDropOpt = Annotated[
    float, _probability("--fault-drop", "Probability of a dropped connection.")
]
FaultTruncateOpt = Annotated[
    float, _probability("--fault-truncate", "Probability of a truncated page.")
]
FaultMalformedOpt = Annotated[
    float, _probability("--fault-malformed", "Probability of a non-JSON page.")
]


@app.command()
def serve(
    host: HostOpt = SANDBOX_HOST,
    port: int = port_option(SANDBOX_PORT, "TCP port (1 to 65535)."),
    seed: int = SeedOpt,
    users: int = UsersOpt,
    today: str | None = TodayOpt,
    now: str | None = NowOpt,
    history_start: str | None = HistStartOpt,
    history_days: int = HistDaysOpt,
    page_size: PageSizeOpt = 100,
    series_page_size: SeriesPageSizeOpt = 1000,
    rate_limit: RateLimitOpt = 5000,
    app_rate_limit: AppRateLimitOpt = 5000,
    rate_window: RateWindowOpt = 300,
    access_ttl: AccessTtlOpt = 86400,
    lapsed_user: list[int] = LapsedUserOpt,
    redirect_uri: list[str] = RedirectUriOpt,
    latency_ms: LatencyOpt = 0.0,
    fault_seed: FaultSeedOpt = 0,
    fault_5xx: Fault5xxOpt = 0.0,
    fault_429: Fault429Opt = 0.0,
    fault_drop: FaultDropOpt = 0.0,
    fault_truncate: FaultTruncateOpt = 0.0,
    fault_malformed: FaultMalformedOpt = 0.0,
) -> None:
    """Serve the Oura API v2 (data routes, OAuth2, errors, quirks) on HOST:PORT."""
    from sandbox.faults import FaultPlan
    from sandbox.runner import serve_forever
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
    sock = _listen(host, port)  # before the banner: a busy port is one line, nothing else
    _print_banner(f"http://{host}:{port}", users, seed)
    serve_forever(settings, sock)


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, or one line saying why the port cannot be had."""
    from sandbox.runner import listen

    try:
        return listen(host, port)
    except OSError as exc:
        raise OuraEltError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another --port"
        ) from None


def _print_banner(base: str, users: int, seed: int) -> None:
    """Where the server listens, and the settings and tokens a client needs."""
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
