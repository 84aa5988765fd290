"""Query parameters as Oura's FastAPI server reads them, with its error shapes.

Bad types give a 422 `HTTPValidationError` (pydantic-style `detail` list);
well-typed but impossible requests give a 400 with `{"detail": "<message>"}`.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone


class BadRequest(Exception):
    """A 400 or 422 answer. `body` is the JSON body Oura would send."""

    def __init__(self, status: int, body: dict) -> None:
        super().__init__(str(body))
        self.status = status
        self.body = body


def validation_error(name: str, value: str, kind: str, msg: str) -> BadRequest:
    """A 422 shaped like pydantic's, as Oura returns for malformed query values."""
    return BadRequest(
        422,
        {"detail": [{"type": kind, "loc": ["query", name], "msg": msg, "input": value}]},
    )


def client_error(message: str) -> BadRequest:
    """A 400 "Client Exception" with Oura's usual `{"detail": ...}` body."""
    return BadRequest(400, {"detail": message})


def parse_date_or_datetime(name: str, value: str | None) -> date | datetime | None:
    """`start_date`/`end_date`: spec type `anyOf [date-time, date, null]`."""
    if value is None or value == "":
        return None
    if len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    else:
        parsed = _parse_datetime(value)
        if parsed is not None:
            return parsed
    raise validation_error(
        name, value, "datetime_from_date_parsing", "Input should be a valid datetime or date"
    )


def parse_datetime(name: str, value: str | None) -> datetime | None:
    """`start_datetime`/`end_datetime`: a date-time; a bare date means its midnight UTC.

    An unescaped `+` in the offset arrives as a space and fails, as on Oura
    (its own cURL sample warns to send `%2B`).
    """
    if value is None or value == "":
        return None
    if len(value) == 10:
        try:
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), timezone.utc)
        except ValueError:
            pass
    parsed = _parse_datetime(value)
    if parsed is None:
        raise validation_error(name, value, "datetime_parsing", "Input should be a valid datetime")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def parse_bool(name: str, value: str | None) -> bool:
    """A query boolean the way pydantic reads one."""
    if value is None or value == "":
        return False
    lowered = value.lower()
    if lowered in {"true", "1", "yes", "on", "t", "y"}:
        return True
    if lowered in {"false", "0", "no", "off", "f", "n"}:
        return False
    raise validation_error(name, value, "bool_parsing", "Input should be a valid boolean")


def parse_fields(value: str | None) -> list[str] | None:
    """`fields`: a comma-separated list; unknown names are ignored later."""
    if not value:
        return None
    return [f.strip() for f in value.split(",") if f.strip()]


def _parse_datetime(value: str) -> datetime | None:
    if " " in value:  # an unescaped "+" decoded as a space
        return None
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def as_datetime(value: date | datetime, offset: timedelta) -> datetime:
    """A bound as an aware instant: a date means its midnight at `offset`;
    a naive date-time is read at `offset`."""
    tz = timezone(offset)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=tz)
    return datetime.combine(value, datetime.min.time(), tz)
