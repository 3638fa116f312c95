"""History across runs: the late-callback example end to end, and the ``history`` / ``runs`` commands.

Order X (stripe, sla 5m) has no callback at run 1 (as of T1): it is ``overdue``. Then a new
callback file lands with X's success; run 2 (as of T2) finds X ``confirmed``, and
``recon.outcome_changes`` says so: X overdue -> confirmed, with both as-of times and the amount.
"""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from orders_pipeline import cli
from orders_pipeline.lib.reports.history import order_history, order_history_text
from orders_pipeline.lib.warehouse.connection import configure
from orders_pipeline_tests.conftest import write_jsonl

T1 = "2026-11-20T10:30:00Z"
T2 = "2026-11-20T11:00:00Z"

ORDERS = [
    {
        "order_id": "X",
        "merchant_id": "m1",
        "provider": "stripe",
        "amount": "12.50",
        "currency": "USD",
        "created_at": "2026-11-20T10:00:00Z",
        "request_id": "req-x",
    },
    {
        "order_id": "Y",
        "merchant_id": "m1",
        "provider": "stripe",
        "amount": "3",
        "currency": "USD",
        "created_at": "2026-11-20T10:00:00Z",
    },
]
FIRST_CALLBACKS = [
    {
        "order_id": "Y",
        "provider": "stripe",
        "status": "success",
        "amount": "3",
        "currency": "USD",
        "received_at": "2026-11-20T10:01:00Z",
        "callback_id": "evt-y",
    },
    {
        "order_id": "Z",
        "provider": "stripe",
        "status": "success",
        "amount": "1",
        "currency": "USD",
        "received_at": "2026-11-20T10:02:00Z",
        "callback_id": "evt-z",
    },
]
LATE_CALLBACKS = [
    {
        "order_id": "X",
        "provider": "stripe",
        "status": "success",
        "amount": "12.50",
        "currency": "USD",
        "received_at": "2026-11-20T10:40:00Z",
        "callback_id": "evt-x",
    },
    # A re-delivery after T2: landed, but it does not exist for run 2.
    {
        "order_id": "X",
        "provider": "stripe",
        "status": "success",
        "amount": "12.50",
        "currency": "USD",
        "received_at": "2026-11-20T11:30:00Z",
        "callback_id": "evt-x",
    },
]


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _reconcile(orders: Path, callbacks: Path, warehouse: Path, as_of: str) -> None:
    code = cli.main(
        [
            "reconcile",
            "--orders",
            str(orders),
            "--callbacks",
            str(callbacks),
            "--warehouse",
            str(warehouse),
            "--as-of",
            as_of,
            "--quiet",
        ]
    )
    assert code == 0


@pytest.fixture(scope="module")
def late_callback(tmp_path_factory) -> dict[str, Path]:
    """Run 1 at T1 (X overdue), then X's callback file lands, then run 2 at T2 (X confirmed)."""
    root = tmp_path_factory.mktemp("late_callback")
    orders = write_jsonl(root / "in" / "orders" / "2026-11-20.jsonl", ORDERS).parent
    callbacks = write_jsonl(root / "in" / "callbacks" / "2026-11-20-a.jsonl", FIRST_CALLBACKS).parent
    warehouse = root / "wh" / "warehouse.duckdb"
    _reconcile(orders, callbacks, warehouse, T1)
    shutil.copy(warehouse, root / "after_run_1.duckdb")
    write_jsonl(callbacks / "2026-11-20-b.jsonl", LATE_CALLBACKS)
    _reconcile(orders, callbacks, warehouse, T2)
    return {"root": root, "warehouse": warehouse, "after_run_1": root / "after_run_1.duckdb"}


def _query(warehouse: Path, sql: str) -> list[tuple]:
    con = configure(duckdb.connect(str(warehouse), read_only=True))
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# ---------------------------------------------------------------------------------------------
# The late callback, through the pipeline
# ---------------------------------------------------------------------------------------------


def test_run_1_finds_x_overdue(late_callback) -> None:
    rows = _query(late_callback["after_run_1"], "SELECT order_id, outcome, action FROM recon.order_outcomes ORDER BY 1")
    assert rows == [("X", "overdue", "query_provider"), ("Y", "confirmed", "none")]
    assert _query(late_callback["after_run_1"], "SELECT count(*) FROM recon.outcome_changes") == [(0,)]


def test_run_2_finds_x_confirmed_with_a_late_callback(late_callback) -> None:
    rows = _query(
        late_callback["warehouse"],
        "SELECT order_id, outcome, flags, action, callback_count, latency_seconds FROM recon.order_outcomes ORDER BY 1",
    )
    assert rows[0] == ("X", "confirmed", ["late_callback"], "none", 1, 2400)
    assert rows[1][:2] == ("Y", "confirmed")


