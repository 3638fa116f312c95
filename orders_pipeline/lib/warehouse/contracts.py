"""Every table the pipeline writes, defined once, as data: columns, types and a line of description each.

The DuckDB DDL (:meth:`Table.ddl`), the Polars schemas the stages produce
(:meth:`Table.polars_schema`) and the warehouse's ``COMMENT ON`` statements
(:meth:`Table.comment_statements`) are all generated from these definitions, so the code,
the published warehouse and its documentation cannot drift apart.

This module is long because it is data: one definition per table, every column described, in
one place on purpose.

Schemas: ``landing`` holds the landed lines and the file manifest (private, never published:
the snapshot gets copies of the landed lines as ``recon.order_lines`` / ``recon.callback_lines``
/ ``recon.statement_lines``), ``recon`` what analysts and finance read, ``run_log`` what one
run records about itself before publishing. Published tables also carry exact major-unit
amounts beside the minor units (:meth:`Table.major_amounts`) and ``recon.currencies``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import polars as pl

from orders_pipeline.lib.common.time import TIMESTAMP
from orders_pipeline.lib.common.vocabulary import FLAGS, OUTCOMES

ColumnType = Literal[
    "VARCHAR", "BIGINT", "INTEGER", "DOUBLE", "BOOLEAN", "DATE", "TIMESTAMPTZ", "VARCHAR[]", "JSON", "DECIMAL(38,4)"
]

# Amounts in major units are published as DECIMAL(38,4): the largest ISO 4217 exponent is 4
# (CLF, UYW), so every currency's amount is exact at scale 4, and 38 digits hold any BIGINT
# count of minor units. One type for every row, whatever its currency: 1250 USD minor units is
# 12.5000, 1250 JPY is 1250.0000.
MAJOR_TYPE: ColumnType = "DECIMAL(38,4)"

_POLARS_TYPES: dict[ColumnType, pl.DataType] = {
    "VARCHAR": pl.String(),
    "BIGINT": pl.Int64(),
    "DOUBLE": pl.Float64(),
    "BOOLEAN": pl.Boolean(),
    "DATE": pl.Date(),
    "TIMESTAMPTZ": TIMESTAMP,
    "VARCHAR[]": pl.List(pl.String()),
    "JSON": pl.String(),
    "INTEGER": pl.Int32(),
    "DECIMAL(38,4)": pl.Decimal(38, 4),
}


@dataclass(frozen=True)
class Column:
    """One column: its name, DuckDB type and what it means, in one line."""

    name: str
    type: ColumnType
    description: str


@dataclass(frozen=True)
class Table:
    """One table: ``schema.name``, a line saying what a row is, and its columns in order."""

    name: str
    description: str
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> list[str]:
        """The column names, in order."""
        return [column.name for column in self.columns]

    def polars_schema(self) -> pl.Schema:
        """The Polars schema of frames holding this table's rows."""
        return pl.Schema({column.name: _POLARS_TYPES[column.type] for column in self.columns})

    def empty_frame(self) -> pl.DataFrame:
        """A zero-row frame with this table's columns."""
        return pl.DataFrame(schema=self.polars_schema())

    def qualified(self, database: str | None = None) -> str:
        """The table's name, quoted, optionally in another attached database."""
        schema, name = self.name.split(".")
        prefix = f"{quote_identifier(database)}." if database else ""
        return f"{prefix}{quote_identifier(schema)}.{quote_identifier(name)}"

    def ddl(self, database: str | None = None, *, replace: bool = False) -> str:
        """``CREATE TABLE`` for this table (``IF NOT EXISTS`` unless ``replace``)."""
        body = ", ".join(f"{quote_identifier(c.name)} {c.type}" for c in self.columns)
        verb = "CREATE OR REPLACE TABLE" if replace else "CREATE TABLE IF NOT EXISTS"
        return f"{verb} {self.qualified(database)} ({body})"

    def major_amounts(self) -> list[MajorAmount]:
        """The exact major-unit columns published beside this table's minor-unit amounts.

        Every ``BIGINT`` column named ``<stem>_minor`` gets a ``<stem>`` column of
        :data:`MAJOR_TYPE` (``amount_minor`` -> ``amount``, ``confirmed_amount_minor`` ->
        ``confirmed_amount``), in the currency of the column ``<prefix>currency`` when the table
        has one (``callback_amount_minor`` is in ``callback_currency``), else ``currency``.
        """
        names = set(self.column_names)
        majors = []
        for column in self.columns:
            if column.type != "BIGINT" or not column.name.endswith("_minor"):
                continue
            stem = column.name.removesuffix("_minor")
            prefix = stem.removesuffix("amount") if stem.endswith("amount") else ""
            currency = f"{prefix}currency" if f"{prefix}currency" in names else "currency"
            if currency not in names:
                raise ValueError(f"{self.name}.{column.name} is an amount but the table has no currency column")
            description = (
                f"{column.name} in major units of {currency}, exact: {column.name} / 10^exponent "
                "(see recon.currencies); 1250 minor units of USD is 12.5000"
            )
            majors.append(MajorAmount(Column(stem, MAJOR_TYPE, description), column.name, currency))
        return majors

    @property
    def published_columns(self) -> tuple[Column, ...]:
        """The columns as published: this table's own, then the major-unit amounts beside them."""
        return (*self.columns, *(major.column for major in self.major_amounts()))

    def comment_statements(self, database: str | None = None, *, view: bool = False) -> list[str]:
        """``COMMENT ON`` the table (or view) and each of its published columns."""
        target = self.qualified(database)
        kind = "VIEW" if view else "TABLE"
        statements = [f"COMMENT ON {kind} {target} IS {quote_literal(self.description)}"]
        statements += [
            f"COMMENT ON COLUMN {target}.{quote_identifier(c.name)} IS {quote_literal(c.description)}"
            for c in self.published_columns
        ]
        return statements


