"""Statements through the command line: two runs, a day apart, the second with the providers' statements.

Run 1 (as of 2026-11-20 12:00 UTC) has no statements: an Alipay order whose callback never
came is ``missing``. Run 2 (a day later) gets an Alipay trade bill (native GBK layout) holding
that payment, the same bill re-delivered under another name, and canonical Stripe statement
lines for 2026-11-16, -17, -19 and -20 (2026-11-18 never delivered). The expectations are the
rules' (docs/rules.md#outcomes, #actions, #published-tables), not the pipeline's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from orders_pipeline import cli
from orders_pipeline.lib.warehouse.connection import configure
from orders_pipeline_tests.conftest import write_jsonl

RUN_1 = "2026-11-20T12:00:00Z"
RUN_2 = "2026-11-21T12:00:00Z"


def _order(order_id: str, provider: str, amount: str, currency: str, created_at: str) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "merchant_id": "m1",
        "provider": provider,
        "amount": amount,
        "currency": currency,
        "created_at": created_at,
    }


def _callback(order_id: str, provider: str, status: str, amount: str, currency: str, received_at: str) -> dict:
    return {
        "order_id": order_id,
        "provider": provider,
        "status": status,
        "amount": amount,
        "currency": currency,
        "received_at": received_at,
    }


ORDERS = [
    _order("ali-lost", "alipay", "100.00", "CNY", "2026-11-18T10:00:00Z"),
    _order("ali-paid", "alipay", "20.00", "CNY", "2026-11-18T11:00:00Z"),
    _order("st-unsettled", "stripe", "15.00", "USD", "2026-11-19T10:00:00Z"),
    _order("st-unpaid", "stripe", "9.00", "USD", "2026-11-19T11:00:00Z"),
    _order("st-matched", "stripe", "30.00", "USD", "2026-11-19T12:00:00Z"),
    _order("st-refunded", "stripe", "40.00", "USD", "2026-11-19T13:00:00Z"),
    _order("st-gap", "stripe", "5.00", "USD", "2026-11-17T12:00:00Z"),
    _order("ady-none", "adyen", "7.00", "EUR", "2026-11-19T12:00:00Z"),
]
CALLBACKS = [
    _callback("ali-paid", "alipay", "success", "20.00", "CNY", "2026-11-18T11:01:00Z"),
    _callback("st-unsettled", "stripe", "success", "15.00", "USD", "2026-11-19T10:01:00Z"),
    _callback("st-matched", "stripe", "success", "30.00", "USD", "2026-11-19T12:01:00Z"),
    _callback("st-refunded", "stripe", "success", "40.00", "USD", "2026-11-19T13:01:00Z"),
    _callback("st-gap", "stripe", "success", "5.00", "USD", "2026-11-17T12:01:00Z"),
    _callback("ady-none", "adyen", "success", "7.00", "EUR", "2026-11-19T12:01:00Z"),
]
ALIPAY_HEADER = (
    "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,"
    "订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,"
    "券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注"
)


def _alipay_row(trade: str, order_id: str, kind: str, finished: str, amount: str) -> str:
    return (
        f"{trade}\t,{order_id}\t,{kind}\t,商品,{finished},{finished},,,,,*买家(a***@example.org)\t,"
        f"{amount},{amount},0.00,0.00,0.00,0.00,0.00,,0.00\t,0.00,\t,0.00,0.00,"
    )


ALIPAY_BILL = "\n".join(
    [
        "#支付宝业务明细查询",
        "#账号：[20880000000000000000]",
        "#起始日期：[2026年11月18日 00:00:00]   终止日期：[2026年11月19日 00:00:00]",
        "#-----------------------------------------业务明细列表----------------------------------------",
        ALIPAY_HEADER,
        _alipay_row("2026111822001400000000000001", "ali-lost", "交易", "2026-11-18 18:00:05", "100.00"),
        _alipay_row("2026111822001400000000000002", "ali-paid", "交易", "2026-11-18 19:00:05", "20.00"),
        _alipay_row("2026111822001400000000000003", "ali-ghost", "交易", "2026-11-18 20:00:05", "1.00"),
        "#-----------------------------------------业务明细列表结束------------------------------------",
        "#交易合计：3笔，商家实收共121.00元，商家优惠共0.00元",
        "#退款合计：0笔，商家实收退款共0.00元，商家优惠退款共0.00元",
        "#导出时间：[2026年11月19日 09:12:00]",
        "",
    ]
).encode("gb18030")


def _stripe_line(day: str, kind: str, amount: str, order_id: str | None = None, txn: str | None = None) -> dict:
    return {
        "provider": "stripe",
        "statement_date": day,
        "type": kind,
        "order_id": order_id,
        "amount": amount,
        "currency": "USD",
        "booked_at": f"{day}T22:00:00Z",
        "provider_txn_id": txn,
    }


STRIPE = [
    *(_stripe_line(day, "fee", "0.50", txn=f"fee-{day}") for day in ("2026-11-16", "2026-11-17", "2026-11-19")),
    _stripe_line("2026-11-19", "payment", "30.00", "st-matched", "txn-1"),
    _stripe_line("2026-11-19", "payment", "40.00", "st-refunded", "txn-2"),
    _stripe_line("2026-11-20", "refund", "40.00", "st-refunded", "txn-3"),
    _stripe_line("2026-11-20", "payout", "29.50", txn="po-1"),
    _stripe_line("2026-11-20", "payment", "3.00", "st-nobody", "txn-4"),
]
CONFIG = "alerts:\n  max_unsettled_amount_minor: {USD: 0}\n  max_overdue_rate: null\n  max_orphan_rate: null\n"


def _reconcile(root: Path, as_of: str, statements: bool) -> int:
    argv = ["reconcile", "--orders", str(root / "orders"), "--callbacks", str(root / "callbacks")]
    if statements:
        argv += ["--statements", str(root / "statements")]
    argv += ["--warehouse", str(root / "warehouse.duckdb"), "--as-of", as_of, "--config", str(root / "c.yaml")]
    return cli.main([*argv, "--quiet"])


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("statements_e2e")
    write_jsonl(root / "orders" / "o.jsonl", ORDERS)
    write_jsonl(root / "callbacks" / "c.jsonl", CALLBACKS)
    (root / "c.yaml").write_text(CONFIG)
    (root / "statements").mkdir()
    assert _reconcile(root, RUN_1, statements=True) == 0
    con = configure(duckdb.connect(str(root / "warehouse.duckdb"), read_only=True))
    first = dict(con.execute("SELECT order_id, outcome FROM recon.order_outcomes").fetchall())
    con.close()
    (root / "statements" / "alipay").mkdir()
    (root / "statements" / "alipay" / "20880000000000000000_20261118_业务明细.csv").write_bytes(ALIPAY_BILL)
    (root / "statements" / "alipay" / "resent").mkdir()
    (root / "statements" / "alipay" / "resent" / "bill.csv").write_bytes(ALIPAY_BILL)
    write_jsonl(root / "statements" / "stripe" / "2026-11.jsonl", STRIPE)
    assert _reconcile(root, RUN_2, statements=True) == 0
    return {"first": first, "con": configure(duckdb.connect(str(root / "warehouse.duckdb"), read_only=True))}


def _outcomes(con: duckdb.DuckDBPyConnection) -> dict[str, tuple]:
    rows = con.execute(
        "SELECT order_id, outcome, flags, action, statement_status, statement_amount_minor FROM recon.order_outcomes"
    ).fetchall()
    return {row[0]: row[1:] for row in rows}


def test_before_the_statement_the_lost_callback_is_missing(runs: dict[str, Any]) -> None:
    assert runs["first"]["ali-lost"] == "missing"


def test_every_order_gets_the_outcome_the_statement_rules_give(runs: dict[str, Any]) -> None:
    assert _outcomes(runs["con"]) == {
        "ali-lost": ("callback_lost", [], "apply_statement", "matched", 10000),
        "ali-paid": ("confirmed", [], "none", "matched", 2000),
        "st-unsettled": ("unsettled", [], "review_settlement", "not_found", None),
        "st-unpaid": ("not_at_provider", [], "close_unpaid", "not_found", None),
        "st-matched": ("confirmed", [], "none", "matched", 3000),
        "st-refunded": ("confirmed", ["statement_refund"], "refund_review", "matched", 4000),
        # 2026-11-18 was never delivered: the window 11-17..11-18 is not covered.
        "st-gap": ("confirmed", [], "none", "awaiting", None),
        "ady-none": ("confirmed", [], "none", "none", None),
    }


def test_outcome_changes_shows_missing_then_callback_lost(runs: dict[str, Any]) -> None:
    changes = (
        runs["con"]
        .execute(
            "SELECT order_id, previous_outcome, outcome, previous_as_of, as_of, amount_minor "
            "FROM recon.outcome_changes WHERE order_id = 'ali-lost'"
        )
        .fetchall()
    )
    assert [(c[0], c[1], c[2], c[3].isoformat(), c[4].isoformat(), c[5]) for c in changes] == [
        ("ali-lost", "missing", "callback_lost", "2026-11-20T12:00:00+00:00", "2026-11-21T12:00:00+00:00", 10000)
    ]


def test_the_redelivered_bill_is_a_duplicate_and_its_rows_count_once(runs: dict[str, Any]) -> None:
    files = (
        runs["con"]
        .execute(
            "SELECT file, duplicate_of, lines_read, lines_landed, lines_rejected, lines_ignored FROM recon.input_files "
            "WHERE kind = 'statements' ORDER BY file"
        )
        .fetchall()
    )
    assert files == [
        ("alipay/20880000000000000000_20261118_业务明细.csv", None, 11, 3, 0, 8),
        ("alipay/resent/bill.csv", "alipay/20880000000000000000_20261118_业务明细.csv", 0, 0, 0, 0),
        ("stripe/2026-11.jsonl", None, 8, 8, 0, 0),
    ]
    assert runs["con"].execute("SELECT count(*) FROM recon.statement_lines").fetchone() == (11,)
    ignored = runs["con"].execute("SELECT reason, count(*) FROM recon.ignored_records GROUP BY 1 ORDER BY 1")
    assert ignored.fetchall() == [("ignored:header", 6), ("ignored:summary", 2)]


def test_orphan_statement_rows_are_published_one_per_row(runs: dict[str, Any]) -> None:
    orphans = (
        runs["con"]
        .execute(
            "SELECT provider, type, order_id, amount_minor, currency FROM recon.orphan_statement_lines "
            "ORDER BY order_id"
        )
        .fetchall()
    )
    assert orphans == [("alipay", "payment", "ali-ghost", 100, "CNY"), ("stripe", "payment", "st-nobody", 300, "USD")]


def test_statement_coverage_lists_the_days_delivered(runs: dict[str, Any]) -> None:
    days = (
        runs["con"]
        .execute(
            "SELECT provider, statement_date::VARCHAR, covered, rows, payment_amount_minor, refund_amount_minor, "
            "fee_amount_minor, payout_amount_minor FROM recon.statement_coverage ORDER BY 1, 2"
        )
        .fetchall()
    )
    assert days == [
        ("alipay", "2026-11-18", True, 3, 12100, 0, 0, 0),
        ("stripe", "2026-11-16", True, 1, 0, 0, 50, 0),
        ("stripe", "2026-11-17", True, 1, 0, 0, 50, 0),
        ("stripe", "2026-11-19", True, 3, 7000, 0, 50, 0),
        ("stripe", "2026-11-20", True, 3, 300, 4000, 0, 2950),
    ]


def test_exceptions_rank_the_statement_actions(runs: dict[str, Any]) -> None:
    queue = runs["con"].execute("SELECT order_id, action, priority, statement_status FROM recon.exceptions").fetchall()
    assert queue == [
        ("st-unsettled", "review_settlement", 2, "not_found"),
        ("ali-lost", "apply_statement", 3, "matched"),
        ("st-refunded", "refund_review", 3, "matched"),
        ("st-unpaid", "close_unpaid", 6, "not_found"),
    ]


def test_daily_summary_counts_the_statement_outcomes(runs: dict[str, Any]) -> None:
    totals = (
        runs["con"]
        .execute(
            "SELECT sum(callback_lost_count), sum(callback_lost_amount_minor), sum(unsettled_count), "
            "sum(not_at_provider_count), sum(statement_refund_count), sum(order_count) FROM recon.daily_summary"
        )
        .fetchone()
    )
    assert totals == (1, 10000, 1, 1, 1, 8)


def test_warnings_for_unsettled_money_and_the_statement_day_never_delivered(runs: dict[str, Any]) -> None:
    rows = runs["con"].execute("SELECT threshold, breached, observed, message FROM recon.quality_alerts").fetchall()
    alerts = {row[0]: row[1:] for row in rows}
    assert alerts["unsettled_amount_minor_USD"][:2] == (True, "1500")
    # Stripe skipped 2026-11-18; Alipay's bills for 2026-11-19 and -20 (both ended) have not come.
    assert alerts["missing_statement_days"] == (
        True,
        "3",
        "3 statement day(s) expected but not delivered (alipay: 2026-11-19, 2026-11-20; stripe: 2026-11-18)",
    )


def test_the_run_passed_every_blocking_check_including_the_statement_ones(runs: dict[str, Any]) -> None:
    run = runs["con"].execute("SELECT checks_passed, check_results FROM recon.runs ORDER BY finished_at DESC LIMIT 1")
    passed, results = run.fetchone()
    names = {r["check_name"]: r["passed"] for r in json.loads(results)}
    assert passed
    assert names["statement_rows_conserved"]
    assert names["statement_coverage_ties_out"]
