"""`oura-elt`: the command-line front door.

Sub-commands live in `oura_elt/commands/`, one module per group. Heavy imports
(dlt, dbt, Prefect) happen inside the commands that need them so `--help` stays
instant. Every `OuraEltError` becomes one clear line and a non-zero exit, and so does
every usage mistake (an unknown option or command, a missing value): exit code 2.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

# Typer (0.26 and later) raises the exceptions of the click it vendors, not those of the
# separate `click` package some other libraries install.
from typer._click import exceptions as click_exceptions

from oura_elt.commands import auth as auth_commands
from oura_elt.commands import demo as demo_commands
from oura_elt.commands import export as export_commands
from oura_elt.commands import load as load_commands
from oura_elt.commands import report as report_commands
from oura_elt.commands import sandbox as sandbox_commands
from oura_elt.commands import schedule as schedule_commands
from oura_elt.commands import status as status_commands
from oura_elt.commands import transform as transform_commands
from oura_elt.commands import users as users_commands
from oura_elt.commands import webhooks as webhooks_commands
from oura_elt.commands.app import App
from oura_elt.console import console, error_line
from pipelines.core import config
from pipelines.core.errors import OuraEltError
from pipelines.core.version import __version__

PROG = "oura-elt"

config.telemetry_off()

app = App(
    name=PROG,
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish)
    pretty_exceptions_enable=False,
)
app.add_typer(sandbox_commands.app, name="sandbox")
app.add_typer(auth_commands.app, name="auth")
app.add_typer(users_commands.app, name="users")
app.add_typer(webhooks_commands.app, name="webhooks")
app.command("load")(load_commands.load)
app.command("transform")(transform_commands.transform)
app.command("run")(transform_commands.run)
app.command("report")(report_commands.report)
app.command("export")(export_commands.export)
app.command("status")(status_commands.status)
app.command("demo")(demo_commands.demo)
app.command("schedule")(schedule_commands.schedule)


def _print_version(value: bool) -> None:
    if value:
        console.print(f"{PROG} {__version__}", markup=False)
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Oura Ring data into your warehouse: load (dlt), transform (dbt), schedule (Prefect)."""


def main() -> None:
    """Console-script entry point: run the app, turning errors and usage mistakes into one line."""
    try:
        code = app(standalone_mode=False, prog_name=PROG)
    except OuraEltError as exc:
        error_line(str(exc))
        sys.exit(exc.exit_code)
    except click_exceptions.NoArgsIsHelpError:
        sys.exit(2)  # the help is printed (on stdout) when the error is made
    except click_exceptions.UsageError as exc:
        _usage_mistake(exc)
        sys.exit(2)
    except click_exceptions.ClickException as exc:  # e.g. a file option that cannot be opened
        error_line(exc.format_message())
        sys.exit(exc.exit_code)
    except typer.Abort:  # Ctrl-D at a prompt
        error_line("aborted")
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)


def _usage_mistake(exc: click_exceptions.UsageError) -> None:
    """`error: No such option: --bogus (see: oura-elt load --help)` on stderr."""
    message = " ".join(exc.format_message().split()).rstrip(".")
    error_line(f"{message} (see: {_command_path(sys.argv[1:])} --help)")


def _command_path(args: list[str]) -> str:
    """`oura-elt users remove`: the command the words name (a parse error's context is not
    always the command's own)."""
    command, path = typer.main.get_command(app), [PROG]
    for word in args:
        commands = getattr(command, "commands", None)
        if commands is None:
            break
        if word in commands:
            command = commands[word]
            path.append(word)
        elif not word.startswith("-"):
            break
    return " ".join(path)


if __name__ == "__main__":
    main()
