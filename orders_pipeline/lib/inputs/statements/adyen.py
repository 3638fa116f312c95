"""Adyen's settlement details report (``settlement_detail_report_batch_<n>.csv``): one file per payout batch.

Source: Adyen, "Settlement details report"
(https://docs.adyen.com/reporting/settlement-reconciliation/transaction-level/settlement-details-report)
and its journal types
(https://docs.adyen.com/developers/reporting/settlement-detail-report/settlement-detail-report-structure/journal-types):
one row per booking in the batch; ``Type`` is the journal type; a payment's gross amount is in
``Gross Credit (GC)`` / ``Gross Debit (GC)`` in the ``Gross Currency``, rows that are not
customer payments (fees, payouts, corrections) only have the net columns; times are in the
account's time zone, named by the ``TimeZone`` / ``Booking Date TimeZone`` columns. Columns
are read by name, so the classic (30-34 columns) and the migrated (49 columns) layouts both work.

Recognised by a header holding ``Merchant Reference``, ``Type`` and a gross debit or credit column.

Mapping to the canonical statement line:

- provider: ``adyen``
- type: ``Type`` (any case): Settled, SettledExternally, SettledInInstallments -> payment;
  Refunded, RefundedExternally, RefundedInInstallments -> refund; Chargeback,
  ChargebackExternally, SecondChargeback -> chargeback; Fee, MiscCosts, PaymentCost,
  InvoiceDeduction, AuthorisationSchemeFee -> fee; MerchantPayout -> payout; every other journal
  type (ChargebackReversed, RefundedReversed, DepositCorrection, MatchedStatement,
  ManualCorrected, BankInstructionReturned, ...) -> adjustment
- order_id: ``Merchant Reference``
- amount, currency: ``Gross Credit (GC)``, else ``Gross Debit (GC)``, in ``Gross Currency``; a
  row without gross amounts: ``Net Credit (NC)``, else ``Net Debit (NC)``, in ``Net Currency``
- booked_at: ``Booking Date`` with ``Booking Date TimeZone`` when the report has them, else
  ``Creation Date`` with ``TimeZone``; a date without a time is its midnight
- statement_date: the date of that ``booked_at`` as written (the account's time zone)
- provider_txn_id: ``Modification Reference`` (the booking's own reference: two partial refunds
  of one payment stay two rows), else ``Psp Reference``
- net: ``Net Credit (NC)`` or ``Net Debit (NC)`` when the net currency is the row's currency
- fee: not one column in this report (commission, markup, scheme fees and interchange are
  separate): left out

Time zone abbreviations are read with their standard offset (:data:`ZONE_OFFSETS`); an
abbreviation not in that table is left in the text, so the row is rejected ``bad_timestamp``
with the value shown rather than read in a guessed zone.

A batch is not a day: one business day's bookings can be split over two batches. Give Adyen a
``settlement_delay`` that covers a batch period, so an order is judged only once every batch
that could hold it has arrived.
"""

from __future__ import annotations

import polars as pl

from orders_pipeline.lib.common.config import Settings
from orders_pipeline.lib.inputs.statements.native import (
    NAIVE_TIMESTAMP,
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
)

