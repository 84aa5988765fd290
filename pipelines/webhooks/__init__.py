"""Near real time: Oura webhooks into the same raw tables the loader writes.

- `subscriptions`: the application's subscriptions at Oura (subscribe, list, renew, delete).
- `receiver`: the ASGI app Oura calls: challenge, signature, freshness, journal, 2xx.
- `journal`: the durable SQLite journal between receiving and processing.
- `worker`: journaled events -> documents fetched by id -> merged (or deleted) rows.
- `users`: Oura user id -> the saved login that reads that person's data.
- `service`: `oura-elt webhooks serve` (receiver and worker in one process).

Heavy imports (dlt, uvicorn) stay in the modules that need them.
"""
