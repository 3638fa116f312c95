"""The words of the reconciliation rules (docs/rules.md): log kinds, statuses, outcomes, flags, actions.

Each vocabulary is a tuple in the order the rules give it, with a ``Literal`` type of the same
values, so code, checks and the published tables agree on one spelling.
"""

from __future__ import annotations

from typing import Literal, get_args

LogKind = Literal["orders", "callbacks"]
ORDERS: LogKind = "orders"
CALLBACKS: LogKind = "callbacks"
LOG_KINDS: tuple[LogKind, ...] = get_args(LogKind)

Status = Literal["success", "failed", "pending", "reversed"]
STATUSES: tuple[Status, ...] = get_args(Status)
TERMINAL_STATUSES: tuple[Status, ...] = ("success", "failed", "reversed")

Outcome = Literal["conflict", "reversed", "amount_mismatch", "confirmed", "failed", "missing", "overdue", "pending"]
# In rule order (docs/rules.md#outcomes): the first rule that matches gives the outcome.
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)

Flag = Literal[
    "duplicate_submission",
    "conflicting_submission",
    "duplicate_callback",
    "late_callback",
    "callback_before_order",
    "acknowledged",
    "provider_mismatch",
]
# In the rules' table order; an order's ``flags`` list keeps this order.
FLAGS: tuple[Flag, ...] = get_args(Flag)

Action = Literal[
    "none", "query_provider", "investigate", "review_amount", "review_status", "refund_review", "review_submission"
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
}
# An order flagged conflicting_submission gets this action whatever its outcome.
CONFLICTING_SUBMISSION_ACTION: Action = "review_submission"

# 1 = most urgent: contradictions and money first, then wrong submissions, then lost
# callbacks, where missing (will not come back by itself) beats overdue (may still come).
ACTION_PRIORITY: dict[Action, int] = {
    "review_status": 1,
    "review_amount": 2,
    "refund_review": 3,
    "review_submission": 4,
    "investigate": 5,
    "query_provider": 6,
}

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
