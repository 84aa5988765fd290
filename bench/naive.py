"""The baseline most personal scripts are: sequential, one day per request, plain
`requests`, rows inserted into DuckDB as they come.

It is written the way such scripts usually are (a loop over days and routes), with
just enough care to be a fair comparison: it pads each day to `[d, d + 1]` so the
exclusive routes do not come back empty, follows `next_token`, and upserts on the
document id so that the padding does not duplicate rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import duckdb
import requests

DAILY_ROUTES = (
    "daily_activity",
    "daily_readiness",
    "daily_sleep",
    "sleep",
    "sleep_time",
    "daily_spo2",
    "daily_stress",
    "daily_resilience",
    "daily_cardiovascular_age",
    "vO2_max",
    "workout",
    "session",
    "tag",
    "enhanced_tag",
    "rest_mode_period",
)
SERIES_ROUTES = ("heartrate", "ring_battery_level")


@dataclass
class NaiveResult:
    """What the naive loader did."""

    requests: int
    documents: int
    seconds: float


def naive_load(base_url: str, token: str, start: date, end: date, db_path: Path) -> NaiveResult:
    """Load [start, end] day by day, route by route, one request at a time."""
    import time as clock

    t0 = clock.perf_counter()
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    con = duckdb.connect(str(db_path))
    con.execute(
        "CREATE TABLE IF NOT EXISTS docs "
        "(route TEXT, id TEXT, day TEXT, doc JSON, PRIMARY KEY (route, id))"
    )
    con.execute("CREATE TABLE IF NOT EXISTS samples (route TEXT, ts TEXT, doc JSON)")
    n_requests = 0

    def get_all(route: str, params: dict) -> list[dict]:
        nonlocal n_requests
        rows: list[dict] = []
        while True:
            resp = session.get(f"{base_url}/v2/usercollection/{route}", params=params, timeout=60)
            n_requests += 1
            resp.raise_for_status()
            body = resp.json()
            rows.extend(body["data"])
            if not body.get("next_token"):
                return rows
            params = {**params, "next_token": body["next_token"]}

    day = start
    while day <= end:
        for route in DAILY_ROUTES:
            for doc in get_all(
                route,
                {"start_date": day.isoformat(), "end_date": (day + timedelta(days=1)).isoformat()},
            ):
                con.execute(
                    "INSERT OR REPLACE INTO docs VALUES (?, ?, ?, ?)",
                    [route, doc["id"], doc.get("day") or doc.get("start_day"), json.dumps(doc)],
                )
        lo = datetime.combine(day, time(), UTC)
        for route in SERIES_ROUTES:
            rows = get_all(
                route,
                {
                    "start_datetime": lo.isoformat(),
                    "end_datetime": (lo + timedelta(days=1)).isoformat(),
                },
            )
            for row in rows:
                con.execute(
                    "INSERT INTO samples VALUES (?, ?, ?)",
                    [route, row["timestamp"], json.dumps(row)],
                )
        day += timedelta(days=1)
    documents = con.execute(
        "SELECT (SELECT count(*) FROM docs) + (SELECT count(*) FROM samples)"
    ).fetchone()[0]
    con.close()
    return NaiveResult(n_requests, documents, clock.perf_counter() - t0)
