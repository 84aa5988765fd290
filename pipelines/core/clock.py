"""Now: the clock, or the instant pinned in `OURA_ELT_NOW` (demos, tests on a sandbox clock)."""

from __future__ import annotations

import os
from datetime import UTC, datetime

from pipelines.core.errors import UsageError

NOW_ENV = "OURA_ELT_NOW"


def current_time() -> datetime:
    """Now (UTC), or the instant pinned in `OURA_ELT_NOW`.

    Raises:
        UsageError: `OURA_ELT_NOW` is not an ISO instant.
    """
    pinned = os.environ.get(NOW_ENV)
    if not pinned:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(pinned.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{NOW_ENV}={pinned!r} is not an ISO date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
