"""The benchmark's pandas baseline (bench/baseline.py) on small hand-made scenarios of the rules.

The baseline is the benchmark's independent reading of the rules: if it is wrong, the
"outcomes identical" check of the benchmark means nothing, so it is pinned here.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
AS_OF = "2024-05-01T12:00:00Z"


def _load_baseline():
    spec = importlib.util.spec_from_file_location("bench_baseline", REPO / "bench" / "baseline.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


baseline = _load_baseline()


def _write(path: Path, lines: list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)


def _order(order_id: str, created_at: str, **extra) -> dict:
    line = {
        "order_id": order_id,
        "merchant_id": "m1",
        "provider": "stripe",
        "amount": "12.50",
        "currency": "USD",
        "created_at": created_at,
    }
    return {**line, **extra}


def _callback(order_id: str, status: str, received_at: str, **extra) -> dict:
    line = {"order_id": order_id, "provider": "stripe", "status": status, "received_at": received_at}
    if status in ("success", "reversed"):
        line |= {"amount": "12.50", "currency": "USD"}
    return {**line, **extra}


def _run(tmp_path: Path, orders: list, callbacks: list) -> dict[str, tuple[str, str, str]]:
    _write(tmp_path / "orders" / "a.jsonl", orders)
    _write(tmp_path / "callbacks" / "a.jsonl", callbacks)
    result = baseline.reconcile_with_pandas(tmp_path / "orders", tmp_path / "callbacks", AS_OF)
    return {row.order_id: (row.outcome, row.flags, row.action) for row in result.itertuples()}


def test_each_outcome_rule(tmp_path: Path) -> None:
    """One order per outcome, in the rules' order."""
    t0 = "2024-05-01T10:00:00Z"
    orders = [_order(o, t0) for o in ("conf", "fail", "rev", "rev_only", "mism", "cur", "conflict", "miss")]
    orders += [_order("over", "2024-05-01T11:50:00Z"), _order("pend", "2024-05-01T11:58:00Z")]
    orders[-3]["created_at"] = "2024-04-28T11:59:59Z"  # miss: 72h + 1s old
    callbacks = [
        _callback("conf", "success", "2024-05-01T10:01:00Z"),
        _callback("fail", "failed", "2024-05-01T10:01:00Z"),
        _callback("rev", "success", "2024-05-01T10:01:00Z"),
        _callback("rev", "reversed", "2024-05-01T11:00:00Z"),
        _callback("rev_only", "reversed", "2024-05-01T10:01:00Z"),
        _callback("mism", "success", "2024-05-01T10:01:00Z", amount="12.49"),
        _callback("cur", "success", "2024-05-01T10:01:00Z", currency="EUR"),
        # The failed came first but its event_time is later: success then failed is a conflict.
        _callback("conflict", "failed", "2024-05-01T10:01:00Z", event_time="2024-05-01T10:03:00Z"),
        _callback("conflict", "success", "2024-05-01T10:02:00Z", event_time="2024-05-01T10:02:00Z"),
    ]
    got = _run(tmp_path, orders, callbacks)
    assert got == {
        "conf": ("confirmed", "", "none"),
        "fail": ("failed", "", "none"),
        "rev": ("reversed", "", "refund_review"),
        "rev_only": ("failed", "", "none"),
        "mism": ("amount_mismatch", "", "review_amount"),
        "cur": ("amount_mismatch", "", "review_amount"),
        "conflict": ("conflict", "", "review_status"),
        "miss": ("missing", "", "investigate"),
        "over": ("overdue", "", "query_provider"),
        "pend": ("pending", "", "none"),
    }


