"""Write `docs/report.png`: the first screen of an HTML report, in headless Chromium.

    .venv/bin/python docs/make_screenshot.py [REPORT.html] [--out docs/report.png]
        [--width 1200] [--height 860] [--scale 2]

REPORT defaults to `data/demo/oura-report.html` (written by `make demo`); for a phone's
view use `--width 390 --height 844 --scale 3`. Uses the system's `chromium` (Debian
package) through playwright, with the network blocked: what the picture shows is what
the file shows on its own.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path


def screenshot(
    report: Path, out: Path, width: int = 1200, height: int = 860, scale: float = 2
) -> Path:
    """Open `report` at a `width` x `height` viewport (CSS pixels, `scale` device pixels each)
    and save its first screen to `out`."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit(
            "chromium is not installed; `make test` installs it (apt-get install chromium)"
        )
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page(
                viewport={"width": width, "height": height}, device_scale_factor=scale
            )
            page.route(
                "**/*",
                lambda route: (
                    route.continue_() if route.request.url.startswith("file:") else route.abort()
                ),
            )
            page.goto(report.resolve().as_uri(), wait_until="load")
            page.wait_for_function("document.querySelectorAll('figure.chart .main-svg').length > 0")
            page.wait_for_timeout(300)  # plotly's transitions settle
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out))
        finally:
            browser.close()
    return out


def main(argv: list[str] | None = None) -> None:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", nargs="?", type=Path, default=Path("data/demo/oura-report.html"))
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("report.png"))
    parser.add_argument("--width", type=int, default=1200)
    parser.add_argument("--height", type=int, default=860)
    parser.add_argument("--scale", type=float, default=2)
    args = parser.parse_args(argv)
    if not args.report.is_file():
        raise SystemExit(
            f"no report at {args.report}; run `make demo` (or `oura-elt report`) first"
        )
    print(screenshot(args.report, args.out, args.width, args.height, args.scale))


if __name__ == "__main__":
    sys.exit(main())
