"""Provider envelopes on the providers' own published payloads (fixtures/webhooks, sources in its README).

The expected values are the README's "expected" column, worked out by hand from the SPEC's
adapter table; the adapters must give exactly those.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orders_pipeline.lib.common.config import Settings, settings_from_mapping
from orders_pipeline.lib.common.errors import ConfigError
from orders_pipeline.lib.inputs.discovery import discover_files
from orders_pipeline.lib.inputs.envelopes.stripe import EXPONENTS, ZERO_DECIMAL
from orders_pipeline.lib.inputs.landing import LandedFile, land_file

HOOKS = Path(__file__).resolve().parents[1] / "fixtures" / "webhooks"
RECEIVED = "2026-11-20T10:00:00Z"


def body(provider: str, name: str) -> str:
    return (HOOKS / provider / name).read_text(encoding="utf-8")


def envelope(provider: str, payload: str | dict[str, Any], received_at: str = RECEIVED, **extra: Any) -> str:
    return json.dumps({"received_at": received_at, "provider": provider, "body": payload, **extra})


def land(tmp_path: Path, lines: list[str], config: dict[str, Any] | None = None) -> LandedFile:
    folder = tmp_path / "callbacks"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "c.jsonl").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    [file] = discover_files(folder, "callbacks")
    return land_file(file, settings_from_mapping(config or {}))


def rows(landed: LandedFile) -> list[dict[str, Any]]:
    return pl.from_arrow(landed.rows).to_dicts()  # type: ignore[union-attr]


def reasons(table: Any) -> list[str]:
    return pl.from_arrow(table)["reason"].to_list()  # type: ignore[index]


def record(landed: LandedFile) -> tuple[Any, ...]:
    """The README's ``order_id | status | amount_minor CUR | event_time | callback_id | txn | parent``."""
    [row] = rows(landed)
    return (
        row["order_id"],
        row["status"],
        row["amount_minor"],
        row["currency"],
        row["event_time"],
        row["callback_id"],
        row["provider_txn_id"],
        row["parent_txn_id"],
    )


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# ---- Stripe ---------------------------------------------------------------------------------


def test_stripe_payment_intent_succeeded_real_webhook(tmp_path: Path) -> None:
    landed = land(tmp_path, [envelope("stripe", body("stripe", "payment_intent_succeeded.json"))])
    assert record(landed) == (
        "45",
        "success",
        28000,
        "LKR",
        utc(2023, 4, 9, 13, 11, 11),
        "evt_3Muy0VB9kJ5FDFAy1Vd481IS",
        "pi_3Muy0VB9kJ5FDFAy18gaNA5y",
        None,
    )
    assert rows(landed)[0]["received_at"] == utc(2026, 11, 20, 10)
    assert rows(landed)[0]["verified"] is False


@pytest.mark.parametrize("family", ["charge", "checkout"])
def test_stripe_payment_intent_event_is_ignored_in_other_families(tmp_path: Path, family: str) -> None:
    landed = land(
        tmp_path,
        [envelope("stripe", body("stripe", "payment_intent_succeeded.json"))],
        {"envelopes": {"stripe": {"event_family": family}}},
    )
    assert reasons(landed.ignored) == ["ignored:payment_intent.succeeded"]
    assert landed.counts.read == 1
    assert landed.counts.ignored == 1


def test_stripe_checkout_session_uses_client_reference_and_amount_total(tmp_path: Path) -> None:
    lines = [envelope("stripe", body("stripe", "checkout_session_completed.json"))]
    landed = land(tmp_path, lines, {"envelopes": {"stripe": {"event_family": "checkout"}}})
    assert record(landed) == (
        "user_12345",
        "success",
        2000,
        "USD",
        utc(2020, 12, 23, 6, 42, 20),
        "evt_000",
        "pi_000",
        None,
    )
    default = land(tmp_path / "d", lines)
    assert reasons(default.ignored) == ["ignored:checkout.session.completed"]


def test_stripe_checkout_session_unpaid_is_pending(tmp_path: Path) -> None:
    event = json.loads(body("stripe", "checkout_session_completed.json"))
    event["data"]["object"]["payment_status"] = "unpaid"
    landed = land(tmp_path, [envelope("stripe", event)], {"envelopes": {"stripe": {"event_family": "checkout"}}})
    assert record(landed)[1] == "pending"