def test_boundaries_follow_the_inequalities(tmp_path: Path) -> None:
    """Age equal to sla is pending, equal to retry_horizon is overdue; a callback at as_of counts."""
    orders = [
        _order("at_sla", "2024-05-01T11:55:00Z"),  # stripe sla 5m
        _order("at_horizon", "2024-04-28T12:00:00Z"),  # stripe horizon 72h
        _order("cb_at_as_of", "2024-05-01T11:00:00Z"),
        _order("cb_after", "2024-05-01T11:00:00Z"),
        _order("future", "2024-05-01T12:00:00.001Z"),
        _order("unknown_provider", "2024-05-01T11:50:00+00:00", provider="  NewPay "),  # default sla 15m
    ]
    callbacks = [
        _callback("cb_at_as_of", "success", "2024-05-01 14:00:00+02:00"),
        _callback("cb_after", "success", "2024-05-01T12:00:00.000001Z"),
        _callback("future", "success", "2024-05-01T11:00:00Z"),
    ]
    got = _run(tmp_path, orders, callbacks)
    assert got["at_sla"][0] == "pending"
    assert got["at_horizon"][0] == "overdue"
    assert got["cb_at_as_of"] == ("confirmed", "late_callback", "none")
    assert got["cb_after"][0] == "overdue"
    assert "future" not in got
    assert got["unknown_provider"] == ("pending", "", "none")


def test_bad_lines_are_not_landed(tmp_path: Path) -> None:
    """Only valid lines are submissions; amounts are compared by exact value."""
    t0 = "2024-05-01T11:58:00Z"
    orders = [
        _order("a", t0),
        _order("a", t0, amount="12.500"),  # same value: a duplicate, not a conflict
        _order("a", t0, amount=12.5),  # a JSON number, same value
        '{"order_id": "a", "amount": ',  # malformed
        '["a"]',  # not an object
        '{"order_id": "a", "amount": NaN}',
        json.dumps(_order("a", t0, amount="1.234")),  # too many decimals for USD
        json.dumps(_order("a", t0, amount="-1.00")),
        json.dumps(_order("a", t0, currency="XAU")),
        json.dumps(_order("a", "2024-02-30T00:00:00Z")),
        json.dumps(_order("a", "yesterday")),
        json.dumps(_order("a", t0, merchant_id=" ")),
        json.dumps({k: v for k, v in _order("a", t0).items() if k != "currency"}),
        _order("b", t0, amount="0", currency="jpy"),
        _order("big", t0, amount="92233720368547758.07"),
        _order("too_big", t0, amount="92233720368547758.08"),
        "",
    ]
    callbacks = [
        _callback("b", "success", "2024-05-01T11:59:00Z", amount=0, currency="JPY"),
        _callback("b", "failed", "2024-05-01T11:59:00Z", amount="1.001", currency="USD"),  # rejected
        _callback("b", "weird", "2024-05-01T11:59:00Z"),
        _callback("b", "failed", "2024-05-01T11:59:00Z", event_time="soon"),
        {"order_id": "b", "provider": "stripe", "status": "success", "received_at": "2024-05-01T11:59:00Z"},
    ]
    got = _run(tmp_path, orders, callbacks)
    assert got == {
        "a": ("pending", "duplicate_submission", "none"),
        "b": ("confirmed", "", "none"),
        "big": ("pending", "", "none"),
    }


def test_flags(tmp_path: Path) -> None:
    """Every flag of the rules, each on its own order."""
    t0 = "2024-05-01T10:00:00Z"
    orders = [
        _order("redelivered", t0),
        _order("two_success", t0),
        _order("late", t0),
        _order("early", t0),
        _order("ack", t0),
        _order("other_provider", t0),
        _order("conflicting", t0),
        _order("conflicting", "2024-05-01T09:00:00Z", merchant_id="m2"),
        _order("pending_twice", t0),
    ]
    callbacks = [
        _callback("redelivered", "success", "2024-05-01T10:02:00Z", callback_id="evt1"),
        _callback("redelivered", "success", "2024-05-01T10:03:00Z", callback_id="evt1"),
        _callback("two_success", "success", "2024-05-01T10:02:00Z"),
        _callback("two_success", "success", "2024-05-01T10:03:00Z"),
        _callback("late", "success", "2024-05-01T10:05:01Z"),
        _callback("early", "pending", "2024-05-01T10:01:00Z", event_time="2024-05-01T09:54:59Z"),
        _callback("early", "success", "2024-05-01T10:01:00Z", event_time="2024-05-01T09:55:00Z"),
        _callback("ack", "pending", "2024-05-01T10:01:00Z"),
        _callback("other_provider", "success", "2024-05-01T10:01:00Z", provider="Adyen"),
        _callback("pending_twice", "pending", "2024-05-01T10:01:00Z"),
        _callback("pending_twice", "pending", "2024-05-01T10:02:00Z"),
        _callback("pending_twice", "failed", "2024-05-01T10:03:00Z"),
    ]
    got = _run(tmp_path, orders, callbacks)
    assert got == {
        "redelivered": ("confirmed", "duplicate_callback", "none"),
        "two_success": ("confirmed", "duplicate_callback", "none"),
        "late": ("confirmed", "late_callback", "none"),
        "early": ("confirmed", "callback_before_order", "none"),
        "ack": ("overdue", "acknowledged", "query_provider"),
        "other_provider": ("confirmed", "provider_mismatch", "none"),
        # The canonical submission is the earlier one (m2), so the success at 10:01 is late.
        "conflicting": ("overdue", "conflicting_submission", "review_submission"),
        "pending_twice": ("failed", "", "none"),
    }


