"""Shared fixtures: a real sandbox server on a free loopback port, and isolation
of every test from the developer's own tokens, pipelines and telemetry."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from pipelines.core import config

config.telemetry_off()

# A fixed clock so that every run sees the same world.
CLOCK = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

_ISOLATED_ENV = (
    "OURA_ACCESS_TOKEN",
    "OURA_API_BASE_URL",
    "OURA_AUTHORIZE_URL",
    "OURA_TOKEN_URL",
    "OURA_REVOKE_URL",
    "OURA_CLIENT_ID",
    "OURA_CLIENT_SECRET",
    "OURA_DUCKDB_PATH",
)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch) -> Iterator[Any]:
    """Each test gets its own OURA_ELT_HOME and none of the developer's Oura settings."""
    home = tmp_path_factory.mktemp("oura-elt-home")
    monkeypatch.setenv("OURA_ELT_HOME", str(home))
    for name in _ISOLATED_ENV:
        monkeypatch.delenv(name, raising=False)
    yield home


class SandboxHandle:
    """A running sandbox plus small helpers to steer it over its admin routes."""

    def __init__(self, running) -> None:
        self.running = running
        self.base_url: str = running.base_url
        self.state = running.sandbox
        self.world = running.sandbox.world
        self.http = requests.Session()

    def get(self, path: str, token: str | None = "sandbox-pat-0", **params) -> requests.Response:
        """GET a data route with a bearer token (a sandbox personal token by default)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.http.get(self.base_url + path, params=params, headers=headers, timeout=30)

    def admin(self, path: str, body: dict | None = None) -> dict:
        """POST (or GET without a body) an admin route and return its JSON."""
        url = f"{self.base_url}/_sandbox/{path}"
        resp = (
            self.http.post(url, json=body, timeout=30)
            if body is not None
            else self.http.get(url, timeout=30)
        )
        resp.raise_for_status()
        return resp.json()

    def advance(self, days: int = 0, seconds: int = 0) -> None:
        """Move the server clock forward."""
        self.admin("clock", {"advance_days": days, "advance_seconds": seconds})

    def faults(self, **plan) -> None:
        """Replace the fault plan (no arguments: no faults)."""
        self.admin("faults", plan)

    def stats(self) -> dict:
        """The request counters."""
        return self.admin("state")["stats"]

    def reset_stats(self) -> None:
        """Zero the request counters."""
        self.admin("stats/reset", {})


@pytest.fixture
def sandbox_factory() -> Iterator[Callable[..., SandboxHandle]]:
    """Start sandboxes with given settings; all are stopped after the test."""
    from sandbox.runner import start_in_thread
    from sandbox.server import SandboxSettings

    started = []

    def start(**settings) -> SandboxHandle:
        settings.setdefault("now", CLOCK)
        settings.setdefault("seed", 7)
        running = start_in_thread(SandboxSettings(**settings))
        started.append(running)
        return SandboxHandle(running)

    yield start
    for running in started:
        running.stop()


@pytest.fixture
def sandbox(sandbox_factory) -> SandboxHandle:
    """A sandbox with two users and 60 days of history, clock fixed at CLOCK."""
    return sandbox_factory(users=2, history_days=60)


@pytest.fixture(scope="session")
def local_bigquery(tmp_path_factory) -> Iterator[Any]:
    """The local BigQuery API of the whole run (`bigquery_emulator`), started once; skipped,
    saying why, when bqemulator is not installed (`make bqemulator`)."""
    from bigquery_emulator import missing_reason, start_local_bigquery

    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    service = start_local_bigquery(tmp_path_factory.mktemp("bqemulator"))
    yield service
    service.stop()


_projects = iter(range(1, 10_000))


@pytest.fixture
def bigquery(local_bigquery, request, monkeypatch) -> Any:
    """A BigQuery project of this test's own on the local BigQuery API, with the environment
    that points the product's clients (dlt, dbt-bigquery, google-cloud-bigquery) at it set
    for this process (`project.env` for subprocesses)."""
    # Letters and digits only: bqemulator 1.4.0 misreads some hyphenated ids (`proj-a`).
    slug = "".join(c for c in request.node.name.lower().removeprefix("test_") if c.isalnum())
    project = local_bigquery.project(f"p{next(_projects)}{slug}"[:30])
    for name, value in project.env.items():
        monkeypatch.setenv(name, value)
    forget_failed_default_credentials(monkeypatch)
    return project


def forget_failed_default_credentials(monkeypatch) -> None:
    """dlt remembers, for 10 minutes per process, that Google's default credentials could not
    be found (an earlier test without credentials): forget it once they can."""
    from dlt.common.configuration.specs.gcp_credentials import GcpDefaultCredentials

    monkeypatch.setattr(GcpDefaultCredentials, "_LAST_FAILED_DEFAULT", 0.0)


def pytest_report_header(config) -> str:  # noqa: D103
    return f"oura-elt tests: OURA_ELT_HOME isolated per test; sandbox clock {CLOCK.isoformat()}"


os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
# Prefect's settings, database and logs of the test run stay out of the developer's ~/.prefect.
if "PREFECT_HOME" not in os.environ:
    os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="oura-elt-tests-prefect-")
    atexit.register(shutil.rmtree, os.environ["PREFECT_HOME"], ignore_errors=True)
