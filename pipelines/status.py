"""Is my data complete? Per person: the last load, freshness and the nights without a main sleep.

`read_status` answers `oura-elt status` and the nightly flow's staleness check. It reads
only the warehouse: the loader's records of completed loads (`_oura_load_progress` joined
with dlt's `_dlt_loads`), and the marts `data_freshness` and `data_coverage`; it calls no
API. "Now" is the caller's, by default the clock or `OURA_ELT_NOW`.

A person's data age is measured from the last time their ring reported
(`data_coverage.ring_last_contact_at`: the newest heart-rate or battery sample, else the
end of the newest sleep period), which moves even on days without a sleep document.
"""

from __future__ import annotations

import re
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from pipelines.core.clock import current_time
from pipelines.core.errors import OuraEltError, UsageError
from pipelines.core.target import RAW_DATASET, duckdb_file

# The loader's and dlt's bookkeeping tables (`pipelines.oura.settings.PROGRESS_TABLE`,
# `pipelines.people.tables.LOADS_TABLE`/`STATE_TABLE`), named here because importing those
# modules loads dlt (seconds) and the status is for cron and monitoring; a test keeps
# these in agreement with them.
PROGRESS_TABLE = "_oura_load_progress"
LOADS_TABLE = "_dlt_loads"
STATE_TABLE = "_dlt_pipeline_state"
DEFAULT_DAYS = 30
SLEEP_STATUSES = ("present", "not_synced_yet", "not_worn", "no_record")
STATUS_MARTS = ("data_freshness", "data_coverage")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str, option: str = "--max-age") -> timedelta:
    """`36h`, `2d`, `90m`, `1d12h`, `45s` or `1w` as a duration.

    Raises:
        UsageError: anything else, or zero.
    """
    cleaned = text.strip().replace(" ", "")
    parts = _DURATION.findall(cleaned)
    if not cleaned or "".join(n + u for n, u in parts).lower() != cleaned.lower():
        raise UsageError(f"{option} {text!r} is not a duration; use e.g. 36h, 2d, 90m or 1d12h")
    seconds = sum(float(number) * _UNIT_SECONDS[unit.lower()] for number, unit in parts)
    if seconds <= 0:
        raise UsageError(f"{option} {text!r} must be longer than zero")
    return timedelta(seconds=seconds)


@dataclass(frozen=True)
class LoadRun:
    """The last completed `oura-elt load` run of a person (all its committed chunks).

    Attributes:
        loaded_at: the run's instant.
        start_date: first day it read (any collection).
        end_date: last day it read.
        collections: the collections it read.
        not_read: collections an earlier completed run read but this one did not (a
            collection that failed, lacked its scope, or was left out with --collections).
    """

    loaded_at: datetime
    start_date: date
    end_date: date
    collections: tuple[str, ...]
    not_read: tuple[str, ...] = ()

    @property
    def result(self) -> str:
        """`complete`, or `partial` when it read fewer collections than earlier runs."""
        return "partial" if self.not_read else "complete"


@dataclass(frozen=True)
class CollectionFreshness:
    """One collection of one person (a `data_freshness` row), aged at the status's "now".

    Attributes:
        collection: the collection (the loader's table name).
        documents: documents (samples) stored.
        newest_date: Oura's day of the newest document.
        newest_at: its instant, for documents that carry one (else None).
        age_seconds: from `newest_at` to now (None without an instant).
        last_loaded_at: the last completed load that read the collection.
        loaded_through: the last day completed loads read.
    """

    collection: str
    documents: int
    newest_date: date | None
    newest_at: datetime | None
    age_seconds: float | None
    last_loaded_at: datetime | None
    loaded_through: date | None


