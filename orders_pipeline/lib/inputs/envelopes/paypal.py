"""The ``paypal`` adapter: a PayPal webhook event (JSON, v1 or v2 resources) is one record.

Source: PayPal, "Webhook event names" and "Show event notification details"
(https://developer.paypal.com/api/rest/webhooks/event-names/,
https://developer.paypal.com/docs/api/webhooks/v1/#webhooks-events_get), the Webhooks Simulator
messages and the PayPal Node SDK sample. Fixtures with their sources:
``orders_pipeline_tests/fixtures/webhooks/paypal``.

Mapping (docs/rules.md#envelopes-and-provider-adapters):

================  ================================================================================
canonical field   from the event
================  ================================================================================
order_id          ``resource.custom_id``, else ``resource.invoice_id``, else v1's ``resource.custom``,
                  else ``resource.invoice_number`` (missing: absent, null or blank)
status            ``event_type``: PAYMENT.CAPTURE.COMPLETED success; PAYMENT.CAPTURE.PENDING and
                  CHECKOUT.ORDER.APPROVED pending; PAYMENT.CAPTURE.DECLINED and
                  PAYMENT.CAPTURE.DENIED failed; PAYMENT.CAPTURE.REFUNDED and PAYMENT.CAPTURE.REVERSED
                  reversed; v1 PAYMENT.SALE.COMPLETED success, PAYMENT.SALE.DENIED failed,
                  PAYMENT.SALE.REFUNDED and PAYMENT.SALE.REVERSED reversed. Any other type:
                  ``ignored:<event_type>``
amount, currency  major units: v2 ``resource.amount.value`` + ``currency_code``, v1
                  ``resource.amount.total`` + ``currency`` (v2 or v1 by the amount's shape); a string
                  or a JSON integer (a JSON number with a fraction is not read exactly: ``bad_amount``)
event_time        ``resource.update_time``, else ``resource.create_time``, else the event's
                  ``create_time`` (RFC 3339 with offset)
callback_id       the event ``id``
provider_txn_id   ``resource.id``
parent_txn_id     reversed events only: the last path segment of the ``href`` of the
                  ``resource.links`` entry whose ``rel`` is ``up`` (the capture refunded)
================  ================================================================================

Decisions the rules leave open: an event without ``event_type`` is
``missing_field:event_type``; v1 refunds carry negative totals (``"-0.01"``), which the rules
make ``bad_amount`` (negative amounts are never taken); CHECKOUT.ORDER.APPROVED keeps its
reference under ``purchase_units[]``, which the rules' paths do not read, so it lands only when
``resource.custom_id`` or ``invoice_id`` is set. No PayPal signature is verified (PayPal's
check is an API call or a certificate chain, not a shared secret).
"""

from __future__ import annotations

import duckdb
import polars as pl

from orders_pipeline.lib.common.config import EnvelopeSettings

NAME = "paypal"
BODY_FORMS = ("json",)

STATUSES: dict[str, str] = {
    "PAYMENT.CAPTURE.COMPLETED": "success",
    "PAYMENT.CAPTURE.PENDING": "pending",
    "CHECKOUT.ORDER.APPROVED": "pending",
    "PAYMENT.CAPTURE.DECLINED": "failed",
    "PAYMENT.CAPTURE.DENIED": "failed",
    "PAYMENT.CAPTURE.REFUNDED": "reversed",
    "PAYMENT.CAPTURE.REVERSED": "reversed",
    "PAYMENT.SALE.COMPLETED": "success",
    "PAYMENT.SALE.DENIED": "failed",
    "PAYMENT.SALE.REFUNDED": "reversed",
    "PAYMENT.SALE.REVERSED": "reversed",
}

