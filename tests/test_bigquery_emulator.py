"""The local BigQuery API's corrections work (`bigquery_emulator.CORRECTIONS`): each one is
shown failing on the bare emulator and working through the proxy, so that no BigQuery test
passes because the emulator said nothing. Above all, a broken query fails: through
google-cloud-bigquery, through the product's erasure and through dbt-bigquery."""

from __future__ import annotations

import gzip
import io

import pytest
from bigquery_emulator import CORRECTIONS
from google.api_core.exceptions import GoogleAPICallError, NotFound

PROVED = set()  # corrections proved by a test below (checked last)


def proves(name: str):
    """Marks the test proving the correction `name`."""
    assert name in {c.name for c in CORRECTIONS}, name
    PROVED.add(name)
    return lambda test: test


def test_every_correction_says_what_the_emulator_and_bigquery_do():
    for correction in CORRECTIONS:
        assert correction.emulator and correction.bigquery and correction.correction, (
            correction.name
        )
    assert len({c.name for c in CORRECTIONS}) == len(CORRECTIONS)


@proves("failed-query-answers-200")
def test_a_broken_query_fails(bigquery):
    # The bare emulator answers 200 and no rows: a test reading this would pass vacuously.
    assert bigquery.query("SELECT no_such_column FROM nowhere", direct=True) == []
    with pytest.raises(NotFound, match="nowhere"):
        bigquery.query("SELECT no_such_column FROM nowhere")
    bigquery.query(f"CREATE SCHEMA `{bigquery.name}.d`")
    bigquery.query(f"CREATE TABLE `{bigquery.name}.d.t` (a INT64)")
    with pytest.raises(GoogleAPICallError, match="no_such_column"):
        bigquery.query(f"SELECT no_such_column FROM `{bigquery.name}.d.t`")
    assert bigquery.query(f"SELECT COUNT(*) FROM `{bigquery.name}.d.t`") == [(0,)]
    assert bigquery.service.proxy.applied["failed-query-answers-200"] >= 2


@proves("failed-query-answers-200")
def test_a_broken_query_fails_in_the_products_clients(bigquery, tmp_path):
    """dlt's sql client (the loader's reads and merge scripts go through `query_and_wait`, the
    path the correction is for), the erasure's client and dbt-bigquery all raise on a broken
    query (the last two start jobs, whose failure the emulator does report)."""
    from dlt.destinations.exceptions import DatabaseException

    from pipelines.core.errors import OuraEltError
    from pipelines.people import erase_bigquery
    from pipelines.transform import TransformError, _common_args, _prepare, run_dbt
    from pipelines.warehouse import make_pipeline

    pipeline, _ = make_pipeline(None, "bigquery", None, "oura_raw")
    with pipeline.sql_client() as client:  # the client the loader reads and merges with
        assert [tuple(row) for row in client.execute_sql("SELECT 41 + 1")] == [(42,)]
        with pytest.raises(DatabaseException, match="no_such_function"):
            client.execute_sql("SELECT no_such_function(1)")

    client = erase_bigquery._client("oura_raw")
    assert client.project == bigquery.name
    with pytest.raises(OuraEltError, match="BigQuery refused testing: .*nowhere"):
        erase_bigquery._run(client, "SELECT x FROM nowhere", {}, "testing")  # not found
    bigquery.query(f"CREATE SCHEMA `{bigquery.name}.d`")
    bigquery.query(f"CREATE TABLE `{bigquery.name}.d.t` (a INT64)")
    assert erase_bigquery._run(
        client, f"SELECT COUNT(*) FROM `{bigquery.name}.d.t`", {}, "testing"
    ) == [(0,)]
    with pytest.raises(
        OuraEltError, match="BigQuery refused testing: .*no_such_column"
    ):  # a bad query
        erase_bigquery._run(
            client, f"SELECT no_such_column FROM `{bigquery.name}.d.t`", {}, "testing"
        )

    env, _ = _prepare(None, "bigquery", "oura_raw", "oura")
    args = ["show", *_common_args("bigquery", tmp_path / "dbt"), "--inline"]
    assert run_dbt([*args, "select 41 + 1 as answer"], env).success
    with pytest.raises(TransformError, match="nowhere"):
        run_dbt([*args, f"select x from `{bigquery.name}.nowhere.t`"], env)


