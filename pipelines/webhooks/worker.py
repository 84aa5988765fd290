"""The webhook worker: journaled events -> the documents they name -> the raw tables.

One pass takes the due events (oldest first), and for each document they name:

- finds whose it is (`UserDirectory`); events of unknown users are logged and
  dropped, never fatal;
- a `delete` event (the latest one for the document) becomes a tombstone;
  otherwise the document is fetched by id with that user's token
  (`GET /v2/usercollection/<route>/<id>`) and becomes a row, exactly as the loader
  builds it (`pipelines.oura.rows.to_row`); a 404 means it is gone: a tombstone;
- all rows and tombstones of the pass are merged in one dlt run of the loader's
  own source's tables (`pipelines.oura.oura_documents`, merge on the primary key, tombstones
  through `_oura_deleted`), holding the warehouse lock only around that write;
- only then are the events marked done. A crash before that leaves them pending:
  the next pass does them again, and the merge writes the same rows.

Fetch failures are retried with backoff (`MAX_ATTEMPTS`, then `failed`); a busy
warehouse only delays a pass.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.core import locks
from pipelines.core.config import Endpoints
from pipelines.core.errors import OuraEltError
from pipelines.core.target import RAW_DATASET, duckdb_file
from pipelines.oura import oura_documents
from pipelines.oura.helpers import OuraClient, RetryPolicy, ScopeNotGranted
from pipelines.oura.ratelimit import RateBudget, shared_budget
from pipelines.oura.rows import to_row, tombstone
from pipelines.oura.settings import BY_NAME
from pipelines.warehouse import (
    failure,
    finish_pending,
    folder_lock_path,
    make_pipeline,
)
from pipelines.webhooks.journal import Entry, Journal
from pipelines.webhooks.settings import (
    COLLECTION_OF,
    RETRY_BASE_SECONDS,
    RETRY_MAX_SECONDS,
    WEBHOOK_PIPELINE,
)
from pipelines.webhooks.users import UserDirectory

log = logging.getLogger("oura_elt.webhooks")

DEFAULT_BATCH_SIZE = 500
DEFAULT_FETCH_WORKERS = 4
DEFAULT_LOCK_TIMEOUT_SECONDS = 60.0
BUSY_RETRY_SECONDS = 5.0
PRUNE_EVERY_SECONDS = 3600.0
SETTLE_SECONDS = 0.3


@dataclass
class PassResult:
    """What one worker pass did.

    Attributes:
        taken: events read from the journal.
        merged: events whose document was merged (rows written).
        deleted: events whose document was removed (tombstones).
        dropped: events with nothing to load (unknown user, unsupported type, no scope).
        retried: events to be tried again later.
        rows: documents written, per table.
        tombstones: documents removed, per table.
    """

    taken: int = 0
    merged: int = 0
    deleted: int = 0
    dropped: int = 0
    retried: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    tombstones: dict[str, int] = field(default_factory=dict)

    def add(self, other: PassResult) -> None:
        """Add another pass's counts to this one."""
        for name in ("taken", "merged", "deleted", "dropped", "retried"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for mine, theirs in ((self.rows, other.rows), (self.tombstones, other.tombstones)):
            for table, count in theirs.items():
                mine[table] = mine.get(table, 0) + count


@dataclass
class _Doc:
    """One document named by events of this pass."""

    user_id: str
    data_type: str
    object_id: str
    entries: list[Entry]
    owner: tuple[str, Any] | None = None  # (profile, token provider)
    removed: bool = False  # ends as a tombstone

    @property
    def seqs(self) -> list[int]:
        return [e.seq for e in self.entries]

    @property
    def deleted(self) -> bool:
        return max(self.entries, key=lambda e: e.seq).event.event_type == "delete"


def _group(entries: list[Entry]) -> list[_Doc]:
    """The pass's events grouped by the document they name, in order of first arrival."""
    docs: dict[tuple[str, str, str], _Doc] = {}
    for entry in entries:
        event = entry.event
        key = (event.user_id, event.data_type, event.object_id)
        docs.setdefault(key, _Doc(*key, [])).entries.append(entry)
    return list(docs.values())


class Worker:
    """Drains a journal into a warehouse.

    Args:
        journal: the events.
        endpoints: the API the events come from (default: from the environment).
        destination: "duckdb" or "bigquery".
        duckdb_path: DuckDB file (default: `OURA_DUCKDB_PATH`, else `data/oura.duckdb`).
        dataset_name: dataset of the raw tables.
        directory: user id -> profile (default: the saved logins).
        budget: request budget (default: the process's shared one).
        policy: retry policy of the HTTP client.
        batch_size: events per pass.
        fetch_workers: documents fetched in parallel.
        lock_timeout: seconds to wait for the warehouse before deferring a pass.
    """

    def __init__(
        self,
        journal: Journal,
        *,
        endpoints: Endpoints | None = None,
        destination: str = "duckdb",
        duckdb_path: Path | str | None = None,
        dataset_name: str = RAW_DATASET,
        directory: UserDirectory | None = None,
        budget: RateBudget | None = None,
        policy: RetryPolicy | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        fetch_workers: int = DEFAULT_FETCH_WORKERS,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT_SECONDS,
    ) -> None:
        self.journal = journal
        self.endpoints = endpoints or Endpoints.from_env()
        self.destination = destination
        if destination == "duckdb":
            duckdb_path = duckdb_file(duckdb_path)
        self.duckdb_path = Path(duckdb_path) if duckdb_path else None
        self.dataset_name = dataset_name
        self.directory = directory or UserDirectory(self.endpoints, journal)
        self.budget = budget or shared_budget()
        self.policy = policy
        self.batch_size = batch_size
        self.lock_timeout = lock_timeout
        self._fetchers = max(fetch_workers, 1)
        self._pool = ThreadPoolExecutor(
            max_workers=self._fetchers, thread_name_prefix="oura-webhook-fetch"
        )
        self._clients: dict[str, OuraClient] = {}
        self._clients_lock = threading.Lock()
        self._pipeline: Any = None
        self._where = ""
        self._warned: set[str] = set()

    def close(self) -> None:
        """Stop the fetch threads and close HTTP connections."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        for client in self._clients.values():
            client.close()

    # ------------------------------------------------------------------ passes

    def drain(self, max_passes: int = 1000) -> PassResult:
        """Passes until no event is due; the summed result."""
        total = PassResult()
        for _ in range(max_passes):
            result = self.process_pending()
            total.add(result)
            if result.taken == 0 or result.retried == result.taken:
                break
        return total

    def run(self, stop: threading.Event, wake: threading.Event, idle_seconds: float = 2.0) -> None:
        """Process events until `stop` is set; `wake` cuts an idle wait short."""
        pruned_at = 0.0
        try:
            self.warm_up()
        except OuraEltError as exc:
            log.error("webhook worker: %s", exc)
        while not stop.is_set():
            try:
                if time.monotonic() - pruned_at > PRUNE_EVERY_SECONDS:
                    pruned_at = time.monotonic()
                    self.journal.prune()
                result = self.process_pending()
            except Exception as exc:  # noqa: BLE001 - the worker must outlive any one pass
                log.error("webhook worker pass failed: %s", exc)
                result = PassResult()
                stop.wait(BUSY_RETRY_SECONDS)
            if result.taken == self.batch_size and result.retried < result.taken:
                continue
            if wake.wait(idle_seconds):
                # Events come in bursts (a ring sync): gather them into one warehouse write.
                stop.wait(SETTLE_SECONDS)
            wake.clear()

    def process_pending(self) -> PassResult:
        """One pass over the due events (at most `batch_size`)."""
        entries = self.journal.due(self.batch_size)
        result = PassResult(taken=len(entries))
        if not entries:
            return result
        docs = self._loadable(_group(entries), result)
        rows, tombstones, committed = self._collect(docs, result)
        if not committed:
            return result
        try:
            self._commit(rows, tombstones)
        except OuraEltError as exc:
            log.warning("webhook events wait: %s", exc)
            self.journal.retry_later(
                [s for d in committed for s in d.seqs],
                str(exc),
                delay=BUSY_RETRY_SECONDS,
                count_attempt=False,
            )
            result.retried += sum(len(d.entries) for d in committed)
            return result
        self.journal.mark_done([s for d in committed for s in d.seqs])
        for doc in committed:
            if doc.removed:
                result.deleted += len(doc.entries)
            else:
                result.merged += len(doc.entries)
        result.rows = {name: len(r) for name, r in rows.items()}
        result.tombstones = {name: len(t) for name, t in tombstones.items()}
        log.info(
            "webhooks: %d document(s) merged, %d removed, %d event(s) dropped, %d to retry",
            sum(result.rows.values()),
            sum(result.tombstones.values()),
            result.dropped,
            result.retried,
        )
        return result

    def _loadable(self, docs: list[_Doc], result: PassResult) -> list[_Doc]:
        """The documents that can be loaded, with their owner; the others' events are dropped."""
        kept = []
        for doc in docs:
            if doc.data_type not in COLLECTION_OF:
                self._drop(doc, result, f"data type {doc.data_type!r} cannot be loaded")
                continue
            doc.owner = self.directory.resolve(doc.user_id)
            if doc.owner is None:
                self._drop(doc, result, "no saved login is this Oura user")
                if doc.user_id not in self._warned:
                    self._warned.add(doc.user_id)
                    log.warning(
                        "webhook events for unknown Oura user %s are dropped; log them in with "
                        "`oura-elt auth login --profile NAME`",
                        doc.user_id,
                    )
                continue
            kept.append(doc)
        return kept

    def _collect(self, docs: list[_Doc], result: PassResult) -> tuple[dict, dict, list[_Doc]]:
        """Rows (fetched documents) and tombstones (deleted or gone ones) per table, and the
        documents they cover; fetch failures are scheduled for retry or dropped."""
        futures = {id(doc): self._pool.submit(self._fetch, doc) for doc in docs if not doc.deleted}
        rows: dict[str, list[dict]] = {}
        tombstones: dict[str, list[dict]] = {}
        covered: list[_Doc] = []
        for doc in docs:
            collection = BY_NAME[COLLECTION_OF[doc.data_type]]
            document = None
            if not doc.deleted:
                try:
                    document = futures[id(doc)].result()
                except ScopeNotGranted as exc:
                    self._drop(doc, result, str(exc))
                    continue
                except OuraEltError as exc:
                    self._retry(doc, result, str(exc))
                    continue
                except Exception as exc:  # noqa: BLE001 - counted as an attempt, so never retried forever
                    self._retry(doc, result, f"{type(exc).__name__}: {exc}")
                    continue
            if document is None:
                tombstones.setdefault(collection.name, []).append(
                    tombstone(collection, (doc.object_id,), None, doc.user_id)
                )
                doc.removed = True
            else:
                rows.setdefault(collection.name, []).append(
                    to_row(collection, document, doc.user_id)
                )
            covered.append(doc)
        return rows, tombstones, covered

    def warm_up(self) -> None:
        """Open the dlt pipeline now (not at the first event) and finish any load package
        a killed worker left behind.

        Raises:
            OuraEltError: the warehouse stayed locked or could not be written.
        """
        pipeline = self._open_pipeline()
        if pipeline.has_pending_data:
            with self._writing(pipeline):
                self._guarded(finish_pending, pipeline)

    # ---------------------------------------------------------------- internals

    def _open_pipeline(self) -> Any:
        if self._pipeline is None:
            self._pipeline, self._where = make_pipeline(
                WEBHOOK_PIPELINE, self.destination, self.duckdb_path, self.dataset_name
            )
        return self._pipeline

    @contextmanager
    def _writing(self, pipeline: Any) -> Iterator[None]:
        """Hold the worker pipeline's folder and the warehouse's write lock."""
        with (
            locks.hold(
                folder_lock_path(pipeline),
                "the webhook worker's pipeline",
                timeout=self.lock_timeout,
            ),
            locks.warehouse_lock(
                self.destination, self.duckdb_path, self.dataset_name, timeout=self.lock_timeout
            ),
        ):
            yield

    def _guarded(self, step: Any, *args: Any) -> Any:
        try:
            return step(*args)
        except OuraEltError:
            raise
        except Exception as exc:  # dlt wraps everything in PipelineStepFailed
            raise failure(exc, self._where) from exc

    def _fetch(self, doc: _Doc) -> dict | None:
        profile, provider = doc.owner
        with self._clients_lock:
            client = self._clients.get(profile)
            if client is None:
                client = self._clients[profile] = OuraClient(
                    self.endpoints.api_base_url,
                    provider,
                    self.budget,
                    self.policy,
                    pool_size=self._fetchers,
                )
        return client.fetch_document(BY_NAME[COLLECTION_OF[doc.data_type]], doc.object_id)

    def _drop(self, doc: _Doc, result: PassResult, reason: str) -> None:
        self.journal.mark_dropped(doc.seqs, reason)
        result.dropped += len(doc.entries)

    def _retry(self, doc: _Doc, result: PassResult, error: str) -> None:
        attempts = max(e.attempts for e in doc.entries)
        delay = min(RETRY_BASE_SECONDS * 2**attempts, RETRY_MAX_SECONDS)
        log.warning(
            "webhook event for %s %s of user %s will be retried in %.0f s: %s",
            doc.data_type,
            doc.object_id,
            doc.user_id,
            delay,
            error,
        )
        self.journal.retry_later(doc.seqs, error, delay=delay)
        result.retried += len(doc.entries)

    def _commit(self, rows: dict[str, list[dict]], tombstones: dict[str, list[dict]]) -> None:
        """One dlt run of the loader's source with these rows and tombstones.

        Raises:
            OuraEltError: the warehouse stayed locked or the write failed.
        """
        pipeline = self._open_pipeline()
        try:
            with self._writing(pipeline):
                self._guarded(finish_pending, pipeline)
                self._guarded(pipeline.run, oura_documents(rows, tombstones))
        except OuraEltError:
            self._pipeline = None  # open it afresh next time (e.g. an erasure removed its folder)
            raise
        _forget_loaded_packages(pipeline)


def _forget_loaded_packages(pipeline: Any) -> None:
    """Delete the worker's completed load packages: they hold copies of many people's
    documents, which belong in the warehouse only (and must go when a person is erased)."""
    loaded = Path(pipeline.working_dir) / "load" / "loaded"
    if loaded.is_dir():
        for package in loaded.iterdir():
            shutil.rmtree(package, ignore_errors=True)
