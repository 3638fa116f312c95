"""The ``stripe`` adapter: a Stripe webhook event (JSON) is one record.

Source: Stripe, "Event object" and "Types of events" (https://docs.stripe.com/api/events,
https://docs.stripe.com/api/events/types), "Check the webhook signatures"
(https://docs.stripe.com/webhooks#verify-events) and "Zero-decimal currencies"
(https://docs.stripe.com/currencies#zero-decimal). Fixtures with their sources:
``orders_pipeline_tests/fixtures/webhooks/stripe``.

Mapping (docs/rules.md#envelopes-and-provider-adapters), per event:

============================  =================================================================
canonical field               from the event
============================  =================================================================
order_id                      ``data.object.metadata[<key>]`` (``envelopes.stripe.metadata_key``,
                              default the statements' ``stripe_metadata_key``, ``order_id``), else
                              ``data.object.client_reference_id``
status                        by ``type`` and ``envelopes.stripe.event_family`` (table below);
                              any other type: ignored ``ignored:<type>``
amount                        minor units in Stripe's exponent of the currency: ``amount`` of a
                              payment intent, charge or dispute, ``amount_refunded`` of
                              ``charge.refunded``, ``amount_total`` of a checkout session; must be
                              a JSON integer (else ``bad_amount``)
currency                      ``data.object.currency`` (lower-case in the payload)
event_time                    ``created`` (integer epoch seconds, else ``bad_timestamp``)
callback_id                   the event ``id``
provider_txn_id               ``data.object.id`` of a ``payment_intent.*`` event,
                              ``data.object.payment_intent`` of any other (its ``id`` when expanded)
parent_txn_id                 ``data.object.payment_intent`` of ``charge.refunded`` and
                              ``charge.dispute.created`` (how a refund without metadata finds its order)
============================  =================================================================

==============  ===========================================================================
family          status
==============  ===========================================================================
payment_intent  ``payment_intent.succeeded`` success; ``payment_intent.payment_failed``,
                ``payment_intent.canceled`` failed; ``payment_intent.processing``,
                ``payment_intent.requires_action`` pending
charge          ``charge.succeeded`` success, ``charge.failed`` failed, ``charge.pending`` pending
checkout        ``checkout.session.completed`` success when ``payment_status`` is ``paid`` or
                ``no_payment_required``, else pending; ``checkout.session.async_payment_succeeded``
                success; ``checkout.session.async_payment_failed``, ``checkout.session.expired``
                failed
every family    ``charge.refunded`` reversed, ``charge.dispute.created`` reversed
==============  ===========================================================================

Exponents: 0 for Stripe's zero-decimal currencies (:data:`ZERO_DECIMAL`), 2 for ISK (Stripe
counts ISK in hundredths, so an ISK amount not divisible by 100 is ``bad_amount`` once converted
to ISO's 0 decimals), ISO 4217 otherwise.

Decisions the rules leave open: an event without ``type`` is rejected ``missing_field:type``;
whether an event is ignored is decided before its other fields are judged (a
``customer.created`` with no order id is ignored, not rejected); a body logged as a JSON object
cannot be verified against ``Stripe-Signature`` (Stripe signs the raw bytes), so with a secret
configured it is rejected ``bad_signature``.
"""

from __future__ import annotations

import json

import duckdb
import polars as pl

from orders_pipeline.lib.common.config import EnvelopeSettings
from orders_pipeline.lib.common.money import CURRENCY_EXPONENTS
from orders_pipeline.lib.inputs.envelopes.signatures import header, secret_from_env, stripe_problem
from orders_pipeline.lib.inputs.envelopes.units import epoch_seconds_to_rfc3339, minor_to_major

NAME = "stripe"
BODY_FORMS = ("json",)

