"""Oura OAuth scope names: parsing what was granted, recognising scope errors.

Oura grants bare scope names (`daily`) to apps of the legacy developer portal and
`extapi:`-prefixed ones (`extapi:daily`) to apps of the new portal (api-reference
§4.3). Everything inside oura-elt works with bare names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

EXTAPI_PREFIX = "extapi:"

_SCOPE_ERROR = re.compile(
    r"not authorized (?:to )?access(?: the)? ['\"]?([A-Za-z0-9_:]+)['\"]? scope", re.I
)


def bare_scope(scope: str) -> str:
    """Strip the new portal's `extapi:` prefix: `extapi:daily` -> `daily`."""
    return scope[len(EXTAPI_PREFIX) :] if scope.startswith(EXTAPI_PREFIX) else scope


def split_scopes(raw: str | Iterable[str] | None) -> tuple[str, ...]:
    """Scope strings of a space/comma-separated string or a list, in order, deduplicated."""
    if raw is None:
        return ()
    items = re.split(r"[\s,]+", raw) if isinstance(raw, str) else [str(s) for s in raw]
    return tuple(dict.fromkeys(s for s in (i.strip() for i in items) if s))


def normalize_scopes(raw: str | Iterable[str] | None) -> frozenset[str]:
    """Bare scope names from a granted `scope` value, tolerant of `extapi:` prefixes."""
    return frozenset(bare_scope(s) for s in split_scopes(raw))


def missing_scope(detail: object) -> str | None:
    """The scope named by an Oura "Token is not authorized access <scope> scope." error, if any.

    A 401/403 with such a detail is a missing-scope error: retrying or refreshing
    the token cannot fix it (api-reference §4.2).
    """
    if not isinstance(detail, str):
        return None
    match = _SCOPE_ERROR.search(detail)
    return bare_scope(match.group(1)) if match else None
