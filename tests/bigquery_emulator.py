"""A local BigQuery API for the tests: `bqemulator` on loopback, behind a proxy that corrects it.

`make bqemulator` (a dependency of `make test`) installs bqemulator, pinned in
`tests/bqemulator-requirements.txt`, into its own environment `.tools/bqemulator/`
(it brings its own DuckDB, which our product pins elsewhere), with DuckDB's spatial and
avro extensions from PyPI placed where its DuckDB looks for them (`<env>/home/.duckdb`,
the emulator runs with that HOME), so nothing is downloaded at run time.

The product's real BigQuery code talks to it unchanged: dlt's bigquery destination,
google-cloud-bigquery, dbt-bigquery and the erasure, all pointed at the proxy by
`BIGQUERY_EMULATOR_HOST` (`client_env`). The proxy (`CorrectingProxy`) forwards every
request to the emulator and corrects, in this one place, where the emulator answers
differently from BigQuery; `CORRECTIONS` lists each one with the emulator's behaviour,
and `tests/test_bigquery_emulator.py` proves each correction works (above all that a
broken query fails, without which every BigQuery test would pass vacuously).
"""

from __future__ import annotations

import gzip
import http.client
import itertools
import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent
EMULATOR_ENV = Path(
    os.environ.get("OURA_ELT_BQEMULATOR_ENV") or PROJECT_ROOT / ".tools" / "bqemulator"
)
PROJECT = "oura-emulated"  # the emulator's default project
START_TIMEOUT_SECONDS = 90.0


@dataclass(frozen=True)
class Correction:
    """One way the emulator differs from BigQuery, and what the proxy does about it.

    Attributes:
        name: short id (the proving test names it).
        emulator: what bqemulator 1.4.0 does.
        bigquery: what BigQuery does (and where that is documented).
        correction: what the proxy changes.
    """

    name: str
    emulator: str
    bigquery: str
    correction: str


CORRECTIONS = (
    Correction(
        "failed-query-answers-200",
        "jobs.query (POST .../queries) of a query that fails answers HTTP 200 with "
        "`jobComplete: true`, no rows and the error only in `errors`, so the client's "
        "`query_and_wait` (dlt's DB-API cursor: the loader's reads and merge scripts) returns no "
        "rows instead of raising",
        "an HTTP error with the job's errorResult (https://cloud.google.com/bigquery/docs/"
        "error-messages); the client raises",
        "when the response carries errors and the job's status has an errorResult, answer "
        "with that error (HTTP status from its reason, Google's error envelope)",
    ),
    Correction(
        "empty-upload",
        "the last PUT of a resumable upload of an empty file (`Content-Range: bytes */0`) is "
        "taken for a status probe and answered 308 without a Range header, which the client "
        "cannot handle (dlt uploads an empty file to create an empty table)",
        "a load of an empty file succeeds and loads no rows",
        "send that PUT as one newline (`bytes 0-0/1`): a JSON-lines file with no rows",
    ),
    Correction(
        "gzip-upload",
        "a gzip-compressed upload (dlt compresses its JSON-lines files) is read as plain text "
        "and fails",
        "load jobs read gzip-compressed CSV and JSON files (https://cloud.google.com/bigquery/"
        "docs/loading-data-cloud-storage-json#loading_compressed_and_uncompressed_data)",
        "decompress an upload sent in one piece before forwarding it",
    ),
    Correction(
        "script-parameters",
        "named query parameters are not bound inside a multi-statement script (`Values were "
        "not provided for the following prepared statement parameters`)",
        "parameters are bound in scripts too (https://cloud.google.com/bigquery/docs/"
        "parameterized-queries)",
        "write the parameters' values into a script as literals (strings escaped, arrays as "
        "ARRAY<T>[...]); single statements keep real parameters",
    ),
    Correction(
        "temp-tables-outlive-scripts",
        "a script's temporary table stays, with its rows, when the script has ended (later "
        "queries still read it): the same script fails the second time with `Already Exists`",
        "a script's temporary tables are dropped when it ends (https://cloud.google.com/"
        "bigquery/docs/multi-statement-queries#temporary_tables)",
        "create them with CREATE OR REPLACE, and drop them when the script has answered",
    ),
)


# ---------------------------------------------------------------------------- the emulator


