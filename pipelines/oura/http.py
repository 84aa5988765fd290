"""The HTTP base both Oura clients share: the data client (`helpers.OuraClient`) and the
webhook subscription client (`pipelines.webhooks.subscriptions`).

One pooled `requests` session with our User-Agent and JSON, a transport failure turned
into a `Transient` that says whether the host could be reached at all, and one reading
of Oura's error bodies (`{"detail": "..."}`, pydantic lists, RFC 7807). Nothing here
logs or formats a header: tokens and client secrets travel only in headers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from pipelines.core.version import __version__

USER_AGENT = f"oura-elt/{__version__} (python-requests)"
_CONNECT_FAILURES = (
    "NewConnectionError",
    "Connection refused",
    "NameResolutionError",
    "Failed to establish",
    "nodename nor servname",
    "Name or service not known",
)


class Transient(Exception):
    """A failure worth another try.

    `kind` is "rate" (a 429; `wait` is its Retry-After), "connect" (the host could not be
    reached) or "other" (5xx, timeout, drop, bad JSON).
    """

    def __init__(self, reason: str, kind: str = "other", wait: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind
        self.wait = wait


class TlsFailure(Exception):
    """The TLS handshake failed: not transient, and no secret in its message."""


class HttpSession:
    """One base URL's pooled connections.

    Args:
        base_url: where every path is relative to.
        headers: headers of every request (credentials of an application, say).
        pool_size: connections kept open (match the threads that use the session).
        timeouts: seconds to connect and to wait for response bytes.
    """

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str] | None = None,
        pool_size: int = 8,
        timeouts: tuple[float, float] = (10.0, 60.0),
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeouts = timeouts
        self._session = requests.Session()
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=max(pool_size, 2), max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers.update(
            {"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})}
        )

    def close(self) -> None:
        """Close pooled connections."""
        self._session.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        read_timeout: float | None = None,
    ) -> requests.Response:
        """One request, not streamed (a body cut short raises here, and is transient).

        Raises:
            Transient: the host could not be reached, the connection dropped, no answer.
            TlsFailure: the TLS handshake failed.
        """
        timeout = (self.timeouts[0], read_timeout or self.timeouts[1])
        try:
            return self._session.request(
                method,
                self.base_url + path,
                params=params,
                json=json_body,
                headers=headers,
                timeout=timeout,
            )
        except requests.exceptions.ConnectTimeout:
            raise Transient("connection timed out", kind="connect") from None
        except requests.exceptions.SSLError as exc:
            raise TlsFailure(type(exc).__name__) from None
        except requests.exceptions.ConnectionError as exc:
            if any(marker in repr(exc) for marker in _CONNECT_FAILURES):
                raise Transient("connection refused or host unknown", kind="connect") from None
            raise Transient("the connection dropped mid-response") from None
        except requests.exceptions.Timeout:
            raise Transient(f"no answer within {timeout[1]:g} s") from None
        except requests.exceptions.ChunkedEncodingError:
            raise Transient("the connection dropped mid-response") from None
        except requests.exceptions.RequestException as exc:
            raise Transient(f"request failed ({type(exc).__name__})") from None


def detail(response: requests.Response) -> str:
    """A short, secret-free description of an error body: its `detail` (pydantic lists as
    `field: message`), else `title` or `message`, else the start of the text."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].replace("\n", " ")
    if not isinstance(body, dict):
        return ""
    found = body.get("detail") or body.get("title") or body.get("message") or ""
    if isinstance(found, list):
        parts = []
        for item in found[:3]:
            if isinstance(item, dict):
                where = ".".join(str(x) for x in item.get("loc", [])[1:]) or "body"
                parts.append(f"{where}: {item.get('msg', '')}"[:200])
        return "; ".join(parts)
    return found[:200] if isinstance(found, str) else json.dumps(found)[:200]
