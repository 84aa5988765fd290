"""Offline proof that the dbt project compiles to BigQuery SQL.

1. dbt compiles every model and data test with the real BigQuery adapter (dbt-bigquery):
   `dbt.*` cross-database macros and our `adapter.dispatch` macros render their BigQuery
   variants. Only the relation listing and lookups, which need Google's API, are replaced
   by a canned answer (a loaded warehouse where every model exists, so incremental
   branches and the staging of the loader's records compile too), and any API call fails
   the test.
2. Every compiled statement is checked as BigQuery SQL: it parses with sqlglot's BigQuery
   dialect, has no `::` casts, and every function it calls is one BigQuery has (the
   allow-list below, from BigQuery's function reference). A DuckDB-only function in a
   model (`generate_series`, `list_extract`, `epoch`, `json_extract_string`, ...) fails it.
3. The same check run on the DuckDB compilation must flag DuckDB functions: the check
   is not vacuous.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import duckdb
import pytest

from pipelines.transform import compile_project

# Functions of BigQuery GoogleSQL (https://cloud.google.com/bigquery/docs/reference/standard-sql/functions-all),
# the ones a model here may reasonably use. Extend it when a model needs another one.
BIGQUERY_FUNCTIONS = frozenset(
    """
    abs any_value array_agg array_length array_to_string avg cast coalesce concat count countif
    current_date current_timestamp date date_add date_diff date_sub date_trunc datetime
    datetime_add datetime_diff datetime_trunc div extract first_value floor format_date
    format_timestamp generate_array generate_date_array greatest if ifnull json_query
    json_query_array json_value json_value_array lag last_value lead least length lower max
    min mod nullif parse_date parse_timestamp rank regexp_contains replace round row_number
    safe_cast safe_divide safe_offset safe_ordinal split stddev string_agg substr substring
    sum timestamp timestamp_add timestamp_diff timestamp_micros timestamp_millis
    timestamp_seconds timestamp_sub timestamp_trunc trim unix_micros unix_millis unix_seconds
    unnest upper
""".split()
)

# Words that may stand before "(" without being a function call.
SQL_WORDS = frozenset(
    """
    all and as by distinct else exists from in interval join not on or over partition select
    then union using when where with
