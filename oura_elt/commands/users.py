"""`oura-elt users`: the people in the warehouse; `users remove` revokes, forgets and erases one.

`pipelines.people` is imported inside the commands so that `--help` stays instant.
"""

from __future__ import annotations

import json
import sys
import textwrap
import time
from dataclasses import asdict
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from oura_elt.commands.app import App
from oura_elt.commands.options import DestinationOpt, DuckdbOpt, check_destination
from oura_elt.console import console, duration, err_console, error_line
from pipelines.core.errors import OuraEltError, UsageError

if TYPE_CHECKING:
    from pathlib import Path

    from pipelines.people import ErasureReport, Removal, RemovalReport, UserInfo

app = App(invoke_without_command=True)  # its help is the callback's docstring


@app.callback()
def users(
    ctx: typer.Context,
    duckdb_path: DuckdbOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """List saved logins with their Oura user id, scopes, token expiry and last load.

    People whose rows are in the warehouse but who have no saved login are
    listed too (profile "-"); erase one with:
    oura-elt users remove --user-id ID --erase
    """
    if ctx.invoked_subcommand is not None:
        return
    from pipelines.people import WarehouseBusy, list_users

    problem = None
    try:
        people = list_users(duckdb_path)
    except WarehouseBusy as exc:  # the logins are still worth showing; the exit code says it all
        problem = (
            f"{exc.cause}; listing logins only: close it there, or wait for it to finish,"
            " and run again"
        )
        people = list_users(duckdb_path, read_warehouse=False)
    if as_json:
        print(json.dumps([asdict(p) for p in people], indent=2, default=_json_value))
    elif not people:
        _say("No saved logins and no loaded users. Add one: oura-elt auth login --profile NAME")
    else:
        _print_people(people, problem is None)
    if problem:
        error_line(problem)
        raise typer.Exit(1)


ProfileArg = Annotated[
    str | None,
    typer.Argument(metavar="PROFILE", help="Profile (saved login) to remove.", show_default=False),
]
EraseOpt = Annotated[
    bool, typer.Option("--erase", help="Also delete every row of this person in the warehouse.")
]
UserIdOpt = Annotated[
    str | None,
    typer.Option(
        "--user-id", metavar="ID", help="Oura user id to erase (a person whose login is gone)."
    ),
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
NoCompactOpt = Annotated[
    bool,
    typer.Option(
        "--no-compact",
        help="With --erase, do not rewrite the DuckDB file afterwards (faster on a big file, "
        "but the deleted rows' bytes stay in its free space until DuckDB reuses it).",
    ),
]
MissingOkOpt = Annotated[
    bool,
    typer.Option(
        "--missing-ok",
        help="Exit 0 when the user id has no rows and no saved login (nothing to erase); "
        "without it that is an error, so a mistyped id is not counted as erased.",
    ),
]


@app.command()
def remove(
    name: ProfileArg = None,
    erase: EraseOpt = False,
    user_id: UserIdOpt = None,
    yes: YesOpt = False,
    no_compact: NoCompactOpt = False,
    duckdb_path: DuckdbOpt = None,
    destination: DestinationOpt = "duckdb",
    missing_ok: MissingOkOpt = False,
) -> None:
    """Revoke a profile's login at Oura and forget it; with --erase, delete all of its data too.

    Without --erase every row stays in the warehouse. With --erase the
    person's rows go from every raw table, the loader's progress, dlt's
    state and every model table in one transaction, and the rows deleted
    per table are printed. Refused while a load or dbt build is writing.
    With --destination bigquery the same rows go from the BigQuery datasets.
    """
    from pipelines.people import remove_user, resolve_removal

    if user_id is not None and not erase:
        raise UsageError("--user-id erases data: add --erase")
    check_destination(destination, duckdb_path)
    removal = resolve_removal(name, user_id, duckdb_path=duckdb_path, destination=destination)
    if not yes and not _interactive():
        raise UsageError("removing a user needs confirmation: run it in a terminal, or pass --yes")
    preview = None
    if erase and removal.user_id and not yes:
        preview = _erasure_preview(removal, destination, duckdb_path)
    if not yes and not typer.confirm(_question(removal, erase, preview), default=False):
        raise OuraEltError("nothing changed (not confirmed)")
    report = remove_user(
        removal,
        erase=erase,
        duckdb_path=duckdb_path,
        compact=not no_compact,
        destination=destination,
    )
    if not missing_ok and _found_nothing(report):
        erasure = report.erasure
        where = erasure.where if erasure.warehouse_found else f"{erasure.where} (no such file)"
        raise OuraEltError(
            f"user {removal.user_id!r} has no rows in {where} and no saved login: nothing was "
            "erased; check the id (oura-elt users lists them), or pass --missing-ok"
        )
    _print_removal(report)


def _erasure_preview(removal: Removal, destination: str, duckdb_path: Path | None) -> ErasureReport:
    """What an erasure would delete (a dry run), for the confirmation question."""
    from pipelines.people import erase_user, erase_user_bigquery

    if destination == "bigquery":
        return erase_user_bigquery(removal.user_id, profile=removal.profile, dry_run=True)
    return erase_user(
        removal.user_id, profile=removal.profile, duckdb_path=duckdb_path, dry_run=True
    )


def _found_nothing(report: RemovalReport) -> bool:
    """An erasure by user id that found nothing of that person anywhere."""
    erasure = report.erasure
    return (
        report.removal.profile is None
        and erasure is not None
        and not erasure.total
        and not erasure.journal_rows
        and not erasure.folders
    )


# ----------------------------------------------------------------------------- output


def _say(text: str) -> None:
    console.print(text, markup=False, soft_wrap=True)


def _warn(text: str) -> None:
    err_console.print(text, markup=False, soft_wrap=True)


def _interactive() -> bool:
    try:
        return bool(sys.stdin and sys.stdin.isatty())
    except (AttributeError, ValueError):  # a replaced or closed stdin
        return False


def _who(removal: Removal) -> str:
    user = f"user {removal.user_id}" if removal.user_id else "an unknown Oura user"
    return f"profile '{removal.profile}' ({user})" if removal.profile else user


def _question(removal: Removal, erase: bool, preview: ErasureReport | None) -> str:
    who = _who(removal)
    if not erase:
        return f"Revoke and forget the login of {who}? Their rows stay in the warehouse"
    rows = f"{preview.total:,} rows" if preview is not None else "no rows (user id unknown)"
    login = " and revoke its login" if removal.profile else ""
    where = preview.where if preview is not None else "the warehouse"
    return f"Erase all data of {who}: {rows} from {where}{login}? This cannot be undone"


def _print_removal(report: RemovalReport) -> None:
    removal = report.removal
    if report.erasure is not None:
        _print_erasure(report.erasure, removal)
    if removal.profile is not None:
        if report.revoked:
            _say(f"Revoked the login of profile '{removal.profile}' at Oura.")
        else:
            _warn(
                f"warning: could not revoke the login at Oura ({report.revoke_problem}); "
                "the person can remove the app's access in their Oura account settings"
            )
        _say(f"Deleted the saved login of profile '{removal.profile}'.")
        if report.erasure is None:
            _say(
                "Kept every row of this user in the warehouse; to delete them: "
                f"oura-elt users remove --user-id {removal.user_id or 'ID'} --erase"
            )
    for other in removal.same_user_profiles:
        _warn(
            f"note: profile '{other}' is the same Oura user and is still logged in; its next load "
            f"brings the data back (remove it too: oura-elt users remove {other} --erase)"
        )


def _print_erasure(erasure: ErasureReport, removal: Removal) -> None:
    if not erasure.warehouse_found:
        _say(f"No warehouse at {erasure.where}: no rows to erase.")
    elif erasure.user_id is None:
        _say(f"The Oura user id of {_who(removal)} is unknown (never loaded): erased no data rows.")
    elif not erasure.total:
        _say(f"No rows of user {erasure.user_id} in {erasure.where}.")
    else:
        _say(f"Erased user {erasure.user_id} from {erasure.where}:")
    if erasure.total:
        table = Table(box=None, show_header=True, pad_edge=False)
        table.add_column("table")
        table.add_column("rows deleted", justify="right")
        for name, count in erasure.touched.items():
            table.add_row(name, f"{count:,}")
        table.add_row("total", f"{erasure.total:,}", style="bold")
        console.print(table)
        untouched = len(erasure.deleted) - len(erasure.touched)
        _say(f"({untouched} other tables held no rows of this user.)")
    if erasure.compacted:
        _say("Rewrote the DuckDB file, so the deleted rows are gone from the disk too.")
    if erasure.compact_problem:
        _warn(
            f"warning: {erasure.compact_problem}; the rows are deleted, but their bytes stay in "
            "the file's free space until DuckDB reuses it"
        )
    if erasure.note:
        _warn(f"note: {erasure.note}")
    if erasure.folders:
        _say(f"Removed dlt working state: {', '.join(erasure.pipelines)}.")
    if erasure.journal_rows:
        _say(
            f"Removed {erasure.journal_rows} row(s) of the webhook journal"
            " (ids of changed documents)."
        )


def _print_people(people: list[UserInfo], warehouse_read: bool) -> None:
    """One block per person: fits an 80-column terminal, and `grep -A3 NAME` finds one."""
    for person in people:
        _say(f"{person.profile or '-':<12} {person.user_id or 'user id unknown'}")
        lines = (
            [("login", "none saved")]
            if person.profile is None
            else [
                ("scopes", " ".join(person.scopes) or "-"),
                ("token", _token_state(person)),
            ]
        )
        busy = "unknown (the warehouse is busy)"
        lines.append(("last load", _last_load(person) if warehouse_read else busy))
        for label, value in lines:
            _say(
                textwrap.fill(
                    value,
                    width=max(console.width, 60),
                    initial_indent=f"  {label:<10} ",
                    subsequent_indent=" " * 13,
                    break_on_hyphens=False,
                )
            )


def _last_load(person: UserInfo) -> str:
    documents = f"{person.documents:,} documents"
    if person.last_load_at is None:
        return f"never ({documents})"
    span = f", days {person.first_day} .. {person.last_day}" if person.first_day else ""
    return f"{_local(person.last_load_at)} ({documents}{span})"


def _token_state(person: UserInfo) -> str:
    if person.problem:
        return f"unreadable: {person.problem}"
    if person.relogin_required:
        return f"rejected: run oura-elt auth login --profile {person.profile}"
    if person.expires_at is None:
        return "expiry unknown"
    left = person.expires_at - time.time()
    if left <= 0:
        return "expired (refreshed on next use)"
    return f"expires in {duration(left)}"


def _local(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def _json_value(value: object) -> str:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise TypeError(type(value).__name__)
