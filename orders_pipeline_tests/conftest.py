"""Shared fixtures: tiny, explicit log files written into tmp_path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

AS_OF = "2026-11-20T12:00:00Z"


def write_jsonl(path: Path, rows: list[dict | str]) -> Path:
    """Write rows (dicts as JSON, strings verbatim) as a JSONL file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.fixture
def small_logs(tmp_path: Path) -> tuple[Path, Path]:
    """One order per interesting outcome, plus a bad line of each kind and an orphan callback."""
    return write_small_logs(tmp_path)


def write_small_logs(tmp_path: Path) -> tuple[Path, Path]:
    """Write the ``small_logs`` under ``tmp_path/in``; returns the orders and callbacks folders."""
    orders = [
        {
            "order_id": "o-confirmed",
            "merchant_id": "m1",
            "provider": "stripe",
            "amount": "12.50",
            "currency": "USD",
            "created_at": "2026-11-20T10:00:00Z",
        },
        {
            "order_id": "o-overdue",
            "merchant_id": "m1",
            "provider": "stripe",
            "amount": 5,
            "currency": "USD",
            "created_at": "2026-11-20T11:00:00Z",
        },
        {
            "order_id": "o-missing",
            "merchant_id": "m2",
            "provider": "alipay",
            "amount": "100",
            "currency": "CNY",
            "created_at": "2026-11-18T10:00:00Z",
        },
        {
            "order_id": "o-mismatch",
            "merchant_id": "m2",
            "provider": "adyen",
            "amount": "1000",
            "currency": "JPY",
            "created_at": "2026-11-20T09:00:00Z",
        },
        {
            "order_id": "o-pending",
            "merchant_id": "m3",
            "provider": "paypal",
            "amount": "1.250",
            "currency": "KWD",
            "created_at": "2026-11-20T11:55:00Z",
        },
        '{"order_id": "broken"',
        {
            "order_id": "o-bad-amount",
            "merchant_id": "m1",
            "provider": "stripe",
            "amount": "1.234",
            "currency": "USD",
            "created_at": "2026-11-20T10:00:00Z",
        },
    ]
    callbacks = [
        {
            "order_id": "o-confirmed",
            "provider": "stripe",
            "status": "success",
            "amount": "12.5",
            "currency": "USD",
            "received_at": "2026-11-20T10:01:00Z",
            "callback_id": "evt1",
        },
        {
            "order_id": "o-mismatch",
            "provider": "adyen",
            "status": "SUCCESS",
            "amount": "999",
            "currency": "JPY",
            "received_at": "2026-11-20T09:01:00Z",
        },
        {
            "order_id": "o-nobody",
            "provider": "stripe",
            "status": "success",
            "amount": "1.00",
            "currency": "USD",
            "received_at": "2026-11-20T09:30:00Z",
        },
        {"order_id": "o-overdue", "provider": "stripe", "status": "ok", "received_at": "2026-11-20T11:01:00Z"},
    ]
    return (
        write_jsonl(tmp_path / "in" / "orders" / "2026-11-20.jsonl", orders).parent,
        write_jsonl(tmp_path / "in" / "callbacks" / "2026-11-20.jsonl", callbacks).parent,
    )


EXPECTED_SMALL_OUTCOMES = {
    "o-confirmed": "confirmed",
    "o-overdue": "overdue",
    "o-missing": "missing",
    "o-mismatch": "amount_mismatch",
    "o-pending": "pending",
}
