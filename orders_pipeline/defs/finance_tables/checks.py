"""Blocking checks of finance's tables: the summary and the exceptions queue tie out to the outcomes."""

from orders_pipeline.defs.blocking import blocking_check
from orders_pipeline.lib.checks import structural

SUMMARY_TIES_OUT = "summary_ties_out"
EXCEPTIONS_TIE_OUT = "exceptions_tie_out"

summary_ties_out = blocking_check(
    "daily_summary",
    SUMMARY_TIES_OUT,
    structural.summary_ties_out,
    "daily_summary counts and amounts add up, per group and outcome, to order_outcomes.",
)
exceptions_tie_out = blocking_check(
    "exceptions",
    EXCEPTIONS_TIE_OUT,
    structural.exceptions_tie_out,
    "exceptions holds exactly the orders whose action is not none.",
)
