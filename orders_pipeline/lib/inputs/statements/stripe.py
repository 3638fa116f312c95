"""Stripe's itemized balance reports (``balance_change_from_activity.itemized.*`` and the like).

Source: Stripe, "Balance report" and "Reporting categories"
(https://docs.stripe.com/reports/balance, https://docs.stripe.com/reports/reporting-categories)
and the Balance Transaction object (https://docs.stripe.com/api/balance_transactions/object):
one CSV row per balance transaction, with its ``reporting_category``, its signed ``gross``,
``fee`` and ``net`` in major units ("a positive value represents funds charged to another
party, and a negative value represents funds sent to another party"), and the metadata of the
payment it belongs to in ``payment_metadata[<key>]`` columns (refunds and disputes carry the
charge's metadata).

Recognised by a header holding ``reporting_category``.

Mapping to the canonical statement line:

- provider: ``stripe``
- type: ``reporting_category``: charge -> payment, refund -> refund, dispute -> chargeback, fee
  -> fee, payout -> payout; every other category (dispute_reversal, refund_failure,
  partial_capture_reversal, payout_reversal, transfer, other_adjustment, ...) -> adjustment
- order_id: ``payment_metadata[<key>]``, the key from the config
  (``statements.stripe_metadata_key``, default ``order_id``)
- amount, fee, net: ``gross``, ``fee``, ``net`` without their sign
- currency: ``currency`` (Stripe writes it lower-case; validation upper-cases it)
- booked_at: ``created_utc`` (UTC) when the report has it, else ``created`` (the report's
  timezone, read like any time without an offset: in the configured timezone)
- statement_date: the date of that ``booked_at`` as written
- provider_txn_id: ``balance_transaction_id`` (one per balance change, so the same row in two
  reports is recognised)

A partial capture shows as a charge for the authorised amount plus a partial_capture_reversal
(an adjustment): the statement's payment is then the authorised amount, and a smaller order
amount shows as ``amount_differs``.
"""

from __future__ import annotations

import polars as pl

from orders_pipeline.lib.common.config import Settings
from orders_pipeline.lib.inputs.statements.native import (
    NativeRecords,
    canonical_cells,
    cleaned,
    date_of,
    native_columns,
    no_records,
    read_records,
    records_of,
    split_header,
    unsigned_decimal,
    with_offset,
)

NAME = "stripe"
ENCODING = "utf-8"
_TYPES = {"charge": "payment", "refund": "refund", "dispute": "chargeback", "fee": "fee", "payout": "payout"}


def recognises(first_lines: list[str]) -> bool:
    """A Stripe balance report: its header names ``reporting_category``."""
    return bool(first_lines) and "reporting_category" in first_lines[0].split(",")


def read(lines: list[tuple[str, bool]], settings: Settings) -> NativeRecords:
    """The report's rows as canonical statement cells (every line after the header is a row)."""
    header, rows = split_header(read_records(lines))
    if not header:
        return no_records()
    order_column = f"payment_metadata[{settings.statements.stripe_metadata_key}]"
    names = (
        "balance_transaction_id",
        "created_utc",
        "created",
        "currency",
        "gross",
        "fee",
        "net",
        "reporting_category",
        order_column,
    )
    native = native_columns(header, rows, names)
    category = cleaned("reporting_category")
    booked = with_offset(cleaned("created_utc"), "Z") if "created_utc" in header else cleaned("created")
    cells = canonical_cells(
        native,
        {
            "provider": pl.lit(NAME),
            "type": pl.when(category.is_not_null()).then(
                category.replace_strict(_TYPES, default="adjustment", return_dtype=pl.String)
            ),
            "order_id": cleaned(order_column),
            "amount": unsigned_decimal(cleaned("gross")),
            "currency": cleaned("currency"),
            "booked_at": booked,
            "statement_date": date_of(booked),
            "provider_txn_id": cleaned("balance_transaction_id"),
            "fee": unsigned_decimal(cleaned("fee")),
            "net": unsigned_decimal(cleaned("net")),
        },
    )
    return records_of(header, rows, cells, [])
