"""The ``adyen`` adapter: a standard notification is one record per ``NotificationRequestItem``.

Source: Adyen, "Webhook structure" and "Verify HMAC signatures"
(https://docs.adyen.com/development-resources/webhooks/webhook-types,
https://docs.adyen.com/development-resources/webhooks/verify-hmac-signatures) and the
``Webhooks-v1`` OpenAPI examples. Fixtures with their sources:
``orders_pipeline_tests/fixtures/webhooks/adyen``.

The body is ``{"live": ..., "notificationItems": [{"NotificationRequestItem": {...}}, ...]}``
(item ``i`` gets ``record_index`` ``i``, from 0) or a bare item (``record_index`` null).
An envelope whose ``notificationItems`` is empty is one record rejected ``no_items``; one with
neither ``notificationItems`` nor an ``eventCode`` is rejected
``missing_field:notificationItems``; an element without ``NotificationRequestItem`` is rejected
``missing_field:NotificationRequestItem``.

Mapping per item (docs/rules.md#envelopes-and-provider-adapters):

================  ================================================================================
canonical field   from the item
================  ================================================================================
order_id          ``merchantReference``
status            ``success`` is ``"true"``/``"false"`` (trimmed, any case) or a JSON boolean, else
                  ``bad_status``. AUTHORISATION true success, false failed; CANCELLATION and
                  TECHNICAL_CANCEL true failed; REFUND, CANCEL_OR_REFUND and CHARGEBACK true
                  reversed, false ignored ``ignored:<eventCode>:false``. CAPTURE is ignored
                  ``ignored:CAPTURE`` unless ``envelopes.adyen.capture_confirms`` (then CAPTURE true
                  success, false failed, and AUTHORISATION true pending). Any other eventCode:
                  ``ignored:<eventCode>``.
amount            ``amount.value``, minor units (a JSON integer, or a string of digits) in the ISO
                  4217 exponent of ``amount.currency``
event_time        ``eventDate`` (RFC 3339 with its offset)
callback_id       ``pspReference:eventCode:success`` (success as ``true``/``false``); none without
                  ``pspReference``
provider_txn_id   ``pspReference`` (each item's own)
parent_txn_id     ``originalReference``, for every item that is not an AUTHORISATION
================  ================================================================================

HMAC (when ``envelopes.adyen.hmac_key_env`` names the variable holding the hex key): each item's
``additionalData.hmacSignature`` must be base64(HMAC-SHA256(key, pspReference:originalReference:
merchantAccountCode:merchantReference:amount.value:amount.currency:eventCode:success)), missing
values empty, nothing escaped; it is checked before anything else, so a forged item is
``bad_signature`` even when it would have been ignored.

Decisions the rules leave open: a missing ``eventCode`` is ``missing_field:eventCode``; a
``"false"`` CAPTURE with capture-confirms off is ``ignored:CAPTURE`` (like a true one);
``eventCode`` is compared exactly (Adyen writes it upper-case).
"""

from __future__ import annotations

import duckdb
import polars as pl

from orders_pipeline.lib.common.config import EnvelopeSettings
from orders_pipeline.lib.common.money import CURRENCY_EXPONENTS
from orders_pipeline.lib.inputs.envelopes.signatures import adyen_key, adyen_problem
from orders_pipeline.lib.inputs.envelopes.units import minor_to_major

NAME = "adyen"
BODY_FORMS = ("json",)

MODIFICATIONS_FALSE_IGNORED = ("CANCELLATION", "TECHNICAL_CANCEL", "REFUND", "CANCEL_OR_REFUND", "CHARGEBACK")

