"""The layers point one way: import-linter's contracts (`[tool.importlinter]` in pyproject.toml)
hold on the tree, and they do catch an upward import, a cycle and a sandbox that imports
the product (each planted in a copy of the tree). And no function is longer than 60 lines."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("oura_elt", "flows", "pipelines", "sandbox")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(tree: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def copy_of_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    tree.mkdir()
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tree / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    return tree


def broken_contracts(output: str) -> str:
    """The part of lint-imports' report that details the broken contracts."""
    _, _, details = output.partition("Broken contracts")
    return details


def test_the_import_contracts_hold():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 5 kept, 0 broken." in result.stdout


@pytest.mark.parametrize(
    ("module", "planted", "broken"),
    [
        ("pipelines/core/errors.py", "import oura_elt.cli", "The command line sits on the flows"),
        ("pipelines/oura/settings.py", "import pipelines.load", "Inside pipelines"),
        ("flows/tasks.py", "import oura_elt.console", "The command line sits on the flows"),
        (
            "sandbox/paging.py",
            "import pipelines.core.config",
            "The local Oura server imports nothing",
        ),
        ("pipelines/people/tables.py", "import pipelines.people.removal", "No import cycles"),
    ],
)
def test_a_planted_import_breaks_a_contract(tmp_path, module, planted, broken):
    tree = copy_of_tree(tmp_path)
    assert broken not in broken_contracts(lint_imports(tree).stdout)  # kept before the plant
    target = tree / module
    target.write_text(target.read_text() + f"\n{planted}  # planted by the test\n")
    result = lint_imports(tree)
    assert result.returncode != 0, result.stdout
    assert broken in broken_contracts(result.stdout)


MAX_FUNCTION_LINES = 60
LENGTH_CHECKED = ("pipelines", "flows", "oura_elt", "sandbox", "bench")
# (path, function) -> why it may stay longer than MAX_FUNCTION_LINES: empty, and an entry
# that is no longer too long fails, so the list can only shrink.
LONG_FUNCTIONS_ALLOWED: dict[tuple[str, str], str] = {}


def function_lengths(root: Path = ROOT) -> dict[tuple[str, str], int]:
    """(path, name) -> lines from `def` to the function's last line, for every function
    and method (nested ones too) under the checked packages; the longest of a name."""
    lengths: dict[tuple[str, str], int] = {}
    for package in LENGTH_CHECKED:
        for path in sorted((root / package).rglob("*.py")):
            relative = path.relative_to(root).as_posix()
            for node in ast.walk(ast.parse(path.read_text(), filename=relative)):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    key = (relative, node.name)
                    length = node.end_lineno - node.lineno + 1
                    lengths[key] = max(length, lengths.get(key, 0))
    return lengths


def test_no_function_is_longer_than_60_lines():
    lengths = function_lengths()
    assert len(lengths) > 500  # the walk did find the code
    too_long = {
        key: n
        for key, n in lengths.items()
        if n > MAX_FUNCTION_LINES and key not in LONG_FUNCTIONS_ALLOWED
    }
    assert not too_long, "split these functions (lines from def to end): " + "; ".join(
        f"{path}:{name} {n}" for (path, name), n in sorted(too_long.items())
    )
    stale = [key for key in LONG_FUNCTIONS_ALLOWED if lengths.get(key, 0) <= MAX_FUNCTION_LINES]
    assert not stale, f"no longer too long: remove from LONG_FUNCTIONS_ALLOWED: {stale}"
