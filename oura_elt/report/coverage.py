"""The report's coverage strip: one cell per day, coloured by why the night is there or not.

Read from the `data_coverage` mart (`sleep_status`: present, not_synced_yet, not_worn,
no_record). Days of the report's range the mart does not cover (before the person's first
day, after their last load) are `none`. A warehouse built before the mart existed has no
strip: `strip` returns None.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from oura_elt.report.marts import SCHEMA

STATUSES = ("present", "not_synced_yet", "not_worn", "no_record")
LABELS = {
    "present": "sleep recorded",
    "not_synced_yet": "not synced yet",
    "not_worn": "ring not worn",
    "no_record": "worn, no sleep recorded",
    "none": "no data",
}


@dataclass(frozen=True)
class CoverageDay:
    """One cell: a day and its sleep status (`none` outside the person's coverage)."""

    day: date
    status: str

    @property
    def label(self) -> str:
        """What the cell's colour means, in words."""
        return LABELS[self.status]


@dataclass
class CoverageStrip:
    """A person's days in the report's range and how many have each status."""

    user_id: str
    days: list[CoverageDay]
    counts: dict[str, int] = field(default_factory=dict)


def strip(con: Any, user_id: str, first: date, last: date) -> CoverageStrip | None:
    """The person's strip from `first` to `last` (None: no `data_coverage` mart)."""
    built = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? "
        "and table_name = 'data_coverage'",
        [SCHEMA],
    ).fetchone()[0]
    if not built:
        return None
    known = dict(
        con.execute(
            f"select coverage_date, sleep_status from {SCHEMA}.data_coverage "
            "where user_id = ? and coverage_date between ? and ?",
            [user_id, first, last],
        ).fetchall()
    )
    days = [
        CoverageDay(day, known.get(day, "none"))
        for day in (first + timedelta(days=n) for n in range((last - first).days + 1))
    ]
    counts = {status: sum(d.status == status for d in days) for status in STATUSES}
    return CoverageStrip(user_id, days, counts)