def emulator_binary() -> Path | None:
    """The installed `bqemulator` command, or None."""
    path = EMULATOR_ENV / "bin" / "bqemulator"
    return path if path.is_file() and os.access(path, os.X_OK) else None


def missing_reason() -> str | None:
    """Why the emulator cannot start here (None: it can)."""
    if emulator_binary() is None:
        return (
            f"bqemulator is not installed in {EMULATOR_ENV} (run `make bqemulator`; "
            "`make test` does it)"
        )
    if not list(
        (EMULATOR_ENV / "home" / ".duckdb" / "extensions").rglob("spatial.duckdb_extension")
    ):
        return (
            f"DuckDB's spatial extension is missing under {EMULATOR_ENV}/home "
            "(run `make bqemulator`)"
        )
    return None


class Emulator:
    """A running bqemulator process (REST and gRPC on free loopback ports)."""

    def __init__(self, workdir: Path, project: str = PROJECT) -> None:
        self.workdir = workdir
        self.project = project
        self.log_path = workdir / "bqemulator.log"
        self.process: subprocess.Popen | None = None
        self.port = 0

    def start(self) -> Emulator:
        """Start it and wait until it serves (its REST port is read from its log)."""
        binary = emulator_binary()
        if binary is None:
            raise RuntimeError(missing_reason())
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(EMULATOR_ENV / "home"),  # where its DuckDB finds the extensions
            "BQEMU_UPLOAD_STAGING_DIR": str(self.workdir / "uploads"),
            "LANG": "C.UTF-8",
        }
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                str(binary),
                "start",
                "--rest-host",
                "127.0.0.1",
                "--rest-port",
                "0",
                "--grpc-host",
                "127.0.0.1",
                "--grpc-port",
                "0",
                "--project",
                self.project,
                "--log-format",
                "json",
                "--log-level",
                "info",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=self.workdir,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"bqemulator exited at start: {self.tail()}")
            self.port = self._listening_port()
            if self.port and self._healthy():
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(
            f"bqemulator did not start within {START_TIMEOUT_SECONDS:g} s: {self.tail()}"
        )

    def _listening_port(self) -> int:
        for line in self.log_path.read_text(errors="replace").splitlines():
            if '"rest.listen"' in line:
                try:
                    return int(json.loads(line)["port"])
                except (ValueError, KeyError):
                    continue
        return 0

    def _healthy(self) -> bool:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            conn.request("GET", "/healthz")
            return conn.getresponse().status == 200
        except OSError:
            return False

    def tail(self, lines: int = 15) -> str:
        """The end of its log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL)."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=15)


# ---------------------------------------------------------------------------- the proxy


class CorrectingProxy:
    """An HTTP proxy on a free loopback port that forwards to the emulator, with `CORRECTIONS`.

    Attributes:
        url: where clients point (`BIGQUERY_EMULATOR_HOST`).
        applied: how often each correction changed a request or response, by name.
        queries: the SQL of every query and script sent, in order (as the client sent it).
        hooks: test-only faults, not corrections: each is called with every query's SQL
            (after the corrections) and returns the SQL to send; it may block, or raise to
            answer the client with an error instead of forwarding.
    """

    def __init__(self, emulator_port: int) -> None:
        self.emulator_port = emulator_port
        self.applied: dict[str, int] = {c.name: 0 for c in CORRECTIONS}
        self.queries: list[str] = []
        self.hooks: list[Callable[[str], str]] = []
        self._lock = threading.Lock()
        self._local = threading.local()
        proxy = self

        class Handler(_Handler):
            owner = proxy

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, name="bq-proxy", daemon=True
        )

    def start(self) -> CorrectingProxy:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def count(self, name: str) -> None:
        with self._lock:
            self.applied[name] += 1

    def forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list, bytes]:
        """Send one request to the emulator over this thread's connection."""
        for attempt in (1, 2):
            conn = getattr(self._local, "conn", None)
            if conn is None:
                conn = self._local.conn = http.client.HTTPConnection(
                    "127.0.0.1", self.emulator_port, timeout=600
                )
            try:
                conn.request(method, path, body=body or None, headers=headers)
                response = conn.getresponse()
                return response.status, response.getheaders(), response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                conn.close()
                self._local.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    # -------------------------------------------------------------- request corrections

    def correct_request(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> bytes:
        route = urlsplit(path)
        if (
            method == "PUT"
            and route.path.startswith("/upload/")
            and "upload_id" in parse_qs(route.query)
        ):
            return self._correct_upload(headers, body)
        if method == "POST" and route.path.startswith("/upload/") and body[:2] == b"\x1f\x8b":
            raise AssertionError("a gzip upload in one POST: the proxy cannot correct it")
        if method == "POST" and (route.path.endswith("/queries") or route.path.endswith("/jobs")):
            return self._correct_query(body)
        return body

    def _correct_upload(self, headers: dict[str, str], body: bytes) -> bytes:
        content_range = _header(headers, "Content-Range") or ""
        if content_range.strip() == "bytes */0" and not body:
            self.count("empty-upload")
            _set_header(headers, "Content-Range", "bytes 0-0/1")
            return b"\n"
        if body[:2] == b"\x1f\x8b":
            match = re.fullmatch(r"bytes 0-(\d+)/(\d+)", content_range.strip())
            if not match or int(match.group(1)) + 1 != int(match.group(2)):
                raise AssertionError(
                    f"a gzip upload in pieces ({content_range}): cannot correct it"
                )
            self.count("gzip-upload")
            plain = gzip.decompress(body)
            if not plain:
                plain = b"\n"
            _set_header(headers, "Content-Range", f"bytes 0-{len(plain) - 1}/{len(plain)}")
            return plain
        return body

    def _correct_query(self, body: bytes) -> bytes:
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return body
        holder = (
            request.get("configuration", {}).get("query") if "configuration" in request else request
        )
        if not isinstance(holder, dict) or not isinstance(holder.get("query"), str):
            return body
        sql = holder["query"]
        with self._lock:
            self.queries.append(sql)
        if os.environ.get("BQ_PROXY_LOG"):
            with open(os.environ["BQ_PROXY_LOG"], "a") as log:
                log.write(sql + "\n-- ----\n")
        statements = _statement_count(sql)
        if statements > 1 and holder.get("queryParameters"):
            holder["query"] = sql = _inline_parameters(sql, holder.pop("queryParameters"))
            holder.pop("parameterMode", None)
            self.count("script-parameters")
        if statements > 1:
            replaced = _TEMP_TABLE.sub(r"CREATE OR REPLACE TEMP TABLE", sql)
            if replaced != sql:
                holder["query"] = sql = replaced
                self.count("temp-tables-outlive-scripts")
                self._local.temp_tables = _TEMP_TABLE_NAME.findall(sql)
        for hook in list(self.hooks):
            holder["query"] = sql = hook(sql)
        return json.dumps(request).encode()

    # -------------------------------------------------------------- response corrections

    def drop_temp_tables(self, path: str) -> None:
        """Drop the temporary tables the script of this thread's last request created."""
        names = getattr(self._local, "temp_tables", None)
        self._local.temp_tables = None
        match = re.match(r"/bigquery/v2/projects/([^/]+)/", urlsplit(path).path)
        if not names or not match:
            return
        for name in names:  # a temporary table there lives beside the catalog: drop it in SQL
            self.forward(
                "POST",
                f"/bigquery/v2/projects/{match.group(1)}/queries",
                {"Content-Type": "application/json"},
                json.dumps(
                    {"query": f"DROP TABLE IF EXISTS {name}", "useLegacySql": False}
                ).encode(),
            )

    def correct_response(
        self, method: str, path: str, status: int, body: bytes
    ) -> tuple[int, bytes] | None:
        """A replacement (status, body) for a failed query answered 200, else None."""
        if not (method == "POST" and urlsplit(path).path.endswith("/queries") and status == 200):
            return None
        try:
            answer = json.loads(body)
        except ValueError:
            return None
        if not answer.get("errors"):
            return None
        job = answer.get("jobReference") or {}
        status_code, _, job_body = self.forward(
            "GET", f"/bigquery/v2/projects/{job.get('projectId')}/jobs/{job.get('jobId')}", {}, b""
        )
        error = (
            (json.loads(job_body).get("status") or {}).get("errorResult")
            if status_code == 200
            else None
        )
        if not error:
            return None
        self.count("failed-query-answers-200")
        code = _HTTP_STATUS.get(error.get("reason"), 400)
        envelope = {
            "error": {
                "code": code,
                "message": error.get("message", ""),
                "errors": answer["errors"],
                "status": _STATUS_NAME.get(code, "INVALID_ARGUMENT"),
            }
        }
        return code, json.dumps(envelope).encode()


_HTTP_STATUS = {
    "notFound": 404,
    "duplicate": 409,
    "accessDenied": 403,
    "invalidQuery": 400,
    "invalid": 400,
    "backendError": 500,
    "internalError": 500,
    "stopped": 400,
}
_STATUS_NAME = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    500: "INTERNAL",
}
_TEMP_TABLE = re.compile(r"\bCREATE\s+TEMP(?:ORARY)?\s+TABLE\b", re.IGNORECASE)
_TEMP_TABLE_NAME = re.compile(r"\bCREATE\s+OR\s+REPLACE\s+TEMP\s+TABLE\s+`?(\w+)`?", re.IGNORECASE)
_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class _Handler(BaseHTTPRequestHandler):
    owner: CorrectingProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _relay(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
        try:
            body = self.owner.correct_request(self.command, self.path, headers, body)
            if body:
                headers["Content-Length"] = str(len(body))
            status, response_headers, answer = self.owner.forward(
                self.command, self.path, headers, body
            )
            replaced = self.owner.correct_response(self.command, self.path, status, answer)
            self.owner.drop_temp_tables(self.path)
        except Exception as exc:  # noqa: BLE001 - a proxy fault is a 502 the client sees
            self._send(
                502,
                [("Content-Type", "application/json")],
                json.dumps({"error": {"code": 502, "message": f"bq proxy: {exc}"}}).encode(),
            )
            return
        if replaced is not None:
            status, answer = replaced
            response_headers = [("Content-Type", "application/json; charset=UTF-8")]
        # A resumable upload's session URI names the emulator: keep its chunks on the proxy.
        emulator = f"http://127.0.0.1:{self.owner.emulator_port}"
        response_headers = [
            (k, v.replace(emulator, self.owner.url) if k.lower() == "location" else v)
            for k, v in response_headers
        ]
        self._send(status, response_headers, answer)

    def _send(self, status: int, headers: list, body: bytes) -> None:
        try:
            self._write(status, headers, body)
        except (BrokenPipeError, ConnectionResetError):  # the client is gone (a killed load)
            self.close_connection = True

    def _write(self, status: int, headers: list, body: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in _HOP_HEADERS and name.lower() not in ("server", "date"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _relay


def _header(headers: dict[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name.lower()), None)


def _set_header(headers: dict[str, str], name: str, value: str) -> None:
    for key in [k for k in headers if k.lower() == name.lower()]:
        del headers[key]
    headers[name] = value


def _statement_count(sql: str) -> int:
    """Statements in `sql` (BigQuery's tokenizer: semicolons outside strings and comments)."""
    from sqlglot.dialects.bigquery import BigQuery
    from sqlglot.tokens import TokenType

    count, pending = 0, False
    for token in BigQuery().tokenize(sql):
        if token.token_type == TokenType.SEMICOLON:
            count += pending
            pending = False
        else:
            pending = True
    return count + pending


def _inline_parameters(sql: str, parameters: list[dict]) -> str:
    """`sql` with every `@name` replaced by its value as a BigQuery literal."""
    from sqlglot.dialects.bigquery import BigQuery
    from sqlglot.tokens import TokenType

    values = {
        p["name"]: _literal(p["parameterType"], p.get("parameterValue") or {}) for p in parameters
    }
    tokens = BigQuery().tokenize(sql)
    out, last = [], 0
    for at, name in itertools.pairwise(tokens):
        if (
            at.token_type == TokenType.PARAMETER
            and name.start == at.end + 1
            and name.text in values
        ):
            out += [sql[last : at.start], values[name.text]]
            last = name.end + 1
    return "".join(out) + sql[last:]


def _literal(kind: dict, value: dict) -> str:
    if kind.get("type") == "ARRAY":
        element = kind["arrayType"]
        items = [_literal(element, item) for item in value.get("arrayValues") or []]
        return f"ARRAY<{element['type']}>[{', '.join(items)}]"
    raw = value.get("value")
    if raw is None:
        return f"CAST(NULL AS {kind.get('type', 'STRING')})"
    if kind.get("type") in ("INT64", "FLOAT64", "NUMERIC", "BIGNUMERIC", "BOOL"):
        return str(raw)
    text = "'" + str(raw).replace("\\", "\\\\").replace("'", "\\'") + "'"
    return text if kind.get("type") == "STRING" else f"{kind['type']} {text}"


# ---------------------------------------------------------------------------- clients


def write_credentials(folder: Path, project: str = PROJECT) -> Path:
    """An `authorized_user` credentials file whose token never expires (nothing refreshes it
    against Google, which a bare token without an expiry would try)."""
    path = folder / "emulator-credentials.json"
    path.write_text(
        json.dumps(
            {
                "type": "authorized_user",
                "client_id": "emulator",
                "client_secret": "emulator",
                "refresh_token": "emulator",
                "token": "emulator-token",
                "expiry": "2999-01-01T00:00:00Z",
                "quota_project_id": project,
            }
        )
    )
    path.chmod(0o600)
    return path


def client_env(proxy_url: str, credentials: Path, project: str = PROJECT) -> dict[str, str]:
    """The environment that points the product's BigQuery clients (dlt, dbt-bigquery,
    google-cloud-bigquery) at the proxy, with the credentials and project."""
    return {
        "BIGQUERY_EMULATOR_HOST": proxy_url,
        "GOOGLE_APPLICATION_CREDENTIALS": str(credentials),
        "GOOGLE_CLOUD_PROJECT": project,
        "NO_GCE_CHECK": "true",  # never probe a Compute Engine metadata server
        "DESTINATION__BIGQUERY__CREDENTIALS__PROJECT_ID": project,
        "OURA_BIGQUERY_PROJECT": project,
        "OURA_BIGQUERY_METHOD": "oauth",
    }


@dataclass
class LocalBigQuery:
    """The emulator and its proxy; each test works in a project of its own (`project`)."""

    emulator: Emulator
    proxy: CorrectingProxy
    credentials: Path

    def project(self, name: str) -> Project:
        """A project of the emulator (projects are separate catalogs there, as on BigQuery)."""
        return Project(self, name, client_env(self.proxy.url, self.credentials, name))

    def stop(self) -> None:
        self.proxy.stop()
        self.emulator.stop()


@dataclass
class Project:
    """One project: the environment the product's clients need, and a client for the test."""

    service: LocalBigQuery
    name: str
    env: dict[str, str]

    def client(self, *, direct: bool = False) -> Any:
        """A google-cloud-bigquery client through the proxy (`direct`: to the bare emulator)."""
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import bigquery

        url = f"http://127.0.0.1:{self.service.emulator.port}" if direct else self.service.proxy.url
        return bigquery.Client(
            project=self.name,
            credentials=AnonymousCredentials(),
            client_options=ClientOptions(api_endpoint=url),
        )

    def query(self, sql: str, *, direct: bool = False) -> list[tuple]:
        """The rows of one query (an error raises, once the proxy has corrected the emulator)."""
        client = self.client(direct=direct)
        try:
            return [tuple(row.values()) for row in client.query_and_wait(sql)]
        finally:
            client.close()

    def read_table(self, table: str, dataset: str = "oura_raw") -> list[dict[str, Any]]:
        """Every row of a table as a dict (none if it does not exist)."""
        from google.api_core.exceptions import NotFound

        client = self.client()
        try:
            return [
                dict(row.items())
                for row in client.query_and_wait(f"SELECT * FROM `{self.name}.{dataset}.{table}`")
            ]
        except NotFound:
            return []
        finally:
            client.close()

    def tables(self, dataset: str) -> list[str]:
        """Base tables of a dataset (none if it does not exist)."""
        from google.api_core.exceptions import NotFound

        try:
            return sorted(
                name
                for (name,) in self.query(
                    f"SELECT table_name FROM `{self.name}.{dataset}.INFORMATION_SCHEMA.TABLES` "
                    "WHERE table_type = 'BASE TABLE'"
                )
            )
        except NotFound:
            return []

    def datasets(self) -> list[str]:
        client = self.client()
        try:
            return sorted(d.dataset_id for d in client.list_datasets())
        finally:
            client.close()


def start_local_bigquery(workdir: Path) -> LocalBigQuery:
    """Start the emulator and its correcting proxy (raises with the reason when it cannot)."""
    reason = missing_reason()
    if reason:
        raise RuntimeError(reason)
    emulator = Emulator(workdir).start()
    try:
        proxy = CorrectingProxy(emulator.port).start()
    except Exception:
        emulator.stop()
        raise
    return LocalBigQuery(emulator, proxy, write_credentials(workdir))