ZERO_DECIMAL = (
    "BIF",
    "CLP",
    "DJF",
    "GNF",
    "JPY",
    "KMF",
    "KRW",
    "MGA",
    "PYG",
    "RWF",
    "UGX",
    "VND",
    "VUV",
    "XAF",
    "XOF",
    "XPF",
)
EXPONENTS: dict[str, int] = {**CURRENCY_EXPONENTS, **dict.fromkeys(ZERO_DECIMAL, 0), "ISK": 2}
"""Stripe's exponent per currency (the ISO one unless Stripe says otherwise)."""

FAMILY_STATUSES: dict[str, dict[str, str]] = {
    "payment_intent": {
        "payment_intent.succeeded": "success",
        "payment_intent.payment_failed": "failed",
        "payment_intent.canceled": "failed",
        "payment_intent.processing": "pending",
        "payment_intent.requires_action": "pending",
    },
    "charge": {"charge.succeeded": "success", "charge.failed": "failed", "charge.pending": "pending"},
    "checkout": {
        "checkout.session.completed": "success",  # pending unless paid, see records()
        "checkout.session.async_payment_succeeded": "success",
        "checkout.session.async_payment_failed": "failed",
        "checkout.session.expired": "failed",
    },
}
EVERY_FAMILY: dict[str, str] = {"charge.refunded": "reversed", "charge.dispute.created": "reversed"}
PARENT_LINKED = tuple(EVERY_FAMILY)


def _sql(metadata_key: str) -> str:
    key = json.dumps(metadata_key)
    structure = json.dumps(
        {
            "type": "VARCHAR",
            "id": "JSON",
            "created": "JSON",
            "data": {
                "object": {
                    "id": "VARCHAR",
                    "metadata": {json.loads(key): "JSON"},
                    "client_reference_id": "JSON",
                    "amount": "JSON",
                    "amount_refunded": "JSON",
                    "amount_total": "JSON",
                    "currency": "VARCHAR",
                    "payment_intent": "JSON",
                    "payment_status": "VARCHAR",
                }
            },
        }
    ).replace("'", "''")
    meta = '"' + metadata_key.replace('"', '""') + '"'

    def value(path: str, name: str) -> str:
        return f"json_extract_string({path}, '$') AS {name}, json_type({path}) AS {name}_type"

    # One parse of each body (json_transform); only the small values are looked at again.
    return f"""
    SELECT pos, s.type AS type, {value("s.id", "id")}, {value("s.created", "created")},
        s.data.object.id AS object_id,
        {value(f"s.data.object.metadata.{meta}", "metadata_order")},
        json_extract_string(s.data.object.client_reference_id, '$') AS client_reference_id,
        {value("s.data.object.amount", "amount")},
        {value("s.data.object.amount_refunded", "amount_refunded")},
        {value("s.data.object.amount_total", "amount_total")},
        s.data.object.currency AS currency,
        CASE WHEN json_type(s.data.object.payment_intent) = 'OBJECT'
             THEN json_extract_string(s.data.object.payment_intent, '$.id')
             ELSE json_extract_string(s.data.object.payment_intent, '$') END AS payment_intent,
        s.data.object.payment_status AS payment_status
    FROM (SELECT pos, json_transform(body, '{structure}') AS s FROM __stripe)
    """


def _present(name: str) -> pl.Expr:
    return (pl.col(name).str.strip_chars() != "").fill_null(False)


def _verify(envelopes: pl.DataFrame, settings: EnvelopeSettings, timezone: str) -> pl.DataFrame:
    """``problem`` (why the signature fails, else null) and ``verified`` per envelope."""
    secret = secret_from_env(settings.stripe.webhook_secret_env, "envelopes.stripe.webhook_secret_env")
    if secret is None:
        return envelopes.with_columns(pl.lit(None, pl.String).alias("problem"), pl.lit(False).alias("verified"))
    problems = [
        stripe_problem(
            body, header(headers, "Stripe-Signature"), received, secret, settings.stripe.signature_tolerance, timezone
        )
        for body, headers, received in zip(
            envelopes["raw_body"].to_list(),
            envelopes["headers"].to_list(),
            envelopes["received_at"].to_list(),
            strict=True,
        )
    ]
    return envelopes.with_columns(pl.Series("problem", problems, pl.String), pl.lit(True).alias("verified"))


