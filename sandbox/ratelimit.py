"""Oura's two rate-limit layers: per access token and per application.

Spec 1.35: "The Oura API is limited to 5000 requests per 5-minute period", enforced
per access token and across all of an application's tokens, with a 429 carrying
`Retry-After`, `X-RateLimit-Limit`, `X-RateLimit-Window`, `X-RateLimit-Reset` and
`X-RateLimit-Tier`. A sliding-window log per key; rejected requests do not count.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Limited:
    """A request that exceeded a budget, with the headers a 429 carries."""

    tier: str
    limit: int
    window: int
    retry_after: int
    reset: int

    def headers(self) -> dict[str, str]:
        """The 429 response headers."""
        return {
            "Retry-After": str(self.retry_after),
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Window": str(self.window),
            "X-RateLimit-Reset": str(self.reset),
            "X-RateLimit-Tier": self.tier,
        }


class RateLimiter:
    """Sliding-window limits per token and per application."""

    def __init__(
        self,
        token_limit: int = 5000,
        app_limit: int = 5000,
        window_seconds: int = 300,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.token_limit = token_limit
        self.app_limit = app_limit
        self.window = window_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._hits: dict[tuple[str, str], deque[float]] = {}
        self.rejected = 0

    def configure(self, token_limit: int, app_limit: int, window_seconds: int) -> None:
        """Change the budgets (the counted requests are kept)."""
        with self._lock:
            self.token_limit, self.app_limit, self.window = token_limit, app_limit, window_seconds

    def hit(self, token_key: str, app_key: str) -> Limited | None:
        """Count one request; return a `Limited` instead if either budget is spent."""
        now = self._clock()
        with self._lock:
            checks = (
                ("token", token_key, self.token_limit),
                ("application", app_key, self.app_limit),
            )
            for tier, key, limit in checks:
                log = self._log(tier, key, now)
                if len(log) >= limit:
                    self.rejected += 1
                    reset = log[0] + self.window
                    return Limited(
                        tier, limit, self.window, max(1, math.ceil(reset - now)), math.ceil(reset)
                    )
            for tier, key, _ in checks:
                self._hits[(tier, key)].append(now)
        return None

    def _log(self, tier: str, key: str, now: float) -> deque[float]:
        log = self._hits.setdefault((tier, key), deque())
        while log and log[0] <= now - self.window:
            log.popleft()
        return log
