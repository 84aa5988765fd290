"""The report's plotly figures, one function per chart, from `queries` results.

Figures use a small template of their own (the stock ones add kilobytes of settings to
every chart), hover for exact values, and no drag-to-zoom, so that a finger scrolling
the page on a phone scrolls the page.
"""

from __future__ import annotations

from datetime import timedelta

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from oura_elt.report.queries import DayHeartRate, Night, Relationship, Series

COLORS = {
    "sleep": "#5563de",
    "readiness": "#1f9d8b",
    "activity": "#e0713c",
    "hrv": "#8e44ad",
    "heart": "#d1495b",
    "muted": "#9aa3b2",
}
PHASES = {
    "deep": (1, "#2e3a87"),
    "light": (2, "#6fa8f5"),
    "rem": (3, "#a77bea"),
    "awake": (4, "#f2a541"),
}
SOURCES = {
    "sleep": "#2e3a87",
    "rest": "#6fa8f5",
    "awake": "#9aa3b2",
    "live": "#1f9d8b",
    "workout": "#d1495b",
    "session": "#a77bea",
}
PERSON_COLORS = (
    "#5563de",
    "#e0713c",
    "#1f9d8b",
    "#d1495b",
    "#8e44ad",
    "#6b8e23",
    "#b8860b",
    "#2f4f4f",
)

TEMPLATE = go.layout.Template(
    layout=dict(
        font=dict(
            family="-apple-system, BlinkMacSystemFont, 'Segoe UI', Roboto, sans-serif",
            size=12,
            color="#1d2433",
        ),
        paper_bgcolor="white",
        plot_bgcolor="white",
        margin=dict(l=44, r=12, t=36, b=32),
        legend=dict(
            orientation="h", yanchor="bottom", y=1.0, xanchor="left", x=0, font=dict(size=11)
        ),
        hoverlabel=dict(font=dict(size=12)),
        xaxis=dict(
            showgrid=False,
            zeroline=False,
            linecolor="#c8ceda",
            ticks="outside",
            tickcolor="#c8ceda",
            automargin=True,
        ),
        yaxis=dict(gridcolor="#eef0f5", zeroline=False, automargin=True),
        dragmode=False,
    )
)

# Passed to Plotly.newPlot with every figure.
CONFIG = {"responsive": True, "displaylogo": False, "displayModeBar": False, "scrollZoom": False}


def _figure(
    rows: int = 1,
    heights: list[float] | None = None,
    titles: tuple[str, ...] = (),
    spacing: float = 0.08,
) -> go.Figure:
    if rows == 1 and not titles:
        figure = go.Figure()
    else:
        figure = make_subplots(
            rows=rows,
            cols=1,
            shared_xaxes=True,
            vertical_spacing=spacing,
            row_heights=heights,
            subplot_titles=titles,
        )
        figure.update_annotations(font=dict(size=12), xanchor="left", x=0)
    figure.update_layout(template=TEMPLATE)
    return figure


def _daily_pair(
    figure: go.Figure,
    days: list,
    values: list,
    mean: list,
    name: str,
    color: str,
    row: int | None = None,
    unit: str = "",
    digits: int = 0,
) -> None:
    """A day's values as faint dots and their 7-day rolling mean as a line."""
    where = dict(row=row, col=1) if row else {}
    figure.add_trace(
        go.Scatter(
            x=days,
            y=values,
            mode="markers",
            name=f"{name}, daily",
            legendgroup=name,
            showlegend=False,
            marker=dict(size=5, color=color, opacity=0.35),
            hovertemplate=f"%{{x|%a %d %b}}: %{{y:.{digits}f}}{unit}<extra>{name}</extra>",
        ),
        **where,
    )
    figure.add_trace(
        go.Scatter(
            x=days,
            y=mean,
            mode="lines",
            name=name,
            legendgroup=name,
            connectgaps=False,
            line=dict(color=color, width=2.5),
            hovertemplate=f"7-day mean %{{y:.1f}}{unit}<extra>{name}</extra>",
        ),
        **where,
    )


def scores(daily: Series) -> go.Figure:
    """Sleep, readiness and activity scores: daily dots and 7-day rolling means."""
    figure = _figure(3, titles=("Sleep score", "Readiness score", "Activity score"))
    days = daily["summary_date"]
    for row, (key, name) in enumerate(
        (("sleep", "Sleep"), ("readiness", "Readiness"), ("activity", "Activity")), 1
    ):
        _daily_pair(
            figure, days, daily[f"{key}_score"], daily[f"{key}_score_7d"], name, COLORS[key], row
        )
    figure.update_layout(height=560, showlegend=False, hovermode="x")
    return figure