@dataclass(frozen=True)
class MajorAmount:
    """A published major-unit column: computed from ``minor`` (minor units) in the currency of ``currency``."""

    column: Column
    minor: str
    currency: str


def quote_identifier(identifier: str) -> str:
    """A DuckDB identifier, double-quoted."""
    return '"' + identifier.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """A DuckDB string literal, single-quoted (for statements that take no parameters, like COMMENT ON)."""
    return "'" + text.replace("'", "''") + "'"


def _c(name: str, type_: ColumnType, description: str) -> Column:
    return Column(name, type_, description)


# --- shared column groups ----------------------------------------------------------------------

_WHERE_READ = (
    _c("file", "VARCHAR", "the input file, relative to its input folder"),
    _c("line_number", "BIGINT", "1-based physical line of the file where the record starts"),
)
_READ_ORDER = _c(
    "read_order",
    "BIGINT",
    "position of the line within its file (0-based); files are ranked by relative path to get the global order",
)
_SEQUENCE = (
    _c("source", "VARCHAR", "the log stream that wrote the line (for gap detection)"),
    _c("seq", "BIGINT", "the line's sequence number in its stream (null when absent or not a non-negative integer)"),
    _c("bad_seq", "VARCHAR", "the seq as written when it is not a non-negative integer (it then counts as absent)"),
)
_AMOUNT = _c("amount_minor", "BIGINT", "amount in integer minor units of the currency (1250 USD is 12.50)")
_CURRENCY = _c("currency", "VARCHAR", "ISO 4217 alphabetic code")

# --- landing: the typed lines and the file manifest --------------------------------------------

ORDER_LINES = Table(
    "landing.orders",
    "Every valid order submission line, typed: money in integer minor units, times in UTC.",
    (
        _c("order_id", "VARCHAR", "the platform's order reference, exactly as logged"),
        _c("merchant_id", "VARCHAR", "tenant or operator that submitted the order"),
        _c("provider", "VARCHAR", "upstream provider, lower-case"),
        _AMOUNT,
        _CURRENCY,
        _c("created_at", "TIMESTAMPTZ", "when the order was submitted (UTC)"),
        _c("customer_id", "VARCHAR", "the customer, when logged"),
        _c("request_id", "VARCHAR", "the submission request, when logged"),
        *_SEQUENCE,
        *_WHERE_READ,
        _READ_ORDER,
    ),
)