def records(
    con: duckdb.DuckDBPyConnection, envelopes: pl.DataFrame, settings: EnvelopeSettings, timezone: str
) -> pl.DataFrame:
    """One record per Stripe event envelope (columns of :data:`~.core.RECORD_SCHEMA`)."""
    checked = _verify(envelopes, settings, timezone)
    bad = checked.filter(pl.col("problem").is_not_null()).select(
        "pos",
        pl.lit("bad_signature").alias("reject"),
        pl.col("problem").alias("note"),
        pl.lit(True).alias("verified"),
    )
    good = checked.filter(pl.col("problem").is_null())
    con.register("__stripe", good.select("pos", "body").to_arrow())
    try:
        f = con.sql(_sql(settings.stripe.metadata_key or "order_id")).pl()
    finally:
        con.unregister("__stripe")
    f = f.join(good.select("pos", "verified"), on="pos", how="left")
    family = settings.stripe.event_family
    statuses = {**FAMILY_STATUSES[family], **EVERY_FAMILY}
    event_type = pl.col("type")
    status = event_type.replace_strict(statuses, default=None, return_dtype=pl.String)
    if family == "checkout":
        unpaid = ~pl.col("payment_status").is_in(["paid", "no_payment_required"]).fill_null(False)
        status = (
            pl.when((event_type == "checkout.session.completed") & unpaid).then(pl.lit("pending")).otherwise(status)
        )

    def by_event(name: str) -> pl.Expr:
        # amount_refunded of a refund, amount_total of a checkout session, amount otherwise
        return (
            pl.when(event_type == "charge.refunded")
            .then(pl.col(name.replace("amount", "amount_refunded", 1)))
            .when(event_type.str.starts_with("checkout.session."))
            .then(pl.col(name.replace("amount", "amount_total", 1)))
            .otherwise(pl.col(name))
        )

    amount_text, amount_type = by_event("amount"), by_event("amount_type")
    currency = pl.col("currency").str.strip_chars().str.to_uppercase()
    exponent = currency.replace_strict(EXPONENTS, default=None, return_dtype=pl.Int64)
    metadata_order = pl.when(_present("metadata_order") & (pl.col("metadata_order_type") == "VARCHAR")).then(
        pl.col("metadata_order")
    )
    is_intent = event_type.str.starts_with("payment_intent.").fill_null(False)
    out = f.select(
        "pos",
        pl.lit(None, pl.Int64).alias("record_index"),
        pl.coalesce(metadata_order, pl.when(_present("client_reference_id")).then(pl.col("client_reference_id"))).alias(
            "order_id"
        ),
        status.alias("status"),
        minor_to_major(amount_text, amount_type, exponent).alias("amount"),
        pl.col("currency"),
        epoch_seconds_to_rfc3339(pl.col("created"), pl.col("created_type")).alias("event_time"),
        pl.when(pl.col("id_type") == "VARCHAR").then(pl.col("id")).alias("callback_id"),
        pl.when(is_intent).then(pl.col("object_id")).otherwise(pl.col("payment_intent")).alias("provider_txn_id"),
        pl.when(event_type.is_in(PARENT_LINKED)).then(pl.col("payment_intent")).alias("parent_txn_id"),
        pl.col("verified"),
        pl.when(~_present("type")).then(pl.lit("missing_field:type")).alias("reject"),
        pl.when(_present("type") & status.is_null()).then(pl.format("ignored:{}", event_type)).alias("ignore"),
        pl.when(~_present("type"))
        .then(pl.lit("Stripe event has no type"))
        .when(status.is_null())
        .then(
            pl.format(
                "Stripe event type '{}' says nothing about a payment's outcome (family {})", event_type, pl.lit(family)
            )
        )
        .alias("note"),
    )
    return pl.concat([out, bad], how="diagonal_relaxed")
