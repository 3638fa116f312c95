"""Column contracts between the pipeline's stages (Polars dtypes), and the SPEC's vocabularies.

Every stage produces exactly these columns in this order, so the warehouse tables, the
checks and the tests agree on one definition.
"""

from __future__ import annotations

import polars as pl

TIMESTAMP = pl.Datetime("us", "UTC")

ORDERS = "orders"
CALLBACKS = "callbacks"
LOG_KINDS = (ORDERS, CALLBACKS)

# One landed order line (typed). ``read_order`` is the global reading position of the line
# among all lines of its kind (files in sorted relative-path order, lines in file order):
# "first read" in the SPEC means the smallest read_order.
ORDER_LINE_SCHEMA: dict[str, pl.DataType] = {
    "order_id": pl.String(),
    "merchant_id": pl.String(),
    "provider": pl.String(),
    "amount_minor": pl.Int64(),
    "currency": pl.String(),
    "created_at": TIMESTAMP,
    "customer_id": pl.String(),
    "request_id": pl.String(),
    "source": pl.String(),
    "seq": pl.Int64(),
    "file": pl.String(),
    "line_number": pl.Int64(),
    "read_order": pl.Int64(),
}

# One landed callback line (typed). ``event_time`` is already defaulted to ``received_at``.
CALLBACK_LINE_SCHEMA: dict[str, pl.DataType] = {
    "order_id": pl.String(),
    "provider": pl.String(),
    "status": pl.String(),
    "amount_minor": pl.Int64(),
    "currency": pl.String(),
    "received_at": TIMESTAMP,
    "event_time": TIMESTAMP,
    "callback_id": pl.String(),
    "provider_txn_id": pl.String(),
    "source": pl.String(),
    "seq": pl.Int64(),
    "file": pl.String(),
    "line_number": pl.Int64(),
    "read_order": pl.Int64(),
}

# One rejected input line: where it was, what it said, and why it was not landed.
# ``source``/``seq`` are kept where they could still be read, so that a rejected line is not
# mistaken for a sequence gap (the line arrived; it was just bad).
REJECTED_LINE_SCHEMA: dict[str, pl.DataType] = {
    "kind": pl.String(),
    "file": pl.String(),
    "line_number": pl.Int64(),
    "raw": pl.String(),
    "reason": pl.String(),
    "message": pl.String(),
    "source": pl.String(),
    "seq": pl.Int64(),
}

# One input file seen by a run. ``duplicate_of`` names the earlier file with the same
# SHA-256 of its decompressed content; such a file is skipped and counts no lines.
INPUT_FILE_SCHEMA: dict[str, pl.DataType] = {
    "kind": pl.String(),
    "file": pl.String(),
    "size_bytes": pl.Int64(),
    "sha256": pl.String(),
    "duplicate_of": pl.String(),
    "lines_read": pl.Int64(),
    "lines_landed": pl.Int64(),
    "lines_rejected": pl.Int64(),
}

# SPEC "Published tables": one row per order.
ORDER_OUTCOME_SCHEMA: dict[str, pl.DataType] = {
    "order_id": pl.String(),
    "merchant_id": pl.String(),
    "provider": pl.String(),
    "currency": pl.String(),
    "amount_minor": pl.Int64(),
    "created_at": TIMESTAMP,
    "outcome": pl.String(),
    "flags": pl.List(pl.String()),
    "action": pl.String(),
    "submission_count": pl.Int64(),
    "callback_count": pl.Int64(),
    "terminal_status": pl.String(),
    "terminal_received_at": TIMESTAMP,
    "callback_amount_minor": pl.Int64(),
    "callback_currency": pl.String(),
    "latency_seconds": pl.Int64(),
    "age_seconds": pl.Int64(),
    "as_of": TIMESTAMP,
}

STATUSES = ("success", "failed", "pending", "reversed")
TERMINAL_STATUSES = ("success", "failed", "reversed")

# In the SPEC's rule order: the first rule that matches gives the outcome.
OUTCOMES = ("conflict", "reversed", "amount_mismatch", "confirmed", "failed", "missing", "overdue", "pending")

# In the SPEC's table order; an order's ``flags`` list keeps this order.
FLAGS = (
    "duplicate_submission",
    "conflicting_submission",
    "duplicate_callback",
    "late_callback",
    "callback_before_order",
    "acknowledged",
    "provider_mismatch",
)

ACTION_BY_OUTCOME = {
    "confirmed": "none",
    "failed": "none",
    "pending": "none",
    "overdue": "query_provider",
    "missing": "investigate",
    "amount_mismatch": "review_amount",
    "conflict": "review_status",
    "reversed": "refund_review",
}
# An order flagged conflicting_submission gets this action whatever its outcome.
CONFLICTING_SUBMISSION_ACTION = "review_submission"
ACTIONS = ("none", "query_provider", "investigate", "review_amount", "review_status", "refund_review", "review_submission")

REJECTION_REASONS = (
    "malformed_json",
    "malformed_csv",
    "bad_encoding",
    "missing_field:<name>",
    "bad_field:<name>",  # an id or provider given as a JSON boolean, object or array
    "bad_amount",
    "bad_currency",
    "bad_timestamp",
    "bad_status",
    "bad_seq",
)


def empty_frame(schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """A zero-row frame with the given column contract."""
    return pl.DataFrame(schema=schema)
