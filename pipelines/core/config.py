"""Where things live and which endpoints to talk to, from the environment.

Every setting has an environment variable so that CI, Prefect workers and
containers can configure the tool without flags.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# Oura's production endpoints (api-reference §1, §4.1).
OURA_API_BASE_URL = "https://api.ouraring.com"
OURA_AUTHORIZE_URL = "https://cloud.ouraring.com/oauth/authorize"
OURA_TOKEN_URL = "https://api.ouraring.com/oauth/token"
OURA_REVOKE_URL = "https://api.ouraring.com/oauth/revoke"

DEFAULT_REDIRECT_URI = "http://localhost:8765/callback/"

# Loading defaults (the CLI shows them without importing the loader).
DEFAULT_LOOKBACK_DAYS = 7  # recent days read again on every run: Oura restates them
DEFAULT_CHUNK_DAYS = 90  # days committed together in a long backfill

# Telemetry of the stack, off unless the user turns it on (STACK-NOTES).
TELEMETRY_OFF = {
    "RUNTIME__DLTHUB_TELEMETRY": "false",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
}


def telemetry_off() -> None:
    """Switch the stack's telemetry off unless the user set the variables."""
    for name, value in TELEMETRY_OFF.items():
        os.environ.setdefault(name, value)


def project_root() -> Path:
    """The repository root (where `dbt_project/` and `data/` are)."""
    return Path(__file__).resolve().parents[2]


def home() -> Path:
    """Per-user state: token store and pipeline state. `OURA_ELT_HOME` moves it."""
    return Path(os.environ.get("OURA_ELT_HOME") or Path.home() / ".oura-elt")


def default_duckdb_path() -> Path:
    """`OURA_DUCKDB_PATH`, else `data/oura.duckdb` under the current directory."""
    return Path(os.environ.get("OURA_DUCKDB_PATH") or Path("data") / "oura.duckdb")


DEVELOPER_PORTAL = "https://developer.ouraring.com/applications"  # where apps are made


@dataclass(frozen=True)
class Endpoints:
    """The Oura API and OAuth endpoints and the application's credentials."""

    api_base_url: str
    authorize_url: str
    token_url: str
    revoke_url: str
    client_id: str | None
    client_secret: str | None

    @classmethod
    def from_env(cls) -> Endpoints:
        """Read `OURA_API_BASE_URL`, `OURA_AUTHORIZE_URL`, `OURA_TOKEN_URL`,
        `OURA_REVOKE_URL`, `OURA_CLIENT_ID` and `OURA_CLIENT_SECRET`.

        With a non-default `OURA_API_BASE_URL` and no explicit OAuth URLs, the OAuth
        routes are taken from that base (`<base>/oauth/authorize`, ...).
        """
        env = os.environ.get
        base = (env("OURA_API_BASE_URL") or OURA_API_BASE_URL).rstrip("/")
        # A non-default API (the sandbox, a proxy) serves its own OAuth routes: derive
        # them, so that a sandbox login is never sent to Oura's real token endpoint.
        own = base != OURA_API_BASE_URL
        return cls(
            api_base_url=base,
            authorize_url=env("OURA_AUTHORIZE_URL")
            or (f"{base}/oauth/authorize" if own else OURA_AUTHORIZE_URL),
            token_url=env("OURA_TOKEN_URL") or (f"{base}/oauth/token" if own else OURA_TOKEN_URL),
            revoke_url=env("OURA_REVOKE_URL")
            or (f"{base}/oauth/revoke" if own else OURA_REVOKE_URL),
            client_id=env("OURA_CLIENT_ID") or None,
            client_secret=env("OURA_CLIENT_SECRET") or None,
        )

    def app_credentials(self) -> tuple[str, str]:
        """The application's (client id, client secret), for OAuth and webhooks.

        Raises:
            OuraEltError: `OURA_CLIENT_ID` or `OURA_CLIENT_SECRET` is not set.
        """
        from pipelines.core.errors import OuraEltError

        for value, name, what in (
            (self.client_id, "OURA_CLIENT_ID", "client id"),
            (self.client_secret, "OURA_CLIENT_SECRET", "client secret"),
        ):
            if not value:
                raise OuraEltError(
                    f"{name} is not set: set it to your Oura API application's {what} "
                    f"({DEVELOPER_PORTAL})"
                )
        return self.client_id, self.client_secret
