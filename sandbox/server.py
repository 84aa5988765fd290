"""The local Oura-compatible API server: a Starlette app over a generated `World`.

`create_app(settings)` builds the app; `Sandbox` holds its parts (the world and
its clock, the OAuth server, rate limits, faults, counters). Data routes follow
`sandbox.routes.ROUTES`; `/_sandbox/...` routes let tests, the demo and the
benchmarks move the clock, inject faults and read counters while it runs.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route as HttpRoute

from sandbox.faults import FaultInjector, FaultPlan
from sandbox.oauth import AuthError, Grant, OAuthProvider, default_clients, token_key
from sandbox.paging import PageTokens
from sandbox.params import (
    BOOLEAN,
    DATE_OR_DATETIME,
    DATETIME,
    BadRequest,
    as_datetime,
    as_utc,
    client_error,
    parse_fields,
    validated,
)
from sandbox.ratelimit import RateLimiter
from sandbox.routes import (
    ALWAYS_RETURNED,
    CONFIG,
    DOCUMENTS,
    LOCAL,
    PERSONAL,
    ROUTES,
    SANDBOX_ROUTES,
    SERIES,
    Route,
    scope_satisfied,
)
from sandbox.webhooks import Webhooks, WebhookSettings
from sandbox.world import World

log = logging.getLogger("sandbox")

V2 = "/v2/usercollection"
V2_SANDBOX = "/v2/sandbox/usercollection"
# Whose data the `/v2/sandbox/...` routes show: Oura's are fake data for anyone who asks.
SANDBOX_ROUTES_USER = 0
# Requests to the sandbox routes with a string that is no token of ours count against
# this application's rate limit (Oura: "shared with your rate limit").
ANONYMOUS_CLIENT = "sandbox-routes-anonymous"


@dataclass
class SandboxSettings:
    """Everything `oura-elt sandbox serve` can configure."""

    seed: int = 0
    users: int = 2
    now: datetime | None = None
    history_start: date | None = None
    history_days: int = 730
    page_size: int = 100
    series_page_size: int = 1000
    token_limit: int = 5000
    app_limit: int = 5000
    rate_window_seconds: int = 300
    access_ttl_seconds: int = 86400
    code_ttl_seconds: int = 600
    consent_user: int = 0
    lapsed_users: frozenset[int] = frozenset()
    redirect_uris: tuple[str, ...] = ()
    faults: FaultPlan = field(default_factory=FaultPlan)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)


class Sandbox:
    """The running sandbox's state, shared by all requests."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self.world = World(
            seed=settings.seed,
            users=settings.users,
            now=settings.now,
            history_start=settings.history_start,
            history_days=settings.history_days,
        )
        self.oauth = OAuthProvider(
            user_count=settings.users,
            clients=[
                replace(app, redirect_uris=app.redirect_uris + settings.redirect_uris)
                for app in default_clients()
            ],
            access_ttl_seconds=settings.access_ttl_seconds,
            code_ttl_seconds=settings.code_ttl_seconds,
            consent_user=settings.consent_user,
        )
        self.limiter = RateLimiter(
            settings.token_limit, settings.app_limit, settings.rate_window_seconds
        )
        self.faults = FaultInjector(settings.faults)
        self.tokens = PageTokens(secrets.token_bytes(16))
        self.lapsed: set[int] = set(settings.lapsed_users)
        self.lock = threading.RLock()  # guards the world's clock against concurrent moves
        self.stats: Counter[str] = Counter()
        # Webhook subscriptions and deliveries (sandbox.webhooks); events fire when the clock moves.
        self.webhooks = Webhooks(settings.webhooks, self.world, self.oauth.clients, self.lock)

    def count(self, *keys: str) -> None:
        """Add one to each counter in `keys`."""
        with self.lock:
            self.stats.update(keys)


# --------------------------------------------------------------------------- helpers