def _load_jsonl(client, table: str, data: bytes):
    from google.cloud import bigquery as bq

    config = bq.LoadJobConfig(
        source_format="NEWLINE_DELIMITED_JSON", write_disposition="WRITE_APPEND"
    )
    return client.load_table_from_file(io.BytesIO(data), table, job_config=config).result()


@pytest.fixture
def table(bigquery) -> str:
    bigquery.query(f"CREATE SCHEMA `{bigquery.name}.d`")
    bigquery.query(f"CREATE TABLE `{bigquery.name}.d.t` (a INT64, b STRING)")
    return f"{bigquery.name}.d.t"


@proves("empty-upload")
def test_an_empty_file_loads_no_rows(bigquery, table):
    direct = bigquery.client(direct=True)
    with pytest.raises(Exception, match="308"):  # the client cannot read a 308 without Range
        _load_jsonl(direct, table, b"")
    _load_jsonl(bigquery.client(), table, b"")
    _load_jsonl(bigquery.client(), table, b'{"a": 1, "b": "x"}\n')
    assert bigquery.query(f"SELECT a, b FROM `{table}`") == [(1, "x")]


@proves("gzip-upload")
def test_a_gzip_file_loads_its_rows(bigquery, table):
    packed = gzip.compress(b'{"a": 1, "b": "x"}\n{"a": 2, "b": "y"}\n')
    with pytest.raises(GoogleAPICallError, match="Malformed JSON"):
        _load_jsonl(bigquery.client(direct=True), table, packed)
    _load_jsonl(bigquery.client(), table, packed)
    assert sorted(bigquery.query(f"SELECT a, b FROM `{table}`")) == [(1, "x"), (2, "y")]


@proves("script-parameters")
def test_parameters_reach_a_script(bigquery, table):
    from google.cloud import bigquery as bq

    bigquery.query(f"INSERT INTO `{table}` VALUES (1, \"it's\"), (2, 'y'), (3, 'z')")
    script = (
        f"DECLARE n INT64 DEFAULT 0; SET n = (SELECT COUNT(*) FROM `{table}` "
        "WHERE b = @b OR b IN UNNEST(@bs)); SELECT n, @b AS b"
    )
    config = bq.QueryJobConfig(
        query_parameters=[
            bq.ScalarQueryParameter("b", "STRING", "it's"),
            bq.ArrayQueryParameter("bs", "STRING", ["z", "no"]),
        ]
    )
    with pytest.raises(GoogleAPICallError, match="parameters"):
        list(bigquery.client(direct=True).query(script, job_config=config).result())
    rows = [tuple(r.values()) for r in bigquery.client().query(script, job_config=config).result()]
    assert rows == [(2, "it's")]
    single = bq.QueryJobConfig(query_parameters=[bq.ScalarQueryParameter("b", "STRING", "y")])
    assert [
        tuple(r.values())
        for r in bigquery.client()
        .query(f"SELECT a FROM `{table}` WHERE b = @b", job_config=single)
        .result()
    ] == [(2,)]


@proves("temp-tables-outlive-scripts")
def test_a_script_with_a_temp_table_runs_twice(bigquery, table):
    script = f"CREATE TEMP TABLE kept AS SELECT a FROM `{table}`; SELECT COUNT(*) FROM kept"
    bigquery.query(f"INSERT INTO `{table}` VALUES (1, 'x')")
    assert bigquery.query(script, direct=True) == [(1,)]
    with pytest.raises(GoogleAPICallError, match="Already Exists"):
        bigquery.client(direct=True).query(script).result()
    assert bigquery.query("SELECT COUNT(*) FROM kept", direct=True) == [(1,)]  # still there
    bigquery.query("DROP TABLE kept", direct=True)
    assert bigquery.query(script) == [(1,)]
    assert bigquery.query(script) == [(1,)]
    with pytest.raises(NotFound):
        bigquery.query("SELECT COUNT(*) FROM kept")


def test_zz_every_correction_has_a_proving_test():
    assert PROVED == {c.name for c in CORRECTIONS}
