"""Where a user's history starts, so that a backfill can cut it into chunks up front.

The loader finds the start by itself when it loads without a start date
(`pipelines.oura.history`); a backfill needs the date before it loads, to plan
one task run per chunk. This asks the same functions, with the loader's own
client, budget and token provider (no HTTP of its own).
TODO(lead): move into `pipelines/load.py` as a public `history_start(...)`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from oura_elt.config import Endpoints
from oura_elt.errors import OuraEltError

PROBES = ("daily_activity", "daily_sleep", "heartrate")


def history_start(endpoints: Endpoints, provider: Any, budget: Any, now: datetime) -> date:
    """The first day of the user's Oura history (ring set-up, else the oldest data found).

    Args:
        endpoints: API endpoints.
        provider: the user's token provider.
        budget: the request budget shared with the other loads of the process.
        now: the current instant.

    Raises:
        OuraEltError: the user could not be identified (login, membership, network).
    """
    from pipelines.oura import history
    from pipelines.oura.extract import fetch_everything
    from pipelines.oura.helpers import CollectionFailed, OuraClient
    from pipelines.oura.plan import latest_day
    from pipelines.oura.settings import BY_NAME

    client = OuraClient(endpoints.api_base_url, provider, budget, pool_size=2)
    try:
        try:
            user_id = client.fetch_object(BY_NAME["personal_info"]).get("id")
        except CollectionFailed as exc:
            raise OuraEltError(f"cannot identify the Oura user: {exc}") from None
        if not isinstance(user_id, str) or not user_id:
            raise OuraEltError("cannot identify the Oura user: personal_info has no id")
        try:
            rings = fetch_everything(client, BY_NAME["ring_configuration"], user_id).rows
        except CollectionFailed:
            rings = []
        first = history.from_ring_setup(rings)
        if first is None:
            first = history.probe(client, [BY_NAME[n] for n in PROBES], user_id, latest_day(now))
        return first
    finally:
        client.close()