def oura_json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A compact JSON response, as Oura sends them."""
    body = orjson.dumps(data)
    return Response(body, status_code=status, headers=headers, media_type="application/json")


class DroppedResponse(Response):
    """Starts a response, sends half the body, then cuts the connection."""

    async def __call__(self, scope, receive, send) -> None:  # noqa: D102
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        await send(
            {
                "type": "http.response.body",
                "body": self.body[: len(self.body) // 2],
                "more_body": True,
            }
        )
        raise ConnectionAbortedError("sandbox fault: connection dropped")


class _QuietDrops(logging.Filter):
    """Keep deliberately dropped connections out of uvicorn's error log."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, ConnectionAbortedError)


logging.getLogger("uvicorn.error").addFilter(_QuietDrops())


def _sandbox(request: Request) -> Sandbox:
    return request.app.state.sandbox


def _local_midnight(world: World, user: int, day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), timezone(world.utc_offset(user, day)))


def _parse_instant(text: str) -> datetime:
    return datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)


def _project(doc: dict, wanted: list[str] | None) -> dict:
    """The `fields` projection. Unknown names are ignored (api-reference §2): when no
    name is a field of the document, it comes back whole."""
    known = [name for name in wanted or () if name in doc]
    if not known:
        return doc
    keep = set(known) | set(ALWAYS_RETURNED)
    return {k: v for k, v in doc.items() if k in keep}


# ------------------------------------------------------------------ the data routes


async def _guarded(request: Request, route: Route | None, handler, demo: bool = False) -> Response:
    """Authentication, faults, rate limits, scope and membership, then `handler`.

    `demo`: a `/v2/sandbox/...` route: any Authorization string is accepted and the
    data are `SANDBOX_ROUTES_USER`'s, with no scope or membership checks.
    """
    sb = _sandbox(request)
    name = request.path_params["name"]
    counter = f"route:sandbox/{name}" if demo else f"route:{name}"
    sb.count("requests", counter)
    if route is None:
        sb.count("status:404")
        return oura_json({"detail": "Not Found"}, 404)
    try:
        grant = (
            _demo_grant(sb, request)
            if demo
            else sb.oauth.authenticate(request.headers.get("authorization"))
        )
    except AuthError as exc:
        sb.count("status:401")
        return oura_json({"detail": exc.detail}, exc.status)
    sb.count(f"user:{grant.user_index}", f"user:{grant.user_index}:{counter}")
    draw = sb.faults.draw(name)
    if draw.delay:
        await asyncio.sleep(draw.delay)
    limited = sb.limiter.hit(grant.token_key, grant.client_id)
    if limited is not None:
        sb.count("status:429", "limited:" + limited.tier)
        return oura_json({"detail": "Rate limit exceeded."}, 429, limited.headers())
    fault = draw.fault
    if fault == "timeout":
        await asyncio.sleep(sb.faults.plan.timeout_seconds)
    if fault == "error_5xx":
        sb.count("status:500", "fault:error_5xx")
        return oura_json({"detail": "Internal Server Error"}, 500)
    if fault == "rate_429":
        return _fault_429(sb)
    denied = None if demo else _denied(sb, route, grant)
    if denied is not None:
        return denied
    try:
        with sb.lock:
            payload = handler(sb, route, grant, request)
    except BadRequest as exc:
        sb.count(f"status:{exc.status}")
        return oura_json(exc.body, exc.status)
    if payload is None:
        sb.count("status:404")
        return oura_json({"detail": "Document not found"}, 404)
    return _deliver(sb, request, payload, fault)


def _fault_429(sb: Sandbox) -> Response:
    """An injected 429 storm: the application tier's answer, with its Retry-After."""
    plan = sb.faults.plan
    now = int(datetime.now(UTC).timestamp())
    headers = {
        "Retry-After": str(plan.retry_after),
        "X-RateLimit-Limit": str(sb.limiter.token_limit),
        "X-RateLimit-Window": str(sb.limiter.window),
        "X-RateLimit-Reset": str(now + plan.retry_after),
        "X-RateLimit-Tier": "application",
    }
    sb.count("status:429", "fault:rate_429")
    return oura_json({"detail": "Rate limit exceeded."}, 429, headers)


