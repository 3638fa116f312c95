"""Blocking checks of the statements: every record accounted for, and the coverage totals tie out to the rows."""

from orders_pipeline.defs.blocking import blocking_check
from orders_pipeline.lib.checks import structural

STATEMENT_ROWS_CONSERVED = "statement_rows_conserved"
STATEMENT_COVERAGE_TIES_OUT = "statement_coverage_ties_out"

statement_rows_conserved = blocking_check(
    "statement_lines",
    STATEMENT_ROWS_CONSERVED,
    structural.statement_rows_conserved,
    "Per statement file, records read = landed + rejected + ignored, and the tables hold exactly those rows.",
)
statement_coverage_ties_out = blocking_check(
    "statement_coverage",
    STATEMENT_COVERAGE_TIES_OUT,
    structural.statement_coverage_ties_out,
    "statement_coverage rows, payment, refund and chargeback totals add up to the statement rows of the run.",
    needs_as_of=True,
)
