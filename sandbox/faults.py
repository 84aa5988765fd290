"""Seeded, reproducible fault injection for the sandbox server.

A `FaultPlan` says how often each kind of fault happens; `FaultInjector` draws,
for the n-th data request, the fault (if any) from a random generator seeded with
`(seed, n)`, so a sequential client sees the same faults run after run.

Kinds (each a probability per data request, optionally limited to some routes):
- `latency_ms` (+ `jitter_ms`): every request waits this long first;
- `error_5xx`: a 500/502/503 with an Oura-like body;
- `rate_429`: a 429 with `Retry-After` (`retry_after` seconds) and the
  `X-RateLimit-*` headers, as if a budget had been exceeded; `storm_length` makes
  each 429 start a burst of that many consecutive 429s;
- `drop`: the response starts, then the connection is cut mid-body;
- `truncate`: a 200 whose JSON body is cut short;
- `malformed`: a 200 whose body is not JSON at all (an HTML error page);
- `repeat_token`: a page whose `next_token` is the one the client just sent;
- `timeout`: the server sits on the request for `timeout_seconds` before answering.
`max_faults` caps the total number of injected faults (None: no cap).
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, field, fields

KINDS = ("error_5xx", "rate_429", "drop", "truncate", "malformed", "repeat_token", "timeout")


@dataclass
class FaultPlan:
    """How often each fault happens. All probabilities are per data request."""

    seed: int = 0
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    error_5xx: float = 0.0
    rate_429: float = 0.0
    storm_length: int = 1
    retry_after: int = 1
    drop: float = 0.0
    truncate: float = 0.0
    malformed: float = 0.0
    repeat_token: float = 0.0
    timeout: float = 0.0
    timeout_seconds: float = 30.0
    routes: list[str] = field(default_factory=list)  # empty: every data route
    max_faults: int | None = None

    @classmethod
    def from_dict(cls, data: dict) -> FaultPlan:
        """Build a plan from JSON, rejecting unknown keys with a clear message."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(unknown)}")
        plan = cls(**data)
        for kind in KINDS:
            p = getattr(plan, kind)
            if not 0.0 <= float(p) <= 1.0:
                raise ValueError(f"fault probability {kind}={p} is not between 0 and 1")
        return plan

    def to_dict(self) -> dict:
        """The plan as JSON-ready data."""
        return asdict(self)


@dataclass(frozen=True)
class Draw:
    """What happens to one request."""

    delay: float  # seconds to wait before answering
    fault: str | None  # one of KINDS, or None


class FaultInjector:
    """Draws faults for requests according to a plan; thread-safe."""

    def __init__(self, plan: FaultPlan | None = None) -> None:
        self._lock = threading.Lock()
        self.set_plan(plan or FaultPlan())

    def set_plan(self, plan: FaultPlan) -> None:
        """Replace the plan and restart its request counter and storm."""
        with self._lock:
            self.plan = plan
            self._count = 0
            self._storm_left = 0
            self.injected: dict[str, int] = {k: 0 for k in KINDS}

    def draw(self, route: str) -> Draw:
        """Decide latency and fault for the next request to `route`."""
        with self._lock:
            plan = self.plan
            self._count += 1
            rng = random.Random(f"{plan.seed}:{self._count}")
            delay = plan.latency_ms / 1000.0
            if plan.jitter_ms:
                delay += rng.uniform(0, plan.jitter_ms) / 1000.0
            if plan.routes and route not in plan.routes:
                return Draw(delay, None)
            if plan.max_faults is not None and sum(self.injected.values()) >= plan.max_faults:
                return Draw(delay, None)
            if self._storm_left > 0:
                self._storm_left -= 1
                self.injected["rate_429"] += 1
                return Draw(delay, "rate_429")
            roll = rng.random()
            for kind in KINDS:
                p = getattr(plan, kind)
                if roll < p:
                    self.injected[kind] += 1
                    if kind == "rate_429":
                        self._storm_left = max(plan.storm_length - 1, 0)
                    return Draw(delay, kind)
                roll -= p
            return Draw(delay, None)
