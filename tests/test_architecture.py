"""The layers point one way: import-linter's contracts (`[tool.importlinter]` in pyproject.toml)
hold on the tree, and they do catch an upward import, a cycle and a sandbox that imports
the product (each planted in a copy of the tree)."""

from __future__ import annotations

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
