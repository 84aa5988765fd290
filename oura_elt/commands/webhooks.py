"""`oura-elt webhooks`: Oura's push notifications, from subscribing to merged rows.

Subscriptions belong to the Oura application (`OURA_CLIENT_ID`, `OURA_CLIENT_SECRET`),
not to a person: one set of subscriptions brings events for everyone who logged in.
`serve` receives them (answering Oura's challenge, checking every signature) and
merges each changed document into the warehouse within seconds. Secrets (client
secret, verification token) are never printed.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from oura_elt.commands.app import App
from oura_elt.commands.options import DestinationOpt, DuckdbOpt, port_option
from oura_elt.console import console, err_console
from pipelines.core.errors import OuraEltError, UsageError

if TYPE_CHECKING:
    from pipelines.webhooks.subscriptions import Outcome, Subscription

app = App(
    help="Oura webhooks: subscribe the app, then serve a receiver that merges changes in seconds.",
    no_args_is_help=True,
)

TokenOpt = typer.Option(
    None,
    "--verification-token",
    metavar="TOKEN",
    envvar="OURA_WEBHOOK_VERIFICATION_TOKEN",
    show_envvar=True,
    help="Token Oura's challenge must carry (default: the stored one, else a new stored one).",
)


@app.command()
def subscribe(
    callback_url: str = typer.Option(
        ..., "--callback-url", metavar="URL", help="Public https URL of `oura-elt webhooks serve`."
    ),
    verification_token: str | None = TokenOpt,
    data_type: list[str] = typer.Option(
        [],
        "--data-type",
        metavar="TYPE",
        help="Data type to subscribe to (repeatable; default: every one that can be loaded).",
    ),
    event_type: list[str] = typer.Option(
        [],
        "--event-type",
        metavar="TYPE",
        help="create, update or delete (repeatable; default: all three).",
    ),
) -> None:
    """Subscribe the app to every (event type, data type) pair at --callback-url.

    The receiver must be running at that URL: Oura verifies it with a challenge
    before each subscription is saved. Pairs already subscribed there are kept.
    """
    from pipelines.webhooks.settings import verification_token_path
    from pipelines.webhooks.subscriptions import check_callback_url, check_types
    from pipelines.webhooks.subscriptions import subscribe as run_subscribe
    from pipelines.webhooks.verification import resolve_token

    check_callback_url(callback_url)
    check_types(data_type or None, event_type or None)
    token, generated = resolve_token(verification_token, create=True)
    if generated:
        err_console.print(
            f"Generated a verification token and stored it in {verification_token_path()} "
            "(`webhooks serve` reads it from there).",
            markup=False,
            soft_wrap=True,
        )
    outcomes = run_subscribe(
        callback_url, token or "", data_types=data_type or None, event_types=event_type or None
    )
    _print_outcomes(outcomes)
    refused = sorted({o.data_type for o in outcomes if o.action == "not offered"})
    if refused and not data_type:
        # The defaults follow the spec; Oura's live API has offered fewer (api-reference §7).
        # Those data types still arrive with every nightly refresh.
        err_console.print(
            f"warning: Oura does not offer webhooks for {', '.join(refused)} (HTTP 422); "
            "the nightly refresh still loads them",
            markup=False,
            soft_wrap=True,
        )
        outcomes = [o for o in outcomes if o.action != "not offered"]
    _fail_if_any(outcomes, "subscription(s)", also=("not offered",))


@app.command("list")
def list_subscriptions() -> None:
    """List the app's subscriptions with their expiry."""
    from pipelines.core.clock import current_time
    from pipelines.webhooks.subscriptions import SubscriptionClient

    client = SubscriptionClient()
    try:
        subscriptions = client.list()
    finally:
        client.close()
    if not subscriptions:
        console.print(
            "No webhook subscriptions. Create them with:"
            " oura-elt webhooks subscribe --callback-url URL"
        )
        return
    now = current_time()
    for sub in sorted(subscriptions, key=lambda s: (s.data_type, s.event_type)):
        console.print(
            f"{sub.data_type:<26} {sub.event_type:<7} {_expiry(sub, now):<34}"
            f" {sub.id}  {sub.callback_url}",
            markup=False,
            soft_wrap=True,
        )
    console.print(f"{len(subscriptions)} subscription(s)", markup=False)