def test_stripe_samples_without_order_reference_are_rejected_or_ignored(tmp_path: Path) -> None:
    names = [
        "payment_intent_succeeded.stripe_test_webhook.json",
        "payment_intent_payment_failed.stripe_test_webhook.json",
        "charge_succeeded.stripe_test_webhook.json",
        "charge_refunded.stripe_test_webhook.json",
        "charge_dispute_created.stripe_test_webhook.json",
        "customer_created.signed_body.json",
    ]
    landed = land(tmp_path, [envelope("stripe", body("stripe", n)) for n in names])
    assert rows(landed) == []
    assert reasons(landed.rejected) == ["missing_field:order_id"] * 4
    assert pl.from_arrow(landed.rejected)["line_number"].to_list() == [1, 2, 4, 5]  # type: ignore[index]
    assert reasons(landed.ignored) == ["ignored:charge.succeeded", "ignored:customer.created"]
    assert landed.counts.read == 6


def test_stripe_charge_family_takes_the_payment_intent_as_txn(tmp_path: Path) -> None:
    event = json.loads(body("stripe", "charge_succeeded.stripe_test_webhook.json"))
    event["data"]["object"]["metadata"] = {"order_id": "o-9"}
    landed = land(tmp_path, [envelope("stripe", event)], {"envelopes": {"stripe": {"event_family": "charge"}}})
    assert record(landed) == (
        "o-9",
        "success",
        2000,
        "USD",
        utc(2022, 3, 26, 18, 40, 32),
        "evt_000000000000000000000000",
        "pi_000000000000000000000000",
        None,
    )


def test_stripe_refund_without_metadata_is_linked_through_its_payment_intent(tmp_path: Path) -> None:
    """Stripe's own refund sample, pointed at the real payment intent of the succeeded webhook."""
    refund = json.loads(body("stripe", "charge_refunded.stripe_test_webhook.json"))
    refund["data"]["object"]["payment_intent"] = "pi_3Muy0VB9kJ5FDFAy18gaNA5y"
    landed = land(
        tmp_path,
        [envelope("stripe", refund), envelope("stripe", body("stripe", "payment_intent_succeeded.json"))],
    )
    refund_row = next(r for r in rows(landed) if r["status"] == "reversed")
    assert refund_row["order_id"] is None  # linked after landing (envelopes.linking)
    assert refund_row["linked"] is True
    assert refund_row["parent_txn_id"] == "pi_3Muy0VB9kJ5FDFAy18gaNA5y"
    assert refund_row["provider_txn_id"] == "pi_3Muy0VB9kJ5FDFAy18gaNA5y"
    assert refund_row["amount_minor"] == 100
    assert refund_row["envelope_raw"] == envelope("stripe", refund)


@pytest.mark.parametrize(
    ("currency", "amount", "expected"),
    [("jpy", 500, 500), ("usd", 1999, 1999), ("kwd", 1250, 1250), ("isk", 12300, 123), ("mga", 5000, 500000)],
)
def test_stripe_amounts_are_converted_exactly_from_stripe_units(
    tmp_path: Path, currency: str, amount: int, expected: int
) -> None:
    event = json.loads(body("stripe", "payment_intent_succeeded.json"))
    event["data"]["object"].update(currency=currency, amount=amount)
    assert rows(land(tmp_path, [envelope("stripe", event)]))[0]["amount_minor"] == expected


@pytest.mark.parametrize("amount", [12345, 12.5, "2000", -5, True])
def test_stripe_amount_not_exact_in_iso_units_is_bad_amount(tmp_path: Path, amount: Any) -> None:
    event = json.loads(body("stripe", "payment_intent_succeeded.json"))
    event["data"]["object"].update(currency="isk" if amount == 12345 else "usd", amount=amount)
    landed = land(tmp_path, [envelope("stripe", event)])
    assert reasons(landed.rejected) == ["bad_amount"]


