"""HTML: the template, plotly figures as `<figure>` elements, plotly.js inlined once.

The page loads nothing from anywhere: plotly.js is in a `<script>` in the head and
every figure is a `Plotly.newPlot` call with its data inline, so the file opens from
a disk, a mail attachment or a phone without a network.
"""

from __future__ import annotations

import contextlib
import os
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pipelines.core.errors import OuraEltError
from pipelines.core.private import open_private, private_folder

TEMPLATE = "template.html.j2"


def figure_html(figure: Any, chart_id: str, kind: str) -> str:
    """One figure as a `<figure class="chart">` holding plotly's div and its newPlot script."""
    import plotly.io as pio

    from oura_elt.report.charts import CONFIG

    inner = pio.to_html(
        figure,
        full_html=False,
        include_plotlyjs=False,
        div_id=chart_id,
        config=CONFIG,
        default_width="100%",
        default_height=f"{figure.layout.height or 360}px",
    )
    return f'<figure class="chart" data-chart="{kind}">{inner}</figure>'


def plotly_js() -> str:
    """The plotly.js bundle that ships with the plotly package (no CDN)."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def _number(value: Any, digits: int = 0) -> str:
    if value is None:
        return "–"
    if digits == 0:
        return f"{round(value):,}"
    return f"{value:,.{digits}f}"


def _day(value: date | None) -> str:
    return value.strftime("%a %-d %b %Y") if value else "–"


def _clock(value: datetime | None) -> str:
    return value.strftime("%H:%M") if value else "–"


def render(context: dict[str, Any]) -> str:
    """The report page from its context (see `oura_elt.report.build`)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(num=_number, day=_day, clock=_clock)
    return env.get_template(TEMPLATE).render(plotly_js=plotly_js(), **context)


def write_atomically(text: str, out: Path) -> Path:
    """Write `text` to `out` through a temporary file beside it and a rename.

    A reader (a browser, a sync client) never sees half a report, and a failed write
    leaves the previous report in place. The file is readable by its owner only, and
    folders made for it are 0700 (`pipelines.core.private`).

    Raises:
        OuraEltError: the folder cannot be created or the file cannot be written.
    """
    temporary = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        private_folder(out.parent)
        with open_private(temporary, "w", encoding="utf-8") as handle:  # health data: 0600
            handle.write(text)
        os.replace(temporary, out)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        reason = exc.strerror or type(exc).__name__
        raise OuraEltError(
            f"cannot write the report to {out}: {reason}; choose another --out"
        ) from None
    return out
