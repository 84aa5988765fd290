"""Webhooks as data: which event and data types exist, what each loads, limits and paths.

Oura pushes one event per document change (api-reference §7): `create`, `update` or
`delete` of one document of one data type (`ExtApiV2DataType`, spec 1.35). Every
collection of documents with a single-document route (`Kind.by_id`) is a data type of
the same name as its raw table; note `vo2_max` here and the route `vO2_max`. `meal` is an
event type without any data route, so nothing can be loaded for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from pipelines.core import config
from pipelines.oura.settings import COLLECTIONS

EVENT_TYPES: tuple[str, ...] = ("create", "update", "delete")

# Webhook data type -> the loader's collection (`pipelines.oura.settings.BY_NAME`).
COLLECTION_OF: Mapping[str, str] = MappingProxyType(
    {c.name: c.name for c in COLLECTIONS if c.kind.by_id}
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
