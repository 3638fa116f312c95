"""The command-line contract: one-line errors, exit codes, summary, and blocking checks."""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl
import pytest

from orders_pipeline import cli
from orders_pipeline.lib.outcomes import rules as outcome_rules
from orders_pipeline_tests.conftest import AS_OF


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _reconcile_args(orders: Path, callbacks: Path, warehouse: Path, *extra: str) -> list[str]:
    return [
        "reconcile",
        "--orders",
        str(orders),
        "--callbacks",
        str(callbacks),
        "--warehouse",
        str(warehouse),
        "--as-of",
        AS_OF,
        "--quiet",
        *extra,
    ]


def _assert_one_line_error(err: str, *fragments: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0]


def test_reconcile_prints_summary_and_exits_zero(tmp_path, small_logs, capsys) -> None:
    code, out, err = _run(_reconcile_args(*small_logs, tmp_path / "w.duckdb"), capsys)
    assert code == 0, err
    assert "confirmed" in out
    assert "overdue" in out
    assert "USD 12.50" in out
    assert "KWD 1.250" in out
    assert "JPY 1000" in out


def test_missing_orders_path_is_a_one_line_error(tmp_path, small_logs, capsys) -> None:
    _, callbacks = small_logs
    code, _, err = _run(_reconcile_args(tmp_path / "nope", callbacks, tmp_path / "w.duckdb"), capsys)
    assert code == 2
    _assert_one_line_error(err, "nope", "does not exist")


def test_unknown_config_key_is_named(tmp_path, small_logs, capsys) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("providers:\n  stripe:\n    sla: 5m\n    retry_horizn: 3d\n")
    code, _, err = _run(_reconcile_args(*small_logs, tmp_path / "w.duckdb", "--config", str(config)), capsys)
    assert code == 2
    _assert_one_line_error(err, "retry_horizn")


def test_bad_config_value_is_named(tmp_path, small_logs, capsys) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("clock_skew_allowance: soon\n")
    code, _, err = _run(_reconcile_args(*small_logs, tmp_path / "w.duckdb", "--config", str(config)), capsys)
    assert code == 2
    _assert_one_line_error(err, "clock_skew_allowance", "soon")


def test_invalid_yaml_is_a_one_line_error(tmp_path, small_logs, capsys) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("providers: [\n")
    code, _, err = _run(_reconcile_args(*small_logs, tmp_path / "w.duckdb", "--config", str(config)), capsys)
    assert code == 2
    _assert_one_line_error(err, "not valid YAML")


def test_missing_config_file_is_a_one_line_error(tmp_path, small_logs, capsys) -> None:
    code, _, err = _run(
        _reconcile_args(*small_logs, tmp_path / "w.duckdb", "--config", str(tmp_path / "x.yaml")), capsys
    )
    assert code == 2
    _assert_one_line_error(err, "x.yaml", "does not exist")


def test_bad_as_of_is_a_one_line_error(tmp_path, small_logs, capsys) -> None:
    orders, callbacks = small_logs
    args = [
        "reconcile",
        "--orders",
        str(orders),
        "--callbacks",
        str(callbacks),
        "--warehouse",
        str(tmp_path / "w.duckdb"),
        "--as-of",
        "tomorrow",
    ]
    code, _, err = _run(args, capsys)
    assert code == 2
    _assert_one_line_error(err, "tomorrow")


def test_warehouse_that_is_a_directory_is_a_one_line_error(tmp_path, small_logs, capsys) -> None:
    code, _, err = _run(_reconcile_args(*small_logs, tmp_path), capsys)
    assert code == 2
    _assert_one_line_error(err, "is a directory")


def test_failed_blocking_check_exits_one_and_leaves_warehouse_unchanged(
    tmp_path, small_logs, capsys, monkeypatch
) -> None:
    warehouse = tmp_path / "w.duckdb"
    assert _run(_reconcile_args(*small_logs, warehouse), capsys)[0] == 0
    before = hashlib.sha256(warehouse.read_bytes()).hexdigest()

    real_classify = outcome_rules.classify_orders

    def classify_with_duplicate(*args, **kwargs):
        frame = real_classify(*args, **kwargs)
        return pl.concat([frame, frame.head(1)])

    monkeypatch.setattr("orders_pipeline.lib.outcomes.batches.classify_orders", classify_with_duplicate)
    code, _, err = _run(_reconcile_args(*small_logs, warehouse), capsys)
    assert code == 1
    assert "one_outcome_per_order" in err
    assert "Traceback" not in err
    assert hashlib.sha256(warehouse.read_bytes()).hexdigest() == before


def test_generate_rejects_non_positive_order_count(tmp_path, capsys) -> None:
    code, _, err = _run(["generate", "--orders", "0", "--out", str(tmp_path / "g")], capsys)
    assert code == 2
    _assert_one_line_error(err, "--orders")


def test_files_of_another_format_are_named_in_a_warning(tmp_path, small_logs, capsys) -> None:
    orders, callbacks = small_logs
    (orders / "extra.json").write_text('{"order_id": "x"}\n')
    code, _, err = _run(_reconcile_args(orders, callbacks, tmp_path / "w.duckdb"), capsys)
    assert code == 0
    assert "1 orders file(s) of another format not read (e.g. extra.json)" in err


def test_missing_statements_path_is_a_one_line_error(tmp_path, small_logs, capsys) -> None:
    orders, callbacks = small_logs
    args = _reconcile_args(orders, callbacks, tmp_path / "w.duckdb", "--statements", str(tmp_path / "nope"))
    code, _, err = _run(args, capsys)
    assert code == 2
    _assert_one_line_error(err, "statements path", "does not exist")


def test_bad_statement_config_value_is_named(tmp_path, small_logs, capsys) -> None:
    orders, callbacks = small_logs
    config = tmp_path / "c.yaml"
    config.write_text("providers:\n  alipay: {statement_timezone: Mars/Olympus}\n")
    code, _, err = _run(_reconcile_args(orders, callbacks, tmp_path / "w.duckdb", "--config", str(config)), capsys)
    assert code == 2
    _assert_one_line_error(err, "providers.alipay.statement_timezone", "Mars/Olympus")
