"""`oura-elt`: the command-line front door.

Sub-commands live in `oura_elt/commands/`, one module per group. Heavy imports
(dlt, dbt, Prefect) happen inside the commands that need them so `--help` stays
instant. Every `OuraEltError` becomes one clear line and a non-zero exit.
"""

from __future__ import annotations

import sys

import typer

from pipelines.core import config
from oura_elt.commands import auth as auth_commands
from oura_elt.commands import demo as demo_commands
from oura_elt.commands import export as export_commands
from oura_elt.commands import load as load_commands
from oura_elt.commands import report as report_commands
from oura_elt.commands import sandbox as sandbox_commands
from oura_elt.commands import status as status_commands
from oura_elt.commands import transform as transform_commands
from oura_elt.commands import users as users_commands
from oura_elt.commands import webhooks as webhooks_commands
from oura_elt.commands import schedule as schedule_commands
from oura_elt.console import error_line
from pipelines.core.errors import OuraEltError

config.telemetry_off()

app = typer.Typer(
    name="oura-elt",
    help="Oura Ring data into your warehouse: load (dlt), transform (dbt), schedule (Prefect).",
    no_args_is_help=True,
    add_completion=False,
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


def main() -> None:
    """Console-script entry point: run the app, turning known errors into one line."""
    import click  # typer re-exports click's exception types

    try:
        code = app(standalone_mode=False)
    except OuraEltError as exc:
        error_line(str(exc))
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        error_line("interrupted")
        sys.exit(130)
    except (typer.Exit, click.exceptions.Exit) as exc:
        sys.exit(exc.exit_code)
    except (click.exceptions.ClickException, typer.BadParameter) as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        error_line("aborted")
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
