"""`oura-elt report`: the HTML report from marts the real loader and dbt built.

The warehouse (two sandbox users, 90 days) comes from `marts_fixture`. The checks
compare what the page and the report's queries say with the marts queried directly:
latest values, rolling means, weekly rows, correlations, the chosen night. Every
failure the issue names is one clear `OuraEltError` line.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime, time, timedelta
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest
import typer
from marts_fixture import PROFILES, built_marts
from typer.testing import CliRunner

from oura_elt.commands.report import report as report_command
from oura_elt.report import queries, write_report
from oura_elt.report.marts import open_marts, people, pipeline_name
from pipelines.core.errors import OuraEltError, UsageError

pytestmark = pytest.mark.slow  # the shared warehouse is a real load and dbt build


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    return built_marts(tmp_path_factory)


@pytest.fixture(scope="module")
def cohort_page(warehouse, tmp_path_factory) -> str:
    out = write_report(warehouse, tmp_path_factory.mktemp("report") / "report.html")
    return out.read_text(encoding="utf-8")


def query(db: Path, sql: str, *params) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def user_ids(db: Path) -> dict[str, str]:
    """Profile name -> user id, as the loader's bookkeeping records them."""
    rows = query(
        db,
        "select distinct s.pipeline_name, p.user_id from oura_raw._dlt_pipeline_state s "
        "join oura_raw._oura_load_progress p using (_dlt_load_id)",
    )
    return {name.removeprefix("oura_"): user_id for name, user_id in rows}


