"""The first minutes with the installed console script: mistakes, help, version, completion.

Every test runs `.venv/bin/oura-elt` as a user does (a subprocess), so what is checked
is what a terminal shows: a usage mistake is one short message and exit code 2, never a
traceback; help names values for what they are, not by their Python types; an option
means the same and is spelled the same in every command.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.core.version import __version__

OURA_ELT = Path(sys.executable).with_name("oura-elt")
PYTHON_TYPES = re.compile(r"<(str|int|float|bool|path|text)>|<[a-z ]+ range>|list\[|x[<>]=")


def run(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    """`oura-elt ARGS` to completion, in an 80-column terminal."""
    environment = {**os.environ, "COLUMNS": "80", **(env or {})}
    return subprocess.run(
        [str(OURA_ELT), *args],
        env=environment,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def command_paths() -> list[list[str]]:
    """Every group and command of the CLI, as the words that name it."""
    import typer

    from oura_elt.cli import app

    found: list[list[str]] = []

    def walk(command, words: list[str]) -> None:
        found.append(words)
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk(sub, [*words, name])

    walk(typer.main.get_command(app), [])
    return found


def busy_port() -> socket.socket:
    """A socket listening on a loopback port (the port another program uses)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--bogus"],
        ["frobnicate"],
        ["load", "--bogus"],
        ["load", "--start-date"],
        ["load", "--lookback-days", "many"],
        ["sandbox"],
        ["users", "remove", "--bogus"],
        ["webhooks", "serve", "--port"],
        ["sandbox", "serve", "--port", "70000"],
        ["webhooks", "serve", "--port", "70001"],
        ["sandbox", "serve", "--port", "0"],
    ],
    ids=lambda args: " ".join(args) or "no-arguments",
)
def test_a_usage_mistake_is_a_short_message_and_exit_code_2(args, tmp_path):
    result = run(*args, cwd=tmp_path)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert len(lines) <= 3, result.stderr
    if args in ([], ["sandbox"]):  # a group alone shows its help; 2 tells a script it did nothing
        usage = f"Usage: oura-elt {' '.join(args)}".strip()
        assert usage in result.stdout and "Commands" in result.stdout
    else:  # a mistake names itself and where the help is
        assert lines[0].startswith("error: ") and "--help" in lines[0], result.stderr


def test_ports_outside_1_to_65535_are_refused_not_wrapped(tmp_path):
    for args in (["sandbox", "serve", "--port", "70000"], ["webhooks", "serve", "--port", "70001"]):
        result = run(*args, cwd=tmp_path)
        assert result.returncode == 2 and "65535" in result.stderr, result.stderr
        assert result.stdout == ""  # no banner naming a port it would not listen on


@pytest.mark.parametrize("command", [["sandbox", "serve"], ["webhooks", "serve"]])
def test_a_busy_port_is_one_line_before_any_banner(command, tmp_path):
    with busy_port() as taken:
        port = str(taken.getsockname()[1])
        result = run(
            *command,
            "--port",
            port,
            env={
                "OURA_ELT_HOME": str(tmp_path / "home"),
                "OURA_DUCKDB_PATH": str(tmp_path / "w.duckdb"),
            },
            cwd=tmp_path,
        )
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use; choose another --port"
    ]
    assert result.stdout == ""
    assert not (tmp_path / "home").exists()  # nothing was set up for a server that cannot run


