"""The raw tables evolve with the API: new fields become columns, lists become JSON, type
drift never fails a load. Writes through the source's table shapes (`oura_documents`, the
same hints `oura_source` uses) into a real DuckDB file."""

from __future__ import annotations

from datetime import date

import dlt
import duckdb

from pipelines.oura import oura_documents
from pipelines.oura.rows import to_row
from pipelines.oura.settings import BY_NAME


def _load(pipeline, collection: str, docs: list[dict]) -> None:
    spec = BY_NAME[collection]
    pipeline.run(oura_documents({collection: [to_row(spec, d, "user-1") for d in docs]}, {}))


def _columns(db, table: str) -> dict[str, str]:
    with duckdb.connect(str(db), read_only=True) as con:
        return dict(
            con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'oura_raw' AND table_name = ?",
                [table],
            ).fetchall()
        )


def test_new_fields_appear_as_columns_and_drift_does_not_fail(tmp_path):
    db = tmp_path / "oura.duckdb"
    pipeline = dlt.pipeline(
        "schema_test",
        destination=dlt.destinations.duckdb(credentials=str(db)),
        dataset_name="oura_raw",
        pipelines_dir=str(tmp_path / "dlt"),
    )
    base = {
        "id": "a",
        "day": "2026-01-02",
        "score": 80,
        "timestamp": "2026-01-02T00:00:00+00:00",
        "contributors": {"deep_sleep": 70, "timing": None},
    }
    _load(pipeline, "daily_sleep", [base])

    _load(
        pipeline,
        "daily_sleep",
        [
            {
                **base,
                "id": "b",
                "day": "2026-01-03",
                "sleep_need": 27000,  # a new scalar
                "hypnogram": [1, None, 2],  # a new list: JSON, not a child table
                "contributors": {
                    "deep_sleep": 71.5,
                    "timing": 5,
                    "new_one": 3,
                },  # drift + a new contributor
                "stages": {"deep": {"minutes": 50}},
            },  # a new nested object
        ],
    )

    columns = _columns(db, "daily_sleep")
    assert columns["sleep_need"] == "BIGINT" and columns["hypnogram"] == "JSON"
    assert (
        columns["contributors__new_one"] == "BIGINT"
        and columns["stages__deep__minutes"] == "BIGINT"
    )
    assert columns["contributors__deep_sleep"] == "BIGINT"  # the declared type stays...
    drifted = [c for c in columns if c.startswith("contributors__deep_sleep__v_")]
    assert drifted, columns  # ...and the float lands in a variant column instead of failing
    with duckdb.connect(str(db), read_only=True) as con:
        tables = {
            t
            for (t,) in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'oura_raw'"
            ).fetchall()
        }
        rows = con.execute(
            "SELECT id, day, hypnogram FROM oura_raw.daily_sleep ORDER BY id"
        ).fetchall()
    assert not [t for t in tables if t.startswith("daily_sleep__")]
    assert rows == [("a", date(2026, 1, 2), None), ("b", date(2026, 1, 3), "[1,null,2]")]


def test_time_series_gain_new_fields_too(tmp_path):
    db = tmp_path / "oura.duckdb"
    pipeline = dlt.pipeline(
        "schema_test",
        destination=dlt.destinations.duckdb(credentials=str(db)),
        dataset_name="oura_raw",
        pipelines_dir=str(tmp_path / "dlt"),
    )
    sample = {
        "bpm": 60,
        "source": "rest",
        "timestamp": "2026-01-02T03:04:05+00:00",
        "timestamp_unix": 1,
    }
    _load(pipeline, "heartrate", [sample])
    _load(
        pipeline,
        "heartrate",
        [{**sample, "timestamp": "2026-01-02T03:05:05+00:00", "confidence": 0.9}],
    )
    columns = _columns(db, "heartrate")
    assert columns["confidence"] == "DOUBLE" and columns["timestamp"] == "TIMESTAMP WITH TIME ZONE"
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute(
            "SELECT count(*), count(confidence) FROM oura_raw.heartrate"
        ).fetchone() == (2, 1)
