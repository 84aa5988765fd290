"""What a person leaves outside the warehouse tables, and the lock every erasure takes.

The loader's dlt working folders keep copies of loaded packages, and the webhook
receiver's journal keeps ids of changed documents: an erasure removes both.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

from pipelines.core.locks import LockHeld, warehouse_lock
from pipelines.core.target import DUCKDB
from pipelines.people.records import ErasureReport, WarehouseBusy
from pipelines.warehouse import pipelines_folder


@contextlib.contextmanager
def warehouse_lock_or_busy(
    kind: str, duckdb_path: Path | None, dataset: str, timeout: float, where: Path | str
) -> Iterator[None]:
    """The loader's and dbt's write lock of this warehouse; `WarehouseBusy` (naming
    `where`) if it stays taken."""
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(warehouse_lock(kind, duckdb_path, dataset, timeout=timeout))
        except LockHeld:
            raise WarehouseBusy(where) from None
        yield


def pipelines_dir(duckdb_path: Path, dataset: str) -> Path:
    """Where the loader keeps dlt working folders for this DuckDB file and dataset."""
    return pipelines_folder(DUCKDB, str(duckdb_path), dataset)


def forget_outside_warehouse(report: ErasureReport, folders: Path, names: set[str]) -> None:
    """What every erasure does after the warehouse: the person's webhook journal rows,
    and the dlt working folders (under `folders`) of the pipelines `names`."""
    report.journal_rows = _forget_in_webhook_journal(report.user_id, report.dry_run)
    report.pipelines = sorted(names)
    for name in report.pipelines:
        folder = folders / name
        if folder.is_dir():
            report.folders.append(str(folder))
            if not report.dry_run:
                shutil.rmtree(folder)


def local_pipelines_with(folder: Path, load_ids: set[str]) -> set[str]:
    """Working folders under `folder` that keep a loaded package of one of these loads."""
    if not load_ids or not folder.is_dir():
        return set()
    return {
        pipeline.name
        for pipeline in folder.iterdir()
        if pipeline.is_dir()
        and any((pipeline / "load" / "loaded" / load_id).exists() for load_id in load_ids)
    }


def _forget_in_webhook_journal(user_id: str | None, dry_run: bool) -> int:
    """The person's rows in the webhook receiver's journal (ids of changed documents)."""
    if not user_id:
        return 0
    from pipelines.webhooks.journal import Journal
    from pipelines.webhooks.settings import default_journal_path

    path = default_journal_path()
    if not path.is_file():
        return 0
    journal = Journal(path)
    try:
        return journal.forget_user(user_id, dry_run=dry_run)
    finally:
        journal.close()