CALLBACK_LINES = Table(
    "landing.callbacks",
    "Every valid provider callback line, typed; event_time defaults to received_at.",
    (
        _c("order_id", "VARCHAR", "the order the provider says the callback is for"),
        _c("provider", "VARCHAR", "provider that sent the callback, lower-case"),
        _c("status", "VARCHAR", "success, failed, pending or reversed"),
        _c("amount_minor", "BIGINT", "callback amount in minor units (null when the callback carries none)"),
        _c("currency", "VARCHAR", "callback currency (null when the callback carries none)"),
        _c("received_at", "TIMESTAMPTZ", "when the platform received the callback (UTC)"),
        _c("event_time", "TIMESTAMPTZ", "the provider's own time of the event (UTC; received_at when not given)"),
        _c("callback_id", "VARCHAR", "the provider's event id; the same id twice is one event delivered twice"),
        _c("provider_txn_id", "VARCHAR", "the provider's id of the payment"),
        _c(
            "parent_txn_id",
            "VARCHAR",
            "for a refund, cancellation or chargeback from a provider envelope: the id of the payment it modifies",
        ),
        _c(
            "linked",
            "BOOLEAN",
            "true when the record had no order_id of its own and takes it from the callback whose provider_txn_id "
            "is its parent_txn_id (order_id null while no such callback is landed: then it is rejected)",
        ),
        _c(
            "verified",
            "BOOLEAN",
            "whether the provider envelope's signature was verified (null for a canonical line)",
        ),
        _c("envelope_raw", "VARCHAR", "the envelope line, kept only for a record that needs linking (else null)"),
        *_SEQUENCE,
        *_WHERE_READ,
        _c("record_index", "BIGINT", "position of the record within its envelope when it holds several (else null)"),
        _READ_ORDER,
    ),
)

STATEMENT_LINES = Table(
    "landing.statement_lines",
    "Every valid provider statement row, typed: what the provider booked, money in integer minor units.",
    (
        _c("provider", "VARCHAR", "provider whose statement holds the row, lower-case"),
        _c("statement_date", "DATE", "the day the statement covers, in the provider's statement timezone"),
        _c("type", "VARCHAR", "payment, refund, chargeback, fee, payout or adjustment"),
        _c(
            "order_id",
            "VARCHAR",
            "the merchant's order reference as the provider reports it (payment, refund, chargeback)",
        ),
        _c("amount_minor", "BIGINT", "gross amount in minor units, never negative (the type gives the direction)"),
        _CURRENCY,
        _c("booked_at", "TIMESTAMPTZ", "when the provider booked the row (UTC); later than the as-of: not in the run"),
        _c("provider_txn_id", "VARCHAR", "the provider's id of the booking, when given"),
        _c("fee_minor", "BIGINT", "the provider's fee on the row in minor units of its currency, when given"),
        _c("net_minor", "BIGINT", "the net amount in minor units of its currency, when given"),
        *_WHERE_READ,
        _READ_ORDER,
    ),
)

REJECTED_LINES = Table(
    "landing.rejected_lines",
    "Input lines that could not be landed, with where they were, what they said and why.",
    (
        _c("kind", "VARCHAR", "orders, callbacks or statements"),
        *_WHERE_READ,
        _c("raw", "VARCHAR", "the line as read, without its line terminator and trailing whitespace"),
        _c("reason", "VARCHAR", "why it was rejected: malformed_json, missing_field:<name>, bad_amount, ..."),
        _c("message", "VARCHAR", "the reason in a sentence, naming the offending value"),
        _c("source", "VARCHAR", "the line's log stream, when it could still be read"),
        _c("seq", "BIGINT", "the line's sequence number, when it could still be read"),
    ),
)

IGNORED_RECORDS = Table(
    "landing.ignored_records",
    "Input records that say nothing about an order's outcome (statement summary and comment lines, ...).",
    (
        _c("kind", "VARCHAR", "orders, callbacks or statements"),
        *_WHERE_READ,
        _c("record_index", "BIGINT", "position of the record within its line when a line holds several (else null)"),
        _c("raw", "VARCHAR", "the line as read, without its line terminator and trailing whitespace"),
        _c("reason", "VARCHAR", "why it was ignored: ignored:summary, ignored:comment, ignored:header, ..."),
        _c("message", "VARCHAR", "the reason in a sentence"),
    ),
)

