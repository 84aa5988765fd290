"""The HTML report: one self-contained page of charts built only from the marts.

`write_report` is the entry point (`oura-elt report`, `make demo`). The package is
small modules: `marts` opens the warehouse and names its people, `queries` reads what
each section shows, `charts` draws it with plotly, `render` writes the page.
"""

from oura_elt.report.build import DEFAULT_DAYS, write_report

__all__ = ["DEFAULT_DAYS", "write_report"]
