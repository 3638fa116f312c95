"""The Great Expectations wrapper: checks stacked into one long frame, exact values, Data Docs."""

from __future__ import annotations

import subprocess
import sys
import time
from decimal import Decimal

import polars as pl
import pytest

from orders_pipeline.lib.checks import data_docs
from orders_pipeline.lib.checks import gx_suites as expectations
from orders_pipeline.lib.checks.data_docs import DataDocs
from orders_pipeline.lib.checks.gx_suites import AtMost, Equal


class RecordingLog:
    """Collects the warnings a sink or publisher logs."""

    def __init__(self) -> None:  # noqa: D107
        self.warnings: list[str] = []

    def warning(self, message: str) -> None:  # noqa: D102
        self.warnings.append(message)


def test_zero_violations_name_the_failing_counts() -> None:
    frame = pl.DataFrame({"duplicate_order_ids": [2], "null_keys": [0], "wrong_actions": [1]})
    outcome = expectations.validate("structure", frame, expectations.zero_violations(frame.columns))
    assert not outcome.success
    assert [(e.column, e.success, e.observed, e.unexpected_count) for e in outcome.expectations] == [
        ("duplicate_order_ids", False, 2, 1),
        ("null_keys", True, 0, 0),
        ("wrong_actions", False, 1, 1),
    ]
    assert [e.column for e in outcome.failures()] == ["duplicate_order_ids", "wrong_actions"]


def test_all_zero_passes() -> None:
    frame = pl.DataFrame({"a": [0], "b": [0]})
    outcome = expectations.validate("clean", frame, expectations.zero_violations(frame.columns))
    assert outcome.success
    assert outcome.failures() == []


def test_at_most_holds_at_the_limit_and_compares_exactly() -> None:
    big = 2**62
    frame = pl.DataFrame({"rate": [0.05], "count": [3], "amount": [big + 1]})
    outcome = expectations.validate("limits", frame, [AtMost("rate", 0.05), AtMost("count", 2), AtMost("amount", big)])
    assert [(e.column, e.success) for e in outcome.expectations] == [
        ("rate", True),
        ("count", False),
        ("amount", False),  # big + 1 > big, although float64 cannot tell
    ]


def test_a_missing_value_never_passes() -> None:
    frame = pl.DataFrame({"violations": [None, 0]}, schema={"violations": pl.Int64})
    outcome = expectations.validate("nulls", frame, [AtMost("violations", 0)])
    assert not outcome.success
    assert outcome.expectations[0].unexpected_count == 1


def test_columns_equal_reports_rows_and_a_sample() -> None:
    frame = pl.DataFrame(
        {
            "lines_read": [3, 5, 7, 9],
            "lines_accounted": [3, 4, 7, 8],
            "lines_landed": [1, 2, 3, 4],
            "rows_in_table": [1, 2, 3, 4],
        }
    )
    outcome = expectations.validate(
        "conservation",
        frame,
        expectations.columns_equal([("lines_read", "lines_accounted"), ("lines_landed", "rows_in_table")]),
    )
    first, second = outcome.expectations
    assert not outcome.success
    assert (first.column, first.success, first.unexpected_count, first.sample) == (
        "lines_read = lines_accounted",
        False,
        2,
        [[5, 4], [9, 8]],
    )
    assert (second.success, second.unexpected_count) == (True, 0)


def test_equal_compares_mixed_integer_types_exactly() -> None:
    # DuckDB sums arrive as HUGEINT/Decimal; counts as BIGINT
    frame = pl.DataFrame({"amount": [10**20, 5], "summed": [Decimal(10**20), Decimal(6)]})
    outcome = expectations.validate("tie_out", frame, [Equal("amount", "summed")])
    assert outcome.expectations[0].unexpected_count == 1
    assert outcome.expectations[0].sample == [[5, Decimal(6)]]


@pytest.mark.parametrize("dtype", [pl.Int64, pl.Int32, pl.Decimal(38, 0)], ids=["int64", "int32", "decimal"])
def test_integer_columns_of_any_type_give_the_same_verdict(dtype) -> None:
    size = expectations.COMPLETE_RESULT_MAX_ROWS + 1  # also past the COMPLETE result limit
    left = pl.Series("a", range(size)).cast(dtype)
    frame = pl.DataFrame([left, pl.Series("b", [0] + list(range(1, size - 1)) + [7]).cast(dtype)])
    frame = frame.with_columns(n=pl.Series([0] * (size - 1) + [2]).cast(dtype))
    equal = expectations.validate("typed_equal", frame, [Equal("a", "b")]).expectations[0]
    limit = expectations.validate("typed_limit", frame, [AtMost("n", 1)]).expectations[0]
    assert (equal.success, equal.unexpected_count, equal.sample) == (False, 1, [[size - 1, 7]])
    assert (limit.success, limit.unexpected_count, limit.sample) == (False, 1, [2])


def test_one_missing_side_breaks_equality() -> None:
    frame = pl.DataFrame({"a": [1, None, None], "b": [1, 2, None]}, schema={"a": pl.Int64, "b": pl.Int64})
    [outcome] = expectations.validate("nulls_equal", frame, [Equal("a", "b")]).expectations
    assert (outcome.success, outcome.unexpected_count) == (False, 1)  # both missing is not a difference


def test_mixed_check_kinds_in_one_suite() -> None:
    frame = pl.DataFrame({"a": [1, 2], "b": [1, 3], "n": [0, 1]})
    outcome = expectations.validate("mixed", frame, [Equal("a", "b"), AtMost("n", 0)])
    assert [(e.column, e.unexpected_count) for e in outcome.expectations] == [("a = b", 1), ("n", 1)]
    assert len(outcome.result.results) == 2  # two expectations, whatever the number of checks