_FILE_COUNTS = (
    _c("kind", "VARCHAR", "orders, callbacks or statements"),
    _c("file", "VARCHAR", "the input file, relative to its input folder"),
    _c("size_bytes", "BIGINT", "size of the file on disk"),
)
_FILE_IDENTITY = (
    _c("sha256", "VARCHAR", "SHA-256 of the file's decompressed content"),
    _c("duplicate_of", "VARCHAR", "the earlier file with the same content, when this one is a re-delivery"),
    _c("lines_read", "BIGINT", "records read from the file (0 for a duplicate)"),
    _c("lines_landed", "BIGINT", "records landed as typed lines"),
    _c("lines_rejected", "BIGINT", "records rejected with a reason"),
    _c("lines_ignored", "BIGINT", "records ignored with a reason (summary and comment lines of a statement, ...)"),
    _c("lines_unreadable", "BIGINT", "lines of an unreadable file (those before the damage), none of them landed"),
)
_INGESTED_BY = _c("ingested_run_id", "VARCHAR", "the run that parsed the file")
_FILE_STATUS = _c("status", "VARCHAR", "ingested, unchanged, duplicate, changed or unreadable in this run")
_FILE_REASON = _c(
    "reason",
    "VARCHAR",
    "why an unreadable file could not be read: truncated_gzip, not_gzip, gzip_trailing_bytes, corrupt_gzip "
    "or unreadable, then the detail",
)

MANIFEST = Table(
    "landing.ingested_files",
    "Every input file seen, with its checksum and counts, so each file is parsed once, ever.",
    (
        *_FILE_COUNTS,
        _c("mtime_ns", "BIGINT", "modification time when last seen"),
        _c("inode", "BIGINT", "inode number when last seen (a file renamed over it has another)"),
        _c("ctime_ns", "BIGINT", "status-change time when last seen (any write moves it; touch -r cannot put it back)"),
        _c("seen_ns", "BIGINT", "when the file's status was last read (a change in the same clock tick is doubtful)"),
        *_FILE_IDENTITY,
        _INGESTED_BY,
        _FILE_STATUS,
        _FILE_REASON,
    ),
)

TOUCHED_ORDERS = Table(
    "landing.touched_orders",
    "Orders whose lines were removed since the last evaluation (a file changed or disappeared).",
    (_c("run_id", "VARCHAR", "the run that removed the lines"), _c("order_id", "VARCHAR", "the order")),
)

TOUCHED_STATEMENT_DAYS = Table(
    "landing.touched_statement_days",
    "Statement days whose rows were removed since the last evaluation: the order days they cover are evaluated again.",
    (
        _c("run_id", "VARCHAR", "the run that removed the rows"),
        _c("provider", "VARCHAR", "the provider"),
        _c("statement_date", "DATE", "the statement day"),
    ),
)

UNEVALUATED_FILES = Table(
    "landing.unevaluated_files",
    "Files landed since the last evaluation: the days of their orders must be evaluated again.",
    (_c("kind", "VARCHAR", "orders, callbacks or statements"), _c("file", "VARCHAR", "the input file")),
)

# --- recon: what analysts and finance read ----------------------------------------------------

INPUT_FILES = Table(
    "recon.input_files",
    "Each input file of the last run: checksum, duplicate-of, and lines read, landed and rejected.",
    (*_FILE_COUNTS, *_FILE_IDENTITY, _FILE_STATUS, _FILE_REASON, _INGESTED_BY),
)

PUBLISHED_REJECTED_LINES = Table("recon.rejected_lines", REJECTED_LINES.description, REJECTED_LINES.columns)
PUBLISHED_IGNORED_RECORDS = Table("recon.ignored_records", IGNORED_RECORDS.description, IGNORED_RECORDS.columns)

