"""Query parameters as Oura's FastAPI server reads them, with its error shapes.

Oura validates query parameters with pydantic 2.7 (the `url` of its 422 items says
so, api-reference §12); so does the sandbox, with the pydantic it runs on, so that
what parses (a space or `T` between date and time, `Z` or `+HH:MM`, a naive instant,
a bare date, Unix seconds) and what fails (a `+` that arrived as a space) is
pydantic's, not ours. Bad values give a 422 `HTTPValidationError` whose items carry
`type`, `loc`, `msg`, `input`, `ctx` (when pydantic has one) and a `url` naming
pydantic 2.7, every bad parameter reported at once, in the spec's parameter order;
a `date | datetime` parameter that fails reports both branches, as pydantic does.
Well-typed but impossible requests give a 400 with `{"detail": "<message>"}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from pydantic import TypeAdapter, ValidationError

# The pydantic version in the `url` of Oura's own 422 items (api-reference §12).
OURA_PYDANTIC_VERSION = "2.7"
ERRORS_URL = "https://errors.pydantic.dev/{version}/v/{type}"

# Spec 1.35 parameter types: `anyOf [date-time, date, null]`, `anyOf [date-time, null]`,
# `anyOf [boolean, null]` (the branch order is the spec's, and decides what a bare date
# becomes: a naive midnight, like on Oura).
DATE_OR_DATETIME: TypeAdapter = TypeAdapter(datetime | date | None)
DATETIME: TypeAdapter = TypeAdapter(datetime | None)
BOOLEAN: TypeAdapter = TypeAdapter(bool | None)


class BadRequest(Exception):
    """A 400 or 422 answer. `body` is the JSON body Oura would send."""

    def __init__(self, status: int, body: dict) -> None:
        super().__init__(str(body))
        self.status = status
        self.body = body


def client_error(message: str) -> BadRequest:
    """A 400 "Client Exception" with Oura's usual `{"detail": ...}` body."""
    return BadRequest(400, {"detail": message})


def validated(query: Mapping[str, str], parameters: Mapping[str, TypeAdapter]) -> dict[str, Any]:
    """Each named query parameter validated by its adapter (absent: None).

    Args:
        query: the request's query parameters (first value of each name).
        parameters: name -> adapter, in the order Oura declares them.

    Raises:
        BadRequest: a 422 listing every invalid parameter, like FastAPI's.
    """
    values: dict[str, Any] = {}
    errors: list[dict] = []
    for name, adapter in parameters.items():
        raw = query.get(name)
        try:
            values[name] = adapter.validate_python(raw)
        except ValidationError as exc:
            errors += [_oura_item(name, item) for item in exc.errors(include_url=False)]
    if errors:
        raise BadRequest(422, {"detail": errors})
    return {name: _plain_tz(value) for name, value in values.items()}


def _oura_item(name: str, error: Any) -> dict:
    """One pydantic error as FastAPI renders it for a query parameter."""
    item = {
        "type": error["type"],
        "loc": ["query", name, *error["loc"]],
        "msg": error["msg"],
        "input": error["input"],
    }
    if error.get("ctx"):
        item["ctx"] = {
            k: v if isinstance(v, (str, int, float, bool)) else str(v)
            for k, v in error["ctx"].items()
        }
    item["url"] = error_url(error["type"])
    return item


def error_url(kind: str) -> str:
    """The `url` of a 422 item of this `type`, naming the pydantic Oura runs."""
    return ERRORS_URL.format(version=OURA_PYDANTIC_VERSION, type=kind)


def _plain_tz(value: Any) -> Any:
    """pydantic's own tzinfo as a `datetime.timezone` (same instant, stable isoformat)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.replace(tzinfo=timezone(value.utcoffset()))
    return value


def parse_fields(value: str | None) -> list[str] | None:
    """`fields`: a comma-separated list; unknown names are ignored later."""
    if not value:
        return None
    return [f.strip() for f in value.split(",") if f.strip()]


def as_utc(value: datetime) -> datetime:
    """A `start_datetime`/`end_datetime` as an aware instant. A naive value (or a bare
    date, which pydantic reads as naive midnight) is taken as UTC: a guess, Oura does
    not say."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def as_datetime(value: date | datetime, offset: timedelta) -> datetime:
    """A bound as an aware instant: a date means its midnight at `offset`;
    a naive date-time is read at `offset`."""
    tz = timezone(offset)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=tz)
    return datetime.combine(value, datetime.min.time(), tz)
