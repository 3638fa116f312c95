"""Blocking checks of the landed inputs: nothing lost, and only well-typed lines landed."""

from orders_pipeline.defs.blocking import blocking_check
from orders_pipeline.lib.checks import structural

LINES_CONSERVED = "lines_conserved"
ORDER_LINES_TYPED = "order_lines_typed"
CALLBACK_LINES_TYPED = "callback_lines_typed"

lines_conserved = blocking_check(
    "input_files",
    LINES_CONSERVED,
    structural.lines_conserved,
    "Per order and callback file, records read = landed + rejected + ignored, and the tables hold exactly those rows.",
)
order_lines_typed = blocking_check(
    "order_lines",
    ORDER_LINES_TYPED,
    lambda con: structural.typed_lines_valid(con, "orders"),
    "Landed order lines have their keys, a known currency and a non-negative amount in minor units.",
)
callback_lines_typed = blocking_check(
    "callback_lines",
    CALLBACK_LINES_TYPED,
    lambda con: structural.typed_lines_valid(con, "callbacks"),
    "Landed callback lines have their keys and a known status; success and reversed carry amount and currency.",
)