ORDER_OUTCOMES = Table(
    "recon.order_outcomes",
    "One row per order: its outcome as of the run, reason flags, the action to take, and the evidence.",
    (
        _c("order_id", "VARCHAR", "the platform's order reference"),
        _c("merchant_id", "VARCHAR", "merchant of the canonical (earliest) submission"),
        _c("provider", "VARCHAR", "provider of the canonical submission"),
        _c("currency", "VARCHAR", "currency of the canonical submission"),
        _c("amount_minor", "BIGINT", "amount of the canonical submission, in minor units"),
        _c("created_at", "TIMESTAMPTZ", "created_at of the canonical submission (UTC)"),
        _c(
            "outcome",
            "VARCHAR",
            "conflict, reversed, unsettled, amount_mismatch, confirmed, failed, callback_lost, not_at_provider, "
            "missing, overdue or pending",
        ),
        _c("flags", "VARCHAR[]", "reason flags, in the rules' order (duplicate_submission, late_callback, ...)"),
        _c("action", "VARCHAR", "what operations or finance should do: none, query_provider, investigate, ..."),
        _c("submission_count", "BIGINT", "order lines of this order existing as of the run"),
        _c("callback_count", "BIGINT", "callbacks of this order received by the run's as-of, re-deliveries merged"),
        _c("terminal_status", "VARCHAR", "status of the last terminal callback (null when none)"),
        _c("terminal_received_at", "TIMESTAMPTZ", "when the last terminal callback was received"),
        _c("callback_amount_minor", "BIGINT", "amount of the last terminal callback, in minor units"),
        _c("callback_currency", "VARCHAR", "currency of the last terminal callback"),
        _c("latency_seconds", "BIGINT", "whole seconds from created_at to the first terminal callback received"),
        _c("age_seconds", "BIGINT", "whole seconds from created_at to the as-of"),
        _c("as_of", "TIMESTAMPTZ", "the as-of this order was last evaluated at"),
        _c(
            "statement_status",
            "VARCHAR",
            "none (provider sends no statements), awaiting, matched, not_found or amount_differs",
        ),
        _c(
            "statement_amount_minor",
            "BIGINT",
            "sum of the order's statement payment rows in the order's currency (null when there is none)",
        ),
    ),
)

DAILY_SUMMARY = Table(
    "recon.daily_summary",
    "Per order day (UTC), merchant, provider and currency: orders and amounts in total, per outcome and per flag.",
    (
        _c("order_date", "DATE", "UTC date of the orders' created_at"),
        _c("merchant_id", "VARCHAR", "merchant"),
        _c("provider", "VARCHAR", "provider"),
        _CURRENCY,
        _c("order_count", "BIGINT", "orders of the group"),
        _c("amount_minor", "BIGINT", "their amount, in minor units"),
        *(
            column
            for outcome in OUTCOMES
            for column in (
                _c(f"{outcome}_count", "BIGINT", f"orders whose outcome is {outcome}"),
                _c(f"{outcome}_amount_minor", "BIGINT", f"amount of the {outcome} orders, in minor units"),
            )
        ),
        *(_c(f"{flag}_count", "BIGINT", f"orders flagged {flag}") for flag in FLAGS),
    ),
)

EXCEPTIONS = Table(
    "recon.exceptions",
    "The work queue: every order whose action is not none, most urgent first.",
    (
        _c("order_id", "VARCHAR", "the order"),
        _c("merchant_id", "VARCHAR", "merchant"),
        _c("provider", "VARCHAR", "provider"),
        _CURRENCY,
        _AMOUNT,
        _c("created_at", "TIMESTAMPTZ", "when the order was created (UTC)"),
        _c("outcome", "VARCHAR", "the order's outcome"),
        _c("flags", "VARCHAR[]", "the order's reason flags"),
        _c("action", "VARCHAR", "what to do"),
        _c("age_seconds", "BIGINT", "whole seconds from created_at to the as-of"),
        _c("priority", "BIGINT", "1 = most urgent (review_status) ... 6 = least (query_provider, close_unpaid)"),
        _c(
            "statement_status", "VARCHAR", "what the provider's statement says: none, awaiting, matched, not_found, ..."
        ),
    ),
)