""".split()
)


def functions_called(sql: str) -> Counter:
    """Names written directly before "(" (outside strings, comments and quoted names)."""
    from sqlglot.dialects.bigquery import BigQuery
    from sqlglot.tokens import TokenType

    tokens = BigQuery().tokenize(sql)
    called: Counter = Counter()
    for before, token in zip(tokens, tokens[1:]):
        if token.token_type != TokenType.L_PAREN:
            continue
        if before.token_type in (
            TokenType.L_PAREN,
            TokenType.R_PAREN,
            TokenType.COMMA,
            TokenType.STRING,
            TokenType.NUMBER,
            TokenType.IDENTIFIER,
            TokenType.DOT,
        ):
            continue
        if not before.text.replace("_", "").isalnum():  # an operator: `- (a)`, `x != (b)`
            continue
        called[before.text.lower()] += 1
    return called


def bigquery_problems(folder: Path) -> dict[str, list[str]]:
    """Problems of every compiled .sql below `folder` read as BigQuery SQL, by file."""
    import sqlglot
    from sqlglot.dialects.bigquery import BigQuery
    from sqlglot.errors import ErrorLevel
    from sqlglot.tokens import TokenType

    problems: dict[str, list[str]] = {}
    for path in sorted(folder.rglob("*.sql")):
        sql = path.read_text()
        found = []
        try:
            sqlglot.parse_one(sql, read="bigquery", error_level=ErrorLevel.RAISE)
        except Exception as exc:  # sqlglot's ParseError/TokenError
            found.append(f"does not parse: {str(exc).splitlines()[0]}")
        else:
            if any(t.token_type == TokenType.DCOLON for t in BigQuery().tokenize(sql)):
                found.append("'::' cast")
            unknown = set(functions_called(sql)) - BIGQUERY_FUNCTIONS - SQL_WORDS
            found += [f"not a BigQuery function: {name}" for name in sorted(unknown)]
        if found:
            problems[str(path.relative_to(folder))] = found
    return problems


@pytest.fixture(scope="module")
def bigquery_sql(tmp_path_factory) -> Path:
    bigquery_impl = pytest.importorskip(
        "dbt.adapters.bigquery.impl",
        reason="dbt-bigquery is not installed (pip install 'oura-elt[bigquery]')",
    )
    from dbt.adapters.bigquery.relation import BigQueryRelation
    from google.cloud import bigquery

    # A loaded warehouse: the loader's records and dlt's loads in the raw dataset (their
    # staging models compile the branch that reads them), and the incremental model built.
    built = {
        "oura_marts": {"heart_rate_samples"},
        "oura_raw": {"_oura_load_progress", "_dlt_loads"},
    }

    def list_relations(self, schema_relation):
        return [
            BigQueryRelation.create(
                database=schema_relation.database,
                schema=schema_relation.schema,
                identifier=name,
                type="table",
            )
            for name in sorted(built.get(schema_relation.schema, ()))
        ]

    def get_relation(self, database, schema, identifier):
        listed = list_relations(self, BigQueryRelation.create(database=database, schema=schema))
        found = [r for r in listed if r.identifier == identifier]
        return found[0] if found else None

    def no_api(*args, **kwargs):
        raise AssertionError("the offline BigQuery compile called Google's API")

    folder = tmp_path_factory.mktemp("bigquery")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            bigquery_impl.BigQueryAdapter, "list_relations_without_caching", list_relations
        )
        patch.setattr(bigquery_impl.BigQueryAdapter, "get_relation", get_relation)
        patch.setattr(bigquery.Client, "_call_api", no_api)
        patch.setenv("OURA_BIGQUERY_PROJECT", "oura-elt-offline")
        patch.setenv("OURA_BIGQUERY_METHOD", "oauth-secrets")
        patch.setenv("OURA_BIGQUERY_TOKEN", "offline-token")
        compiled = compile_project(
            target="bigquery", target_path=folder / "dbt", exclude=["resource_type:unit_test"]
        )
    return compiled


def compiled_models(folder: Path) -> dict[str, Path]:
    """Compiled models by name (generic tests compile into `<file>.yml/` folders beside them)."""
    return {
        p.stem: p for p in (folder / "models").rglob("*.sql") if not p.parent.name.endswith(".yml")
    }


def test_every_model_and_test_compiles_for_bigquery(bigquery_sql):
    models = compiled_models(bigquery_sql)
    generic_tests = [
        p for p in (bigquery_sql / "models").rglob("*.sql") if p.parent.name.endswith(".yml")
    ]
    assert {
        "daily_summary",
        "sleep_epochs",
        "heart_rate_samples",
        "activity_minutes",
        "stg_oura__sleep_periods",
        "int_sleep_phases_exploded",
    } <= set(models)
    assert {"data_coverage", "data_freshness", "stg_oura__load_progress"} <= set(models)
    assert len(models) == 45
    assert len(generic_tests) > 150
    assert len(list((bigquery_sql / "tests").rglob("*.sql"))) == 5, "singular tests compile too"


def test_the_bigquery_variants_are_the_ones_compiled(bigquery_sql):
    text = {name: path.read_text() for name, path in compiled_models(bigquery_sql).items()}
    assert "json_query_array(" in text["int_sleep_heart_rate_samples_unnested"]
    assert "with offset as sample_index" in text["int_sleep_heart_rate_samples_unnested"]
    assert "generate_array(" in text["int_sleep_phases_exploded"]
    assert "timestamp_add(" in text["int_sleep_phases_exploded"]
    assert "`oura-elt-offline`.`oura_raw`.`sleep`" in text["stg_oura__sleep_periods"]
    # the incremental branch: a watermark on the existing table
    assert "`oura-elt-offline`.`oura_marts`.`heart_rate_samples`" in text["heart_rate_samples"]
    # the loader's records are read where they exist
    assert "`oura-elt-offline`.`oura_raw`.`_oura_load_progress`" in text["stg_oura__load_progress"]
    assert "unix_micros(" in text["int_heart_rate_samples_bucketed"]


def test_the_compiled_sql_is_bigquery_sql(bigquery_sql):
    assert bigquery_problems(bigquery_sql) == {}


def test_the_check_catches_duckdb_only_sql(tmp_path):
    db = tmp_path / "compile.duckdb"
    duckdb.connect(str(db)).close()
    duckdb_sql = compile_project(
        db, target_path=tmp_path / "dbt", exclude=["resource_type:unit_test"]
    )

    problems = bigquery_problems(duckdb_sql)

    flagged = {p for found in problems.values() for p in found}
    for name in (
        "generate_series",
        "to_microseconds",
        "json_extract_string",
        "list_extract",
        "timezone",
    ):
        assert f"not a BigQuery function: {name}" in flagged, name
    assert any("stg_oura__" not in path for path in problems)


def test_functions_called_ignores_strings_comments_and_names():
    sql = (
        "select count(x), `t`.f as a -- epoch(x)\n"
        "from t where s = 'list_extract(' and cast(y as int64) in (1)"
    )
    assert functions_called(sql) == Counter({"count": 1, "cast": 1, "in": 1})


def test_functions_called_ignores_operators_before_a_parenthesis():
    sql = "select a - (b) * (c), d != (e), f || (g), epoch(h) from t"
    assert functions_called(sql) == Counter({"epoch": 1})