def test_canonical_submission_and_files(tmp_path: Path) -> None:
    """Ties on created_at go to the first line read; files in sorted path order; gz; duplicate files."""
    t0 = "2024-05-01T11:58:00Z"
    _write(tmp_path / "orders" / "b" / "late.jsonl.gz", [_order("x", t0, currency="EUR")])
    _write(tmp_path / "orders" / "a.jsonl", [_order("x", t0, currency="USD")])
    _write(tmp_path / "orders" / "c.jsonl", [_order("y", t0)])
    _write(tmp_path / "orders" / "d.jsonl", [_order("y", t0)])  # same content: a re-delivered file
    _write(tmp_path / "callbacks" / "cb.jsonl", [_callback("x", "success", "2024-05-01T11:59:00Z")])
    result = baseline.reconcile_with_pandas(tmp_path / "orders", tmp_path / "callbacks", AS_OF)
    got = {row.order_id: (row.outcome, row.flags) for row in result.itertuples()}
    assert got == {"x": ("confirmed", "conflicting_submission"), "y": ("pending", "")}


def test_terminal_order_and_redelivery_scope(tmp_path: Path) -> None:
    """Ties in (event_time, received_at) go to read order; callback_id merges only within an order."""
    t0, t1 = "2024-05-01T11:58:00Z", "2024-05-01T11:59:00Z"
    orders = [_order(o, t0) for o in ("success_read_first", "failed_read_first", "shared_a", "shared_b")]
    orders.append(_order("retried", t0))
    callbacks = [
        _callback("success_read_first", "success", t1),
        _callback("success_read_first", "failed", t1),
        _callback("failed_read_first", "failed", t1),
        _callback("failed_read_first", "success", t1),
        _callback("shared_a", "success", t1, callback_id="evt"),
        _callback("shared_b", "success", t1, callback_id="evt"),
        {**_callback("retried", "failed", t1, seq=7), "status": " FAILED "},
        _callback("retried", "success", "2024-05-01T11:59:30Z", seq="n/a"),  # seq never rejects: lands
    ]
    got = _run(tmp_path, orders, callbacks)
    assert got["success_read_first"] == ("conflict", "", "review_status")
    assert got["failed_read_first"] == ("confirmed", "", "none")
    assert got["shared_a"] == got["shared_b"] == ("confirmed", "", "none")
    assert got["retried"] == ("confirmed", "", "none")  # issue 15 row 11: a seq "n/a" success still counts


def test_benchmark_smoke(tmp_path: Path) -> None:
    """The CI smoke run: 100k orders, pipeline and baseline agree on every order."""
    if not (REPO / ".venv" / "bin" / "orders-pipeline").exists():
        pytest.skip("the orders-pipeline CLI is not installed")
    results = tmp_path / "RESULTS.md"
    subprocess.run(
        [sys.executable, "bench/run.py", "--orders", "100000", "--scaling", "50000,100000", "--results", str(results)],
        cwd=REPO,
        check=True,
        timeout=900,
    )
    text = results.read_text()
    assert "outcomes_identical=true" in text
    # The scaling series has one row per size (100k reuses the main measurement), and the
    # generated file points at the hand-written analysis instead of holding prose itself.
    scaling = text[text.index("## Scaling") :].splitlines()
    sizes = [row.split("|")[1].strip() for row in scaling if row.startswith("| ") and row[2].isdigit()]
    assert sizes == ["50,000", "100,000"]
    assert "[ANALYSIS.md](ANALYSIS.md)" in text