ORPHAN_CALLBACKS = Table(
    "recon.orphan_callbacks",
    "Callbacks for orders nobody logged (no landed order line): lost order logs or foreign traffic.",
    (
        _c("order_id", "VARCHAR", "the order id the callback names"),
        _c("provider", "VARCHAR", "provider that sent it"),
        _c("status", "VARCHAR", "its status"),
        _c("amount_minor", "BIGINT", "its amount in minor units"),
        _c("currency", "VARCHAR", "its currency"),
        _c("received_at", "TIMESTAMPTZ", "when it was received (the earliest delivery)"),
        _c("event_time", "TIMESTAMPTZ", "the provider's time of the event"),
        _c("callback_id", "VARCHAR", "the provider's event id"),
        _c("provider_txn_id", "VARCHAR", "the provider's payment id"),
        _c("delivery_count", "BIGINT", "how many times it was delivered"),
        *_WHERE_READ,
    ),
)

STATEMENT_COVERAGE = Table(
    "recon.statement_coverage",
    "Per provider, statement day and currency: the statement files and rows of the day and their totals.",
    (
        _c("provider", "VARCHAR", "the provider"),
        _c("statement_date", "DATE", "the statement day, in the provider's statement timezone"),
        _CURRENCY,
        _c("files", "BIGINT", "statement files holding rows of this provider and day (any currency)"),
        _c("day_ends_at", "TIMESTAMPTZ", "the midnight after the day in the provider's statement timezone (UTC)"),
        _c("covered", "BOOLEAN", "whether the day ended before the as-of: its orders can then be judged by it"),
        _c("rows", "BIGINT", "rows of the day in this currency that exist for the run, counted once"),
        _c("duplicate_rows", "BIGINT", "rows dropped because an earlier-read file holds the same row"),
        _c("payment_count", "BIGINT", "payment rows"),
        _c("payment_amount_minor", "BIGINT", "their amount in minor units"),
        _c("refund_count", "BIGINT", "refund rows"),
        _c("refund_amount_minor", "BIGINT", "their amount in minor units"),
        _c("chargeback_count", "BIGINT", "chargeback rows"),
        _c("chargeback_amount_minor", "BIGINT", "their amount in minor units"),
        _c("fee_amount_minor", "BIGINT", "amount of the fee rows in minor units"),
        _c("payout_amount_minor", "BIGINT", "amount of the payout rows in minor units"),
        _c("adjustment_amount_minor", "BIGINT", "amount of the adjustment rows in minor units"),
        _c("as_of", "TIMESTAMPTZ", "the run's as-of"),
    ),
)

ORPHAN_STATEMENT_LINES = Table(
    "recon.orphan_statement_lines",
    "Statement payments, refunds and chargebacks for orders nobody logged: money the platform has no order for.",
    (
        _c("provider", "VARCHAR", "the provider"),
        _c("statement_date", "DATE", "the statement day"),
        _c("type", "VARCHAR", "payment, refund or chargeback"),
        _c("order_id", "VARCHAR", "the order id the row names"),
        _AMOUNT,
        _CURRENCY,
        _c("booked_at", "TIMESTAMPTZ", "when the provider booked it"),
        _c("provider_txn_id", "VARCHAR", "the provider's id of the booking"),
        *_WHERE_READ,
    ),
)

LOG_GAPS = Table(
    "recon.log_gaps",
    "Missing or repeated sequence numbers per log kind and source stream: lines a shipper dropped or sent twice.",
    (
        _c("kind", "VARCHAR", "orders or callbacks"),
        _c("source", "VARCHAR", "the log stream"),
        _c(
            "gap_type",
            "VARCHAR",
            "missing (a run of absent seq values), repeated (a seq on several lines) or bad_seq (lines whose seq "
            "is not a non-negative integer)",
        ),
        _c("seq_from", "BIGINT", "first seq of the run (null for bad_seq)"),
        _c("seq_to", "BIGINT", "last seq of the run (null for bad_seq)"),
        _c(
            "line_count",
            "BIGINT",
            "missing: how many seq values are absent; repeated: how many lines carry it; bad_seq: how many lines",
        ),
        _c("bad_values", "VARCHAR[]", "bad_seq: the distinct values as written, most frequent first (at most 5)"),
    ),
)