def hrv_and_heart_rate(daily: Series) -> go.Figure:
    """Average HRV and lowest heart rate of the main sleep: daily dots and 7-day means."""
    figure = _figure(
        2, titles=("Average HRV during sleep (ms)", "Lowest heart rate during sleep (bpm)")
    )
    days = daily["summary_date"]
    _daily_pair(
        figure,
        days,
        daily["average_hrv_ms"],
        daily["average_hrv_ms_7d"],
        "HRV",
        COLORS["hrv"],
        1,
        " ms",
    )
    _daily_pair(
        figure,
        days,
        daily["lowest_heart_rate_bpm"],
        daily["lowest_heart_rate_bpm_7d"],
        "Lowest heart rate",
        COLORS["heart"],
        2,
        " bpm",
    )
    figure.update_layout(height=420, showlegend=False, hovermode="x")
    return figure


def _clock(hours: float) -> str:
    minutes = round(hours * 60) % (24 * 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _clock_ticks(low: float, high: float, step: int = 2) -> tuple[list[int], list[str]]:
    """Whole-hour ticks every `step` hours that enclose [low, high], labelled as clock times."""
    ticks = list(range(int(low // step * step), int(-(-high // step) * step) + 1, step))
    return ticks, [_clock(t) for t in ticks]


def sleep_timing(daily: Series) -> go.Figure:
    """Each main sleep as a bar from bedtime to wake-up, on a clock axis (evening at the top)."""
    figure = _figure()
    nights = [
        (day, start, end, hours)
        for day, start, end, hours in zip(
            daily["summary_date"],
            daily["bedtime_hours"],
            daily["wake_hours"],
            daily["total_sleep_hours"],
        )
        if start is not None and end is not None
    ]
    if nights:
        days, starts, ends, slept = zip(*nights)
        figure.add_trace(
            go.Bar(
                x=list(days),
                base=list(starts),
                y=[e - s for s, e in zip(starts, ends)],
                marker=dict(color=COLORS["sleep"], opacity=0.75),
                name="In bed",
                customdata=[[_clock(s), _clock(e), h or 0] for s, e, h in zip(starts, ends, slept)],
                hovertemplate="%{x|%a %d %b}: %{customdata[0]} to %{customdata[1]}, "
                "%{customdata[2]:.1f} h asleep<extra></extra>",
            )
        )
        low, high = min(starts), max(ends)
    else:
        low, high = -2.0, 8.0
    ticks, labels = _clock_ticks(low, high)
    figure.update_yaxes(
        range=[ticks[-1], ticks[0]], tickvals=ticks, ticktext=labels, title_text="local time"
    )
    figure.update_layout(
        height=340,
        bargap=0.25,
        showlegend=False,
        title=dict(text="Bedtime to wake-up, each night", font=dict(size=12), x=0),
    )
    return figure


def hypnogram(night: Night) -> go.Figure:
    """A night's sleep phases (30-second or 5-minute epochs) above its heart rate and HRV."""
    epochs = night.epochs
    figure = _figure(
        3,
        heights=[0.44, 0.28, 0.28],
        titles=("Sleep phases", "Heart rate (bpm)", "HRV (ms)"),
        spacing=0.07,
    )
    _add_phases(figure, epochs)
    _add_epoch_line(figure, epochs, "heart_rate_bpm", "Heart rate", "bpm", COLORS["heart"], row=2)
    _add_epoch_line(figure, epochs, "hrv_ms", "HRV", "ms", COLORS["hrv"], row=3)
    figure.update_yaxes(
        row=1,
        col=1,
        tickvals=[1, 2, 3, 4],
        ticktext=["Deep", "Light", "REM", "Awake"],
        range=[0.5, 4.5],
        gridcolor="#f3f4f8",
    )
    figure.update_xaxes(tickformat="%H:%M")
    figure.update_layout(height=520)
    return figure


def _add_phases(figure: go.Figure, epochs: Series) -> None:
    """Row 1: the phases as a step line, and a colored marker per epoch of each phase."""
    times = list(epochs["epoch_start_local"])
    levels = [PHASES[phase][0] for phase in epochs["sleep_phase"]]
    # A step line needs the end of the last epoch to show it.
    if times:
        times.append(times[-1] + timedelta(seconds=epochs["epoch_seconds"][-1]))
        levels.append(levels[-1])
    figure.add_trace(
        go.Scatter(
            x=times,
            y=levels,
            mode="lines",
            line=dict(shape="hv", color="#3b4252", width=1.5),
            name="Phase",
            hoverinfo="skip",
            showlegend=False,
        ),
        row=1,
        col=1,
    )
    for phase, (level, color) in PHASES.items():
        picked = [
            (t, level)
            for t, p in zip(epochs["epoch_start_local"], epochs["sleep_phase"])
            if p == phase
        ]
        figure.add_trace(
            go.Scatter(
                x=[t for t, _ in picked],
                y=[lvl for _, lvl in picked],
                mode="markers",
                name=phase,
                marker=dict(symbol="square", size=6, color=color),
                hovertemplate=f"%{{x|%H:%M}} {phase}<extra></extra>",
                showlegend=False,
            ),
            row=1,
            col=1,
        )


def _add_epoch_line(
    figure: go.Figure, epochs: Series, column: str, name: str, unit: str, color: str, *, row: int
) -> None:
    """One per-epoch measure as a line (gaps left open) in `row`."""
    figure.add_trace(
        go.Scatter(
            x=epochs["epoch_start_local"],
            y=epochs[column],
            mode="lines",
            connectgaps=False,
            line=dict(color=color, width=1.8),
            name=name,
            hovertemplate=f"%{{x|%H:%M}} %{{y:.0f}} {unit}<extra></extra>",
            showlegend=False,
        ),
        row=row,
        col=1,
    )


def day_heart_rate(day: DayHeartRate) -> go.Figure:
    """Every heart-rate sample of one day, coloured by the ring's label; sleep and workouts
    shaded (Oura labels most night samples `rest`, so the shading shows the night)."""
    figure = _figure()
    samples = day.samples
    others = sorted(set(samples["heart_rate_source"]) - set(SOURCES), key=str)
    colors = {**SOURCES, **dict.fromkeys(others, COLORS["muted"])}
    for source, color in colors.items():
        picked = [
            (t, bpm)
            for t, bpm, s in zip(
                samples["measured_local"], samples["heart_rate_bpm"], samples["heart_rate_source"]
            )
            if s == source
        ]
        if not picked:
            continue
        figure.add_trace(
            go.Scatter(
                x=[t for t, _ in picked],
                y=[bpm for _, bpm in picked],
                mode="markers",
                name=source,
                marker=dict(size=4, color=color),
                hovertemplate=f"%{{x|%H:%M}} %{{y}} bpm<extra>{source}</extra>",
            )
        )
    for sleep in day.sleeps:
        figure.add_vrect(
            x0=sleep["started_local"],
            x1=sleep["ended_local"],
            fillcolor=COLORS["sleep"],
            opacity=0.08,
            line_width=0,
            annotation_text="sleep" if sleep["sleep_type"] == "long_sleep" else sleep["sleep_type"],
            annotation_position="top left",
            annotation_font_size=10,
        )
    for workout in day.workouts:
        figure.add_vrect(
            x0=workout["started_local"],
            x1=workout["ended_local"],
            fillcolor=COLORS["heart"],
            opacity=0.08,
            line_width=0,
            annotation_text=workout["activity"],
            annotation_position="top left",
            annotation_font_size=10,
        )
    start = day.day
    figure.update_xaxes(
        range=[f"{start} 00:00", f"{start + timedelta(days=1)} 00:00"], tickformat="%H:%M"
    )
    figure.update_yaxes(title_text="bpm")
    figure.update_layout(height=340, legend=dict(itemsizing="constant"))
    return figure


def relationship(rel: Relationship) -> go.Figure:
    """One scatter of two daily measures; the title carries r and n, no fitted line."""
    figure = _figure()
    figure.add_trace(
        go.Scatter(
            x=rel.x,
            y=rel.y,
            mode="markers",
            marker=dict(size=7, color=COLORS["sleep"], opacity=0.6),
            customdata=[
                [d.isoformat(), _clock(x) if rel.x_is_clock else f"{x:.1f}"]
                for d, x in zip(rel.days, rel.x)
            ],
            hovertemplate="%{customdata[0]}: %{customdata[1]}, %{y:.1f}<extra></extra>",
            showlegend=False,
        )
    )
    figure.update_xaxes(title_text=rel.x_label, showgrid=True, gridcolor="#eef0f5")
    if rel.x_is_clock and rel.x:
        ticks, labels = _clock_ticks(min(rel.x), max(rel.x), 1)
        figure.update_xaxes(tickvals=ticks, ticktext=labels)
    figure.update_yaxes(title_text=rel.y_label)
    figure.update_layout(height=300, margin=dict(t=12))
    return figure


def cohort(series: Series, labels: dict[str, str]) -> go.Figure:
    """7-day rolling readiness and sleep score, one line per person."""
    figure = _figure(2, titles=("Readiness, 7-day mean", "Sleep score, 7-day mean"))
    for index, (user_id, label) in enumerate(labels.items()):
        rows = [i for i, u in enumerate(series["user_id"]) if u == user_id]
        days = [series["summary_date"][i] for i in rows]
        color = PERSON_COLORS[index % len(PERSON_COLORS)]
        for row, column in ((1, "readiness_score_7d"), (2, "sleep_score_7d")):
            figure.add_trace(
                go.Scatter(
                    x=days,
                    y=[series[column][i] for i in rows],
                    mode="lines",
                    name=label,
                    legendgroup=user_id,
                    showlegend=row == 1,
                    line=dict(color=color, width=2),
                    connectgaps=False,
                    hovertemplate=f"%{{x|%a %d %b}}: %{{y:.1f}}<extra>{label}</extra>",
                ),
                row=row,
                col=1,
            )
    # The legend sits above the first subplot's title.
    figure.update_layout(height=480, margin=dict(t=64), legend=dict(y=1.06, yanchor="bottom"))
    return figure
