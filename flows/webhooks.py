"""`renew-webhooks`: renew the app's webhook subscriptions before they expire.

Oura's subscriptions last about 90 days (api-reference §7); a subscription that
lapses silently stops the events. Run daily (next to the nightly refresh), this
renews every subscription expiring within `within_days` days, and fails naming
the ones it could not renew. The work is `pipelines.webhooks.subscriptions.renew_expiring`.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from prefect import flow, get_run_logger
from prefect.exceptions import MissingContextError

from pipelines.core.config import Endpoints
from pipelines.core.errors import OuraEltError
from pipelines.webhooks.subscriptions import (
    DEFAULT_RENEW_WITHIN_DAYS,
    SubscriptionClient,
    renew_expiring,
)


@flow(name="renew-webhooks", description="Renew Oura webhook subscriptions that expire soon.")
def renew_webhooks(
    within_days: float = DEFAULT_RENEW_WITHIN_DAYS, api_base_url: str | None = None
) -> dict[str, int]:
    """Renew the subscriptions expiring within `within_days` days.

    Args:
        within_days: renew those expiring within this many days.
        api_base_url: Oura API base URL (default: `OURA_API_BASE_URL`, else Oura's).

    Returns:
        Subscriptions per outcome: {"renewed": n, "kept": n}.

    Raises:
        OuraEltError: a renewal failed (the others were still renewed).
    """
    endpoints = Endpoints.from_env()
    if api_base_url:
        endpoints = replace(endpoints, api_base_url=api_base_url.rstrip("/"))
    client = SubscriptionClient(endpoints)
    try:
        outcomes = renew_expiring(within_days, client=client)
    finally:
        client.close()
    try:
        logger: logging.Logger | logging.LoggerAdapter = get_run_logger()
    except MissingContextError:  # called as a plain function (`renew_webhooks.fn`)
        logger = logging.getLogger("oura_elt.webhooks")
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.action] = counts.get(outcome.action, 0) + 1
        if outcome.action == "renewed" and outcome.subscription:
            logger.info(
                "renewed %s %s until %s",
                outcome.event_type,
                outcome.data_type,
                outcome.subscription.expiration_time,
            )
    failed = [o for o in outcomes if o.action == "failed"]
    if failed:
        raise OuraEltError(
            f"renew-webhooks: {len(failed)} of {len(outcomes)} subscription(s)"
            " could not be renewed: "
            + "; ".join(f"{o.event_type} {o.data_type}: {o.error}" for o in failed[:5])
        )
    return counts
