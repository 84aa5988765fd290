"""`write_report(...)`: read the marts, draw the charts, write one HTML file."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from oura_elt.report import charts, coverage, queries
from oura_elt.report.marts import SCHEMA, Person, choose, open_marts, people, resolve_warehouse
from oura_elt.report.render import figure_html, render, write_atomically
from pipelines.core.errors import UsageError

DEFAULT_DAYS = 90
MIN_DAYS = 7  # a rolling week and a weekly summary need one
MAX_DAYS = 36_500
REPORT_NAME = "oura-report.html"


@dataclass
class Metric:
    """One number at the top of a person's section (`data-metric` in the page)."""

    key: str
    label: str
    value: str
    unit: str = ""
    day: date | None = None
    when: str = ""


@dataclass
class PersonSection:
    """Everything the template shows for one person."""

    person: Person
    anchor: str
    headline: queries.Headline
    metrics: list[Metric] = field(default_factory=list)
    charts: dict[str, str] = field(default_factory=dict)
    weekly: list[dict[str, Any]] = field(default_factory=list)
    relationships: list[dict[str, Any]] = field(default_factory=list)
    night: queries.Night | None = None
    night_title: str = ""
    night_note: str = ""
    day: queries.DayHeartRate | None = None
    coverage: coverage.CoverageStrip | None = None


def default_out(duckdb_path: Path) -> Path:
    """`oura-report.html` beside the warehouse file."""
    return duckdb_path.parent / REPORT_NAME


def write_report(
    duckdb_path: Path | str | None,
    out: Path | str | None = None,
    profile: str | None = None,
    days: int = DEFAULT_DAYS,
    night: date | None = None,
) -> Path:
    """Write the HTML report of a built warehouse and return its path.

    The range is the `days` days that end on the latest day with data of the people
    shown. With several people in the warehouse and no `profile`, the report opens
    with an overview of everyone, then has one section per person.

    Args:
        duckdb_path: the DuckDB warehouse (default: `OURA_DUCKDB_PATH`, else
            `data/oura.duckdb`).
        out: the HTML file to write, or an existing folder to write `oura-report.html`
            into (default: `oura-report.html` beside the warehouse).
        profile: only this profile (as loaded with `--profile`) or Oura user id.
        days: length of the range in days (7 to 36500).
        night: the night (its wake-up day) whose hypnogram to show (default: the latest
            night in the range with one).

    Returns:
        The path written.

    Raises:
        UsageError: bad `days`, an unknown profile, no hypnogram for `night`, no warehouse.
        OuraEltError: marts not built, the warehouse unreadable, no data, `out` unwritable.
    """
    _check_days(days)
    where = resolve_warehouse(duckdb_path)
    target = Path(out).expanduser() if out is not None else default_out(where)
    if target.is_dir():
        target = target / REPORT_NAME

    with open_marts(where) as con:
        chosen = choose(people(con), profile, where)
        last = max(person.last_day for person in chosen)
        first = last - timedelta(days=days - 1)
        sections = [
            _section(con, person, index, first, last, night)
            for index, person in enumerate(chosen, 1)
        ]
        if night is not None and not any(section.night for section in sections):
            who = f"profile {profile!r}" if profile else "anyone in the warehouse"
            raise UsageError(
                f"no hypnogram of the night of {night} for {who}; leave out --night for the latest"
            )
        overview = _overview(con, chosen, first, last) if len(chosen) > 1 else None

    html = _page(chosen, sections, overview, where.name, first, last, days)
    return write_atomically(html, target)


def _page(
    chosen: list[Person],
    sections: list[PersonSection],
    overview: dict[str, str] | None,
    source: str,
    first: date,
    last: date,
    days: int,
) -> str:
    """The report's HTML: the template rendered with the range, the sections and the overview."""
    return render(
        {
            "title": "Oura report" if len(chosen) > 1 else f"Oura report: {chosen[0].label}",
            "version": _version(),
            "first": first,
            "last": last,
            "days": days,
            "generated": datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
            "source": source,
            "schema": SCHEMA,
            "people": sections,
            "overview": overview,
            "rolling_min": queries.ROLLING_MIN_DAYS,
            "coverage_labels": coverage.LABELS,
            "coverage_statuses": coverage.STATUSES,
        }
    )


def _check_days(days: object) -> None:
    """`days`: a whole number from MIN_DAYS to MAX_DAYS (a bool is not one)."""
    if isinstance(days, bool) or not isinstance(days, int) or not MIN_DAYS <= days <= MAX_DAYS:
        raise UsageError(
            f"--days must be a whole number from {MIN_DAYS} to {MAX_DAYS}, not {days!r}"
        )