CALLBACK_OUTAGES = Table(
    "recon.callback_outages",
    "Stretches with no callback from a provider while its orders kept being created.",
    (
        _c("provider", "VARCHAR", "the provider"),
        _c("outage_start", "TIMESTAMPTZ", "last callback received before the silence (or the first order)"),
        _c("outage_end", "TIMESTAMPTZ", "next callback received (or the as-of, when ongoing)"),
        _c("duration_seconds", "BIGINT", "length of the silence in whole seconds"),
        _c("ongoing", "BOOLEAN", "still silent at the as-of"),
        _c("orders_created", "BIGINT", "orders of the provider created during the silence"),
        _c("orders_overdue", "BIGINT", "of those, now overdue"),
        _c("orders_missing", "BIGINT", "of those, now missing"),
    ),
)

QUALITY_ALERTS = Table(
    "recon.quality_alerts",
    "Business-anomaly thresholds of the last run and their measured values (warnings; never block publishing).",
    (
        _c("as_of", "TIMESTAMPTZ", "the run's as-of"),
        _c("threshold", "VARCHAR", "overdue_rate, orphan_rate, missing_amount_minor_<currency>, ..."),
        _c("breached", "BOOLEAN", "whether the measured value is above the allowed maximum"),
        _c("observed", "VARCHAR", "the measured value"),
        _c("max_allowed", "VARCHAR", "the configured maximum"),
        _c("message", "VARCHAR", "the measurement in a sentence"),
    ),
)

RUNS = Table(
    "recon.runs",
    "Each published run: as-of, input files with checksums, line counts in and out, check results, timings.",
    (
        _c("run_id", "VARCHAR", "the Dagster run id"),
        _c("as_of", "TIMESTAMPTZ", "the time the run evaluated the orders as of"),
        _c("started_at", "TIMESTAMPTZ", "when the run started"),
        _c("finished_at", "TIMESTAMPTZ", "when it published"),
        _c("duration_seconds", "DOUBLE", "wall time of the run"),
        _c("status", "VARCHAR", "published"),
        _c("input_files", "JSON", "every input file with its checksum, duplicate-of and counts"),
        _c("files_read", "BIGINT", "input files read (not duplicates)"),
        _c("files_skipped_duplicate", "BIGINT", "input files skipped as re-deliveries"),
        _c("lines_read", "BIGINT", "records read"),
        _c("lines_landed", "BIGINT", "records landed"),
        _c("lines_rejected", "BIGINT", "records rejected"),
        _c("lines_ignored", "BIGINT", "records ignored with a reason"),
        _c("orders", "BIGINT", "orders with an outcome"),
        _c("orphan_callbacks", "BIGINT", "callbacks for orders nobody logged"),
        _c(
            "callback_verification",
            "JSON",
            "per provider whose callbacks came as envelopes: whether they were verified (signature checked on every "
            "landed envelope record), with the records landed, verified and rejected bad_signature",
        ),
        _c("outcome_counts", "JSON", "orders per outcome"),
        _c("check_results", "JSON", "every data-quality check with its observed values"),
        _c("checks_passed", "BOOLEAN", "whether every blocking check passed"),
        _c("check_warnings", "BIGINT", "warning checks that did not pass"),
        _c("stage_seconds", "JSON", "seconds spent per stage: ingest, classify, checks, publish"),
    ),
)

OUTCOME_CHANGES = Table(
    "recon.outcome_changes",
    "Orders whose outcome changed from one published run to the next (e.g. overdue -> confirmed).",
    (
        _c("order_id", "VARCHAR", "the order"),
        _c("merchant_id", "VARCHAR", "merchant"),
        _c("provider", "VARCHAR", "provider"),
        _CURRENCY,
        _c("amount_minor", "BIGINT", "the order's amount in minor units"),
        _c("previous_outcome", "VARCHAR", "outcome in the previous published run"),
        _c("outcome", "VARCHAR", "outcome in this run"),
        _c("previous_as_of", "TIMESTAMPTZ", "as-of of the previous evaluation"),
        _c("as_of", "TIMESTAMPTZ", "as-of of this evaluation"),
        _c("run_id", "VARCHAR", "the run that saw the change"),
    ),
)

