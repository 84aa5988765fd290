"""One load in this process, for `bench.harness.child_load` (prints its summary as JSON)."""

from __future__ import annotations

import argparse
import json
from datetime import timedelta

from oura_elt.commands.sandbox import sandbox_endpoints
from pipelines.core import config


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--user", type=int, default=0)
    parser.add_argument("--days", type=int)
    parser.add_argument("--workers", type=int)
    parser.add_argument("--collection", action="append")
    args = parser.parse_args()
    config.telemetry_off()

    from pipelines.auth import StaticTokenProvider
    from pipelines.core.clock import current_time
    from pipelines.load import DEFAULT_WORKERS, load
    from pipelines.oura.ratelimit import RateBudget

    now = current_time()
    start = (now - timedelta(days=args.days - 1)).date() if args.days else None
    summary = load(
        f"user{args.user}",
        collections=args.collection,
        start_date=start,
        endpoints=sandbox_endpoints(args.base_url),
        provider=StaticTokenProvider(f"sandbox-pat-{args.user}", profile=f"user{args.user}"),
        budget=RateBudget(100_000, 1),
        duckdb_path=args.db,
        workers=args.workers or DEFAULT_WORKERS,
        now=now,
    )
    if not summary.ok:
        raise SystemExit(f"load failed: {summary.failed}")
    print(
        json.dumps(
            {
                "documents": summary.total_documents,
                "requests": summary.requests,
                "seconds": summary.seconds,
                "heartrate": summary.documents.get("heartrate", 0),
                "peak_mb": peak_rss_mb(),
            }
        )
    )


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike `ru_maxrss`, it does not
    inherit the parent's peak across fork and exec)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


if __name__ == "__main__":
    main()
