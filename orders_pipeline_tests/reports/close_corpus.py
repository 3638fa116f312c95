"""A small explicit corpus for the close report, and the warehouse the pipeline builds from it in two runs.

The report day is 2026-11-19 (UTC). Run 1 is as of 2026-11-20 06:00, run 2 as of 12:00; the
only callback received between them is s3's success (08:00), so run 2 sees s3 go from
overdue to confirmed. Every expected figure in the tests is worked out by hand from this
list and the rules (docs/rules.md): see the comment on each order.

Config: callback outages of at least 1 h with at least 2 orders created (instead of 30 min and
20), so the 14:01-18:00:30 silence of stripe, with s3 and s6 created inside it, is an outage.
Adyen sends a statement for 2026-11-19 only: a1 matched, a ghost payment (an orphan row), a fee.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orders_pipeline import cli
from orders_pipeline_tests.conftest import write_jsonl

DAY = "2026-11-19"
RUN_1 = "2026-11-20T06:00:00Z"
RUN_2 = "2026-11-20T12:00:00Z"
CONFIG = "outages:\n  min_gap: 1h\n  min_orders: 2\n"


def _order(order_id: str, provider: str, amount: str, currency: str, created_at: str, **extra: Any) -> dict:
    return {
        "order_id": order_id,
        "merchant_id": "m1",
        "provider": provider,
        "amount": amount,
        "currency": currency,
        "created_at": created_at,
        **extra,
    }


def _callback(order_id: str, provider: str, status: str, received_at: str, amount: str = "", currency: str = ""):
    line = {"order_id": order_id, "provider": provider, "status": status, "received_at": received_at}
    if amount:
        line |= {"amount": amount, "currency": currency}
    return line


ORDERS = [
    # 2026-11-19, stripe USD (sla 5m): web stream seq 10, 11, 13 -> seq 12 missing, after s2's line (11:00).
    _order("s1", "stripe", "12.50", "USD", "2026-11-19T10:00:00Z", source="web", seq=10),  # confirmed, 60 s
    _order("s2", "stripe", "7.25", "USD", "2026-11-19T11:00:00Z", source="web", seq=11),  # confirmed, 120 s
    _order("s5", "stripe", "20.00", "USD", "2026-11-19T14:00:00Z", source="web", seq=13),  # amount_mismatch, 60 s
    _order("s3", "stripe", "5.00", "USD", "2026-11-19T15:00:00Z"),  # run 1 overdue; run 2 confirmed, 61200 s
    _order("s6", "stripe", "2.00", "USD", "2026-11-19T16:00:00Z"),  # overdue (query_provider), age 20 h
    _order("s4", "stripe", "3.10", "USD", "2026-11-19T18:00:00Z"),  # failed, 30 s
    # 2026-11-19, paypal USD and KWD (3 decimals)
    _order("p1", "paypal", "30.00", "USD", "2026-11-19T17:00:00Z"),  # confirmed, 300 s
    _order("k1", "paypal", "1.250", "KWD", "2026-11-19T16:30:00Z"),  # confirmed, 60 s
    # 2026-11-19, adyen EUR and JPY (0 decimals)
    _order("a1", "adyen", "100.00", "EUR", "2026-11-19T09:00:00Z"),  # confirmed, 30 s; statement matched
    _order("a2", "adyen", "40.00", "EUR", "2026-11-19T09:30:00Z"),  # overdue (query_provider), age 26.5 h
    _order("a3", "adyen", "1500", "JPY", "2026-11-19T20:00:00Z"),  # confirmed, 120 s; statement awaiting
    # 2026-11-19, alipay CNY (retry horizon 25h)
    _order("c1", "alipay", "88.88", "CNY", "2026-11-19T01:00:00Z"),  # missing (investigate), age 35 h
    # other days: batch stream seq 1, 3 -> seq 2 missing, placed on 2026-11-15 (not the report day)
    _order("old1", "stripe", "50.00", "USD", "2026-11-15T10:00:00Z", source="batch", seq=1),  # missing, 5d 2h
    _order("d18", "stripe", "9.99", "USD", "2026-11-18T10:00:00Z", source="batch", seq=3),  # confirmed
    _order("today", "stripe", "1.00", "USD", "2026-11-20T11:58:00Z"),  # run 2 only: pending
]

CALLBACKS = [
    _callback("d18", "stripe", "success", "2026-11-18T10:01:00Z", "9.99", "USD"),
    _callback("a1", "adyen", "success", "2026-11-19T09:00:30Z", "100.00", "EUR"),
    _callback("s1", "stripe", "success", "2026-11-19T10:01:00Z", "12.50", "USD"),
    _callback("s2", "stripe", "success", "2026-11-19T11:02:00Z", "7.25", "USD"),
    _callback("s5", "stripe", "success", "2026-11-19T14:01:00Z", "19.00", "USD"),
    _callback("k1", "paypal", "success", "2026-11-19T16:31:00Z", "1.250", "KWD"),
    _callback("p1", "paypal", "success", "2026-11-19T17:05:00Z", "30.00", "USD"),
    _callback("s4", "stripe", "failed", "2026-11-19T18:00:30Z"),
    _callback("a3", "adyen", "success", "2026-11-19T20:02:00Z", "1500", "JPY"),
    _callback("s3", "stripe", "success", "2026-11-20T08:00:00Z", "5.00", "USD"),  # after run 1
]


def _statement(kind: str, amount: str, order_id: str | None, txn: str) -> dict:
    return {
        "provider": "adyen",
        "statement_date": DAY,
        "type": kind,
        "order_id": order_id,
        "amount": amount,
        "currency": "EUR",
        "booked_at": f"{DAY}T22:00:00Z",
        "provider_txn_id": txn,
    }


STATEMENTS = [
    _statement("payment", "100.00", "a1", "psp-1"),
    _statement("payment", "5.00", "ghost", "psp-2"),  # no such order: an orphan statement row
    _statement("fee", "0.30", None, "fee-1"),
]


def build_close_warehouse(root: Path) -> dict[str, Path]:
    """Write the corpus under ``root``, reconcile it as of RUN_1 and RUN_2; the warehouse after each run."""
    orders = write_jsonl(root / "in" / "orders" / "orders.jsonl", ORDERS).parent
    callbacks = write_jsonl(root / "in" / "callbacks" / "callbacks.jsonl", CALLBACKS).parent
    statements = write_jsonl(root / "in" / "statements" / "adyen.jsonl", STATEMENTS).parent
    config = root / "config.yaml"
    config.write_text(CONFIG)
    warehouse = root / "wh" / "warehouse.duckdb"
    after_run_1 = root / "after_run_1.duckdb"
    for as_of in (RUN_1, RUN_2):
        code = cli.main(
            [
                "reconcile",
                *("--orders", str(orders), "--callbacks", str(callbacks), "--statements", str(statements)),
                *("--config", str(config), "--warehouse", str(warehouse), "--as-of", as_of, "--quiet"),
            ]
        )
        assert code == 0
        if as_of == RUN_1:
            after_run_1.write_bytes(warehouse.read_bytes())
    return {"root": root, "warehouse": warehouse, "after_run_1": after_run_1, "config": config}