def test_version_and_short_help():
    version = run("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"oura-elt {__version__}"
    for words in (["-h"], ["load", "-h"], ["users", "remove", "-h"]):
        short, long = run(*words), run(*words[:-1], "--help")
        assert short.returncode == 0 and short.stdout == long.stdout
        assert "Usage: oura-elt" in short.stdout


def test_shell_completion_installs_and_completes(tmp_path):
    env = {"HOME": str(tmp_path), "SHELL": "/bin/bash"}
    installed = run("--install-completion", "bash", env=env)
    assert installed.returncode == 0, installed.stderr
    script = tmp_path / ".bash_completions" / "oura-elt.sh"
    assert f"source '{script}'" in (tmp_path / ".bashrc").read_text()
    assert "_OURA_ELT_COMPLETE=complete_bash" in script.read_text()
    # What bash runs on TAB after `oura-elt lo` and after `oura-elt load --start`:
    words = run(
        env={
            **env,
            "_OURA_ELT_COMPLETE": "complete_bash",
            "COMP_WORDS": "oura-elt lo",
            "COMP_CWORD": "1",
        }
    )
    assert words.stdout.split() == ["load"], words.stderr
    options = run(
        env={
            **env,
            "_OURA_ELT_COMPLETE": "complete_bash",
            "COMP_WORDS": "oura-elt load --start",
            "COMP_CWORD": "2",
        }
    )
    assert options.stdout.split() == ["--start-date"], options.stderr


def test_help_names_values_not_python_types():
    for words in command_paths():
        result = run(*words, "--help")
        assert result.returncode == 0, (words, result.stderr)
        found = PYTHON_TYPES.findall(result.stdout)
        assert not found, f"oura-elt {' '.join(words)} --help shows {found}:\n{result.stdout}"
    load = run("load", "--help").stdout
    named = (("--start-date", "DATE"), ("--duckdb", "PATH"), ("--lookback-days", "DAYS"))
    for option, value in named:
        assert re.search(rf"{option}\s.*\b{value}\b", load), load


def test_an_option_is_spelled_the_same_in_every_command():
    """One name and one short form per meaning: `-p` is `--profile` everywhere it exists, a
    DuckDB file is `--duckdb` everywhere (`--duckdb-path` only as a hidden old name)."""
    import typer

    from oura_elt.cli import app

    shorts: dict[str, set[tuple[str, ...]]] = {}

    def walk(command, words: tuple[str, ...]) -> None:
        for param in command.params:
            if param.param_type_name != "option" or param.hidden:
                continue
            longs = [o for o in param.opts + param.secondary_opts if o.startswith("--")]
            short = tuple(sorted(o for o in param.opts if not o.startswith("--")))
            assert len(longs) == 1, (words, longs)
            shorts.setdefault(longs[0], set()).add(short)
            assert longs[0] != "--duckdb-path", words
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, (*words, name))

    walk(typer.main.get_command(app), ())
    assert shorts["--profile"] == {("-p",)}
    assert all(len(forms) == 1 for forms in shorts.values()), {
        name: forms for name, forms in shorts.items() if len(forms) > 1
    }
    assert {"--duckdb", "--destination", "--start-date", "--end-date"} <= set(shorts)


def test_the_old_duckdb_path_spelling_still_works(tmp_path):
    foreign = tmp_path / "notes.duckdb"
    foreign.write_text("not a database")
    with busy_port() as taken:  # were the file not checked first, the port would be the error
        port = str(taken.getsockname()[1])
        for spelling in ("--duckdb", "--duckdb-path"):
            result = run(
                "webhooks",
                "serve",
                spelling,
                str(foreign),
                "--port",
                port,
                env={"OURA_ELT_HOME": str(tmp_path / "home")},
                cwd=tmp_path,
            )
            assert result.returncode == 1, result.stderr
            assert result.stderr.strip().splitlines() == [
                f"error: {foreign} is not a DuckDB database; give --duckdb a DuckDB file, "
                "or a new path"
            ]


def test_the_old_target_spelling_still_works_and_may_not_contradict(tmp_path):
    """`transform --target` is the hidden old name of `--destination`: it still chooses the
    warehouse, and the two spellings saying different things is a usage mistake."""
    env = {"OURA_ELT_HOME": str(tmp_path / "home")}
    old = run("transform", "--target", "nowhere", env=env, cwd=tmp_path)
    assert old.returncode == 2 and "'nowhere' is not one of" in old.stderr, old.stderr
    both = run(
        "transform", "--destination", "bigquery", "--target", "duckdb", env=env, cwd=tmp_path
    )
    assert both.returncode == 2, both.stderr
    assert both.stderr.strip().splitlines()[0].startswith("error: --destination and --target")
