"""Webhooks as data: which event and data types exist, what each loads, limits and paths.

Oura pushes one event per document change (api-reference §7): `create`, `update` or
`delete` of one document of one data type (`ExtApiV2DataType`, spec 1.35). Every data
type that has a single-document route maps to the loader's collection (raw table)
of the same name; note `vo2_max` here and the route `vO2_max`. `meal` is an event
type without any data route, so nothing can be loaded for it.
"""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from pipelines.core import config

EVENT_TYPES: tuple[str, ...] = ("create", "update", "delete")

# Webhook data type -> the loader's collection (`pipelines.oura.settings.BY_NAME`).
COLLECTION_OF: Mapping[str, str] = MappingProxyType(
    {
        "tag": "tag",
        "enhanced_tag": "enhanced_tag",
        "workout": "workout",
        "session": "session",
        "sleep": "sleep",
        "daily_sleep": "daily_sleep",
        "daily_readiness": "daily_readiness",
        "daily_activity": "daily_activity",
        "daily_spo2": "daily_spo2",
        "sleep_time": "sleep_time",
        "rest_mode_period": "rest_mode_period",
        "ring_configuration": "ring_configuration",
        "daily_stress": "daily_stress",
        "daily_cardiovascular_age": "daily_cardiovascular_age",
        "daily_resilience": "daily_resilience",
        "vo2_max": "vo2_max",
    }
)
NOT_LOADABLE: tuple[str, ...] = ("meal",)  # valid data types with no route to fetch from
DATA_TYPES: tuple[str, ...] = (*COLLECTION_OF, *NOT_LOADABLE)
DEFAULT_DATA_TYPES: tuple[str, ...] = tuple(COLLECTION_OF)  # everything the loader can merge

# The receiver.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787
DEFAULT_PATH = "/oura/webhook"
MAX_BODY_BYTES = 64 * 1024  # an event is about 200 bytes
TIMESTAMP_TOLERANCE_SECONDS = 300.0  # x-oura-timestamp may be this far from our clock either way
VERIFICATION_TOKEN_ENV = "OURA_WEBHOOK_VERIFICATION_TOKEN"

# The worker.
MAX_ATTEMPTS = 20  # fetch failures of one event before it is marked failed
RETRY_BASE_SECONDS = 5.0  # doubles per attempt
RETRY_MAX_SECONDS = 600.0
KEEP_FINISHED_DAYS = 7  # finished events are kept this long (replays of them stay no-ops)
WEBHOOK_PIPELINE = "webhooks-worker"  # dlt pipeline name of the worker's commits


def webhooks_home() -> Path:
    """`<OURA_ELT_HOME>/webhooks`: the journal and the stored verification token."""
    return config.home() / "webhooks"


def default_journal_path() -> Path:
    """Where accepted events are journaled before they are answered."""
    return webhooks_home() / "journal.sqlite3"


def verification_token_path() -> Path:
    """Where `webhooks subscribe` keeps a generated verification token (mode 0600)."""
    return webhooks_home() / "verification_token"