class Metrics(HTMLParser):
    """Collects `data-metric` elements: (metric, user id) -> (text of .value, data-date)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: dict[tuple[str, str], tuple[str, str | None]] = {}
        self._open: tuple[str, str, str | None] | None = None
        self._in_value = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "data-metric" in attrs and "data-user-id" in attrs:
            self._open = (attrs["data-metric"], attrs["data-user-id"], attrs.get("data-date"))
        elif self._open and attrs.get("class") == "value":
            self._in_value = True

    def handle_data(self, data):
        if self._in_value and self._open:
            metric, user, day = self._open
            self.found[(metric, user)] = (data.strip(), day)
            self._in_value, self._open = False, None


def metrics_of(page: str) -> dict[tuple[str, str], tuple[str, str | None]]:
    parser = Metrics()
    parser.feed(page)
    return parser.found


# ----------------------------------------------------------------------------- the page


def test_the_page_is_one_file_with_plotly_inlined_once_and_no_remote_resources(cohort_page):
    assert cohort_page.count("<script") == cohort_page.count("</script>")
    assert re.search(r"<script[^>]*\bsrc=", cohort_page) is None
    assert re.search(r"<link\b", cohort_page) is None
    assert re.search(r"<img\b", cohort_page) is None
    assert cohort_page.count("plotly.js v") <= 2  # the bundle's banner, once
    assert (
        cohort_page.count('class="plotly-graph-div"')
        == cohort_page.count('<figure class="chart"')
        > 10
    )
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in cohort_page


def test_a_cohort_gets_an_overview_and_one_section_per_person(warehouse, cohort_page):
    ids = user_ids(warehouse)
    assert set(ids) == set(PROFILES)
    assert 'id="overview"' in cohort_page
    for profile, user_id in ids.items():
        assert f'data-user-id="{user_id}"' in cohort_page
        assert f">{profile}</a>" in cohort_page  # the nav and the overview name profiles
    sections = re.findall(
        r'<section class="person" id="(person-\d+)" data-user-id="([^"]+)"', cohort_page
    )
    assert sorted(user for _, user in sections) == sorted(ids.values())
    charts = re.findall(r'data-chart="([a-z-]+)"', cohort_page)
    assert charts.count("cohort") == 1
    for kind in ("scores", "hrv", "timing", "hypnogram", "day-heart-rate"):
        assert charts.count(kind) == len(ids), kind
    assert charts.count("relationship") == 3 * len(ids)


def test_latest_values_on_the_page_equal_the_marts(warehouse, cohort_page):
    found = metrics_of(cohort_page)
    columns = {
        "latest-sleep-score": "sleep_score",
        "latest-readiness-score": "readiness_score",
        "latest-activity-score": "activity_score",
        "latest-hrv": "average_hrv_ms",
        "latest-lowest-heart-rate": "lowest_heart_rate_bpm",
    }
    for user_id in user_ids(warehouse).values():
        for metric, column in columns.items():
            text, day = found[(metric, user_id)]
            [(expected_day, value)] = query(
                warehouse,
                f"select summary_date, {column} from oura_marts.daily_summary "
                f"where user_id = ? and {column} is not null order by summary_date desc limit 1",
                user_id,
            )
            assert day == expected_day.isoformat(), metric
            assert int(text) == round(value), metric


def coverage_cells(page: str, element_id: str) -> tuple[str, list[tuple[str, str]], dict[str, int]]:
    """(user id, [(day, status)], {status: count}) of the coverage strip `element_id`."""
    start = page.index(f'<div class="coverage" id="{element_id}"')
    block = page[start : page.index("</p>", start)]
    user_id = re.search(r'data-user-id="([^"]+)"', block).group(1)
    cells = re.findall(r'data-date="(\d{4}-\d\d-\d\d)" data-status="([a-z_]+)"', block)
    counted = re.findall(r'data-status="([a-z_]+)" data-count="(\d+)"', block)
    counts = {s: int(n) for s, n in counted}
    return user_id, cells, counts


def test_each_persons_coverage_strip_is_the_marts_sleep_status_of_every_day(warehouse, cohort_page):
    first, last = (
        date.fromisoformat(d)
        for d in re.search(
            r'data-first-day="([\d-]+)" data-last-day="([\d-]+)"', cohort_page
        ).groups()
    )
    range_days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    sections = re.findall(
        r'<section class="person" id="(person-\d+)" data-user-id="([^"]+)"', cohort_page
    )
    seen = set()
    for anchor, user_id in sections:
        status = dict(
            query(
                warehouse,
                "select coverage_date, sleep_status "
                "from oura_marts.data_coverage where user_id = ?",
                user_id,
            )
        )
        expected = [(d.isoformat(), status.get(d, "none")) for d in range_days]
        for element in (f"{anchor}-coverage", f"overview-{anchor}-coverage"):  # page and overview
            shown_user, cells, counts = coverage_cells(cohort_page, element)
            assert shown_user == user_id and cells == expected, element
            assert counts == {
                s: sum(c == s for _, c in expected)
                for s in ("present", "not_synced_yet", "not_worn", "no_record")
            }
        seen |= {c for _, c in expected}
    # The sandbox's people have nights of every kind in these 90 days.
    assert {"present", "not_worn", "no_record", "not_synced_yet"} <= seen


def test_range_ends_on_the_latest_day_with_data_and_spans_days(warehouse, cohort_page):
    [(last,)] = query(warehouse, "select max(summary_date) from oura_marts.daily_summary")
    match = re.search(
        r'data-first-day="([\d-]+)" data-last-day="([\d-]+)" data-days="(\d+)"', cohort_page
    )
    first, shown_last, days = (
        date.fromisoformat(match[1]),
        date.fromisoformat(match[2]),
        int(match[3]),
    )
    assert (shown_last, days) == (last, 90)
    assert first == last - timedelta(days=89)


# ----------------------------------------------------------------------------- the numbers


def test_rolling_means_are_the_mean_of_the_last_seven_days(warehouse):
    user_id = user_ids(warehouse)["user0"]
    scores = dict(
        query(
            warehouse,
            "select summary_date, readiness_score from oura_marts.daily_summary where user_id = ?",
            user_id,
        )
    )
    last = max(scores)
    first = last - timedelta(days=29)
    with open_marts(warehouse) as con:
        daily = queries.daily(con, user_id, first, last)
    assert daily["summary_date"][0] == first and daily["summary_date"][-1] == last
    for day, mean in zip(daily["summary_date"], daily["readiness_score_7d"]):
        window = [scores.get(day - timedelta(days=k)) for k in range(7)]
        values = [v for v in window if v is not None]
        expected = sum(values) / len(values) if len(values) >= queries.ROLLING_MIN_DAYS else None
        assert mean == pytest.approx(expected), day


def test_weekly_rows_cover_every_day_once_and_count_workouts(warehouse):
    user_id = user_ids(warehouse)["user1"]
    with open_marts(warehouse) as con:
        person = next(p for p in people(con) if p.user_id == user_id)
        first = person.last_day - timedelta(days=55)
        weeks = queries.weekly(con, user_id, first, person.last_day)
    [(days, workouts)] = query(
        warehouse,
        "select (select count(*) from oura_marts.daily_summary where user_id = $1 "
        "and summary_date between $2 and $3), (select count(*) from oura_marts.workouts "
        "where user_id = $1 and workout_date between $2 and $3)",
        user_id,
        first,
        person.last_day,
    )
    assert sum(w["days"] for w in weeks) == days
    assert sum(w["workouts"] for w in weeks) == workouts
    assert all(w["week_start"].weekday() == 0 for w in weeks)
    assert [w["week_start"] for w in weeks] == sorted(
        (w["week_start"] for w in weeks), reverse=True
    )


def test_relationship_r_equals_duckdbs_corr_over_the_same_pairs(warehouse):
    user_id = user_ids(warehouse)["user0"]
    with open_marts(warehouse) as con:
        person = next(p for p in people(con) if p.user_id == user_id)
        rels = {
            r.key: r for r in queries.relationships(con, user_id, person.first_day, person.last_day)
        }
    [(r, n)] = query(
        warehouse,
        """
        select corr(d.readiness_score, prev.activity_score), count(*)
        from oura_marts.daily_summary d join oura_marts.daily_summary prev
          on prev.user_id = d.user_id and prev.summary_date = d.summary_date - 1
        where d.user_id = ? and d.readiness_score is not null
          and prev.activity_score is not null""",
        user_id,
    )
    rel = rels["readiness-vs-prev-activity"]
    assert rel.n == n > 30
    assert rel.r == pytest.approx(r)
    assert all(-1 <= x.r <= 1 and x.n == len(x.x) == len(x.y) for x in rels.values())


def test_pearson_is_undefined_for_too_few_or_constant_values():
    assert queries.pearson([1, 2], [3, 4]) is None
    assert queries.pearson([1, 1, 1], [1, 2, 3]) is None
    assert queries.pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert queries.pearson([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


def test_the_hypnogram_is_the_chosen_nights_epochs(warehouse, tmp_path):
    user_id = user_ids(warehouse)["user1"]
    nights = query(
        warehouse,
        "select sleep_date, epoch_count from oura_marts.sleep_periods "
        "where user_id = ? and is_main_sleep and epoch_count > 0 order by sleep_date",
        user_id,
    )
    chosen, epochs = nights[len(nights) // 2]

    page = write_report(warehouse, tmp_path / "r.html", profile="user1", night=chosen).read_text()

    assert f'data-night="{chosen}"' in page
    with open_marts(warehouse) as con:
        night = queries.night(con, user_id, chosen)
        day = queries.day_heart_rate(con, user_id, chosen - timedelta(days=1), night.utc_offset)
    assert len(night.epochs["sleep_phase"]) == epochs
    assert set(night.epochs["sleep_phase"]) <= set(queries.SLEEP_PHASES)
    # The day before the night: every sample of its 24 local hours, and only those.
    start = datetime.combine(chosen - timedelta(days=1), time(), tzinfo=UTC) - queries.parse_offset(
        night.utc_offset
    )
    [(count,)] = query(
        warehouse,
        "select count(*) from oura_marts.heart_rate_samples "
        "where user_id = ? and measured_at >= ? and measured_at < ?",
        user_id,
        start,
        start + timedelta(days=1),
    )
    assert len(day.samples["heart_rate_bpm"]) == count > 100
    assert all(t.date() == chosen - timedelta(days=1) for t in day.samples["measured_local"])


def test_the_days_chart_shades_the_night_that_oura_labels_rest(warehouse):
    """user1 lives on US Pacific time. Real nights are labelled `rest` (a few `awake`), so
    the chart shows the night as a shaded sleep period, not by the samples' colour."""
    from oura_elt.report import charts

    user_id = user_ids(warehouse)["user1"]
    [(chosen,)] = query(
        warehouse,
        "select max(sleep_date) from oura_marts.sleep_periods "
        "where user_id = ? and is_main_sleep and epoch_count > 0 and sleep_date < "
        "(select max(sleep_date) - 5 from oura_marts.sleep_periods)",
        user_id,
    )
    with open_marts(warehouse) as con:
        night = queries.night(con, user_id, chosen)
        day = queries.day_heart_rate(con, user_id, chosen - timedelta(days=1), night.utc_offset)
    assert night.utc_offset in ("-07:00", "-08:00")
    evening = [s for s in day.sleeps if s["sleep_type"] == "long_sleep"]
    assert [s["started_local"] for s in evening][-1] == night.bedtime_start_local
    in_bed = [
        source
        for at, source in zip(day.samples["measured_local"], day.samples["heart_rate_source"])
        if at >= night.bedtime_start_local
    ]
    assert in_bed and in_bed.count("rest") > 0.8 * len(in_bed)
    figure = charts.day_heart_rate(day)
    shaded = {(shape.x0, shape.x1) for shape in figure.layout.shapes}
    assert (night.bedtime_start_local, night.bedtime_end_local) in shaded
    drawn = sum(len(trace.x) for trace in figure.data)
    assert drawn == len(day.samples["heart_rate_bpm"])


