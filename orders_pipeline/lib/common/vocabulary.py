"""The words of the reconciliation rules (docs/rules.md): input kinds, statuses, outcomes, flags, actions.

Each vocabulary is a tuple in the order the rules give it, with a ``Literal`` type of the same
values, so code, checks and the published tables agree on one spelling.
"""

from __future__ import annotations

from typing import Literal, get_args

LogKind = Literal["orders", "callbacks"]
ORDERS: LogKind = "orders"
CALLBACKS: LogKind = "callbacks"
LOG_KINDS: tuple[LogKind, ...] = get_args(LogKind)

# Every kind of input file: the two logs, and the providers' statements (docs/rules.md#statements).
InputKind = Literal["orders", "callbacks", "statements"]
STATEMENTS: InputKind = "statements"
INPUT_KINDS: tuple[InputKind, ...] = get_args(InputKind)

Status = Literal["success", "failed", "pending", "reversed"]
STATUSES: tuple[Status, ...] = get_args(Status)
TERMINAL_STATUSES: tuple[Status, ...] = ("success", "failed", "reversed")

Outcome = Literal[
    "conflict",
    "reversed",
    "unsettled",
    "amount_mismatch",
    "confirmed",
    "failed",
    "callback_lost",
    "not_at_provider",
    "missing",
    "overdue",
    "pending",
]
# In rule order (docs/rules.md#outcomes): the first rule that matches gives the outcome.
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)
# The outcomes only provider statements can give (rules 3, 7 and 8).
STATEMENT_OUTCOMES: tuple[Outcome, ...] = ("unsettled", "callback_lost", "not_at_provider")

Flag = Literal[
    "duplicate_submission",
    "conflicting_submission",
    "duplicate_callback",
    "late_callback",
    "callback_before_order",
    "acknowledged",
    "provider_mismatch",
    "statement_conflict",
    "statement_refund",
    "statement_amount_mismatch",
]
# In the rules' table order; an order's ``flags`` list keeps this order.
FLAGS: tuple[Flag, ...] = get_args(Flag)

Action = Literal[
    "none",
    "query_provider",
    "investigate",
    "review_amount",
    "review_status",
    "refund_review",
    "review_submission",
    "review_settlement",
    "apply_statement",
    "close_unpaid",
]
ACTIONS: tuple[Action, ...] = get_args(Action)

ACTION_BY_OUTCOME: dict[Outcome, Action] = {
    "confirmed": "none",
    "failed": "none",
    "pending": "none",
    "overdue": "query_provider",
    "missing": "investigate",
    "amount_mismatch": "review_amount",
    "conflict": "review_status",
    "reversed": "refund_review",
    "unsettled": "review_settlement",
    "callback_lost": "apply_statement",
    "not_at_provider": "close_unpaid",
}
# An order flagged conflicting_submission gets this action whatever its outcome.
CONFLICTING_SUBMISSION_ACTION: Action = "review_submission"
# A confirmed order flagged statement_refund gets this action; one flagged
# statement_amount_mismatch (but not statement_refund) gets the other (docs/rules.md#actions).
STATEMENT_REFUND_ACTION: Action = "refund_review"
STATEMENT_AMOUNT_ACTION: Action = "review_amount"

# 1 = most urgent: contradictions and money first, then wrong submissions, then lost
# callbacks, where missing (will not come back by itself) beats overdue (may still come).
# The statement actions join the level of the work they resemble, so the levels of the
# other actions stay as they were: review_settlement (delivered, never settled) is money that
# differs, like review_amount; apply_statement (paid, never delivered: credit the customer)
# moves a customer's money, like refund_review; close_unpaid (nothing was paid: release
# what was held) is routine follow-up, like query_provider.
ACTION_PRIORITY: dict[Action, int] = {
    "review_status": 1,
    "review_amount": 2,
    "review_settlement": 2,
    "refund_review": 3,
    "apply_statement": 3,
    "review_submission": 4,
    "investigate": 5,
    "query_provider": 6,
    "close_unpaid": 6,
}

StatementType = Literal["payment", "refund", "chargeback", "fee", "payout", "adjustment"]
STATEMENT_TYPES: tuple[StatementType, ...] = get_args(StatementType)
# The types that name an order (they need an order_id, and can be orphans).
ORDER_STATEMENT_TYPES: tuple[StatementType, ...] = ("payment", "refund", "chargeback")

# What the statement says about an order (docs/rules.md#precise-statements).
StatementStatus = Literal["none", "awaiting", "matched", "not_found", "amount_differs"]
STATEMENT_STATUSES: tuple[StatementStatus, ...] = get_args(StatementStatus)

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
    "bad_type",  # a statement type that is not one of the six
    "bad_date",  # a statement_date that is not a real date
)
