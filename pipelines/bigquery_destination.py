"""dlt's BigQuery destination, made atomic per merge and safe for several people's loads at once.

dlt 1.31's BigQuery client with three changes, each for a failure the stock one allows:

1. **A merge is one transaction.** dlt sends a merge's DELETE and INSERT as one script with
   no transaction, and BigQuery commits each statement of such a script on its own: a
   failure between them (a quota, a timeout, a cancelled job) leaves the rows deleted until
   a later run. Here the script is wrapped in `BEGIN TRANSACTION; ... COMMIT TRANSACTION;`,
   and BigQuery rolls the whole merge back when a statement fails. (dlt's own
   `supports_transactions` capability would open a BigQuery session per merge and run it in
   three jobs; one script is one job.) Two transactions that change one table at the same
   time conflict on BigQuery and one is cancelled; dlt takes that for a transient error and
   runs the merge again (up to `load.raise_on_max_retries` times).
2. **Each pipeline has its own staging dataset** (`<dataset>_staging_<pipeline>`): dlt
   truncates and refills its staging tables in every load, so two people's loads sharing
   one staging dataset would merge each other's rows, or none.
3. **Schema changes tolerate a concurrent twin** (`CREATE TABLE IF NOT EXISTS`,
   `ADD COLUMN IF NOT EXISTS`, an already created dataset): two people's first loads create
   the same tables at the same time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dlt.destinations.impl.bigquery.bigquery import BigQueryClient, BigQueryMergeJob
from dlt.destinations.impl.bigquery.factory import bigquery as _stock_bigquery

STAGING_LAYOUT = "%s_staging_{pipeline}"  # dlt's `staging_dataset_name_layout`


def staging_dataset(dataset: str, pipeline: str) -> str:
    """The staging dataset of one pipeline (`pipelines.warehouse.pipeline_name`)."""
    return STAGING_LAYOUT.format(pipeline=pipeline) % dataset


class TransactionalMergeJob(BigQueryMergeJob):
    """dlt's merge script inside one transaction."""

    @classmethod
    def generate_sql(cls, table_chain: Sequence[Any], sql_client: Any) -> list[str]:  # noqa: D102
        merge = super().generate_sql(table_chain, sql_client)
        return ["BEGIN TRANSACTION", *merge, "COMMIT TRANSACTION"]


class OuraBigQueryClient(BigQueryClient):
    """dlt's BigQuery job client with transactional merges and idempotent schema changes."""

    def _create_merge_followup_jobs(self, table_chain: Sequence[Any]) -> list:
        return [TransactionalMergeJob.from_table_chain(table_chain, self.sql_client)]

    def _make_create_table(self, qualified_name: str, table: Any) -> str:
        return f"CREATE TABLE IF NOT EXISTS {qualified_name}"

    def _make_add_column_sql(self, new_columns: Sequence[Any], table: Any = None) -> list[str]:
        return [
            f"ADD COLUMN IF NOT EXISTS {self._get_column_def_sql(c, table)}" for c in new_columns
        ]

    def initialize_storage(self, truncate_tables: Any = None) -> None:
        from dlt.destinations.exceptions import DatabaseTerminalException

        try:
            super().initialize_storage(truncate_tables)
        except DatabaseTerminalException:
            if not self.is_storage_initialized():
                raise
            super().initialize_storage(truncate_tables)  # another load created the dataset first


class bigquery(_stock_bigquery):  # noqa: N801 - dlt names the destination after its class
    """The BigQuery destination factory with `OuraBigQueryClient`. Its class name keeps dlt's
    configuration sections (`destination.bigquery`, `DESTINATION__BIGQUERY__...`)."""

    @property
    def client_class(self) -> type:  # noqa: D102
        return OuraBigQueryClient


def destination(pipeline: str, **kwargs: Any) -> bigquery:
    """The BigQuery destination for one pipeline (its own staging dataset)."""
    return bigquery(staging_dataset_name_layout=STAGING_LAYOUT.format(pipeline=pipeline), **kwargs)
