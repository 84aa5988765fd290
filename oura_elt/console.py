"""The CLI's printer. User-facing output goes through here, not `logging`."""

from rich.console import Console
from rich.markup import escape

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def error_line(message: str) -> None:
    """Print one clear error line on stderr."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