def test_the_days_chart_draws_samples_of_a_source_it_has_no_colour_for():
    from oura_elt.report import charts

    moments = [datetime(2026, 11, 1, h) for h in (1, 2, 3)]
    day = queries.DayHeartRate(
        date(2026, 11, 1),
        "-08:00",
        {
            "measured_local": moments,
            "heart_rate_bpm": [50, 51, 52],
            "heart_rate_source": ["rest", "live_third_party_heart_rate", "rest"],
        },
        workouts=[],
    )
    figure = charts.day_heart_rate(day)
    assert sorted(trace.name for trace in figure.data) == ["live_third_party_heart_rate", "rest"]
    assert sum(len(trace.x) for trace in figure.data) == 3


def test_offsets_parse_to_time_deltas():
    assert queries.parse_offset("+05:30") == timedelta(hours=5, minutes=30)
    assert queries.parse_offset("-07:00") == timedelta(hours=-7)
    assert queries.parse_offset(None) == timedelta(0)
    assert queries.parse_offset("junk") == timedelta(0)


# ----------------------------------------------------------------------------- choosing people


def test_a_profile_gets_its_own_report_without_an_overview(warehouse, tmp_path):
    ids = user_ids(warehouse)
    by_profile = write_report(warehouse, tmp_path / "a.html", profile="user1", days=30).read_text()
    by_user_id = write_report(
        warehouse, tmp_path / "b.html", profile=ids["user1"], days=30
    ).read_text()
    for page in (by_profile, by_user_id):
        assert 'id="overview"' not in page
        assert f'data-user-id="{ids["user1"]}"' in page
        assert ids["user0"] not in page
        assert "<title>Oura report: user1</title>" in page


