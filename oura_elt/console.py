"""The CLI's printer. User-facing output goes through here, not `logging`."""

from rich.console import Console

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def error_line(message: str) -> None:
    """Print one clear error line on stderr."""
    err_console.print(f"[bold red]error:[/] {message}", soft_wrap=True)