def test_big_evidence_frames_are_broken_down_exactly() -> None:
    size = expectations.COMPLETE_RESULT_MAX_ROWS + 500  # past the COMPLETE result limit
    left = list(range(size))
    right = [v + 1 if v % 100 == 0 else v for v in left]
    outcome = expectations.validate("big", pl.DataFrame({"l": left, "r": right}), [Equal("l", "r")])
    assert not outcome.success
    assert outcome.expectations[0].unexpected_count == len(range(0, size, 100))
    assert len(outcome.expectations[0].sample) == expectations.SAMPLE_SIZE


def test_empty_evidence_passes() -> None:
    frame = pl.DataFrame(schema={"a": pl.Int64, "b": pl.Int64})
    outcome = expectations.validate("empty", frame, [Equal("a", "b")])
    assert outcome.success


def test_raw_great_expectations_objects_are_refused() -> None:
    with pytest.raises(TypeError, match="AtMost and Equal"):
        expectations.validate("raw", pl.DataFrame({"a": [0]}), [object()])


def test_a_suite_costs_well_under_a_third_of_a_second() -> None:
    columns = [f"violation_{i}" for i in range(10)]
    frame = pl.DataFrame({c: [0] for c in columns})
    checks = expectations.zero_violations(columns)
    expectations.validate("speed", frame, checks)  # the first call imports Great Expectations
    best = min(_timed(lambda: expectations.validate("speed", frame, checks)) for _ in range(3))
    assert best < 0.3


def _timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


# --- Data Docs ---------------------------------------------------------------------------------


def _outcome(name: str, violations: int = 0) -> expectations.SuiteOutcome:
    return expectations.validate(name, pl.DataFrame({"violations": [violations]}), [AtMost("violations", 0)])


def test_data_docs_folder_is_beside_the_warehouse(tmp_path) -> None:
    assert data_docs.data_docs_folder(tmp_path / "data" / "warehouse.duckdb") == (
        tmp_path / "data" / "warehouse.gx_data_docs"
    )
    docs = DataDocs.for_warehouse(tmp_path / "w.duckdb", "run-1")
    assert docs.index == tmp_path / "w.gx_data_docs" / "index.html"


def test_publish_renders_each_suite_and_the_index(tmp_path) -> None:
    docs = DataDocs(tmp_path / "docs", "run-1")
    assert docs.publish([_outcome("suite_a"), _outcome("suite_b", violations=3)]) == docs.index
    index = docs.index.read_text()
    for suite in ("suite_a", "suite_b"):
        [page] = (tmp_path / "docs" / "validations" / suite / "run-1").rglob("*.html")
        assert suite in index
    failing = next((tmp_path / "docs" / "validations" / "suite_b").rglob("*.html")).read_text()
    assert "violations" in failing
    assert "Failed" in failing
    # the JSON results the pages are rendered from sit beside them
    assert list((tmp_path / "docs" / data_docs.VALIDATION_RESULTS_DIR / "suite_b").rglob("*.json"))


def test_publish_keeps_only_the_latest_runs(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(data_docs, "DATA_DOCS_RUNS_KEPT", 2)
    outcome = _outcome("suite_a")
    for run in ("run-1", "run-2", "run-3"):
        DataDocs(tmp_path / "docs", run).publish([outcome])
    runs = sorted(p.name for p in (tmp_path / "docs" / "validations" / "suite_a").iterdir())
    assert runs == ["run-2", "run-3"]
    stored = sorted(p.name for p in (tmp_path / "docs" / data_docs.VALIDATION_RESULTS_DIR / "suite_a").iterdir())
    assert stored == ["run-2", "run-3"]


def test_publish_never_raises(tmp_path) -> None:
    blocker = tmp_path / "w.gx_data_docs"
    blocker.write_text("a file where the Data Docs folder should be")
    log = RecordingLog()
    docs = DataDocs.for_warehouse(tmp_path / "w.duckdb", "run-1", log)
    assert docs.publish([_outcome("suite_a")]) is None
    assert len(log.warnings) == 1
    assert "Data Docs not published" in log.warnings[0]


def test_publish_after_a_repeated_validation_is_fast(tmp_path) -> None:
    docs = DataDocs(tmp_path / "docs", "run-1")
    outcome = _outcome("suite_a")
    docs.publish([outcome])  # compiles the page templates once per process
    assert min(_timed(lambda: docs.publish([outcome])) for _ in range(3)) < 0.5


def test_a_check_during_the_prefetch_waits_for_it_and_shares_its_context(tmp_path) -> None:
    # A fresh interpreter, so that Great Expectations is not imported yet: the check's
    # get_context() starts while the background import is running. The script runs from a
    # file, not `python -c`: Great Expectations imports PySpark when it is installed, and
    # PySpark exits a `-c` interpreter silently when its Spark Connect extras are missing.
    script = (
        "import sys\n"
        "from orders_pipeline.lib.checks import gx_suites\n"
        "thread = gx_suites.prefetch_context()\n"
        "assert thread.is_alive(), 'the import should still be running'\n"
        "context = gx_suites.get_context()\n"
        "thread.join(timeout=120)\n"
        "assert not thread.is_alive()\n"
        "assert context is gx_suites._context is gx_suites.get_context(), 'two contexts were made'\n"
        "assert 'great_expectations.expectations' in sys.modules\n"
        "print('ok')\n"
    )
    path = tmp_path / "prefetch.py"
    path.write_text(script)
    done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