# --- run_log: what one run records about itself before publishing ------------------------------

STAGE_TIMINGS = Table(
    "run_log.stage_timings",
    "Seconds each step of a run spent, per stage.",
    (
        _c("run_id", "VARCHAR", "the run"),
        _c("stage", "VARCHAR", "ingest, classify, checks or publish"),
        _c("seconds", "DOUBLE", "wall seconds of one step"),
    ),
)

CHECK_RESULTS = Table(
    "run_log.check_results",
    "Every data-quality check a run evaluated, with its evidence.",
    (
        _c("run_id", "VARCHAR", "the run"),
        _c("asset", "VARCHAR", "the asset the check guards"),
        _c("check_name", "VARCHAR", "the check"),
        _c("passed", "BOOLEAN", "whether it held"),
        _c("severity", "VARCHAR", "ERROR (blocks publishing) or WARN"),
        _c("blocking", "BOOLEAN", "whether a failure blocks publishing"),
        _c("observed", "JSON", "the measured values"),
        _c("failing_sample", "JSON", "a few rows that explain a failure"),
        _c("description", "VARCHAR", "the failed expectations in words"),
    ),
)

CURRENCIES = Table(
    "recon.currencies",
    "Every ISO 4217 currency the pipeline accepts, with its minor-unit exponent: amount = amount_minor / 10^exponent.",
    (
        _c("code", "VARCHAR", "ISO 4217 alphabetic code, as in every currency column"),
        _c("exponent", "INTEGER", "digits after the decimal point of the major unit (JPY 0, USD 2, KWD 3, CLF 4)"),
        _c("minor_unit", MAJOR_TYPE, "one minor unit in major units: 10^-exponent (USD 0.0100, JPY 1.0000)"),
    ),
)

# Landed lines are published as recon tables, copied from the snapshot's landing tables (which
# are then dropped: the private landing schema is never part of the published file).
PUBLISHED_LINE_TABLES: dict[str, Table] = {
    "recon.order_lines": ORDER_LINES,
    "recon.callback_lines": CALLBACK_LINES,
    "recon.statement_lines": STATEMENT_LINES,
}


def published_line_table(name: str) -> Table:
    """The published ``recon`` table of landed lines ``name`` (the landing table's columns and words)."""
    source = PUBLISHED_LINE_TABLES[name]
    return Table(name, source.description, source.columns)


# The recon tables each run republishes from the work database, as they are.
PUBLISHED_TABLES: tuple[Table, ...] = (
    ORDER_OUTCOMES,
    DAILY_SUMMARY,
    EXCEPTIONS,
    ORPHAN_CALLBACKS,
    LOG_GAPS,
    CALLBACK_OUTAGES,
    PUBLISHED_REJECTED_LINES,
    PUBLISHED_IGNORED_RECORDS,
    INPUT_FILES,
    QUALITY_ALERTS,
    STATEMENT_COVERAGE,
    ORPHAN_STATEMENT_LINES,
)

# History carried forward from one published snapshot to the next.
HISTORY_TABLES: tuple[Table, ...] = (RUNS, OUTCOME_CHANGES)

LANDING_TABLES: tuple[Table, ...] = (
    ORDER_LINES,
    CALLBACK_LINES,
    STATEMENT_LINES,
    REJECTED_LINES,
    IGNORED_RECORDS,
    MANIFEST,
    TOUCHED_ORDERS,
    TOUCHED_STATEMENT_DAYS,
    UNEVALUATED_FILES,
)
RUN_LOG_TABLES: tuple[Table, ...] = (STAGE_TIMINGS, CHECK_RESULTS)


def published_contracts() -> tuple[Table, ...]:
    """Every table of the published warehouse, as published (``recon`` only)."""
    lines = tuple(published_line_table(name) for name in PUBLISHED_LINE_TABLES)
    return (*PUBLISHED_TABLES, *HISTORY_TABLES, *lines, CURRENCIES)
