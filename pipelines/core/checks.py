"""Checks of values that several layers take (the CLI, the flows, the loader, the source),
written once so that each says the same thing in one line."""

from __future__ import annotations

from datetime import date

from pipelines.core.errors import UsageError


def check_day_range(
    first: date | None, last: date | None, names: tuple[str, str] = ("--start-date", "--end-date")
) -> None:
    """A first day not after the last one.

    Raises:
        UsageError: naming both options (`names`) and both days.
    """
    if first is not None and last is not None and first > last:
        raise UsageError(f"{names[0]} {first} is after {names[1]} {last}")


def check_at_least(value: int, least: int, name: str) -> int:
    """A whole number of at least `least`.

    Raises:
        UsageError: naming the option and the value.
    """
    if value < least:
        if least == 0:
            raise UsageError(f"{name} {value} is negative; use 0 or more")
        raise UsageError(f"{name} {value} is too small; use at least {least}")
    return value
