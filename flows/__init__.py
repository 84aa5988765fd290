"""Prefect flows: thin orchestration around `pipelines.load.load` and `pipelines.transform`.

- `flows.refresh.refresh`: the nightly refresh (lookback window, then `dbt build`).
- `flows.backfill.backfill`: a date range in chunks, one task run per chunk, then `dbt build`.
- `flows.schedule`: the deployments (`oura-nightly`, `oura-backfill`), declared once.
- `flows.server`: a real local Prefect server for schedules (`oura-elt schedule`).

Flows hold no extraction or SQL logic; they choose profiles, cut date ranges,
retry, fan out, and keep loads and transforms from overlapping on one warehouse.
"""

from pipelines.core.config import telemetry_off

telemetry_off()