@dataclass(frozen=True)
class NightGap:
    """A day without a main sleep (a `data_coverage` row), with its evidence.

    Attributes:
        day: the local day (the night's wake-up day).
        sleep_status: not_synced_yet, not_worn or no_record.
        worn_at_night: whether the evidence says the ring was worn that night.
        night_rest_samples: heart-rate samples labelled rest or sleep in the night.
        night_non_wear_share: share of the night's 5-minute activity classes that are non-wear.
    """

    day: date
    sleep_status: str
    worn_at_night: bool
    night_rest_samples: int
    night_non_wear_share: float | None


@dataclass
class PersonStatus:
    """Everything `oura-elt status` says about one person.

    Attributes:
        profile: the saved login's (or loader pipeline's) profile name, if known.
        user_id: Oura user id (None: a login that never loaded).
        ring_last_contact_at: the last time the ring reported (None: no data).
        age_seconds: from `ring_last_contact_at` to now (None: no data).
        stale: older than the maximum age (None: no maximum given).
        last_load: the last completed load run (None: never loaded).
        freshness: per collection, newest documents first.
        nights: days per sleep status in the window (`days` days up to the last covered day).
        night_gaps: the window's days without a main sleep, newest first.
        first_day: first day of the window.
        last_day: last day of the window (the last day `data_coverage` covers).
    """

    profile: str | None
    user_id: str | None
    ring_last_contact_at: datetime | None = None
    age_seconds: float | None = None
    stale: bool | None = None
    last_load: LoadRun | None = None
    freshness: list[CollectionFreshness] = field(default_factory=list)
    nights: dict[str, int] = field(default_factory=dict)
    night_gaps: list[NightGap] = field(default_factory=list)
    first_day: date | None = None
    last_day: date | None = None

    @property
    def label(self) -> str:
        """The profile, else the user id."""
        return self.profile or self.user_id or "?"


@dataclass
class WarehouseStatus:
    """The status of every person in a warehouse.

    Attributes:
        where: the DuckDB file.
        now: the instant ages are measured to.
        max_age_seconds: the staleness threshold (None: not checked).
        days: the window of nights listed.
        marts_built_at: "now" of the build that made the marts.
        people: one entry per person, by profile then user id.
    """

    where: str
    now: datetime
    max_age_seconds: float | None
    days: int
    marts_built_at: datetime | None
    people: list[PersonStatus] = field(default_factory=list)

    @property
    def stale(self) -> list[PersonStatus]:
        """The people whose data is older than the maximum age."""
        return [person for person in self.people if person.stale]

    @property
    def marts_behind_loads(self) -> bool:
        """A load completed after the marts were built: run `oura-elt transform`."""
        loads = [p.last_load.loaded_at for p in self.people if p.last_load]
        return bool(loads and self.marts_built_at and max(loads) > self.marts_built_at)


def read_status(
    duckdb_path: Path | str | None = None,
    *,
    now: datetime | None = None,
    max_age: timedelta | None = None,
    profile: str | None = None,
    days: int = DEFAULT_DAYS,
    dataset: str = RAW_DATASET,
) -> WarehouseStatus:
    """The status of the people in a DuckDB warehouse, from the marts and load records.

    Args:
        duckdb_path: DuckDB file (default `pipelines.core.target.duckdb_file()`).
        now: the instant to measure ages to (default: the clock, or `OURA_ELT_NOW`).
        max_age: data older than this is stale (default: not checked).
        profile: only this profile (or Oura user id).
        days: nights of the last `days` days are listed.
        dataset: the raw dataset (schema).

    Raises:
        UsageError: no warehouse file, a bad `days`, or an unknown profile.
        WarehouseInUse: another program is writing the file (`pipelines.core.warehouse_file`).
        OuraEltError: the marts `data_freshness`/`data_coverage` are not built.
    """
    from pipelines.transform import marts_schema

    if days < 1:
        raise UsageError(f"--days must be 1 or more, not {days}")
    path = duckdb_file(duckdb_path)
    if not path.is_file():
        raise UsageError(
            f"no warehouse at {path}; load data first with: oura-elt load --duckdb {path}"
        )
    now = (now or current_time()).astimezone(UTC)
    marts = marts_schema()
    from pipelines.core.warehouse_file import connect

    with closing(connect(path, read_only=True)) as con:
        con.execute("SET TimeZone = 'UTC'")
        _require_marts(con, marts, path)
        raw = _raw_tables(con, dataset)
        people = _people(con, marts, _saved_logins(), _pipeline_profiles(con, dataset, raw))
        if profile is not None:
            people = _chosen(people, profile, path)
        runs = _last_runs(con, dataset, raw)
        built = con.execute(f"select max(checked_at) from {marts}.data_freshness").fetchone()[0]
        status = WarehouseStatus(
            str(path), now, max_age.total_seconds() if max_age else None, days, built
        )
        for person in people:
            if person.user_id:
                person.last_load = runs.get(person.user_id)
                _fill_freshness(con, marts, person, now)
                _fill_nights(con, marts, person, days)
            if max_age is not None:
                age, limit = person.age_seconds, max_age.total_seconds()
                person.stale = age is None or age > limit
            status.people.append(person)
    return status


