"""What every `oura-elt` command is built from, so that all of them read and behave alike.

`App` is a `typer.Typer` whose groups and commands show help that reads like a tool's:
a value is named for what it is (`--start-date DATE`, `--duckdb PATH`), a flag shows no
value at all, and no Python type appears (Typer 0.29 prints `<bool>` after every flag,
`<list[str]>`, `<int range> [x>=1]`). Ranges are still checked; where a bound matters,
the option's help says it in words. `-h` works wherever `--help` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args, get_origin

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}
_METAVARS: dict[Any, str] = {int: "N", float: "NUMBER", str: "TEXT", Path: "PATH"}


class _Option(TyperOption):
    """An option whose help shows a metavar, not a Python type, and no range notation."""

    def display_type_rich(self, ctx: Any) -> str | None:  # noqa: D102
        if self.is_flag or self.count:
            return None
        return self.metavar or _metavar(self)

    def _get_number_range_help_str(self) -> str | None:
        return None


class _Argument(TyperArgument):
    """An argument shown by its name alone (`PROFILE`), without a Python type."""

    def display_type_rich(self, ctx: Any) -> str | None:  # noqa: D102
        return None


def _metavar(option: TyperOption) -> str:
    annotation = getattr(getattr(option, "type_descriptor", None), "annotation", None)
    if get_origin(annotation) in (list, tuple):
        annotation = (get_args(annotation) or (str,))[0]
    return _METAVARS.get(annotation, "VALUE")


def _readable(params: list[Any]) -> list[Any]:
    for param in params:
        if type(param) is TyperOption:
            param.__class__ = _Option  # the same object, shown differently
        elif type(param) is TyperArgument:
            param.__class__ = _Argument
    return params


class Command(TyperCommand):
    """A command with readable help (see the module docstring)."""

    def get_params(self, ctx: Any) -> list[Any]:  # noqa: D102
        return _readable(super().get_params(ctx))


class Group(TyperGroup):
    """A group of commands with readable help (see the module docstring)."""

    def get_params(self, ctx: Any) -> list[Any]:  # noqa: D102
        return _readable(super().get_params(ctx))


class App(typer.Typer):
    """`typer.Typer` with `Group` and `Command` as its classes, and `-h` for help."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cls", Group)
        kwargs.setdefault("context_settings", CONTEXT_SETTINGS)
        super().__init__(**kwargs)

    def command(self, *args: Any, **kwargs: Any) -> Any:  # noqa: D102
        kwargs.setdefault("cls", Command)
        return super().command(*args, **kwargs)
