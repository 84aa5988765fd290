"""The sandbox owns its applications' constants; the product knows none of them but the
redirect URI every Oura application registers by default (`auth login`'s default), which must
be the one the sandbox registers.

The sandbox imports nothing of the product (import-linter's contract "The local Oura server
imports nothing of the product", checked with a planted import by tests/test_architecture.py),
and the product's lower layers may not import the sandbox.
"""

from __future__ import annotations

from pipelines.core import config
from sandbox import application


def test_the_products_copy_of_the_sandbox_application_agrees_with_the_sandbox():
    assert config.DEFAULT_REDIRECT_URI == application.DEFAULT_REDIRECT_URI
    assert not [name for name in dir(config) if name.startswith("SANDBOX")]
