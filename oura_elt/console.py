"""The CLI's printer. User-facing output goes through here, not `logging`."""

from rich.console import Console
from rich.markup import escape

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def error_line(message: str) -> None:
    """Print one clear error line on stderr."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)


def duration(seconds: float) -> str:
    """A span as people read it: `2 d 3 h`, `4 h 10 min`, `12 min` (nothing below 0)."""
    if seconds < 0:
        return "0 min"
    minutes = int(seconds // 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"