@app.command()
def renew(
    ids: list[str] | None = typer.Argument(
        None, metavar="ID...", help="Subscription ids (default: those expiring soon)."
    ),
    within_days: float = typer.Option(
        7.0,
        "--within-days",
        min=0,
        metavar="DAYS",
        help="Renew those expiring within this many days.",
    ),
) -> None:
    """Renew subscriptions before they expire (Oura's last about 90 days)."""
    from pipelines.webhooks.subscriptions import renew_expiring

    outcomes = renew_expiring(within_days, ids=ids or None)
    renewed = [o for o in outcomes if o.action == "renewed"]
    _print_outcomes([o for o in outcomes if o.action != "kept"])
    console.print(
        f"{len(renewed)} renewed, {sum(o.action == 'kept' for o in outcomes)} not due "
        f"(expiring later than {within_days:g} days)",
        markup=False,
    )
    _fail_if_any(outcomes, "renewal(s)")


@app.command()
def delete(
    ids: list[str] | None = typer.Argument(None, metavar="ID...", help="Subscription ids."),
    all_: bool = typer.Option(False, "--all", help="Delete every subscription of the app."),
) -> None:
    """Delete subscriptions (Oura stops sending their events)."""
    from pipelines.webhooks.subscriptions import delete_subscriptions

    if not ids and not all_:
        raise UsageError("name the subscription ids to delete, or pass --all")
    if ids and all_:
        raise UsageError("pass either subscription ids or --all, not both")
    outcomes = delete_subscriptions(ids or None)
    _print_outcomes(outcomes)
    _fail_if_any(outcomes, "deletion(s)")


ReceiverHostOpt = Annotated[
    str,
    typer.Option(
        "--host", metavar="HOST", help="Interface to listen on (a TLS proxy goes in front)."
    ),
]
CallbackPathOpt = Annotated[
    str, typer.Option("--path", metavar="PATH", help="Path of the callback URL.")
]
OldDuckdbPathOpt = Annotated[
    Path | None,
    typer.Option("--duckdb-path", hidden=True, help="The old name of --duckdb (still works)."),
]
ServeJournalOpt = Annotated[
    Path | None,
    typer.Option(
        "--journal",
        metavar="PATH",
        help="Event journal (default: $OURA_ELT_HOME/webhooks/journal.sqlite3).",
    ),
]
NoWorkerOpt = Annotated[
    bool,
    typer.Option(
        "--no-worker",
        help="Only receive and journal events; another serve (or a restart) merges them.",
    ),
]
LogLevelOpt = Annotated[
    str, typer.Option("--log-level", metavar="LEVEL", help="debug, info, warning or error.")
]
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@app.command()
def serve(
    host: ReceiverHostOpt = "127.0.0.1",
    port: int = port_option(8787, "TCP port (1 to 65535)."),
    path: CallbackPathOpt = "/oura/webhook",
    verification_token: str | None = TokenOpt,
    duckdb_path: DuckdbOpt = None,
    old_duckdb_path: OldDuckdbPathOpt = None,
    destination: DestinationOpt = "duckdb",
    journal: ServeJournalOpt = None,
    no_worker: NoWorkerOpt = False,
    log_level: LogLevelOpt = "info",
) -> None:
    """Receive Oura's webhook calls and merge each changed document into the warehouse.

    Every call is checked (signature over timestamp + body with the client secret,
    timestamp freshness, size, shape) and journaled to disk before it is answered;
    the worker fetches each document with its owner's saved login and merges it
    (a delete removes the row). Stop with Ctrl-C; nothing answered is lost.
    """
    from oura_elt.commands.options import check_destination, with_old_name
    from pipelines.core.target import Target
    from pipelines.webhooks.service import ServeOptions, listen
    from pipelines.webhooks.service import serve as run_serve

    duckdb_path = with_old_name(duckdb_path, old_duckdb_path, name="--duckdb", old="--duckdb-path")
    check_destination(destination, duckdb_path)
    level = log_level.upper()
    if level not in LOG_LEVELS:
        raise UsageError(f"--log-level {log_level!r} is not one of debug, info, warning, error")
    if not no_worker:  # the worker writes the warehouse: a held or foreign file is one line now
        Target.of(destination, duckdb_path).check(write=True)
    sock = listen(host, port)  # a busy port is one line, before anything else is said
    _log_at(level)
    options = ServeOptions(
        host=host,
        port=port,
        path=path,
        verification_token=_receiver_token(verification_token),
        duckdb_path=duckdb_path,
        destination=destination,
        journal_path=journal,
        worker=not no_worker,
        log_level="info" if level == "DEBUG" else "warning",
    )
    run_serve(
        options,
        on_ready=lambda url: console.print(
            f"Receiving Oura webhooks at {url}"
            + (" (journal only, no worker)" if no_worker else ""),
            markup=False,
            soft_wrap=True,
        ),
        sock=sock,
    )


