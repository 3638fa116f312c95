"""PayPal's settlement report (STL, ``STL-yyyymmdd.sequence.version.CSV``): record types in the first column.

Source: PayPal, "Settlement Report Specification"
(https://developer.paypal.com/docs/reports/sftp-reports/settlement-report/) and the T-code
reference (https://developer.paypal.com/docs/reports/reference/tcodes/). Every line starts with
its record type: ``RH`` report header, ``FH`` file header, ``SH`` section header (the period
the section covers), ``CH`` the column header, ``SB`` one transaction, and ``SF``, ``SC``,
``RF``, ``RC``, ``FF`` the section, report and file footers (totals and counts). "Money amount
fields are unsigned, with no currency symbol, decimal separator, or other punctuation ...
100,00 yen and $100.00 USD are both represented as 10000": amounts are hundredths of the
currency unit, whatever the currency, with the direction in a separate ``CR``/``DR`` column.
The specification says every text field is quoted; published files do not always quote, so
quotes are optional here.

Recognised by a first line whose first cell is ``RH``, ``FH``, ``SH`` or ``CH``.

Mapping of an ``SB`` row to the canonical statement line:

- provider: ``paypal``
- type: ``Transaction Event Code`` (T-code; "the event group portion is sufficient for
  reconciliation") with ``Transaction Debit or Credit``: T00nn credit -> payment (a T00nn debit
  is money the merchant sent: adjustment); T1107 (refund) -> refund; T1106 (payment reversal)
  and T1201 (chargeback) -> chargeback; T01nn -> fee; T04nn (withdrawal to a bank) -> payout;
  every other code (currency conversions, holds and releases, fee and chargeback reversals, ...)
  -> adjustment
- order_id: ``Custom Field``, else ``Invoice ID`` (the order the webhook adapter reads:
  ``custom_id``, then ``invoice_id``)
- amount: ``Gross Transaction Amount`` in hundredths, written as a decimal (``10400`` ->
  ``104.00``); validation then applies the currency's exponent
- currency: ``Gross Transaction Currency``
- booked_at: ``Transaction Completion Date`` (else ``Transaction Initiation Date``):
  ``2026/01/06 03:12:28 -0800`` -> ``2026-01-06T03:12:28-08:00``
- statement_date: the start date of the row's ``SH`` section (else the date of ``booked_at``)
- provider_txn_id: ``Transaction ID``
- fee: ``Fee Amount`` in hundredths, when its ``Fee Currency`` is the row's currency
- net: not in the report

``RH``, ``FH`` and ``SH`` lines are ``ignored:header``; ``SF``, ``SC``, ``RF``, ``RC`` and
``FF`` lines ``ignored:summary``; ``CH`` is the column header (not a record). A line of any
other record type is a record that is not a transaction: it is rejected (with ``bad_type``,
its record type shown, unless a required cell is missing first), never dropped.
"""

from __future__ import annotations

import polars as pl

from orders_pipeline.lib.common.config import Settings
from orders_pipeline.lib.inputs.statements.native import (
    NativeRecords,
    canonical_cells,
    cleaned,
    date_of,
    first_cell,
    ignored_lines,
    native_columns,
    read_records,
    records_of,
)

NAME = "paypal"
ENCODING = "utf-8"
_HEADERS = ("RH", "FH", "SH")
_FOOTERS = ("SF", "SC", "RF", "RC", "FF")
_NAMES = (
    "record_type",
    "Transaction ID",
    "Invoice ID",
    "Transaction Event Code",
    "Transaction Initiation Date",
    "Transaction Completion Date",
    "Transaction Debit or Credit",
    "Gross Transaction Amount",
    "Gross Transaction Currency",
    "Fee Amount",
    "Fee Currency",
    "Custom Field",
)
# "2026/01/06 03:12:28 -0800"
_PAYPAL_TIME = r"^([0-9]{4})/([0-9]{2})/([0-9]{2}) ([0-9]{2}:[0-9]{2}:[0-9]{2}) ([+-][0-9]{2})([0-9]{2})$"


