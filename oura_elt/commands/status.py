"""`oura-elt status`: is my data complete? Per profile: the last load, freshness per
collection, and the recent days without a main sleep, with why.

It reads the warehouse only (`pipelines.status.read_status`): no API call. With
`--max-age` it exits 3 when anyone's data is older, for cron and alerting.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from oura_elt.commands.options import DuckdbOpt
from oura_elt.console import console, duration

if TYPE_CHECKING:
    from pipelines.status import CollectionFreshness, NightGap, PersonStatus, WarehouseStatus

STALE_EXIT_CODE = 3
_SHOWN_GAPS = 10  # days without a main sleep listed per person in text (JSON has them all)
_WHY = {
    "not_synced_yet": "nothing from the ring since before the night was over; it may still arrive",
    "not_worn": "the ring was off that night",
    "no_record": "worn ({rest} resting heart-rate samples), but Oura holds no sleep",
}


def status(
    duckdb_path: DuckdbOpt = None,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile", "-p", metavar="NAME", help="Only this profile (or Oura user id)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON, for monitoring.")] = False,
    max_age: Annotated[
        str | None,
        typer.Option(
            "--max-age",
            metavar="AGE",
            help="Exit with status 3 when anyone's newest data is older than this "
            "(e.g. 36h, 2d, 90m); people without data count as too old.",
        ),
    ] = None,
    days: Annotated[
        int,
        typer.Option(
            "--days",
            metavar="DAYS",
            help="Days back to count and list nights without a main sleep.",
        ),
    ] = 30,
) -> None:
    """Show, per profile, the last load (when, days, result), how fresh each collection is,
    and the days of the last 30 without a main sleep with why: not_worn, no_record or
    not_synced_yet.

    Reads the marts (run oura-elt transform first) and the loader's records; calls no API.
    "Now" is the clock, or OURA_ELT_NOW.
    """
    from pipelines.status import parse_duration, read_status

    limit = parse_duration(max_age) if max_age is not None else None
    report = read_status(duckdb_path, max_age=limit, profile=profile, days=days)
    if as_json:
        print(json.dumps(_as_json(report), indent=2, default=_json_value))
    else:
        _print(report)
    if report.stale:
        raise typer.Exit(STALE_EXIT_CODE)


# ----------------------------------------------------------------------------- text


def _say(text: str = "") -> None:
    console.print(text, markup=False, soft_wrap=True, highlight=False)


def _print(report: WarehouseStatus) -> None:
    limit = f"; stale after {_limit(report.max_age_seconds)}" if report.max_age_seconds else ""
    _say(f"Data status at {_utc(report.now)} ({report.where}){limit}")
    if report.marts_behind_loads:
        _say(
            "note: a load finished after the marts were built; run oura-elt transform for "
            "the freshness and nights of its data"
        )
    if not report.people:
        _say("No one in the warehouse. Add someone: oura-elt auth login --profile NAME")
    for person in report.people:
        _say()
        _print_person(person, report)


def _print_person(person: PersonStatus, report: WarehouseStatus) -> None:
    _say(f"{person.label}  {person.user_id or 'user id unknown'}  {_verdict(person, report)}")
    run = person.last_load
    if run is None:
        _say("  last load   never (oura-elt load --profile " + (person.profile or "NAME") + ")")
    else:
        what = f"{len(run.collections)} collections, {run.result}"
        if run.not_read:
            what += f" (not read: {', '.join(run.not_read)})"
        days = f"days {run.start_date} .. {run.end_date}"
        _say(f"  last load   {_utc(run.loaded_at)}, {days}, {what}")
    if person.freshness:
        _say("  freshness   collection                  newest                age        documents")
        for item in person.freshness:
            _say(f"              {_freshness_line(item)}")
    if person.nights:
        counts = ", ".join(f"{n} {s}" for s, n in person.nights.items() if n)
        _say(f"  nights      {person.first_day} .. {person.last_day}: {counts}")
        for gap in person.night_gaps[:_SHOWN_GAPS]:
            _say(f"              {gap.day}  {gap.sleep_status:<15} {_why(gap)}")
        hidden = len(person.night_gaps) - _SHOWN_GAPS
        if hidden > 0:
            _say(f"              ... and {hidden} more (--json lists them all)")


def _verdict(person: PersonStatus, report: WarehouseStatus) -> str:
    if person.ring_last_contact_at is None or person.age_seconds is None:
        return "STALE: no data" if person.stale else "no data"
    when = _utc(person.ring_last_contact_at)
    age = f"the ring last reported {duration(person.age_seconds)} ago ({when})"
    if person.stale:
        return f"STALE: {age}, more than {_limit(report.max_age_seconds or 0)}"
    return f"fresh: {age}" if person.stale is False else age


def _freshness_line(item: CollectionFreshness) -> str:
    if item.newest_at is not None:
        newest, age = _utc(item.newest_at), duration(item.age_seconds or 0)
    elif item.newest_date is not None:
        newest, age = f"{item.newest_date} (day)", ""
    else:
        newest, age = "none", ""
    return f"{item.collection:<27} {newest:<21} {age:<10} {item.documents:,}"


def _why(gap: NightGap) -> str:
    return _WHY[gap.sleep_status].format(rest=gap.night_rest_samples)


def _limit(seconds: float) -> str:
    """The maximum age as it was probably given: whole hours, else a duration."""
    hours = seconds / 3600
    return f"{hours:g} h" if hours == int(hours) else duration(seconds)


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


# ----------------------------------------------------------------------------- JSON


def _as_json(report: WarehouseStatus) -> dict:
    return {
        "now": report.now,
        "warehouse": report.where,
        "max_age_seconds": report.max_age_seconds,
        "days": report.days,
        "marts_built_at": report.marts_built_at,
        "marts_behind_loads": report.marts_behind_loads,
        "stale": [person.label for person in report.stale],
        "people": [
            {
                **asdict(person),
                "last_load": (
                    {**asdict(person.last_load), "result": person.last_load.result}
                    if person.last_load
                    else None
                ),
            }
            for person in report.people
        ],
    }


def _json_value(value: object) -> str:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise TypeError(type(value).__name__)