def test_outcome_changes_record_x_overdue_to_confirmed(late_callback) -> None:
    rows = _query(
        late_callback["warehouse"],
        "SELECT order_id, merchant_id, provider, currency, amount_minor, previous_outcome, outcome, previous_as_of, "
        "as_of FROM recon.outcome_changes",
    )
    assert rows == [("X", "m1", "stripe", "USD", 1250, "overdue", "confirmed", _ts(T1), _ts(T2))]
    run_ids = _query(late_callback["warehouse"], "SELECT run_id FROM recon.runs ORDER BY finished_at")
    assert _query(late_callback["warehouse"], "SELECT run_id FROM recon.outcome_changes") == [run_ids[-1]]


def test_runs_keep_both_runs(late_callback) -> None:
    rows = _query(
        late_callback["warehouse"],
        "SELECT as_of, lines_read, lines_landed, orders, checks_passed FROM recon.runs ORDER BY finished_at",
    )
    assert rows == [(_ts(T1), 4, 4, 2, True), (_ts(T2), 6, 6, 2, True)]


# ---------------------------------------------------------------------------------------------
# orders-pipeline history
# ---------------------------------------------------------------------------------------------


def test_history_prints_outcome_changes_and_current_row(late_callback, capsys) -> None:
    code, out, err = _run(["history", "X", "--warehouse", str(late_callback["warehouse"])], capsys)
    assert code == 0, err
    assert out.splitlines()[0] == "order X as of 2026-11-20T11:00:00Z"
    fields = {line.split()[0]: line.split(None, 1)[1] for line in out.splitlines()[1:13]}
    assert fields == {
        "outcome": "confirmed",
        "flags": "late_callback",
        "action": "none",
        "amount": "USD 12.50",
        "merchant": "m1",
        "provider": "stripe",
        "created_at": "2026-11-20T10:00:00Z",
        "age": "1h 0m 0s (3600 s)",
        "terminal": "success received 2026-11-20T10:40:00Z, USD 12.50",
        "latency": "40m 0s (2400 s)",
        "submissions": "1",
        "callbacks": "1",
    }
    assert "outcome changes (1)" in out
    assert "  2026-11-20T10:30:00Z overdue -> 2026-11-20T11:00:00Z confirmed  (USD 12.50, run " in out
    assert "submissions (1)" in out
    assert "callbacks (2)" in out


def test_history_of_an_unchanged_order_says_so(late_callback, capsys) -> None:
    code, out, _ = _run(["history", "Y", "--warehouse", str(late_callback["warehouse"])], capsys)
    assert code == 0
    assert "outcome changes (0)" in out
    assert "USD 3.00" in out


def test_history_of_run_1_snapshot_shows_x_overdue(late_callback, capsys) -> None:
    code, out, _ = _run(["history", "X", "--warehouse", str(late_callback["after_run_1"])], capsys)
    assert code == 0
    assert "  outcome      overdue" in out
    assert "  action       query_provider" in out
    assert "  terminal     - (no terminal callback)" in out


def test_history_lists_the_published_submissions_and_callbacks(late_callback, capsys) -> None:
    """The warehouse publishes recon.order_lines / recon.callback_lines; history lists the order's lines."""
    history = order_history(late_callback["warehouse"], "X")
    assert [s["request_id"] for s in history.submissions] == ["req-x"]
    assert len(history.callbacks) == 2
    out = order_history_text(history)
    assert "submissions (1)" in out
    assert "1. created 2026-11-20T10:00:00Z  USD 12.50  merchant m1  provider stripe  request_id req-x" in out
    assert "[2026-11-20.jsonl:1]" in out
    assert "callbacks (2)" in out
    callback_lines = out.split("callbacks (2)\n")[1].splitlines()
    assert callback_lines[0].startswith("  1. received 2026-11-20T10:40:00Z  success  USD 12.50  provider stripe")
    assert "callback_id evt-x" in callback_lines[0]
    assert "[2026-11-20-b.jsonl:1]" in callback_lines[0]
    assert "after as_of" not in callback_lines[0]
    assert callback_lines[1].endswith("(received after as_of: not counted)")


