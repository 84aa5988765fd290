"""The report in a real browser: headless Chromium (Debian's `chromium`) through playwright.

The page is opened from a file:// URL with every other request aborted, so it can only
work if it is self-contained. The tests assert no console errors and no page errors,
that every chart drew an SVG of non-zero size with the marts' data, that a number on
the page equals the mart's value, and that at a phone's and a laptop's width the page
needs no sideways scrolling, every chart is drawn inside its box with its axis titles
whole, and every scatter plot shows as many points as the n it states.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
from marts_fixture import built_marts

from oura_elt.report import write_report

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        reason = (
            "chromium is not installed: `make test` installs Debian's chromium package "
            "(or: apt-get install chromium)"
        )
        print(reason)
        pytest.skip(reason)
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright missing: run `make setup`"
    )
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, Path]:
    """(warehouse, report of everyone in it)."""
    db = built_marts(tmp_path_factory)
    return db, write_report(db, tmp_path_factory.mktemp("browser") / "report.html")


class Visit:
    """One page load: what the page logged, threw, and tried to fetch."""

    def __init__(self, browser: Any, url: str, width: int, height: int = 900) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.page = self.context.new_page()
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.blocked: list[str] = []
        self.page.on(
            "console", lambda msg: msg.type == "error" and self.console_errors.append(msg.text)
        )
        self.page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))
        self.context.route("**/*", self._route)
        self.page.goto(url, wait_until="load")
        # Plotly draws synchronously in newPlot, but give late errors a chance to surface.
        self.page.wait_for_function(
            "document.querySelectorAll('figure.chart .main-svg').length > 0"
        )
        self.page.wait_for_timeout(200)

    def _route(self, route: Any) -> None:
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort()

    def close(self) -> None:
        self.context.close()


@pytest.fixture(scope="module")
def laptop(browser, report) -> Iterator[Visit]:
    visit = Visit(browser, report[1].resolve().as_uri(), width=1280)
    yield visit
    visit.close()


def test_the_page_loads_offline_without_errors(laptop):
    assert laptop.console_errors == []
    assert laptop.page_errors == []
    assert laptop.blocked == []  # nothing but the file itself was requested
    assert laptop.page.title() == "Oura report"


def test_every_chart_rendered_an_svg_of_nonzero_size(laptop, report):
    html = report[1].read_text()
    expected = html.count('<figure class="chart"')
    charts = laptop.page.evaluate("""() =>
      [...document.querySelectorAll('figure.chart')].map(fig => {
        const svg = fig.querySelector('.main-svg');
        const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
        const gd = fig.querySelector('.plotly-graph-div');
        return {id: gd && gd.id, width: box.width, height: box.height,
                traces: gd && gd.data ? gd.data.length : 0,
                points: gd && gd.data
                    ? gd.data.reduce((n, t) => n + (t.x ? t.x.length : 0), 0) : 0};
    })""")
    assert len(charts) == expected > 10
    for chart in charts:
        assert chart["width"] > 200 and chart["height"] > 150, chart
        assert chart["traces"] > 0 and chart["points"] > 0, chart


def test_the_hypnogram_plots_every_epoch_of_the_night(laptop, report):
    db, _ = report
    night = laptop.page.get_attribute("#person-1 [data-night]", "data-night")
    user_id = laptop.page.get_attribute("#person-1", "data-user-id")
    with duckdb.connect(str(db), read_only=True) as con:
        [(epochs,)] = con.execute(
            "select epoch_count from oura_marts.sleep_periods "
            "where user_id = ? and sleep_date = ? and is_main_sleep",
            [user_id, night],
        ).fetchall()
    # The step line has one point per epoch, plus the end of the last one.
    plotted = laptop.page.evaluate("document.getElementById('person-1-hypnogram').data[0].x.length")
    assert plotted == epochs + 1


def test_a_number_on_the_page_equals_the_marts_value(laptop, report):
    db, _ = report
    for section in laptop.page.query_selector_all("section.person"):
        user_id = section.get_attribute("data-user-id")
        metric = section.query_selector('[data-metric="latest-readiness-score"]')
        shown = int(metric.query_selector(".value").inner_text())
        day = metric.get_attribute("data-date")
        with duckdb.connect(str(db), read_only=True) as con:
            [(readiness,)] = con.execute(
                "select readiness_score from oura_marts.daily_summary "
                "where user_id = ? and summary_date = ?",
                [user_id, day],
            ).fetchall()
            [(latest,)] = con.execute(
                "select max(summary_date) from oura_marts.daily_summary where user_id = ? "
                "and readiness_score is not null",
                [user_id],
            ).fetchall()
        assert shown == readiness
        assert day == latest.isoformat()


LAYOUT = """() => {
    const inside = (inner, outer, slack = 1) => inner.left >= outer.left - slack
        && inner.right <= outer.right + slack && inner.top >= outer.top - slack
        && inner.bottom <= outer.bottom + slack;
    const box = el => el.getBoundingClientRect();
    const viewport = {left: 0, right: window.innerWidth, top: -Infinity, bottom: Infinity};
    const charts = [...document.querySelectorAll('figure.chart')].map(fig => {
        const gd = fig.querySelector('.plotly-graph-div');
        const svgs = [...fig.querySelectorAll('.main-svg')];
        const titles = [...fig.querySelectorAll('.g-xtitle text, .g-ytitle text')];
        return {
            id: gd.id,
            figure: box(fig).width,
            svgs: svgs.map(svg => box(svg).width),
            svgsInside: svgs.every(svg => inside(box(svg), box(fig)) && inside(box(svg), viewport)),
            titles: titles.map(t => t.textContent),
            titlesClipped: titles
                .filter(t => !(inside(box(t), box(fig)) && inside(box(t), viewport)))
                .map(t => t.textContent),
        };
    });
    const scatters = [...document.querySelectorAll('.relationship[data-n]')].map(rel => {
        const fig = rel.querySelector('figure.chart');
        const gd = fig.querySelector('.plotly-graph-div');
        const area = box(gd.querySelector('.draglayer .nsewdrag'));
        const shown = {left: Math.max(area.left, box(fig).left, 0),
                       right: Math.min(area.right, box(fig).right, window.innerWidth),
                       top: area.top, bottom: area.bottom};
        const points = [...gd.querySelectorAll('.scatterlayer .trace .points path.point')];
        const visible = points.filter(p => {
            const b = box(p), x = (b.left + b.right) / 2, y = (b.top + b.bottom) / 2;
            return x >= shown.left && x <= shown.right && y >= shown.top && y <= shown.bottom;
        });
        return {id: gd.id, n: Number(rel.dataset.n), stated: rel.querySelector('.stat').textContent,
                data: gd.data[0].x.length, visible: visible.length};
    });
    return {overflow: document.documentElement.scrollWidth - window.innerWidth, charts, scatters};
}"""


@pytest.mark.parametrize("width, height", [(390, 844), (1280, 800)], ids=["phone", "laptop"])
def test_every_chart_fits_its_box_at_phone_and_laptop_width(browser, report, width, height):
    """No sideways scrolling; every chart's drawing (its SVG layers) inside its own box and
    the screen; every axis title whole; every scatter shows as many points as its n says."""
    visit = Visit(browser, report[1].resolve().as_uri(), width=width, height=height)
    try:
        assert visit.console_errors == [] and visit.page_errors == []
        layout = visit.page.evaluate(LAYOUT)
    finally:
        visit.close()
    assert layout["overflow"] <= 0
    assert len(layout["charts"]) > 10
    for chart in layout["charts"]:
        name, clipped = chart["id"], chart["titlesClipped"]
        assert chart["svgsInside"], f"{name} draws {chart['svgs']} px in a {chart['figure']} px box"
        assert clipped == [], f"{name}: axis titles cut off: {clipped}"
        assert all(title.strip() for title in chart["titles"]), chart
    assert layout["scatters"]
    for scatter in layout["scatters"]:
        assert f"n = {scatter['n']}" in scatter["stated"], scatter
        assert scatter["visible"] == scatter["data"] == scatter["n"] > 0, scatter


def test_every_person_has_a_visible_coverage_strip_of_the_marts_statuses(laptop, report):
    db, _ = report
    first, last = (
        laptop.page.get_attribute("#report-range", attribute)
        for attribute in ("data-first-day", "data-last-day")
    )
    days = (date.fromisoformat(last) - date.fromisoformat(first)).days + 1
    sections = laptop.page.query_selector_all("section.person")
    assert len(sections) == 2
    for section in sections:
        user_id, anchor = section.get_attribute("data-user-id"), section.get_attribute("id")
        with duckdb.connect(str(db), read_only=True) as con:
            statuses = dict(
                con.execute(
                    "select cast(coverage_date as varchar), sleep_status"
                    " from oura_marts.data_coverage"
                    " where user_id = ? and coverage_date between ? and ?",
                    [user_id, first, last],
                ).fetchall()
            )
        for strip_id in (f"{anchor}-coverage", f"overview-{anchor}-coverage"):
            strip = laptop.page.query_selector(f"#{strip_id}")
            assert strip is not None and strip.get_attribute("data-user-id") == user_id, strip_id
            box = strip.query_selector(".coverage-strip").bounding_box()
            assert box["width"] > 600 and box["height"] >= 12, (strip_id, box)
            cells = strip.evaluate("""el => [...el.querySelectorAll('.day')].map(d => {
                const r = d.getBoundingClientRect();
                const colour = getComputedStyle(d).backgroundColor;
                return [d.dataset.date, d.dataset.status, r.width, colour];
            })""")
            assert len(cells) == days
            assert {c[0]: c[1] for c in cells if c[1] != "none"} == statuses
            assert all(c[2] > 0 for c in cells)  # every day drawn
            colours = {c[1]: c[3] for c in cells}
            assert len(set(colours.values())) == len(colours)  # one colour per status
            counts = {
                c.get_attribute("data-status"): int(c.get_attribute("data-count"))
                for c in strip.query_selector_all(".count")
            }
            assert counts == {
                s: list(statuses.values()).count(s)
                for s in ("present", "not_synced_yet", "not_worn", "no_record")
            }


def test_the_coverage_strip_fits_a_phone(browser, report):
    phone = Visit(browser, report[1].resolve().as_uri(), width=390, height=844)
    try:
        widths = phone.page.evaluate(
            "[...document.querySelectorAll('.coverage-strip')]"
            ".map(s => s.getBoundingClientRect().right)"
        )
        assert len(widths) == 4 and all(0 < w <= 390 for w in widths)
    finally:
        phone.close()