def test_stripe_zero_decimal_list_is_stripes() -> None:
    assert set(ZERO_DECIMAL) == set("BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split())
    assert EXPONENTS["ISK"] == 2
    assert EXPONENTS["USD"] == 2
    assert EXPONENTS["KWD"] == 3


def test_stripe_created_must_be_an_integer(tmp_path: Path) -> None:
    event = json.loads(body("stripe", "payment_intent_succeeded.json"))
    event["created"] = "1681045871"
    assert reasons(land(tmp_path, [envelope("stripe", event)]).rejected) == ["bad_timestamp"]


# ---- Stripe signatures ----------------------------------------------------------------------

VECTOR = json.loads(body("stripe", "stripe_signature_vector.json"))
SIGNED = body("stripe", VECTOR["body_file"])
SIGNED_AT = datetime.fromtimestamp(VECTOR["timestamp"], UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
STRIPE_SECRET = {"envelopes": {"stripe": {"webhook_secret_env": "TEST_STRIPE_WHSEC"}}}


def signed_envelope(received_at: str = SIGNED_AT, header: str | None = None) -> str:
    headers = {"Stripe-Signature": header or VECTOR["stripe_signature_header"]}
    return envelope("stripe", SIGNED, received_at, headers=headers)


def test_stripe_signature_vector_verifies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_STRIPE_WHSEC", VECTOR["secret"])
    landed = land(tmp_path, [signed_envelope()], STRIPE_SECRET)
    assert reasons(landed.ignored) == ["ignored:customer.created"]
    assert landed.counts.rejected == 0


def test_stripe_signature_with_another_secret_is_bad_signature(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_STRIPE_WHSEC", "whsec_not_the_one")
    landed = land(tmp_path, [signed_envelope()], STRIPE_SECRET)
    assert reasons(landed.rejected) == ["bad_signature"]
    table = pl.from_arrow(landed.rejected)
    assert "whsec_not_the_one" not in json.dumps(table.to_dicts(), default=str)  # type: ignore[union-attr]


def test_stripe_signature_tolerance_is_relative_to_received_at(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_STRIPE_WHSEC", VECTOR["secret"])
    within = datetime.fromtimestamp(VECTOR["sdk_test_current_timestamp"], UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    late = datetime.fromtimestamp(VECTOR["timestamp"] + 301, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    landed = land(tmp_path, [signed_envelope(within), signed_envelope(late)], STRIPE_SECRET)
    assert reasons(landed.ignored) == ["ignored:customer.created"]
    assert reasons(landed.rejected) == ["bad_signature"]
    wide = {"envelopes": {"stripe": {"webhook_secret_env": "TEST_STRIPE_WHSEC", "signature_tolerance": "10m"}}}
    assert land(tmp_path / "w", [signed_envelope(late)], wide).counts.ignored == 1


def test_stripe_body_logged_as_object_cannot_be_verified(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_STRIPE_WHSEC", VECTOR["secret"])
    line = envelope(
        "stripe", json.loads(SIGNED), SIGNED_AT, headers={"Stripe-Signature": VECTOR["stripe_signature_header"]}
    )
    assert reasons(land(tmp_path, [line], STRIPE_SECRET).rejected) == ["bad_signature"]


def test_configured_secret_variable_that_is_unset_is_a_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_STRIPE_WHSEC", raising=False)
    with pytest.raises(ConfigError, match="TEST_STRIPE_WHSEC, which is not set"):
        land(tmp_path, [signed_envelope()], STRIPE_SECRET)


def test_config_takes_variable_names_not_secrets() -> None:
    with pytest.raises(ConfigError, match="NAME of an environment variable"):
        settings_from_mapping({"envelopes": {"stripe": {"webhook_secret_env": "whsec_abc-123"}}})
    with pytest.raises(ConfigError, match="event_family"):
        settings_from_mapping({"envelopes": {"stripe": {"event_family": "invoice"}}})
    with pytest.raises(ConfigError, match="unknown key 'secret'"):
        settings_from_mapping({"envelopes": {"adyen": {"secret": "x"}}})


def test_stripe_metadata_key_defaults_to_the_statements_key() -> None:
    config = settings_from_mapping({"statements": {"stripe_metadata_key": "ref"}})
    assert config.envelopes.stripe.metadata_key == "ref"


# ---- Adyen ----------------------------------------------------------------------------------

ADYEN_EXPECTED = {
    "authorisation_true.json": (
        "8313842560770001",
        "success",
        10100,
        "EUR",
        utc(2017, 1, 19, 15, 42, 3),
        "123456789:AUTHORISATION:true",
        "123456789",
        None,
    ),
    "authorisation_true.openapi.json": (
        "YOUR_MERCHANT_REFERENCE",
        "success",
        1000,
        "EUR",
        utc(2021, 1, 1),
        "QFQTPCQ8HXSKGK82:AUTHORISATION:true",
        "QFQTPCQ8HXSKGK82",
        None,
    ),
    "technical_cancel_true.openapi.json": (
        "YOUR_ORIGINAL_REFERENCE",
        "failed",
        1000,
        "EUR",
        utc(2018, 7, 18, 20, 35, 14),
        "8515208516304269:TECHNICAL_CANCEL:true",
        "8515208516304269",
        "8313547924770610",
    ),
    "refund_true.json": (
        "payment-2017-1-17-11-refund",
        "reversed",
        1500,
        "EUR",
        utc(2017, 2, 17, 10, 11, 44),
        "PSP_REFERENCE:REFUND:true",
        "PSP_REFERENCE",
        "ORIGINAL_PSP",
    ),
    "cancel_or_refund_true.openapi.json": (
        "YOUR_MERCHANT_REFERENCE",
        "reversed",
        1000,
        "EUR",
        utc(2021, 1, 1),
        "QFQTPCQ8HXSKGK82:CANCEL_OR_REFUND:true",
        "QFQTPCQ8HXSKGK82",
        "9913140798220028",
    ),
    "chargeback_true.json": (
        "XXXXXXXXXX",
        "reversed",
        1000,
        "EUR",
        utc(2018, 3, 23, 12, 55, 31),
        "9915555555555555:CHARGEBACK:true",
        "9915555555555555",
        "9913333333333333",
    ),
    "chargeback_true.openapi.json": (
        "YOUR_MERCHANT_REFERENCE",
        "reversed",
        1000,
        "EUR",
        utc(2021, 1, 1),
        "QFQTPCQ8HXSKGK82:CHARGEBACK:true",
        "QFQTPCQ8HXSKGK82",
        "9913140798220028",
    ),
}


@pytest.mark.parametrize("name", sorted(ADYEN_EXPECTED))
def test_adyen_published_notifications(tmp_path: Path, name: str) -> None:
    landed = land(tmp_path, [envelope("adyen", body("adyen", name))])
    assert record(landed) == ADYEN_EXPECTED[name]
    assert rows(landed)[0]["record_index"] == 0


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("refund_false.json", "ignored:REFUND:false"),
        ("refund_false.openapi.json", "ignored:REFUND:false"),
        ("capture_true.json", "ignored:CAPTURE"),
        ("capture_false.json", "ignored:CAPTURE"),
        ("offer_closed.json", "ignored:OFFER_CLOSED"),
    ],
)
def test_adyen_ignored_items(tmp_path: Path, name: str, reason: str) -> None:
    landed = land(tmp_path, [envelope("adyen", body("adyen", name))])
    assert reasons(landed.ignored) == [reason]
    assert pl.from_arrow(landed.ignored)["record_index"].to_list() == [0]  # type: ignore[index]


def test_adyen_capture_confirms(tmp_path: Path) -> None:
    config = {"envelopes": {"adyen": {"capture_confirms": True}}}
    names = ["capture_true.json", "capture_false.json", "authorisation_true.json"]
    landed = land(tmp_path, [envelope("adyen", body("adyen", n)) for n in names], config)
    got = [(r["status"], r["callback_id"], r["parent_txn_id"]) for r in rows(landed)]
    assert got == [
        ("success", "PSP_REFERENCE:CAPTURE:true", "ORIGINAL_PSP"),
        ("failed", "PSP_REFERENCE:CAPTURE:false", "ORIGINAL_PSP"),
        ("pending", "123456789:AUTHORISATION:true", None),
    ]


def test_adyen_authorisation_false_is_failed(tmp_path: Path) -> None:
    """No published AUTHORISATION false exists (README): the published true one with success "false"."""
    item = json.loads(body("adyen", "authorisation_true.json"))
    item["notificationItems"][0]["NotificationRequestItem"]["success"] = " False "
    landed = land(tmp_path, [envelope("adyen", item)])
    assert record(landed)[1] == "failed"
    assert record(landed)[5] == "123456789:AUTHORISATION:false"


@pytest.mark.parametrize("success", ["yes", 1, None])
def test_adyen_success_neither_true_nor_false_is_bad_status(tmp_path: Path, success: Any) -> None:
    item = json.loads(body("adyen", "authorisation_true.json"))
    item["notificationItems"][0]["NotificationRequestItem"]["success"] = success
    assert reasons(land(tmp_path, [envelope("adyen", item)]).rejected) == ["bad_status"]


def test_adyen_cancellation_without_reference_needs_its_link(tmp_path: Path) -> None:
    landed = land(tmp_path, [envelope("adyen", body("adyen", "cancellation_true.json"))])
    [row] = rows(landed)
    assert (row["order_id"], row["linked"], row["status"], row["parent_txn_id"]) == (
        None,
        True,
        "failed",
        "8313547924770610",
    )


def batch(*names: str) -> dict[str, Any]:
    items = [json.loads(body("adyen", n))["notificationItems"][0] for n in names]
    return {"live": "false", "notificationItems": items}


def test_adyen_batch_is_one_record_per_item(tmp_path: Path) -> None:
    landed = land(
        tmp_path,
        [
            envelope(
                "adyen", batch("authorisation_true.json", "refund_false.json", "refund_true.json"), seq=7, source="wh"
            )
        ],
    )
    assert landed.counts.read == 3
    assert (landed.counts.landed, landed.counts.ignored, landed.counts.rejected) == (2, 1, 0)
    landed_rows = rows(landed)
    assert [(r["line_number"], r["record_index"]) for r in landed_rows] == [(1, 0), (1, 2)]
    # the envelope's seq is one line of its stream: carried once
    assert [r["seq"] for r in landed_rows] == [7, None]
    assert pl.from_arrow(landed.ignored)["record_index"].to_list() == [1]  # type: ignore[index]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"live": "false", "notificationItems": []}, "no_items"),
        ({"live": "false"}, "missing_field:notificationItems"),
        ("<xml/>", "bad_body"),
        ("eventCode=AUTHORISATION", "bad_body"),
        ('{"notificationItems": [}', "malformed_json"),
        ('{"notificationItems": [],}', "malformed_json"),
    ],
)
def test_adyen_envelope_that_fails_before_its_items_is_one_rejected_record(
    tmp_path: Path, payload: Any, reason: str
) -> None:
    landed = land(tmp_path, [envelope("adyen", payload)])
    assert reasons(landed.rejected) == [reason]
    assert landed.counts.read == 1


def test_envelope_without_received_at_provider_or_adapter(tmp_path: Path) -> None:
    payload = body("adyen", "authorisation_true.json")
    lines = [
        json.dumps({"provider": "adyen", "body": payload}),
        json.dumps({"received_at": RECEIVED, "body": payload}),
        envelope("klarna", payload),
        envelope("adyen", payload, received_at="yesterday"),
    ]
    landed = land(tmp_path, lines)
    assert reasons(landed.rejected) == [
        "missing_field:received_at",
        "missing_field:provider",
        "no_adapter",
        "bad_timestamp",
    ]
    assert pl.from_arrow(landed.rejected)["raw"].to_list() == lines  # type: ignore[index]


def test_a_line_with_null_body_is_canonical(tmp_path: Path) -> None:
    line = json.dumps(
        {"order_id": "o1", "provider": "stripe", "status": "pending", "received_at": RECEIVED, "body": None}
    )
    landed = land(tmp_path, [line])
    assert rows(landed)[0]["order_id"] == "o1"
    assert rows(landed)[0]["verified"] is None


# ---- Adyen HMAC -----------------------------------------------------------------------------

HMAC = json.loads(body("adyen", "hmac/hmac_vectors.json"))
ADYEN_KEY = {"envelopes": {"adyen": {"hmac_key_env": "TEST_ADYEN_HMAC"}}}


@pytest.mark.parametrize("name", sorted(HMAC["file_vectors"]["files"]))
def test_adyen_hmac_vectors_with_slashes_verify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv("TEST_ADYEN_HMAC", HMAC["file_vectors"]["hmac_key"])
    landed = land(tmp_path, [envelope("adyen", body("adyen", f"hmac/{name}"))], ADYEN_KEY)
    [row] = rows(landed)
    assert row["verified"] is True
    assert row["status"] == "success"
    assert row["record_index"] is None


@pytest.mark.parametrize("index", [0, 1, 2])
def test_adyen_library_hmac_vectors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, index: int) -> None:
    vector = HMAC["vectors"][index]
    monkeypatch.setenv("TEST_ADYEN_HMAC", vector["hmac_key"])
    item = {**vector["item"], "additionalData": {"hmacSignature": vector["expected_hmac"]}}
    landed = land(tmp_path, [envelope("adyen", {"notificationItems": [{"NotificationRequestItem": item}]})], ADYEN_KEY)
    assert landed.counts.rejected == 0
    if item["eventCode"] == "AUTHORISATION":
        assert record(landed) == (
            "TestPayment-1407325143704",
            "success",
            1130,
            "EUR",
            datetime(2019, 5, 6, 15, 15, 34, 121000, tzinfo=UTC),
            "7914073381342284:AUTHORISATION:true",
            "7914073381342284",
            None,
        )
    else:
        assert reasons(landed.ignored) == ["ignored:REPORT_AVAILABLE"]


def test_adyen_forged_item_is_bad_signature_even_when_it_would_be_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_ADYEN_HMAC", HMAC["file_vectors"]["hmac_key"])
    genuine = json.loads(body("adyen", "hmac/item_colon.json"))
    forged = {**genuine, "amount": {"currency": "EUR", "value": 100000}}
    unsigned_refund_false = json.loads(body("adyen", "refund_false.json"))
    landed = land(
        tmp_path,
        [
            envelope(
                "adyen",
                {"notificationItems": [{"NotificationRequestItem": genuine}, {"NotificationRequestItem": forged}]},
            ),
            envelope("adyen", unsigned_refund_false),
        ],
        ADYEN_KEY,
    )
    assert [r["record_index"] for r in rows(landed)] == [0]
    assert reasons(landed.rejected) == ["bad_signature", "bad_signature"]
    assert HMAC["file_vectors"]["hmac_key"] not in json.dumps(pl.from_arrow(landed.rejected).to_dicts())  # type: ignore[union-attr]


def test_adyen_hmac_matches_an_independent_computation() -> None:
    """The fixtures' signed strings give the published HMACs (guards the vectors themselves)."""
    for vector in HMAC["vectors"]:
        digest = hmac.new(bytes.fromhex(vector["hmac_key"]), vector["signed_string"].encode(), hashlib.sha256).digest()
        assert base64.b64encode(digest).decode() == vector["expected_hmac"]


# ---- Conservation (property) ----------------------------------------------------------------

_CHOICES = [
    ("stripe", "payment_intent_succeeded.json"),
    ("stripe", "customer_created.signed_body.json"),
    ("stripe", "charge_refunded.stripe_test_webhook.json"),
    ("adyen", "authorisation_true.json"),
    ("adyen", "refund_false.json"),
    ("adyen", "capture_true.json"),
    ("paypal", "v2_payment_capture_completed.simulator.body.json"),
    ("paypal", "v2_payment_capture_refunded.simulator.body.json"),
    ("paypal", "v1_payment_sale_refunded.simulator.body.json"),
]
_ITEMS = ["authorisation_true.json", "refund_false.json", "refund_true.json", "offer_closed.json"]


@st.composite
def _line(draw: st.DrawFn) -> tuple[str, int]:
    """A line and how many records it is."""
    kind = draw(st.sampled_from(["envelope", "batch", "canonical", "garbage", "unknown", "empty"]))
    if kind == "envelope":
        provider, name = draw(st.sampled_from(_CHOICES))
        return envelope(provider, body(provider, name)), 1
    if kind == "batch":
        names = draw(st.lists(st.sampled_from(_ITEMS), min_size=1, max_size=5))
        return envelope("adyen", batch(*names)), len(names)
    if kind == "canonical":
        status = draw(st.sampled_from(["success", "pending", "nope"]))
        return json.dumps(
            {
                "order_id": "o",
                "provider": "stripe",
                "status": status,
                "amount": "1",
                "currency": "USD",
                "received_at": RECEIVED,
            }
        ), 1
    if kind == "unknown":
        return envelope(draw(st.sampled_from(["klarna", "", "paypal!"])), {"a": 1}), 1
    if kind == "empty":
        return envelope("adyen", {"notificationItems": []}), 1
    return draw(st.sampled_from(['{"body": "x",', "not json", '{"body": {"a": 1}}'])), 1


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(_line(), min_size=1, max_size=12))
def test_every_record_is_landed_rejected_or_ignored(
    tmp_path_factory: pytest.TempPathFactory, lines: list[tuple[str, int]]
) -> None:
    landed = land(tmp_path_factory.mktemp("c"), [text for text, _ in lines])
    counts = landed.counts
    assert counts.read == sum(n for _, n in lines)
    assert counts.read == counts.landed + counts.rejected + counts.ignored
    assert (landed.rows.num_rows, landed.rejected.num_rows, landed.ignored.num_rows) == (
        counts.landed,
        counts.rejected,
        counts.ignored,
    )


def test_settings_default_has_no_secrets() -> None:
    envelopes = Settings().envelopes
    assert envelopes.stripe.webhook_secret_env is None
    assert envelopes.adyen.hmac_key_env is None
    assert replace(envelopes.stripe, event_family="charge").event_family == "charge"
