"""The ``paypal`` adapter on PayPal's own published events (fixtures/webhooks/paypal, sources in its README)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from orders_pipeline_tests.inputs.test_envelopes import envelope, land, reasons, record, rows

HOOKS = Path(__file__).resolve().parents[1] / "fixtures" / "webhooks" / "paypal"


def event(name: str) -> str:
    return (HOOKS / name).read_text(encoding="utf-8")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


EXPECTED: dict[str, tuple[Any, ...]] = {
    "v2_payment_capture_completed.simulator.body.json": (
        "5840243-146",
        "success",
        3000,
        "USD",
        utc(2022, 8, 23, 18, 29, 50),
        "WH-58D329510W468432D-8HN650336L201105X",
        "12A34567BC123456S",
        None,
    ),
    "v2_payment_capture_declined.simulator.body.json": (
        "CUSTOMID-1001",
        "failed",
        18510,
        "USD",
        utc(2022, 12, 13, 19, 13),
        "WH-6HE329230C693231F-5WV60586YA659351G",
        "7U133281TB3277326",
        None,
    ),
    "v1_payment_sale_completed.node_sdk_sample.body.json": (
        "Hello World!",
        "success",
        601,
        "USD",
        utc(2016, 10, 5, 14, 57, 26),
        "WH-82L71649W50323023-5WC64761VS637831A",
        "8RS6210148826604N",
        None,
    ),
    # refunds and reversals: no order reference of their own, linked through the capture
    "v2_payment_capture_refunded.simulator.body.json": (
        None,
        "reversed",
        99,
        "USD",
        utc(2018, 8, 15, 19, 13, 29),
        "WH-1GE84257G0350133W-6RW800890C634293G",
        "1Y107995YT783435V",
        "0JF852973C016714D",
    ),
    "v2_payment_capture_reversed.simulator.body.json": (
        None,
        "reversed",
        251,
        "USD",
        utc(2018, 8, 15, 21, 30, 10),
        "WH-6F207351SC284371F-0KX52201050121307",
        "09E71677NS257044M",
        "4L335234718889942",
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_paypal_published_events(tmp_path: Path, name: str) -> None:
    landed = land(tmp_path, [envelope("paypal", event(name))])
    assert record(landed) == EXPECTED[name]
    assert rows(landed)[0]["linked"] is (EXPECTED[name][0] is None)


@pytest.mark.parametrize(
    "name",
    [
        "v2_payment_capture_pending.simulator.body.json",
        "v2_checkout_order_approved.json",
        "v1_payment_sale_completed.simulator.body.json",
        # no order reference and no rel=up link (v1 has only sale_id); its total is also negative
        "v1_payment_sale_refunded.simulator.body.json",
    ],
)
def test_paypal_events_without_an_order_reference_are_rejected(tmp_path: Path, name: str) -> None:
    assert reasons(land(tmp_path, [envelope("paypal", event(name))]).rejected) == ["missing_field:order_id"]


def test_paypal_v1_refund_with_a_reference_is_bad_amount_for_its_negative_total(tmp_path: Path) -> None:
    refund = json.loads(event("v1_payment_sale_refunded.simulator.body.json"))
    refund["resource"]["custom"] = "o-1"
    assert reasons(land(tmp_path, [envelope("paypal", refund)]).rejected) == ["bad_amount"]


def test_paypal_other_events_are_ignored_and_order_references_fall_back(tmp_path: Path) -> None:
    completed = json.loads(event("v2_payment_capture_completed.simulator.body.json"))
    other = {**completed, "event_type": "CUSTOMER.DISPUTE.CREATED"}
    custom = json.loads(event("v2_payment_capture_completed.simulator.body.json"))
    custom["resource"]["custom_id"] = "  "  # blank: falls back to invoice_id
    landed = land(tmp_path, [envelope("paypal", other), envelope("paypal", custom)])
    assert reasons(landed.ignored) == ["ignored:CUSTOMER.DISPUTE.CREATED"]
    assert record(landed)[0] == "5840243-146"


def test_paypal_refund_links_to_its_capture(tmp_path: Path) -> None:
    capture = json.loads(event("v2_payment_capture_completed.simulator.body.json"))
    capture["resource"]["id"] = "0JF852973C016714D"  # the capture the published refund points up to
    landed = land(
        tmp_path,
        [envelope("paypal", event("v2_payment_capture_refunded.simulator.body.json")), envelope("paypal", capture)],
    )
    refund = next(r for r in rows(landed) if r["status"] == "reversed")
    assert (refund["parent_txn_id"], refund["linked"]) == ("0JF852973C016714D", True)