# ----------------------------------------------------------------------------- reading


def _require_marts(con: Any, marts: str, path: Path) -> None:
    found = {
        name
        for (name,) in con.execute(
            "select table_name from information_schema.tables where table_schema = ?", [marts]
        ).fetchall()
    }
    missing = [name for name in STATUS_MARTS if name not in found]
    if missing:
        raise OuraEltError(
            f"the marts are not built in {path} (no {marts}.{missing[0]}); "
            f"build them with: oura-elt transform --duckdb {path}"
        )


def _raw_tables(con: Any, dataset: str) -> set[str]:
    return {
        name
        for (name,) in con.execute(
            "select table_name from information_schema.tables where table_schema = ?", [dataset]
        ).fetchall()
    }


def _saved_logins() -> list[tuple[str, str | None]]:
    """(profile, user id) of every saved login (the token files; no network)."""
    from pipelines.auth.store import TokenStore, list_profiles

    logins = []
    for name in list_profiles():
        try:
            record = TokenStore(name).load()
        except OuraEltError:
            record = None  # unreadable: `oura-elt users` says why
        logins.append((name, record.user_id if record else None))
    return logins


def _pipeline_profiles(con: Any, dataset: str, raw: set[str]) -> dict[str, str]:
    """A profile name per user id from the loader's pipelines (`oura_<profile>`), whose
    state rows share a load id with the loader's records."""
    if not {STATE_TABLE, PROGRESS_TABLE} <= raw:
        return {}
    rows = con.execute(
        f'select distinct s.pipeline_name, p.user_id from "{dataset}".{STATE_TABLE} as s '
        f'join "{dataset}".{PROGRESS_TABLE} as p on p._dlt_load_id = s._dlt_load_id'
    ).fetchall()
    names: dict[str, str] = {}
    for pipeline, user_id in sorted(rows):
        names.setdefault(user_id, pipeline.removeprefix("oura_"))
    return names


def _people(
    con: Any, marts: str, logins: list[tuple[str, str | None]], names: dict[str, str]
) -> list[PersonStatus]:
    """Saved logins (with or without data), then everyone else the marts know."""
    people: list[PersonStatus] = []
    seen: set[str] = set()
    for profile, user_id in logins:
        if user_id is None:  # a login saved before its user id was known: the loads know it
            user_id = next((u for u, name in names.items() if name == profile), None)
        people.append(PersonStatus(profile, user_id))
        if user_id:
            seen.add(user_id)
    rows = con.execute(
        f"select user_id from {marts}.data_freshness "
        f"union select user_id from {marts}.data_coverage"
    ).fetchall()
    others = sorted({user_id for (user_id,) in rows} - seen)
    people += [PersonStatus(names.get(user_id), user_id) for user_id in others]
    return sorted(people, key=lambda p: (p.profile is None, p.profile or "", p.user_id or ""))


