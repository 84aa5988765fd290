"""Stable, seed-derived randomness: never Python's salted `hash()`."""

from __future__ import annotations

import hashlib
import math
import random


def stable_int(*parts: object) -> int:
    """Return a 64-bit integer that depends only on `parts` (stable across runs/processes).

    Args:
        *parts: Values whose `str()` identifies the random stream (seed, user, day, topic...).
    """
    text = "\x1f".join(str(part) for part in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def stable_rng(*parts: object) -> random.Random:
    """Return a `random.Random` seeded from `stable_int(*parts)`."""
    return random.Random(stable_int(*parts))


def clamp(value: float, low: float, high: float) -> float:
    """Clamp `value` into [low, high]."""
    return max(low, min(value, high))


def score(value: float) -> int:
    """Round and clamp a value into an Oura score/contributor (integer 1..100)."""
    return int(clamp(round(value), 1, 100))


class Smooth:
    """A slowly varying signal in about [-1, 1] over day ordinals (weeks-to-months scale).

    It is a sum of three sines with user- and topic-keyed periods and phases, so any
    day can be evaluated in O(1) without history.
    """

    __slots__ = ("_terms",)

    def __init__(self, *parts: object) -> None:
        rng = stable_rng("smooth", *parts)
        self._terms = [
            (
                rng.uniform(0.25, 0.5),
                2 * math.pi / rng.uniform(low, high),
                rng.uniform(0, 2 * math.pi),
            )
            for low, high in ((5.0, 11.0), (20.0, 45.0), (70.0, 160.0))
        ]

    def __call__(self, day_ordinal: int) -> float:
        total = sum(amp * math.sin(freq * day_ordinal + phase) for amp, freq, phase in self._terms)
        return clamp(total, -1.0, 1.0)
