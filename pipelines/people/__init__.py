"""The people in a warehouse: who is authorized, what is loaded, and erasing one of them.

Every raw row carries the Oura `user_id` of its owner, so one warehouse holds many
people side by side. This package answers `oura-elt users`:

- `list_users` (`listing`) joins the saved logins with what the warehouse holds per
  `user_id`: documents stored, the latest completed load and the days it covers.
- `erase_user` (`erase_duckdb`) and `erase_user_bigquery` (`erase_bigquery`) delete one
  person's rows in one transaction: the statements are written once in `tables`.
  DuckDB files are then rewritten, so the deleted rows' bytes do not linger; the
  pipelines' local working folders and the webhook journal's rows go too (`leftovers`).
- `resolve_removal` and `remove_user` (`removal`) are the command's whole job: find
  who, erase (optionally), then revoke and forget the saved login.

Erasure holds the warehouse's write lock (`pipelines.core.locks.warehouse_lock`) and
refuses, rather than waits, while a load or dbt build holds it or has the file open.
"""

from pipelines.people.erase_bigquery import erase_user_bigquery
from pipelines.people.erase_duckdb import erase_user
from pipelines.people.listing import list_users
from pipelines.people.records import (
    ErasureReport,
    Removal,
    RemovalReport,
    UserInfo,
    WarehouseBusy,
)
from pipelines.people.removal import remove_user, resolve_removal

__all__ = [
    "ErasureReport",
    "Removal",
    "RemovalReport",
    "UserInfo",
    "WarehouseBusy",
    "erase_user",
    "erase_user_bigquery",
    "list_users",
    "remove_user",
    "resolve_removal",
]