def _chosen(people: list[PersonStatus], profile: str, path: Path) -> list[PersonStatus]:
    chosen = [p for p in people if profile in (p.profile, p.user_id)]
    if not chosen:
        known = ", ".join(p.label for p in people) or "nobody"
        raise UsageError(f"no profile or user id {profile!r} in {path}; the warehouse has: {known}")
    return chosen


def _last_runs(con: Any, dataset: str, raw: set[str]) -> dict[str, LoadRun]:
    """Per user id, the last completed load run and the collections earlier runs read."""
    if not {PROGRESS_TABLE, LOADS_TABLE} <= raw:
        return {}
    rows = con.execute(
        "select p.user_id, p.loaded_at, p.collection, min(p.start_day), max(p.end_day) "
        f'from "{dataset}".{PROGRESS_TABLE} as p join "{dataset}".{LOADS_TABLE} as l '
        "on l.load_id = p._dlt_load_id and l.status = 0 group by 1, 2, 3"
    ).fetchall()
    by_user: dict[str, dict[datetime, list[tuple[str, date, date]]]] = {}
    for user_id, loaded_at, collection, first, last in rows:
        by_user.setdefault(user_id, {}).setdefault(loaded_at, []).append((collection, first, last))
    found: dict[str, LoadRun] = {}
    for user_id, runs in by_user.items():
        latest = max(runs)
        read = runs[latest]
        ever = {name for parts in runs.values() for name, _, _ in parts}
        names = tuple(sorted(name for name, _, _ in read))
        found[user_id] = LoadRun(
            loaded_at=latest.astimezone(UTC),
            start_date=min(first for _, first, _ in read),
            end_date=max(last for _, _, last in read),
            collections=names,
            not_read=tuple(sorted(ever - set(names))),
        )
    return found


def _fill_freshness(con: Any, marts: str, person: PersonStatus, now: datetime) -> None:
    rows = con.execute(
        "select collection_name, document_count, newest_document_date, newest_document_at, "
        f"last_loaded_at, loaded_through_date from {marts}.data_freshness where user_id = ? "
        "order by newest_document_at is null, newest_document_at desc, "
        "newest_document_date desc nulls last, collection_name",
        [person.user_id],
    ).fetchall()
    for name, documents, newest_date, newest_at, loaded_at, through in rows:
        person.freshness.append(
            CollectionFreshness(
                collection=name,
                documents=int(documents),
                newest_date=newest_date,
                newest_at=_utc(newest_at),
                age_seconds=_age(newest_at, now),
                last_loaded_at=_utc(loaded_at),
                loaded_through=through,
            )
        )
    contact = con.execute(
        f"select max(ring_last_contact_at) from {marts}.data_coverage where user_id = ?",
        [person.user_id],
    ).fetchone()[0]
    person.ring_last_contact_at = _utc(contact)
    person.age_seconds = _age(contact, now)


def _fill_nights(con: Any, marts: str, person: PersonStatus, days: int) -> None:
    rows = con.execute(
        "with window_days as (select * from "
        f"{marts}.data_coverage where user_id = ? qualify coverage_date > "
        "max(coverage_date) over () - cast(? as integer)) "
        "select coverage_date, sleep_status, is_worn_at_night, "
        "night_rest_heart_rate_sample_count, night_non_wear_share from window_days "
        "order by coverage_date desc",
        [person.user_id, days],
    ).fetchall()
    if not rows:
        return
    person.last_day, person.first_day = rows[0][0], rows[-1][0]
    person.nights = {status: 0 for status in SLEEP_STATUSES}
    for day, status, worn, rest, non_wear in rows:
        person.nights[status] = person.nights.get(status, 0) + 1
        if status != "present":
            person.night_gaps.append(NightGap(day, status, bool(worn), int(rest or 0), non_wear))


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _age(moment: datetime | None, now: datetime) -> float | None:
    moment = _utc(moment)
    return None if moment is None else (now - moment).total_seconds()