_SQL = """
WITH e AS (SELECT pos, body::JSON AS b FROM __adyen),
k AS (
    SELECT pos, b, json_type(b, '$.notificationItems') AS items_type,
           CASE WHEN json_type(b, '$.notificationItems') = 'ARRAY'
                THEN json_array_length(b, '$.notificationItems') END AS n
    FROM e
),
batch AS (
    SELECT pos, unnest(json_extract(b, '$.notificationItems[*]')) AS el, unnest(range(n::BIGINT)) AS i
    FROM k WHERE n > 0
),
items AS (
    SELECT pos, i AS record_index, json_extract(el, '$.NotificationRequestItem') AS item FROM batch
    UNION ALL
    SELECT pos, NULL AS record_index, b AS item FROM k
    WHERE items_type IS NULL AND json_type(b, '$.eventCode') IS NOT NULL
)
SELECT pos, record_index,
    item IS NULL OR json_type(item) <> 'OBJECT' AS no_item,
    json_extract_string(item, '$.eventCode') AS event_code,
    json_extract_string(item, '$.success') AS success,
    json_type(item, '$.success') AS success_type,
    json_extract_string(item, '$.merchantReference') AS merchant_reference,
    json_extract_string(item, '$.pspReference') AS psp_reference,
    json_extract_string(item, '$.originalReference') AS original_reference,
    json_extract_string(item, '$.merchantAccountCode') AS merchant_account,
    json_extract_string(item, '$.amount.value') AS value,
    json_type(item, '$.amount.value') AS value_type,
    json_extract_string(item, '$.amount.currency') AS currency,
    json_extract_string(item, '$.eventDate') AS event_date,
    json_extract_string(item, '$.additionalData.hmacSignature') AS hmac_signature
FROM items
"""

_ENVELOPE_SQL = """
SELECT pos,
    CASE WHEN json_type(body::JSON, '$.notificationItems') = 'ARRAY' THEN 'no_items'
         WHEN json_type(body::JSON, '$.notificationItems') IS NOT NULL THEN 'bad_body'
         ELSE 'missing_field:notificationItems' END AS reject
FROM __adyen
WHERE coalesce(json_array_length(body::JSON, '$.notificationItems'), 0) = 0
  AND NOT (json_type(body::JSON, '$.notificationItems') IS NULL AND json_type(body::JSON, '$.eventCode') IS NOT NULL)
"""

_ENVELOPE_NOTES = {
    "no_items": "Adyen notification has an empty notificationItems",
    "bad_body": "Adyen notification's notificationItems is not a list",
    "missing_field:notificationItems": (
        "Adyen notification has no notificationItems and is no bare NotificationRequestItem"
    ),
}


def _present(name: str) -> pl.Expr:
    return (pl.col(name).str.strip_chars() != "").fill_null(False)


def _signature_problems(items: pl.DataFrame, key: bytes) -> pl.Series:
    fields = items.select(
        "psp_reference",
        "original_reference",
        "merchant_account",
        "merchant_reference",
        "value",
        "currency",
        "event_code",
        "success",
    ).rows()
    problems = [
        adyen_problem(list(row), signature, key) if not no_item else None
        for row, signature, no_item in zip(
            fields, items["hmac_signature"].to_list(), items["no_item"].to_list(), strict=True
        )
    ]
    return pl.Series("problem", problems, pl.String)