def test_history_of_an_orphan_callback_id_shows_the_callbacks(late_callback, capsys) -> None:
    code, out, _ = _run(["history", "Z", "--warehouse", str(late_callback["warehouse"])], capsys)
    assert code == 1
    assert out.splitlines()[0] == "order Z: no order line landed for this id (as of 2026-11-20T11:00:00Z)"
    assert "orphan callbacks (1)" in out
    assert "received 2026-11-20T10:02:00Z  success  USD 1.00  provider stripe  callback_id evt-z" in out


def test_history_of_an_unknown_order_is_one_line_and_exits_1(late_callback, capsys) -> None:
    code, out, err = _run(["history", "x", "--warehouse", str(late_callback["warehouse"])], capsys)
    assert code == 1
    assert out == ""
    line = _one_line(err)
    assert "no order 'x'" in line
    assert str(late_callback["warehouse"]) in line


def test_history_of_a_missing_warehouse_is_one_line_and_exits_2(tmp_path, capsys) -> None:
    code, out, err = _run(["history", "X", "--warehouse", str(tmp_path / "nope.duckdb")], capsys)
    assert code == 2
    assert out == ""
    assert "nope.duckdb does not exist" in _one_line(err)


def test_history_of_a_file_that_is_not_a_warehouse_exits_2(tmp_path, capsys) -> None:
    not_a_db = tmp_path / "orders.jsonl"
    not_a_db.write_text('{"order_id": "X"}\n')
    code, _, err = _run(["history", "X", "--warehouse", str(not_a_db)], capsys)
    assert code == 2
    assert "is not a DuckDB database file" in _one_line(err)
    other = tmp_path / "other.duckdb"
    duckdb.connect(str(other)).close()
    code, _, err = _run(["history", "X", "--warehouse", str(other)], capsys)
    assert code == 2
    assert "is not an orders-pipeline warehouse" in _one_line(err)


# ---------------------------------------------------------------------------------------------
# orders-pipeline runs
# ---------------------------------------------------------------------------------------------


def _run_rows(out: str) -> list[list[str]]:
    lines = out.splitlines()
    assert lines[1].split()[:4] == ["finished_at", "as_of", "run", "status"]
    return [line.split() for line in lines[2:]]


def test_runs_lists_newest_first_with_counts_checks_and_timings(late_callback, capsys) -> None:
    code, out, err = _run(["runs", "--warehouse", str(late_callback["warehouse"])], capsys)
    assert code == 0, err
    assert out.splitlines()[0].startswith("last 2 of 2 run(s) in ")
    rows = _run_rows(out)
    assert [row[1] for row in rows] == [T2, T1]
    newest, oldest = rows
    warnings = [
        w
        for (w,) in _query(
            late_callback["warehouse"], "SELECT check_warnings FROM recon.runs ORDER BY finished_at DESC"
        )
    ]
    assert warnings[1] >= 2  # run 1: overdue rate and orphan rate at least
    # status, read, landed, rejected, orders, checks
    assert newest[3:10] == ["published", "6", "6", "0", "2", "passed,", str(warnings[0])]
    assert oldest[3:10] == ["published", "4", "4", "0", "2", "passed,", str(warnings[1])]
    assert newest[10] == ("warning" if warnings[0] == 1 else "warnings")
    assert newest[11].endswith("s")
    stages = dict(item.split("=") for item in newest[12:])
    assert {"ingest", "classify", "checks", "publish"} <= set(stages)
    assert all(float(seconds) >= 0 for seconds in stages.values())


def test_runs_last_n_limits_the_list(late_callback, capsys) -> None:
    code, out, _ = _run(["runs", "--warehouse", str(late_callback["warehouse"]), "--last", "1"], capsys)
    assert code == 0
    assert out.splitlines()[0].startswith("last 1 of 2 run(s)")
    assert [row[1] for row in _run_rows(out)] == [T2]


def test_runs_rejects_a_non_positive_last(late_callback, capsys) -> None:
    code, _, err = _run(["runs", "--warehouse", str(late_callback["warehouse"]), "--last", "0"], capsys)
    assert code == 2
    assert "--last" in _one_line(err)


def test_runs_of_a_missing_warehouse_is_one_line_and_exits_2(tmp_path, capsys) -> None:
    code, out, err = _run(["runs", "--warehouse", str(tmp_path / "nope.duckdb")], capsys)
    assert code == 2
    assert out == ""
    assert "does not exist" in _one_line(err)


def test_reader_commands_never_modify_the_warehouse(late_callback, capsys) -> None:
    before = late_callback["warehouse"].read_bytes()
    _run(["history", "X", "--warehouse", str(late_callback["warehouse"])], capsys)
    _run(["runs", "--warehouse", str(late_callback["warehouse"])], capsys)
    assert late_callback["warehouse"].read_bytes() == before
