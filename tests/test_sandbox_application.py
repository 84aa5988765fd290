"""The sandbox owns its applications' constants; the product keeps a copy for its defaults.

The sandbox imports nothing of the product (import-linter's contract "The local Oura server
imports nothing of the product", checked with a planted import by tests/test_architecture.py),
and the product's lower layers may not import the sandbox. So `pipelines.core.config` keeps
its own copy of the sandbox application's id, secret and redirect URI: it must not drift.
"""

from __future__ import annotations

from pipelines.core import config
from sandbox import application


def test_the_products_copy_of_the_sandbox_application_agrees_with_the_sandbox():
    for name in ("SANDBOX_CLIENT_ID", "SANDBOX_CLIENT_SECRET", "DEFAULT_REDIRECT_URI"):
        assert getattr(config, name) == getattr(application, name), name
