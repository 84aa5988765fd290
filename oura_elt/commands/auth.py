"""`oura-elt auth`: log in to Oura (OAuth2), show and forget saved logins.

`pipelines.auth` is imported inside the commands so that `--help` stays instant.
"""

from __future__ import annotations

import os
import time
from datetime import datetime
from typing import Annotated

import typer

from oura_elt.commands.app import App
from oura_elt.console import console, err_console

app = App(
    help="Log in to Oura (OAuth2) and manage saved logins (one per --profile).",
    no_args_is_help=True,
)

ProfileOption = Annotated[
    str,
    typer.Option(
        "--profile",
        "-p",
        metavar="NAME",
        envvar="OURA_PROFILE",
        help="Saved login to use: one per Oura user (letters, digits, '_', '.', '-').",
    ),
]


@app.command()
def login(
    profile: ProfileOption = "default",
    no_browser: Annotated[
        bool,
        typer.Option(
            "--no-browser",
            help="Do not open a browser; print the authorize URL alone on its own line (stdout).",
        ),
    ] = False,
    redirect_uri: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            envvar="OURA_REDIRECT_URI",
            help="Loopback redirect URI registered with your Oura app "
            "(default: http://localhost:8765/callback/).",
            show_default=False,
        ),
    ] = None,
    scopes: Annotated[
        str | None,
        typer.Option(
            metavar="SCOPES",
            help='Scopes to request, space-separated, e.g. "daily heartrate" (default: all).',
        ),
    ] = None,
    timeout: Annotated[
        float,
        typer.Option(
            envvar="OURA_LOGIN_TIMEOUT",
            min=1,
            metavar="SECONDS",
            help="Seconds to wait for the browser (1 or more).",
        ),
    ] = 300.0,
) -> None:
    """Log in to Oura in a browser and save the tokens for --profile."""
    from pipelines.auth import login as run_login

    def show_url(url: str) -> None:
        if no_browser:
            err_console.print("Open this URL in a browser to log in to Oura:")
        else:
            err_console.print("Opening your browser to log in to Oura. If it does not open, visit:")
        print(url, flush=True)

    record = run_login(
        profile,
        redirect_uri=redirect_uri,
        scopes=scopes,
        open_browser=not no_browser,
        timeout=timeout,
        show_url=show_url,
        notify=lambda line: err_console.print(line, markup=False),
    )
    who = f"user {record.user_id}" if record.user_id else "an unknown user"
    console.print(f"Logged in profile '{record.profile}' as {who}.", markup=False, soft_wrap=True)
    console.print(f"Scopes: {' '.join(record.scopes) or '(none)'}", markup=False, soft_wrap=True)


@app.command()
def status(profile: ProfileOption = "default") -> None:
    """Show who a saved login belongs to, its scopes and expiry (never a token)."""
    from pipelines.auth import NotLoggedIn, ReloginRequired, TokenStore

    store = TokenStore(profile)
    record = store.load()
    if record is None:
        raise NotLoggedIn(profile)
    rows = [
        ("profile", record.profile),
        ("user", record.user_id or "unknown"),
        ("scopes", " ".join(record.scopes) or "(none)"),
        ("access token", _expiry(record.expires_at)),
        (
            "refresh token",
            "saved" if record.refresh_token else "none (log in again when it expires)",
        ),
        ("token endpoint", record.token_url),
        ("API", record.api_base_url),
        ("client id", record.client_id),
        ("logged in", _when(record.obtained_at)),
        ("last refresh", _when(record.refreshed_at) if record.refreshed_at else "never"),
        ("stored in", str(store.path)),
    ]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        console.print(f"{label:<{width}}  {value}", markup=False, soft_wrap=True)
    if os.environ.get("OURA_ACCESS_TOKEN"):
        err_console.print("note: OURA_ACCESS_TOKEN is set; loads use it instead of saved logins.")
    if record.relogin_required:
        raise ReloginRequired(record.profile)


@app.command()
def logout(profile: ProfileOption = "default") -> None:
    """Revoke the saved login at Oura (best effort) and delete its token files."""
    from pipelines.auth import logout as run_logout

    result = run_logout(profile)
    if result.revoked:
        console.print(f"Revoked the tokens of profile '{result.profile}' at Oura.", markup=False)
    else:
        err_console.print(
            f"warning: could not revoke the tokens at Oura ({result.revoke_problem}); "
            "you can remove the app's access in your Oura account settings",
            markup=False,
        )
    console.print(f"Deleted the saved login of profile '{result.profile}'.", markup=False)


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch).astimezone().isoformat(timespec="seconds")


def _expiry(expires_at: float | None) -> str:
    if expires_at is None:
        return "expiry unknown"
    left = expires_at - time.time()
    if left <= 0:
        return (
            f"expired {_duration(-left)} ago at {_when(expires_at)} "
            "(refreshed automatically on next use)"
        )
    return f"expires in {_duration(left)} at {_when(expires_at)}"


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 1:
        return f"{int(seconds)} s"
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [
        f"{days} d" if days else "",
        f"{hours} h" if hours else "",
        f"{minutes} min" if minutes else "",
    ]
    return " ".join(p for p in parts if p)
