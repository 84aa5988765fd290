"""The warehouse against the sandbox's ground truth, for the tests.

One implementation serves the tests and the fault suite: `bench/truth_compare.py`
(which counts missing, duplicated and stale documents); this module names what the
tests use from it.
"""

from bench.truth_compare import (  # noqa: F401
    assert_warehouse_equals_truth,
    compare_warehouse,
    day_before,
    expected_columns,
    key_of,
    mismatches,
    read_table,
    snapshot,
    table_of,
    truth_by_table,
)