def test_someone_without_data_in_the_range_gets_a_note_not_charts(warehouse, tmp_path):
    copy = tmp_path / "copy.duckdb"
    shutil.copy(warehouse, copy)
    ids = user_ids(copy)
    with duckdb.connect(str(copy)) as con:
        [(last,)] = con.execute("select max(summary_date) from oura_marts.daily_summary").fetchall()
        con.execute(
            "delete from oura_marts.daily_summary where user_id = ? and summary_date > ?",
            [ids["user1"], last - timedelta(days=30)],
        )

    page = write_report(copy, tmp_path / "r.html", days=14).read_text()

    start = re.search(
        rf'<section class="person" id="person-\d+" data-user-id="{ids["user1"]}">', page
    )
    section = page[start.end() :].split("</section>")[0]
    assert "No data in these 14 days; the latest day with data is" in section
    assert section.count('<figure class="chart"') == 0
    assert f'data-user-id="{ids["user0"]}"' in page and 'id="overview"' in page


def test_profile_names_match_the_loaders_pipeline_names():
    from pipelines.warehouse import pipeline_name as loaders

    for name in ("default", "user0", "my-ring", "a.b_c", None):
        assert pipeline_name(name) == loaders(name)


# ----------------------------------------------------------------------------- output and errors


def test_out_may_be_a_folder_and_a_second_report_replaces_the_first(warehouse, tmp_path):
    first = write_report(warehouse, tmp_path, profile="user0", days=14)
    assert first == tmp_path / "oura-report.html"
    before = first.read_text()
    second = write_report(warehouse, tmp_path, profile="user0", days=28)
    assert second == first and second.read_text() != before
    assert 'data-days="28"' in second.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["oura-report.html"]  # no temporary file left


