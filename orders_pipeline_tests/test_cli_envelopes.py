"""End to end through the CLI: callbacks as provider envelopes (Stripe, Adyen), signed and forged, linked and not."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from orders_pipeline import cli
from orders_pipeline_tests.conftest import AS_OF, write_jsonl

HOOKS = Path(__file__).resolve().parent / "fixtures" / "webhooks"
STRIPE_SECRET = "whsec_test_only_secret_value"
ADYEN_KEY = json.loads((HOOKS / "adyen" / "hmac" / "hmac_vectors.json").read_text())["file_vectors"]["hmac_key"]


def order(order_id: str, provider: str, amount: str, currency: str, created_at: str = "2026-11-20T10:00:00Z") -> dict:
    return {
        "order_id": order_id,
        "merchant_id": "m1",
        "provider": provider,
        "amount": amount,
        "currency": currency,
        "created_at": created_at,
    }


def stripe_event(
    event_id: str, event_type: str, obj: dict[str, Any], created: int = 1795168920
) -> str:  # 2026-11-20T10:02:00Z
    """Stripe's real payment_intent.succeeded webhook (fixture), with this event's id, type and object."""
    event = json.loads((HOOKS / "stripe" / "payment_intent_succeeded.json").read_text())
    event.update(id=event_id, type=event_type, created=created)
    event["data"]["object"] = {**event["data"]["object"], **obj}
    return json.dumps(event)


def stripe_envelope(body: str, secret: str = STRIPE_SECRET, received_at: str = "2026-11-20T10:02:05Z") -> dict:
    t = 1795168920
    signature = hmac.new(secret.encode(), f"{t}.{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "received_at": received_at,
        "provider": "stripe",
        "body": body,
        "headers": {"Stripe-Signature": f"t={t},v1={signature}"},
    }


def adyen_item(name: str, **changes: Any) -> dict:
    item = json.loads((HOOKS / "adyen" / "hmac" / name).read_text())
    return {**item, **changes}


def run(
    tmp_path: Path, callbacks: list[dict | str], config: dict, capsys: pytest.CaptureFixture[str]
) -> duckdb.DuckDBPyConnection:
    orders = write_jsonl(
        tmp_path / "in" / "orders" / "o.jsonl",
        [
            order("o-paid", "stripe", "280.00", "LKR"),
            order("o-forged", "stripe", "280.00", "LKR"),
            order("o-refunded", "stripe", "20.00", "USD"),
            # the published Adyen items are from 2023: flagged callback_before_order, still confirmed
            order(":slashes are fun", "adyen", "10.00", "EUR"),
            order("//slashes are fun", "adyen", "10.00", "EUR"),
        ],
    ).parent
    folder = write_jsonl(tmp_path / "in" / "callbacks" / "c.jsonl", callbacks).parent
    (tmp_path / "config.yaml").write_text(json.dumps(config))
    warehouse = tmp_path / "w.duckdb"
    code = cli.main(
        [
            "reconcile",
            "--orders",
            str(orders),
            "--callbacks",
            str(folder),
            "--warehouse",
            str(warehouse),
            "--as-of",
            AS_OF,
            "--config",
            str(tmp_path / "config.yaml"),
            "--quiet",
        ]
    )
    err = capsys.readouterr().err
    assert code == 0, err
    assert STRIPE_SECRET not in err
    assert ADYEN_KEY not in err
    return duckdb.connect(str(warehouse), read_only=True)


CONFIG = {
    "envelopes": {
        "stripe": {"webhook_secret_env": "TEST_STRIPE_WHSEC"},
        "adyen": {"hmac_key_env": "TEST_ADYEN_HMAC"},
    },
}


def test_envelope_callbacks_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.setenv("TEST_STRIPE_WHSEC", STRIPE_SECRET)
    monkeypatch.setenv("TEST_ADYEN_HMAC", ADYEN_KEY)
    paid = stripe_event("evt_paid", "payment_intent.succeeded", {"id": "pi_paid", "metadata": {"order_id": "o-paid"}})
    forged = stripe_event(
        "evt_forged", "payment_intent.succeeded", {"id": "pi_f", "metadata": {"order_id": "o-forged"}}
    )
    payment = stripe_event(
        "evt_pay",
        "payment_intent.succeeded",
        {"id": "pi_r", "amount": 2000, "currency": "usd", "metadata": {"order_id": "o-refunded"}},
    )
    refund = stripe_event(
        "evt_refund",
        "charge.refunded",
        {
            "id": "ch_r",
            "object": "charge",
            "amount_refunded": 2000,
            "currency": "usd",
            "payment_intent": "pi_r",
            "metadata": {},
        },
        created=1795169000,
    )
    lonely_refund = stripe_event(
        "evt_lonely",
        "charge.refunded",
        {
            "id": "ch_x",
            "object": "charge",
            "amount_refunded": 5,
            "currency": "usd",
            "payment_intent": "pi_nobody",
            "metadata": {},
        },
    )
    good_adyen = [adyen_item("item_colon.json"), adyen_item("item_forwardslash.json")]
    forged_adyen = adyen_item("item_backslash.json", merchantReference="//slashes are fun", success="false")
    callbacks: list[dict | str] = [
        # the refund comes first: linking does not depend on reading order
        stripe_envelope(refund),
        stripe_envelope(paid),
        stripe_envelope(forged, secret="whsec_attacker"),
        stripe_envelope(payment),
        stripe_envelope(lonely_refund),
        {
            "received_at": "2026-11-20T10:01:00Z",
            "provider": "adyen",
            "body": {
                "live": "false",
                "notificationItems": [{"NotificationRequestItem": i} for i in [*good_adyen, forged_adyen]],
            },
            "source": "adyen-hook",
            "seq": 1,
        },
        stripe_envelope(stripe_event("evt_cus", "customer.created", {"id": "cus_1", "object": "customer"})),
    ]
    con = run(tmp_path, callbacks, CONFIG, capsys)
    outcomes = dict(con.execute("SELECT order_id, outcome FROM recon.order_outcomes").fetchall())
    assert outcomes["o-paid"] == "confirmed"
    assert outcomes["o-forged"] != "confirmed"  # a forged callback cannot confirm an order
    assert outcomes["o-refunded"] == "reversed"  # refund without metadata, linked through its payment intent
    assert outcomes[":slashes are fun"] == "confirmed"
    assert outcomes["//slashes are fun"] == "confirmed"  # the forged "false" item did not fail it

    rejected = con.execute(
        "SELECT line_number, reason, message FROM recon.rejected_lines "
        "WHERE kind = 'callbacks' ORDER BY line_number, reason"
    ).fetchall()
    assert [(line, reason) for line, reason, _ in rejected] == [
        (3, "bad_signature"),
        (5, "missing_field:order_id"),
        (6, "bad_signature"),
    ]
    assert "pi_nobody" in rejected[1][2]
    ignored = con.execute("SELECT line_number, reason FROM recon.ignored_records WHERE kind = 'callbacks'").fetchall()
    assert ignored == [(7, "ignored:customer.created")]

    files = con.execute(
        "SELECT lines_read, lines_landed, lines_rejected, lines_ignored FROM recon.input_files WHERE kind = 'callbacks'"
    ).fetchall()
    assert files == [(9, 5, 3, 1)]  # 7 lines; the Adyen batch line is three records
    [(checks, verification)] = con.execute(
        "SELECT check_results, callback_verification FROM recon.runs ORDER BY finished_at DESC LIMIT 1"
    ).fetchall()
    conserved = next(c for c in json.loads(checks) if c["check_name"] == "lines_conserved")
    assert conserved["passed"] is True
    assert json.loads(verification) == {
        "adyen": {"verified": True, "records": 2, "verified_records": 2, "bad_signature": 1},
        "stripe": {"verified": True, "records": 3, "verified_records": 3, "bad_signature": 1},
    }
    text = json.dumps(con.execute("SELECT * FROM recon.rejected_lines").fetchall(), default=str)
    assert STRIPE_SECRET not in text
    assert ADYEN_KEY not in text


def test_without_secrets_callbacks_are_read_unverified(tmp_path: Path, capsys, monkeypatch) -> None:
    paid = stripe_event("evt_paid", "payment_intent.succeeded", {"id": "pi_paid", "metadata": {"order_id": "o-paid"}})
    con = run(tmp_path, [stripe_envelope(paid, secret="anything")], {}, capsys)
    assert con.execute("SELECT outcome FROM recon.order_outcomes WHERE order_id = 'o-paid'").fetchone() == (
        "confirmed",
    )
    [(verification,)] = con.execute("SELECT callback_verification FROM recon.runs").fetchall()
    assert json.loads(verification)["stripe"]["verified"] is False


def test_a_later_payment_file_links_an_earlier_refund(tmp_path: Path, capsys, monkeypatch) -> None:
    """Runs are incremental: the refund's file lands first, rejected; the payment's file arrives and links it."""
    monkeypatch.setenv("TEST_STRIPE_WHSEC", STRIPE_SECRET)
    payment = stripe_event(
        "evt_pay",
        "payment_intent.succeeded",
        {"id": "pi_r", "amount": 2000, "currency": "usd", "metadata": {"order_id": "o-refunded"}},
    )
    refund = stripe_event(
        "evt_refund",
        "charge.refunded",
        {
            "id": "ch_r",
            "object": "charge",
            "amount_refunded": 2000,
            "currency": "usd",
            "payment_intent": "pi_r",
            "metadata": {},
        },
        created=1795169000,
    )
    con = run(tmp_path, [stripe_envelope(refund)], CONFIG, capsys)
    assert con.execute("SELECT reason FROM recon.rejected_lines").fetchall() == [("missing_field:order_id",)]
    con.close()
    write_jsonl(tmp_path / "in" / "callbacks" / "d.jsonl", [stripe_envelope(payment)])
    con = run(tmp_path, [stripe_envelope(refund)], CONFIG, capsys)
    assert con.execute("SELECT count(*) FROM recon.rejected_lines").fetchone() == (0,)
    assert con.execute("SELECT outcome FROM recon.order_outcomes WHERE order_id = 'o-refunded'").fetchone() == (
        "reversed",
    )
    assert con.execute("SELECT sum(lines_landed) FROM recon.input_files WHERE kind = 'callbacks'").fetchone() == (2,)
