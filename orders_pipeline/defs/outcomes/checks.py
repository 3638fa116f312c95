"""Blocking check of the outcomes: every order has exactly one, keyed and from the rules' vocabularies."""

from orders_pipeline.defs.blocking import blocking_check
from orders_pipeline.lib.checks import structural

ONE_OUTCOME_PER_ORDER = "one_outcome_per_order"

one_outcome_per_order = blocking_check(
    "order_outcomes",
    ONE_OUTCOME_PER_ORDER,
    structural.one_outcome_per_order,
    "Every order has exactly one outcome; no null keys; outcomes, actions and flags from the rules' vocabularies.",
    needs_as_of=True,
)
