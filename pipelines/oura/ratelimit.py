"""A client-side request budget, shared by every thread (and user) of a process.

Oura allows 5000 requests per 5 minutes per application (spec 1.35 FAQ), across
all of the application's users. `RateBudget` keeps the process under a lower
figure (90 % by default) with a sliding-window log: at most `max_requests`
request starts in any `per_seconds` window, so a burst is allowed while the
window has room and callers wait when it has not. A 429 `Retry-After` pauses
every caller of the budget, not only the one that got it.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable

PUBLISHED_LIMIT = 5000
PUBLISHED_WINDOW_SECONDS = 300
DEFAULT_SHARE = 0.9
RATE_LIMIT_ENV = "OURA_ELT_RATE_LIMIT"  # "<requests>/<seconds>", e.g. "4500/300"


class RateBudget:
    """At most `max_requests` requests in any `per_seconds` seconds; thread-safe.

    Args:
        max_requests: requests allowed per window.
        per_seconds: window length in seconds.
        clock: monotonic time source (injectable for tests).
        sleep: sleep function (injectable for tests).
    """

    def __init__(
        self,
        max_requests: int = int(PUBLISHED_LIMIT * DEFAULT_SHARE),
        per_seconds: float = PUBLISHED_WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_requests < 1 or per_seconds <= 0:
            raise ValueError("a rate budget needs at least one request per positive window")
        self.max_requests = max_requests
        self.per_seconds = per_seconds
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._starts: deque[float] = deque()
        self._paused_until = 0.0
        self.waited_seconds = 0.0

    def acquire(self) -> None:
        """Block until one more request may start, then count it."""
        while True:
            with self._lock:
                now = self._clock()
                while self._starts and self._starts[0] <= now - self.per_seconds:
                    self._starts.popleft()
                wait = self._paused_until - now
                if wait <= 0 and len(self._starts) >= self.max_requests:
                    wait = self._starts[0] + self.per_seconds - now
                if wait <= 0:
                    self._starts.append(now)
                    return
                self.waited_seconds += wait
            self._sleep(min(wait, 5.0))

    def pause(self, seconds: float) -> None:
        """Hold every caller back for `seconds` (a 429's `Retry-After`)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + max(seconds, 0.0))

    def __repr__(self) -> str:
        return f"RateBudget({self.max_requests}/{self.per_seconds:g}s)"


def parse_rate(text: str) -> tuple[int, float]:
    """`"4500/300"` as (4500, 300.0); ValueError if malformed."""
    count, _, seconds = text.partition("/")
    try:
        parsed = int(count), float(seconds or PUBLISHED_WINDOW_SECONDS)
    except ValueError:
        raise ValueError(f"rate limit {text!r} is not '<requests>/<seconds>'") from None
    if parsed[0] < 1 or parsed[1] <= 0:
        raise ValueError(f"rate limit {text!r} must be positive")
    return parsed


_shared: RateBudget | None = None
_shared_lock = threading.Lock()


def shared_budget() -> RateBudget:
    """The process-wide budget (from `OURA_ELT_RATE_LIMIT` if set), created once."""
    global _shared
    with _shared_lock:
        if _shared is None:
            text = os.environ.get(RATE_LIMIT_ENV)
            _shared = RateBudget(*parse_rate(text)) if text else RateBudget()
        return _shared