def records(
    con: duckdb.DuckDBPyConnection, envelopes: pl.DataFrame, settings: EnvelopeSettings, timezone: str
) -> pl.DataFrame:
    """One record per notification item (columns of :data:`~.core.RECORD_SCHEMA`)."""
    del timezone  # eventDate carries its offset
    key = adyen_key(settings.adyen.hmac_key_env)
    con.register("__adyen", envelopes.select("pos", "body").to_arrow())
    try:
        items = con.sql(_SQL).pl()
        failed = con.sql(_ENVELOPE_SQL).pl()
    finally:
        con.unregister("__adyen")
    verified = key is not None
    problem = (
        _signature_problems(items, key) if key is not None else pl.Series("problem", [None] * items.height, pl.String)
    )
    items = items.with_columns(problem)
    capture_confirms = settings.adyen.capture_confirms
    code = pl.col("event_code")
    success_text = (
        pl.when(pl.col("success_type") == "BOOLEAN")
        .then(pl.col("success"))
        .when(pl.col("success_type") == "VARCHAR")
        .then(pl.col("success").str.strip_chars().str.to_lowercase())
    )
    success: pl.Expr = pl.when(success_text.is_in(["true", "false"])).then(success_text)
    ok = success == "true"
    mapped_codes = ["AUTHORISATION", *MODIFICATIONS_FALSE_IGNORED, *(["CAPTURE"] if capture_confirms else [])]
    mapped = code.is_in(mapped_codes).fill_null(False)
    status = (
        pl.when(code == "AUTHORISATION")
        .then(pl.when(ok).then(pl.lit("pending" if capture_confirms else "success")).otherwise(pl.lit("failed")))
        .when(code == "CAPTURE")
        .then(pl.when(ok).then(pl.lit("success")).otherwise(pl.lit("failed")))
        .when(code.is_in(["CANCELLATION", "TECHNICAL_CANCEL"]) & ok)
        .then(pl.lit("failed"))
        .when(code.is_in(["REFUND", "CANCEL_OR_REFUND", "CHARGEBACK"]) & ok)
        .then(pl.lit("reversed"))
    )
    reject = (
        pl.when(pl.col("problem").is_not_null())
        .then(pl.lit("bad_signature"))
        .when(pl.col("no_item"))
        .then(pl.lit("missing_field:NotificationRequestItem"))
        .when(~_present("event_code"))
        .then(pl.lit("missing_field:eventCode"))
        .when(mapped & success.is_null())
        .then(pl.lit("bad_status"))
    )
    ignore = (
        pl.when(reject.is_not_null())
        .then(None)
        .when(~mapped)
        .then(pl.format("ignored:{}", code))
        .when(code.is_in(MODIFICATIONS_FALSE_IGNORED) & ~ok)
        .then(pl.format("ignored:{}:false", code))
    )
    note = (
        pl.when(pl.col("problem").is_not_null())
        .then(pl.col("problem"))
        .when(pl.col("no_item"))
        .then(pl.lit("notificationItems element has no NotificationRequestItem"))
        .when(~_present("event_code"))
        .then(pl.lit("Adyen item has no eventCode"))
        .when(mapped & success.is_null())
        .then(pl.format("success '{}' is neither true nor false", pl.col("success")))
        .when(~mapped)
        .then(pl.format("Adyen eventCode '{}' says nothing about a payment's outcome", code))
        .when(ignore.is_not_null())
        .then(pl.format("Adyen {} with success false: the modification did not happen", code))
    )
    currency = pl.col("currency").str.strip_chars().str.to_uppercase()
    exponent = currency.replace_strict(CURRENCY_EXPONENTS, default=None, return_dtype=pl.Int64)
    psp = pl.when(_present("psp_reference")).then(pl.col("psp_reference"))
    out = items.select(
        pl.col("pos").cast(pl.Int64),
        pl.col("record_index").cast(pl.Int64),
        pl.when(_present("merchant_reference")).then(pl.col("merchant_reference")).alias("order_id"),
        status.alias("status"),
        minor_to_major(pl.col("value"), pl.col("value_type"), exponent, digit_strings=True).alias("amount"),
        pl.col("currency"),
        pl.col("event_date").alias("event_time"),
        pl.when(psp.is_not_null()).then(pl.format("{}:{}:{}", psp, code, success)).alias("callback_id"),
        psp.alias("provider_txn_id"),
        pl.when(code != "AUTHORISATION")
        .then(pl.when(_present("original_reference")).then(pl.col("original_reference")))
        .alias("parent_txn_id"),
        pl.lit(verified).alias("verified"),
        reject.alias("reject"),
        ignore.alias("ignore"),
        note.alias("note"),
    )
    envelope_rejects = failed.select(
        pl.col("pos").cast(pl.Int64),
        pl.lit(None, pl.Int64).alias("record_index"),
        pl.lit(verified).alias("verified"),
        "reject",
        pl.col("reject").replace_strict(_ENVELOPE_NOTES, return_dtype=pl.String).alias("note"),
    )
    return pl.concat([out, envelope_rejects], how="diagonal_relaxed")