def _log_at(level: str) -> None:
    """Our own lines at `level`; other libraries (dlt, urllib3) only when they warn."""
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("oura_elt.webhooks").setLevel(level)


def _receiver_token(verification_token: str | None) -> str:
    """The token Oura's challenge must carry: given, stored, or generated and stored (said)."""
    from pipelines.webhooks.settings import verification_token_path
    from pipelines.webhooks.verification import resolve_token

    token, generated = resolve_token(verification_token, create=True)
    if generated:
        err_console.print(
            f"Generated a verification token and stored it in {verification_token_path()} "
            "(`webhooks subscribe` on this machine uses it).",
            markup=False,
            soft_wrap=True,
        )
    return token


@app.command()
def status(
    journal: Path | None = typer.Option(
        None, "--journal", metavar="PATH", help="Event journal (default: the standard one)."
    ),
) -> None:
    """Count journaled events by state (pending, done, dropped, failed)."""
    from pipelines.webhooks.journal import Journal
    from pipelines.webhooks.settings import default_journal_path

    path = journal or default_journal_path()
    if not path.exists():
        console.print(f"No webhook journal at {path} yet.", markup=False)
        return
    opened = Journal(path)
    try:
        counts = opened.counts()
        failed = opened.entries("failed")[-5:]
    finally:
        opened.close()
    for state in ("pending", "done", "dropped", "failed"):
        console.print(f"{state:<8} {counts.get(state, 0):>8,}", markup=False)
    for entry in failed:
        console.print(
            f"failed: {entry['event_type']} {entry['data_type']} {entry['object_id']} "
            f"(user {entry['user_id']}): {entry['last_error']}",
            markup=False,
            soft_wrap=True,
        )


def _expiry(sub: Subscription, now: datetime) -> str:
    if sub.expiration_time is None:
        return "expiry unknown"
    days = (sub.expiration_time - now).total_seconds() / 86400
    when = sub.expiration_time.isoformat(timespec="minutes")
    return f"expired {when}" if days < 0 else f"expires {when} ({days:.0f} d)"


def _print_outcomes(outcomes: list[Outcome]) -> None:
    for outcome in outcomes:
        sub = outcome.subscription
        detail = outcome.error if outcome.error else (sub.id if sub else "")
        console.print(
            f"{outcome.data_type:<26} {outcome.event_type:<7} {outcome.action:<11} {detail}",
            markup=False,
            soft_wrap=True,
        )


def _fail_if_any(outcomes: list[Outcome], what: str, also: tuple[str, ...] = ()) -> None:
    failed = [o for o in outcomes if o.action == "failed" or o.action in also]
    if failed:
        first = failed[0]
        raise OuraEltError(
            f"{len(failed)} of {len(outcomes)} {what} failed; the first: {first.error}"
        )