def _overview(con: Any, chosen: list[Person], first: date, last: date) -> dict[str, str]:
    """The cohort chart that opens a report of several people."""
    labels = {person.user_id: person.label for person in chosen}
    series = queries.cohort(con, list(labels), first, last)
    return {"chart": figure_html(charts.cohort(series, labels), "overview-cohort", "cohort")}


def _section(
    con: Any, person: Person, index: int, first: date, last: date, night: date | None
) -> PersonSection:
    anchor = f"person-{index}"
    section = PersonSection(person, anchor, queries.headline(con, person.user_id, first, last))
    section.coverage = coverage.strip(con, person.user_id, first, last)
    if not section.headline.days_with_data:
        return section
    section.metrics = _metrics(section.headline)
    daily = queries.daily(con, person.user_id, first, last)
    section.charts["scores"] = figure_html(charts.scores(daily), f"{anchor}-scores", "scores")
    section.charts["hrv"] = figure_html(charts.hrv_and_heart_rate(daily), f"{anchor}-hrv", "hrv")
    section.charts["timing"] = figure_html(charts.sleep_timing(daily), f"{anchor}-timing", "timing")
    _night(con, section, first, last, night)
    section.weekly = queries.weekly(con, person.user_id, first, last)
    for rel in queries.relationships(con, person.user_id, first, last):
        section.relationships.append(
            {
                "key": rel.key,
                "title": rel.title,
                "r": rel.r,
                "n": rel.n,
                "strength": strength(rel.r),
                "chart": figure_html(
                    charts.relationship(rel), f"{anchor}-{rel.key}", "relationship"
                ),
            }
        )
    return section


def _night(con: Any, section: PersonSection, first: date, last: date, wanted: date | None) -> None:
    user_id, anchor = section.person.user_id, section.anchor
    if wanted is None:
        nights = queries.nights_with_epochs(con, user_id, first, last)
        chosen = nights[-1] if nights else None
    else:
        chosen = wanted
    section.night_title = _long_day(chosen) if chosen else "–"
    found = queries.night(con, user_id, chosen) if chosen else None
    if found is None:
        section.night_note = (
            f"No hypnogram of the night of {chosen} in the warehouse."
            if chosen
            else "No night in this range has a hypnogram (sleep phases)."
        )
        return
    section.night = found
    section.charts["hypnogram"] = figure_html(
        charts.hypnogram(found), f"{anchor}-hypnogram", "hypnogram"
    )
    # The day before the wake-up day: the whole day that led into this night.
    section.day = queries.day_heart_rate(
        con, user_id, found.sleep_date - timedelta(days=1), found.utc_offset
    )
    section.charts["day"] = figure_html(
        charts.day_heart_rate(section.day), f"{anchor}-day", "day-heart-rate"
    )


def _metrics(headline: queries.Headline) -> list[Metric]:
    metrics = []
    for key, label, unit in (
        ("sleep-score", "Sleep", ""),
        ("readiness-score", "Readiness", ""),
        ("activity-score", "Activity", ""),
        ("hrv", "HRV", "ms"),
        ("lowest-heart-rate", "Lowest HR", "bpm"),
    ):
        if key in headline.latest:
            value, day = headline.latest[key]
            metrics.append(
                Metric(f"latest-{key}", label, f"{round(value):d}", unit, day, _short_day(day))
            )
    averages, timing = headline.averages, headline.sleep_timing
    if averages.get("sleep_hours") is not None:
        metrics.append(
            Metric(
                "average-sleep-hours",
                "Asleep",
                f"{averages['sleep_hours']:.1f}",
                "h",
                when="per night, average",
            )
        )
    for key, label, column in (
        ("bedtime-variation", "Bedtime", "bedtime_sd_minutes"),
        ("wake-variation", "Wake-up", "wake_sd_minutes"),
    ):
        if timing.get(column) is not None:
            metrics.append(
                Metric(key, label, f"±{timing[column]:.0f}", "min", when="standard deviation")
            )
    return metrics


def strength(r: float | None) -> str:
    """Words for the size of a correlation coefficient (Cohen's rough bands)."""
    if r is None:
        return "unknown"
    size = abs(r)
    if size < 0.1:
        return "negligible"
    word = "weak" if size < 0.3 else "moderate" if size < 0.5 else "strong"
    return f"{word}, {'positive' if r > 0 else 'negative'}"


def _short_day(day: date) -> str:
    return day.strftime("%a %-d %b")


def _long_day(day: date) -> str:
    return day.strftime("%A %-d %B %Y")


def _version() -> str:
    from pipelines.core.version import __version__

    return __version__
