"""Opaque, tamper-evident `next_token`s.

A token carries where the next page starts and a digest of the request's other
parameters, signed with a per-server secret: a token used with different
parameters, edited, or from another server is a 400, as a client bug should be.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from sandbox.params import client_error


class PageTokens:
    """Encode and decode next_tokens for one server instance."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def encode(self, scope: str, position: dict) -> str:
        """A token for `position` within the request identified by `scope`."""
        payload = json.dumps({"s": _digest(scope), **position}, separators=(",", ":")).encode()
        mac = hmac.new(self._secret, payload, hashlib.sha256).digest()[:12]
        return base64.urlsafe_b64encode(mac + payload).decode().rstrip("=")

    def decode(self, scope: str, token: str) -> dict:
        """The position a token points at; 400 if it is not one of ours for this request."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            mac, payload = raw[:12], raw[12:]
            if not hmac.compare_digest(
                mac, hmac.new(self._secret, payload, hashlib.sha256).digest()[:12]
            ):
                raise ValueError("bad signature")
            position = json.loads(payload)
            if position.pop("s") != _digest(scope):
                raise ValueError("token from another request")
            return position
        except (ValueError, KeyError, TypeError) as exc:
            raise client_error("Invalid next_token") from exc


def _digest(scope: str) -> str:
    return hashlib.sha256(scope.encode()).hexdigest()[:16]
