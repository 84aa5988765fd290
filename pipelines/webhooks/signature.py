"""Checking that a webhook call comes from Oura: the HMAC signature and its timestamp.

Oura signs `x-oura-timestamp` + body with HMAC-SHA256 keyed with the application's
client secret and sends the hex digest (uppercase in Oura's sample) in
`x-oura-signature` (api-reference §7). The raw body is what was signed; Oura's own
Node sample re-serializes the parsed body (`JSON.stringify`), so a compact
re-serialization is accepted too. Comparisons are constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math


def expected_signature(secret: str, timestamp: str, body: bytes) -> str:
    """The uppercase hex signature Oura sends for `timestamp` and `body`."""
    return hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).hexdigest().upper()


def signature_matches(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """Whether `signature` (hex, any case) signs `timestamp` + `body` with `secret`."""
    given = signature.strip().upper().encode("utf-8", "replace")
    candidates = [body]
    compact = _compact(body)
    if compact is not None and compact != body:
        candidates.append(compact)
    matched = False
    for candidate in candidates:  # no early exit: the time taken does not depend on which matched
        matched |= hmac.compare_digest(
            expected_signature(secret, timestamp, candidate).encode(), given
        )
    return matched


def _compact(body: bytes) -> bytes | None:
    """`JSON.stringify(JSON.parse(body))`, for a body sent with whitespace; None if not JSON."""
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return json.dumps(parsed, separators=(",", ":"), ensure_ascii=False).encode()


def timestamp_seconds(raw: str) -> float | None:
    """`x-oura-timestamp` as Unix seconds (milliseconds are recognised); None if malformed."""
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    if not math.isfinite(value) or value <= 0:
        return None
    return value / 1000.0 if value > 1e11 else value


def is_fresh(moment: float, now: float, tolerance_seconds: float) -> bool:
    """Whether a signed instant is within `tolerance_seconds` of `now` (either way: clock skew)."""
    return abs(now - moment) <= tolerance_seconds