def recognises(first_lines: list[str]) -> bool:
    """A PayPal STL file: its first line is a report, file or section header, or the column header."""
    if not first_lines:
        return False
    first = first_lines[0].split(",", 1)[0].strip().strip('"')
    return first in (*_HEADERS, "CH")


def _iso_time(text: pl.Expr) -> pl.Expr:
    """PayPal's ``YYYY/MM/DD HH:MM:SS ±hhmm`` as RFC 3339 (anything else is left as it is)."""
    return (
        pl.when(text.str.contains(_PAYPAL_TIME))
        .then(text.str.replace(_PAYPAL_TIME, "${1}-${2}-${3}T${4}${5}:${6}"))
        .otherwise(text)
    )


def _hundredths(text: pl.Expr) -> pl.Expr:
    """An amount in hundredths as a decimal: ``10400`` -> ``104.00``, ``5`` -> ``0.05``."""
    padded = text.str.zfill(3)
    return (
        pl.when(text.str.contains(r"^[0-9]+$"))
        .then(padded.str.slice(0, padded.str.len_chars() - 2) + "." + padded.str.slice(-2))
        .otherwise(text)
    )


def read(lines: list[tuple[str, bool]], settings: Settings) -> NativeRecords:
    """The report's ``SB`` rows as canonical statement cells; header and footer lines ignored."""
    records = read_records(lines).with_columns(first_cell().alias("_kind"))
    kind = pl.col("_kind")
    column_header = records.filter(kind == "CH")
    header = (
        ["record_type", *(n.strip(' \t\r"') for n in column_header["cells"][0][1:])] if column_header.height else []
    )
    section_start = pl.when(kind == "SH").then(pl.col("cells").list.get(1, null_on_oob=True).str.slice(0, 10))
    records = records.with_columns(section_start.str.replace_all("/", "-").forward_fill().alias("_section"))
    ignored = [
        *ignored_lines(records.filter(kind.is_in(_HEADERS)), "ignored:header", "PayPal report, file or section header"),
        *ignored_lines(records.filter(kind.is_in(_FOOTERS)), "ignored:summary", "PayPal totals line"),
    ]
    rows = records.filter(~kind.is_in([*_HEADERS, *_FOOTERS, "CH"]).fill_null(True))
    native = native_columns(header, rows, _NAMES).with_columns(rows["_section"].alias("section_date"))
    rows = rows.drop("_kind", "_section")
    code = cleaned("Transaction Event Code").str.to_uppercase()
    credit = cleaned("Transaction Debit or Credit").str.to_uppercase() == "CR"
    record_type = cleaned("record_type")
    row_type = (
        pl.when(record_type != "SB")
        .then(record_type)
        .when(code.str.starts_with("T00"))
        .then(pl.when(credit).then(pl.lit("payment")).otherwise(pl.lit("adjustment")))
        .when(code == "T1107")
        .then(pl.lit("refund"))
        .when(code.is_in(["T1106", "T1201"]))
        .then(pl.lit("chargeback"))
        .when(code.str.starts_with("T01"))
        .then(pl.lit("fee"))
        .when(code.str.starts_with("T04"))
        .then(pl.lit("payout"))
        .when(code.is_not_null())
        .then(pl.lit("adjustment"))
    )
    booked = _iso_time(pl.coalesce(cleaned("Transaction Completion Date"), cleaned("Transaction Initiation Date")))
    currency = cleaned("Gross Transaction Currency")
    fee_currency = cleaned("Fee Currency")
    cells = canonical_cells(
        native,
        {
            "provider": pl.lit(NAME),
            "type": row_type,
            "order_id": pl.coalesce(cleaned("Custom Field"), cleaned("Invoice ID")),
            "amount": _hundredths(cleaned("Gross Transaction Amount")),
            "currency": currency,
            "booked_at": booked,
            "statement_date": pl.coalesce(cleaned("section_date"), date_of(booked)),
            "provider_txn_id": cleaned("Transaction ID"),
            "fee": pl.when(fee_currency.is_null() | (fee_currency == currency)).then(
                _hundredths(cleaned("Fee Amount"))
            ),
        },
    )
    # The shape is judged against the report's own columns (the section date is ours).
    return records_of(header, rows, cells, ignored)