_SQL = """
WITH e AS (SELECT pos, body::JSON AS b FROM __paypal),
r AS (SELECT pos, b, json_extract(b, '$.resource') AS r FROM e)
SELECT pos,
    json_extract_string(b, '$.event_type') AS event_type,
    json_extract_string(b, '$.id') AS id,
    json_type(b, '$.id') AS id_type,
    json_extract_string(b, '$.create_time') AS event_create_time,
    json_extract_string(r, '$.id') AS resource_id,
    json_extract_string(r, '$.custom_id') AS custom_id,
    json_extract_string(r, '$.invoice_id') AS invoice_id,
    json_extract_string(r, '$.custom') AS custom,
    json_extract_string(r, '$.invoice_number') AS invoice_number,
    json_extract_string(r, '$.amount.value') AS v2_value,
    json_type(r, '$.amount.value') AS v2_value_type,
    json_extract_string(r, '$.amount.currency_code') AS v2_currency,
    json_extract_string(r, '$.amount.total') AS v1_total,
    json_type(r, '$.amount.total') AS v1_total_type,
    json_extract_string(r, '$.amount.currency') AS v1_currency,
    json_extract_string(r, '$.update_time') AS update_time,
    json_extract_string(r, '$.create_time') AS create_time,
    json_extract_string(
        list_filter(json_extract(r, '$.links[*]'), lambda x: json_extract_string(x, '$.rel') = 'up')[1], '$.href'
    ) AS up_href
FROM r
"""


def _present(name: str) -> pl.Expr:
    return (pl.col(name).str.strip_chars() != "").fill_null(False)


def _first_present(*names: str) -> pl.Expr:
    return pl.coalesce([pl.when(_present(name)).then(pl.col(name)) for name in names])


def _amount(value: str, value_type: str) -> pl.Expr:
    """A major-unit amount as text: a JSON string as written, a JSON integer; a fraction is marked."""
    kind = pl.col(value_type)
    return (
        pl.when(kind.is_in(["VARCHAR", "UBIGINT", "BIGINT"]))
        .then(pl.col(value))
        .when(kind == "DOUBLE")
        .then(pl.format("{} (a JSON number with a fraction is not read exactly)", pl.col(value)))
    )


def records(
    con: duckdb.DuckDBPyConnection, envelopes: pl.DataFrame, settings: EnvelopeSettings, timezone: str
) -> pl.DataFrame:
    """One record per PayPal event envelope (columns of :data:`~.core.RECORD_SCHEMA`)."""
    del settings, timezone  # nothing configurable; PayPal times carry their offset
    con.register("__paypal", envelopes.select("pos", "body").to_arrow())
    try:
        f = con.sql(_SQL).pl()
    finally:
        con.unregister("__paypal")
    event_type = pl.col("event_type")
    status = event_type.replace_strict(STATUSES, default=None, return_dtype=pl.String)
    v2 = _present("v2_value") | _present("v2_currency")
    parent = pl.col("up_href").str.strip_chars_end("/").str.extract(r"([^/]+)$", 1)
    return f.select(
        pl.col("pos").cast(pl.Int64),
        pl.lit(None, pl.Int64).alias("record_index"),
        _first_present("custom_id", "invoice_id", "custom", "invoice_number").alias("order_id"),
        status.alias("status"),
        pl.when(v2)
        .then(_amount("v2_value", "v2_value_type"))
        .otherwise(_amount("v1_total", "v1_total_type"))
        .alias("amount"),
        pl.when(v2).then(pl.col("v2_currency")).otherwise(pl.col("v1_currency")).alias("currency"),
        _first_present("update_time", "create_time", "event_create_time").alias("event_time"),
        pl.when(pl.col("id_type") == "VARCHAR").then(pl.col("id")).alias("callback_id"),
        pl.when(_present("resource_id")).then(pl.col("resource_id")).alias("provider_txn_id"),
        pl.when(status == "reversed").then(parent).alias("parent_txn_id"),
        pl.lit(False).alias("verified"),
        pl.when(~_present("event_type")).then(pl.lit("missing_field:event_type")).alias("reject"),
        pl.when(_present("event_type") & status.is_null()).then(pl.format("ignored:{}", event_type)).alias("ignore"),
        pl.when(~_present("event_type"))
        .then(pl.lit("PayPal event has no event_type"))
        .when(status.is_null())
        .then(pl.format("PayPal event type '{}' says nothing about a payment's outcome", event_type))
        .alias("note"),
    )