@pytest.mark.parametrize("days", [0, 6, -1, 36_501, True])
def test_bad_days_are_refused(warehouse, tmp_path, days):
    with pytest.raises(UsageError, match="--days must be a whole number from 7 to 36500"):
        write_report(warehouse, tmp_path / "r.html", days=days)
    assert not (tmp_path / "r.html").exists()


def test_an_unknown_profile_names_the_ones_there_are(warehouse, tmp_path):
    with pytest.raises(
        UsageError, match=r"no data of profile 'nobody' in .*; the warehouse has: user0, user1"
    ):
        write_report(warehouse, tmp_path / "r.html", profile="nobody")


def test_a_night_without_a_hypnogram_is_refused(warehouse, tmp_path):
    with pytest.raises(
        UsageError, match="no hypnogram of the night of 2001-01-01 for profile 'user0'"
    ):
        write_report(warehouse, tmp_path / "r.html", profile="user0", night=date(2001, 1, 1))


def test_a_missing_warehouse_says_to_load_first(tmp_path):
    with pytest.raises(UsageError, match=r"no warehouse at .*missing\.duckdb; load data first"):
        write_report(tmp_path / "missing.duckdb", tmp_path / "r.html")


def test_a_warehouse_without_marts_says_to_transform(tmp_path):
    db = tmp_path / "raw.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create schema oura_raw; create table oura_raw.daily_sleep (id varchar)")
    with pytest.raises(
        OuraEltError,
        match=r"marts are not built in .*; build them with: oura-elt transform --duckdb",
    ):
        write_report(db, tmp_path / "r.html")


def test_marts_without_rows_are_no_data(tmp_path):
    db = tmp_path / "empty.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute(
            "create schema oura_marts; "
            "create table oura_marts.daily_summary (user_id varchar, summary_date date); "
            "create table oura_marts.sleep_periods (sleep_period_id varchar)"
        )
    with pytest.raises(OuraEltError, match=r"oura_marts.daily_summary in .* has no rows"):
        write_report(db, tmp_path / "r.html")


def test_an_unwritable_out_is_one_line(warehouse, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(
        OuraEltError, match=r"cannot write the report to .*a-file/r\.html: .*; choose another --out"
    ):
        write_report(warehouse, blocker / "r.html", profile="user0", days=7)


def test_a_warehouse_being_written_is_reported_not_waited_for(tmp_path):
    db = tmp_path / "busy.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create schema oura_marts")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; con = duckdb.connect(sys.argv[1]); print('open', flush=True); "
            "sys.stdin.read()",
            str(db),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        holding = r"is open for writing in another program \(python[^,]*, PID \d+\)"
        with pytest.raises(OuraEltError, match=holding):
            write_report(db, tmp_path / "r.html")
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


# ----------------------------------------------------------------------------- the command


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("report")(report_command)
    app.command("unused")(lambda: None)  # two commands: typer keeps "report" as a sub-command
    return app


def test_the_command_writes_the_report_and_prints_its_path(warehouse, tmp_path):
    out = tmp_path / "mine.html"
    result = CliRunner().invoke(
        _app(),
        [
            "report",
            "--duckdb",
            str(warehouse),
            "--profile",
            "user0",
            "--days",
            "21",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "report written:" in result.output and "mine.html" in result.output
    assert 'data-days="21"' in out.read_text()


def test_the_command_refuses_a_night_that_is_not_a_date(warehouse, tmp_path):
    result = CliRunner().invoke(
        _app(), ["report", "--duckdb", str(warehouse), "--night", "yesterday"]
    )
    assert isinstance(result.exception, UsageError)
    assert str(result.exception) == "--night 'yesterday' is not a date; use YYYY-MM-DD"


@pytest.mark.parametrize(
    ("r", "words"),
    [
        (None, "unknown"),
        (0.05, "negligible"),
        (-0.2, "weak, negative"),
        (0.4, "moderate, positive"),
        (-0.9, "strong, negative"),
    ],
)
def test_correlations_are_described_in_cohens_bands(r, words):
    from oura_elt.report.build import strength

    assert strength(r) == words