def _denied(sb: Sandbox, route: Route, grant: Grant) -> Response | None:
    """The refusal of a token without the route's scope, or of a lapsed membership."""
    if not scope_satisfied(route, grant.scopes):
        sb.count("status:401", "scope_denied")
        return oura_json({"detail": f"Token is not authorized access {route.scope} scope."}, 401)
    if grant.user_index in sb.lapsed:
        sb.count("status:403")
        return oura_json(
            {"detail": "The user's Oura membership has expired; their data is not available."}, 403
        )
    return None


def _deliver(sb: Sandbox, request: Request, payload: Any, fault: str | None) -> Response:
    """Send a 200, unless a body fault was drawn for it."""
    if fault == "repeat_token" and isinstance(payload, dict) and "next_token" in payload:
        sent = request.query_params.get("next_token")
        if sent:
            payload["next_token"] = sent
            sb.count("fault:repeat_token")
    body = orjson.dumps(payload)
    if fault == "drop":
        sb.count("fault:drop")
        return DroppedResponse(body, media_type="application/json")
    if fault == "truncate":
        sb.count("fault:truncate")
        return Response(body[: max(1, len(body) // 2)], media_type="application/json")
    if fault == "malformed":
        sb.count("fault:malformed")
        return Response(
            b"<html><head><title>502 Bad Gateway</title></head><body>bad gateway</body></html>",
            media_type="application/json",
        )
    sb.count("status:200")
    return Response(body, media_type="application/json")


async def collection(request: Request) -> Response:
    """`GET /v2/usercollection/<name>`."""
    route = ROUTES.get(request.path_params["name"])
    return await _guarded(request, route, _list_handler(route))


async def document(request: Request) -> Response:
    """`GET /v2/usercollection/<name>/<document_id>`."""
    route = ROUTES.get(request.path_params["name"])
    if route is not None and not route.single:
        route = None
    return await _guarded(request, route, _single_document)


async def sandbox_collection(request: Request) -> Response:
    """`GET /v2/sandbox/usercollection/<name>` (no personal_info, `fields` or `latest`)."""
    route = SANDBOX_ROUTES.get(request.path_params["name"])
    return await _guarded(request, route, _list_handler(route), demo=True)


async def sandbox_document(request: Request) -> Response:
    """`GET /v2/sandbox/usercollection/<name>/<document_id>`."""
    route = SANDBOX_ROUTES.get(request.path_params["name"])
    if route is not None and not route.single:
        route = None
    return await _guarded(request, route, _single_document, demo=True)


def _list_handler(route: Route | None):
    if route is None:
        return None
    return {
        DOCUMENTS: _list_documents,
        SERIES: _list_series,
        CONFIG: _list_config,
        PERSONAL: _personal,
    }[route.kind]


def _demo_grant(sb: Sandbox, request: Request) -> Grant:
    """Who a `/v2/sandbox/...` request is: anyone with some Authorization string.

    A token of ours keeps its own rate-limit keys (the sandbox routes share the data
    routes' limits); any other string is limited as an application of its own.
    """
    header = (request.headers.get("authorization") or "").strip()
    if not header:
        raise AuthError("Unauthorized")
    try:
        known = sb.oauth.authenticate(header)
    except AuthError:
        return Grant(SANDBOX_ROUTES_USER, frozenset(), ANONYMOUS_CLIENT, token_key(header))
    return Grant(SANDBOX_ROUTES_USER, known.scopes, known.client_id, known.token_key)


def _single_document(sb: Sandbox, route: Route, grant: Grant, request: Request) -> dict | None:
    found = sb.world.find_document(route.name, request.path_params["document_id"])
    if found is None or found[0] != grant.user_index:
        return None
    return found[1]


def _personal(sb: Sandbox, route: Route, grant: Grant, request: Request) -> dict:
    info = dict(sb.world.personal_info(grant.user_index))
    if "personal" not in grant.scopes:
        for key in ("age", "weight", "height", "biological_sex"):
            info[key] = None
    if "email" not in grant.scopes:
        info["email"] = None
    return info


def _list_config(sb: Sandbox, route: Route, grant: Grant, request: Request) -> dict:
    fields = request.query_params.get("fields") if route.fields else None
    wanted = parse_fields(fields)
    docs = [_project(d, wanted) for d in sb.world.ring_configurations(grant.user_index)]
    scope = f"{route.name}|{grant.user_index}|{fields}"
    start = 0
    token = request.query_params.get("next_token")
    if token:
        start = sb.tokens.decode(scope, token)["i"]
    page = docs[start : start + sb.settings.page_size]
    rest = start + len(page)
    next_token = sb.tokens.encode(scope, {"i": rest}) if rest < len(docs) else None
    return {"data": page, "next_token": next_token}


def _list_documents(sb: Sandbox, route: Route, grant: Grant, request: Request) -> dict:
    world, user, q = sb.world, grant.user_index, request.query_params
    values = validated(q, {"start_date": DATE_OR_DATETIME, "end_date": DATE_OR_DATETIME})
    start, end = values["start_date"], values["end_date"]
    fields = q.get("fields") if route.fields else None
    wanted = parse_fields(fields)
    today = world.local_today(user)
    if end is None:
        end = today
    if start is None:
        start = (end.date() if isinstance(end, datetime) else end) - timedelta(days=1)
    lo, hi = _bound(world, user, route, start), _bound(world, user, route, end)
    if lo > hi:
        raise client_error(
            "Start date is greater than end date: start_date must be before end_date."
        )

    scope = f"{route.name}|{user}|{start}|{end}|{fields}"
    first_day = max(lo.date() - timedelta(days=2), world.users[user].history_start)
    last_day = min(hi.date() + timedelta(days=2), today)
    skip = 0
    token = q.get("next_token")
    if token:
        position = sb.tokens.decode(scope, token)
        first_day, skip = date.fromordinal(position["d"]), position["k"]

    page: list[dict] = []
    for day, index, doc in _matching(world, user, route, first_day, last_day, lo, hi):
        if day == first_day and index < skip:
            continue
        if len(page) == sb.settings.page_size:
            return {
                "data": page,
                "next_token": sb.tokens.encode(scope, {"d": day.toordinal(), "k": index}),
            }
        page.append(_project(doc, wanted))
    return {"data": page, "next_token": None}


def _bound(world: World, user: int, route: Route, value: date | datetime) -> datetime:
    day = value.date() if isinstance(value, datetime) else value
    offset = world.utc_offset(user, day) if route.bound_zone == LOCAL else timedelta(0)
    return as_datetime(value, offset)


def _matching(
    world: World, user: int, route: Route, first: date, last: date, lo: datetime, hi: datetime
) -> Iterator[tuple[date, int, dict]]:
    """(day, index within the day, document) for documents whose filter instant is in [lo, hi]."""
    day = first
    while day <= last:
        keyed = []
        for doc in world.documents(user, route.name, day):
            if route.filter_on == "day":
                instant = _local_midnight(
                    world, user, date.fromisoformat(doc.get("day") or doc["start_day"])
                )
            else:
                instant = _parse_instant(doc[route.filter_on])
            if lo <= instant <= hi:
                keyed.append((instant, doc["id"], doc))
        keyed.sort(key=lambda item: (item[0], item[1]))
        for index, (_, _, doc) in enumerate(keyed):
            yield day, index, doc
        day += timedelta(days=1)


def _list_series(sb: Sandbox, route: Route, grant: Grant, request: Request) -> dict:
    world, user, q = sb.world, grant.user_index, request.query_params
    if ("start_date" in q or "end_date" in q) and not (
        "start_datetime" in q or "end_datetime" in q
    ):
        # Observed on Oura: date-only parameters on time-series routes return nothing.
        return {"data": [], "next_token": None}
    parameters = {"start_datetime": DATETIME, "end_datetime": DATETIME}
    if route.latest:
        parameters["latest"] = BOOLEAN
    values = validated(q, parameters)
    start, end = values["start_datetime"], values["end_datetime"]
    latest = bool(values.get("latest"))
    fields = q.get("fields") if route.fields else None
    wanted = parse_fields(fields)
    end = world.now if end is None else as_utc(end)
    start = end - timedelta(days=1) if start is None else as_utc(start)
    if start > end:
        raise client_error("Start datetime is greater than end datetime.")
    if route.max_window_days and end - start > timedelta(days=route.max_window_days):
        raise client_error(
            f"The time range between start_datetime and end_datetime must be "
            f"{route.max_window_days} days or less."
        )
    stop = end + timedelta(microseconds=1)  # end_datetime is inclusive
    if latest:
        last = None
        for row in world.series(user, route.name, start, stop):
            last = row
        return {"data": [_project(last, wanted)] if last else [], "next_token": None}

    scope = f"{route.name}|{user}|{start.isoformat()}|{end.isoformat()}|{fields}"
    skip_at, skip = None, 0
    token = q.get("next_token")
    if token:
        position = sb.tokens.decode(scope, token)
        skip_at, skip = position["t"], position["k"]
        start = datetime.fromtimestamp(skip_at / 1000, UTC)

    page: list[dict] = []
    resumed_skip = skip
    last_ts, trailing = None, 0  # rows at the end of the page sharing its last timestamp
    for row in world.series(user, route.name, start, stop):
        ts = row["timestamp_unix"]
        if ts == skip_at and skip:
            skip -= 1
            continue
        if len(page) == sb.settings.series_page_size:
            k = (trailing if ts == last_ts else 0) + (resumed_skip if ts == skip_at else 0)
            return {"data": page, "next_token": sb.tokens.encode(scope, {"t": ts, "k": k})}
        page.append(_project(row, wanted))
        trailing = trailing + 1 if ts == last_ts else 1
        last_ts = ts
    return {"data": page, "next_token": None}


# ----------------------------------------------------------------- admin routes


async def admin_state(request: Request) -> Response:
    """`GET /_sandbox/state`: clock, users, counters, faults."""
    sb = _sandbox(request)
    with sb.lock:
        world = sb.world
        users = [
            {
                "index": u.index,
                "user_id": u.user_id,
                "history_start": u.history_start.isoformat(),
                "local_today": world.local_today(u.index).isoformat(),
                "lapsed": u.index in sb.lapsed,
            }
            for u in world.users
        ]
        return oura_json(
            {
                "now": world.now.isoformat(),
                "seed": world.seed,
                "users": users,
                "stats": dict(sb.stats),
                "faults": sb.faults.plan.to_dict(),
                "faults_injected": dict(sb.faults.injected),
                "oauth": dict(sb.oauth.stats),
                "rate_limit": {
                    "token_limit": sb.limiter.token_limit,
                    "app_limit": sb.limiter.app_limit,
                    "window_seconds": sb.limiter.window,
                    "rejected": sb.limiter.rejected,
                },
            }
        )


async def admin_clock(request: Request) -> Response:
    """`POST /_sandbox/clock` with `{"now": ISO}` or `{"advance_days": n, "advance_seconds": s}`."""
    sb = _sandbox(request)
    body = await _json_body(request)
    if isinstance(body, Response):
        return body
    with sb.lock:
        before = sb.world.now
        if "now" in body:
            now = _parse_instant(body["now"])
            sb.world.set_now(now if now.tzinfo else now.replace(tzinfo=UTC))
        delta = timedelta(days=body.get("advance_days", 0), seconds=body.get("advance_seconds", 0))
        if delta:
            sb.world.advance(delta)
        sb.webhooks.clock_moved(before)  # documents revised, added or deleted -> webhook events
        return oura_json({"now": sb.world.now.isoformat()})


async def admin_faults(request: Request) -> Response:
    """`GET|POST /_sandbox/faults`: read or replace the fault plan."""
    sb = _sandbox(request)
    if request.method == "POST":
        body = await _json_body(request)
        if isinstance(body, Response):
            return body
        try:
            sb.faults.set_plan(FaultPlan.from_dict(body))
        except (TypeError, ValueError) as exc:
            return oura_json({"detail": str(exc)}, 400)
    return oura_json(sb.faults.plan.to_dict())


async def admin_ratelimit(request: Request) -> Response:
    """`POST /_sandbox/ratelimit` with `{"token_limit", "app_limit", "window_seconds"}`."""
    sb = _sandbox(request)
    body = await _json_body(request)
    if isinstance(body, Response):
        return body
    lim = sb.limiter
    lim.configure(
        int(body.get("token_limit", lim.token_limit)),
        int(body.get("app_limit", lim.app_limit)),
        int(body.get("window_seconds", lim.window)),
    )
    return oura_json(
        {"token_limit": lim.token_limit, "app_limit": lim.app_limit, "window_seconds": lim.window}
    )


async def admin_expire_tokens(request: Request) -> Response:
    """`POST /_sandbox/tokens/expire`: every issued access token expires now."""
    return oura_json({"expired": _sandbox(request).oauth.expire_access_tokens()})


async def admin_membership(request: Request) -> Response:
    """`POST /_sandbox/users/{index}/membership` with `{"lapsed": bool}`."""
    sb = _sandbox(request)
    body = await _json_body(request)
    if isinstance(body, Response):
        return body
    index = int(request.path_params["index"])
    with sb.lock:
        (sb.lapsed.add if body.get("lapsed", True) else sb.lapsed.discard)(index)
    return oura_json({"index": index, "lapsed": index in sb.lapsed})


async def admin_reset_stats(request: Request) -> Response:
    """`POST /_sandbox/stats/reset`: zero the request counters."""
    sb = _sandbox(request)
    with sb.lock:
        sb.stats.clear()
    return oura_json({"ok": True})


async def _json_body(request: Request) -> dict | Response:
    try:
        body = await request.json()
    except ValueError:
        return oura_json({"detail": "body must be JSON"}, 400)
    if not isinstance(body, dict):
        return oura_json({"detail": "body must be a JSON object"}, 400)
    return body


async def not_found(request: Request, exc: Exception) -> Response:
    """Unknown paths answer like FastAPI does."""
    return oura_json({"detail": "Not Found"}, 404)


def create_app(settings: SandboxSettings | None = None) -> Starlette:
    """The sandbox as an ASGI app; its state is at `app.state.sandbox`."""
    sandbox = Sandbox(settings or SandboxSettings())
    routes = [
        HttpRoute(f"{V2}/{{name}}", collection, methods=["GET"]),
        HttpRoute(f"{V2}/{{name}}/{{document_id}}", document, methods=["GET"]),
        HttpRoute(f"{V2_SANDBOX}/{{name}}", sandbox_collection, methods=["GET"]),
        HttpRoute(f"{V2_SANDBOX}/{{name}}/{{document_id}}", sandbox_document, methods=["GET"]),
        *sandbox.oauth.routes(),
        *sandbox.webhooks.routes(),
        HttpRoute("/_sandbox/state", admin_state, methods=["GET"]),
        HttpRoute("/_sandbox/clock", admin_clock, methods=["POST"]),
        HttpRoute("/_sandbox/faults", admin_faults, methods=["GET", "POST"]),
        HttpRoute("/_sandbox/ratelimit", admin_ratelimit, methods=["POST"]),
        HttpRoute("/_sandbox/tokens/expire", admin_expire_tokens, methods=["POST"]),
        HttpRoute("/_sandbox/users/{index:int}/membership", admin_membership, methods=["POST"]),
        HttpRoute("/_sandbox/stats/reset", admin_reset_stats, methods=["POST"]),
    ]
    app = Starlette(routes=routes, exception_handlers={404: not_found})
    app.state.sandbox = sandbox
    return app
