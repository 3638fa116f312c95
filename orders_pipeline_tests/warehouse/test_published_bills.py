"""The providers' published bills and documented layouts (fixtures/statements) as the statements of a run.

A few orders name rows of the real Alipay and WeChat Pay bills and of the Stripe, Adyen and
PayPal files; the run must give each the outcome the rules give for what those rows say.
WeChat Pay cuts its bill at Beijing midnight: the config says so (``statement_timezone``), and
with ``settlement_delay: 0s`` the bill of 2019-02-19 covers that day's orders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from orders_pipeline import cli
from orders_pipeline.lib.warehouse.connection import configure
from orders_pipeline_tests.conftest import write_jsonl

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "statements"
AS_OF = "2026-12-01T00:00:00Z"
CONFIG = """
providers:
  wechatpay: {statement_timezone: Asia/Shanghai, settlement_delay: 0s}
  alipay: {statement_timezone: Asia/Shanghai, settlement_delay: 0s}
"""


def _order(order_id: str, provider: str, amount: str, currency: str, created_at: str) -> dict[str, Any]:
    return dict(
        order_id=order_id, merchant_id="m", provider=provider, amount=amount, currency=currency, created_at=created_at
    )


def _callback(order_id: str, provider: str, status: str, received_at: str, amount: str | None = None, currency=None):
    line = {"order_id": order_id, "provider": provider, "status": status, "received_at": received_at}
    return line | ({"amount": amount, "currency": currency} if amount else {})


ORDERS = [
    _order("service_1568601259302", "alipay", "0.01", "CNY", "2019-09-16T02:55:16Z"),
    _order("20190916165659224L3VUQRL9", "alipay", "0.01", "CNY", "2019-09-16T08:58:56Z"),
    _order("not-in-the-alipay-bill", "alipay", "0.01", "CNY", "2019-09-16T09:00:00Z"),
    _order("autotest_20190219181930_76386", "wechatpay", "0.01", "CNY", "2019-02-19T10:19:30Z"),
    _order("autotest_20190219015232_89201", "wechatpay", "0.03", "CNY", "2019-02-18T17:52:32Z"),
    _order("ORD-1001", "stripe", "25.00", "USD", "2026-11-18T09:15:00Z"),
    _order("ORD-2002", "adyen", "5000", "JPY", "2026-11-17T10:00:00Z"),
    _order("ORD-3101", "paypal", "3500", "JPY", "2026-11-19T16:00:00Z"),
    _order("INV-3002", "paypal", "19.99", "USD", "2026-11-18T10:00:00Z"),
]
CALLBACKS = [
    _callback("service_1568601259302", "alipay", "success", "2019-09-16T02:55:24Z", "0.01", "CNY"),
    _callback("autotest_20190219181930_76386", "wechatpay", "success", "2019-02-19T10:19:33Z", "0.01", "CNY"),
    _callback("autotest_20190219015232_89201", "wechatpay", "failed", "2019-02-18T17:52:40Z"),
    _callback("ORD-1001", "stripe", "success", "2026-11-18T09:15:03Z", "25.00", "USD"),
    _callback("ORD-2002", "adyen", "failed", "2026-11-17T10:00:05Z"),
    _callback("INV-3002", "paypal", "success", "2026-11-18T10:00:06Z", "19.99", "USD"),
]


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    root = tmp_path_factory.mktemp("published_bills")
    write_jsonl(root / "orders" / "o.jsonl", ORDERS)
    write_jsonl(root / "callbacks" / "c.jsonl", CALLBACKS)
    (root / "c.yaml").write_text(CONFIG)
    argv = ["reconcile", "--orders", str(root / "orders"), "--callbacks", str(root / "callbacks")]
    argv += ["--statements", str(FIXTURES), "--warehouse", str(root / "w.duckdb"), "--config", str(root / "c.yaml")]
    assert cli.main([*argv, "--as-of", AS_OF, "--quiet"]) == 0
    return configure(duckdb.connect(str(root / "w.duckdb"), read_only=True))


def test_each_order_is_judged_by_what_its_providers_published_statement_says(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute("SELECT order_id, outcome, flags, action, statement_status FROM recon.order_outcomes").fetchall()
    assert {r[0]: r[1:] for r in rows} == {
        # paid, then refunded the same day (交易 + 退款 rows of the bill)
        "service_1568601259302": ("confirmed", ["statement_refund"], "refund_review", "matched"),
        # no callback, but the bill holds the trade
        "20190916165659224L3VUQRL9": ("callback_lost", [], "apply_statement", "matched"),
        # no callback and not in the day's bill
        "not-in-the-alipay-bill": ("not_at_provider", [], "close_unpaid", "not_found"),
        "autotest_20190219181930_76386": ("confirmed", [], "none", "matched"),
        # the callback said failed, the bill holds the payment
        "autotest_20190219015232_89201": ("conflict", ["statement_conflict"], "review_status", "matched"),
        "ORD-1001": ("confirmed", ["statement_refund"], "refund_review", "matched"),
        "ORD-2002": ("conflict", ["statement_conflict"], "review_status", "matched"),
        "ORD-3101": ("callback_lost", [], "apply_statement", "matched"),
        "INV-3002": ("confirmed", [], "none", "matched"),
    }


def test_every_statement_record_is_accounted_for_and_the_checks_pass(con: duckdb.DuckDBPyConnection) -> None:
    totals = con.execute(
        "SELECT sum(lines_read), sum(lines_landed + lines_rejected + lines_ignored), count(*) "
        "FROM recon.input_files WHERE kind = 'statements'"
    ).fetchone()
    assert totals is not None
    assert totals[0] == totals[1]
    assert totals[2] == 9  # every fixture file (the README is not a statement file)
    assert con.execute("SELECT checks_passed FROM recon.runs").fetchone() == (True,)


def test_rows_for_orders_nobody_logged_are_orphans(con: duckdb.DuckDBPyConnection) -> None:
    orphans = dict(con.execute("SELECT provider, count(*) FROM recon.orphan_statement_lines GROUP BY 1").fetchall())
    # Alipay: 10 rows, 3 of them for the two orders above; WeChat: 14 rows, 2 for the orders above.
    assert orphans["alipay"] == 7
    assert orphans["wechatpay"] == 12