NAME = "adyen"
ENCODING = "utf-8"
_TYPES = {
    **dict.fromkeys(("settled", "settledexternally", "settledininstallments"), "payment"),
    **dict.fromkeys(("refunded", "refundedexternally", "refundedininstallments"), "refund"),
    **dict.fromkeys(("chargeback", "chargebackexternally", "secondchargeback"), "chargeback"),
    **dict.fromkeys(("fee", "misccosts", "paymentcost", "invoicededuction", "authorisationschemefee"), "fee"),
    "merchantpayout": "payout",
}
ZONE_OFFSETS = {
    "UTC": "+00:00",
    "GMT": "+00:00",
    "WET": "+00:00",
    "BST": "+01:00",
    "WEST": "+01:00",
    "CET": "+01:00",
    "CEST": "+02:00",
    "EET": "+02:00",
    "EEST": "+03:00",
    "MSK": "+03:00",
    "EST": "-05:00",
    "EDT": "-04:00",
    "CST": "-06:00",
    "CDT": "-05:00",
    "MST": "-07:00",
    "MDT": "-06:00",
    "PST": "-08:00",
    "PDT": "-07:00",
    "AKST": "-09:00",
    "AKDT": "-08:00",
    "HST": "-10:00",
    "BRT": "-03:00",
    "SGT": "+08:00",
    "HKT": "+08:00",
    "AWST": "+08:00",
    "JST": "+09:00",
    "KST": "+09:00",
    "AEST": "+10:00",
    "AEDT": "+11:00",
    "NZST": "+12:00",
    "NZDT": "+13:00",
}
_NAMES = (
    "Psp Reference",
    "Merchant Reference",
    "Creation Date",
    "TimeZone",
    "Type",
    "Modification Reference",
    "Gross Currency",
    "Gross Debit (GC)",
    "Gross Credit (GC)",
    "Net Currency",
    "Net Debit (NC)",
    "Net Credit (NC)",
    "Booking Date",
    "Booking Date TimeZone",
)


def recognises(first_lines: list[str]) -> bool:
    """An Adyen settlement details report: Merchant Reference, Type and a gross column in the header."""
    header = first_lines[0] if first_lines else ""
    return "Merchant Reference" in header and "Type" in header and ("Gross Debit" in header or "Gross Credit" in header)


def _local_time(date: pl.Expr, zone: pl.Expr) -> pl.Expr:
    """``date`` (a time, or a bare date read as its midnight) with the offset of the zone abbreviation."""
    timestamp = pl.when(date.str.contains(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")).then(date + " 00:00:00").otherwise(date)
    offset = zone.str.to_uppercase().replace_strict(ZONE_OFFSETS, default=None, return_dtype=pl.String)
    known = timestamp.str.contains(NAIVE_TIMESTAMP) & offset.is_not_null()
    return (
        pl.when(known)
        .then(timestamp + offset)
        .when(zone.is_not_null())
        .then(timestamp + " " + zone)
        .otherwise(timestamp)
    )


def read(lines: list[tuple[str, bool]], settings: Settings) -> NativeRecords:
    """The batch's rows as canonical statement cells (every line after the header is a row)."""
    header, rows = split_header(read_records(lines))
    if not header:
        return no_records()
    native = native_columns(header, rows, _NAMES)
    gross = pl.coalesce(cleaned("Gross Credit (GC)"), cleaned("Gross Debit (GC)"))
    net = pl.coalesce(cleaned("Net Credit (NC)"), cleaned("Net Debit (NC)"))
    currency = pl.when(gross.is_not_null()).then(cleaned("Gross Currency")).otherwise(cleaned("Net Currency"))
    journal = cleaned("Type")
    booked = pl.when(cleaned("Booking Date").is_not_null())
    booked_at = booked.then(_local_time(cleaned("Booking Date"), cleaned("Booking Date TimeZone"))).otherwise(
        _local_time(cleaned("Creation Date"), cleaned("TimeZone"))
    )
    cells = canonical_cells(
        native,
        {
            "provider": pl.lit(NAME),
            "type": pl.when(journal.is_not_null()).then(
                journal.str.to_lowercase().replace_strict(_TYPES, default="adjustment", return_dtype=pl.String)
            ),
            "order_id": cleaned("Merchant Reference"),
            "amount": unsigned_decimal(pl.coalesce(gross, net)),
            "currency": currency,
            "booked_at": booked_at,
            "statement_date": date_of(booked_at),
            "provider_txn_id": pl.coalesce(cleaned("Modification Reference"), cleaned("Psp Reference")),
            "net": pl.when(cleaned("Net Currency") == currency).then(unsigned_decimal(net)),
        },
    )
    return records_of(header, rows, cells, [])
