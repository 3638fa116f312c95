"""Where the logs themselves went wrong: sequence gaps and callback outages."""

from __future__ import annotations

import dagster as dg

from orders_pipeline.defs.resources import ReconciliationResource, run_as_of, stage
from orders_pipeline.lib import log_quality
from orders_pipeline.lib.warehouse import read_table, replace_table

GROUP = "quality"


@dg.asset(deps=["order_lines", "callback_lines", "rejected_lines"], group_name=GROUP, kinds={"duckdb", "polars"})
def log_gaps(context: dg.AssetExecutionContext, reconciliation: ReconciliationResource) -> dg.MaterializeResult:
    """Missing and repeated sequence numbers per log kind and source stream: lines a log
    shipper dropped or sent twice.
    """
    with reconciliation.warehouse().work() as con, stage(con, context.run_id, "checks"):
        gaps = log_quality.log_gaps(
            read_table(con, "landing.orders").lazy(),
            read_table(con, "landing.callbacks").lazy(),
            read_table(con, "recon.rejected_lines").lazy(),
        ).collect()
        replace_table(con, "recon.log_gaps", gaps)
    return dg.MaterializeResult(metadata={"dagster/row_count": gaps.height})


@dg.asset(deps=["order_outcomes"], group_name=GROUP, kinds={"duckdb", "polars"})
def callback_outages(context: dg.AssetExecutionContext, reconciliation: ReconciliationResource) -> dg.MaterializeResult:
    """Per provider, stretches with no callback received while orders kept being created, with
    how many of those orders are now overdue or missing ("adyen down 02:10-03:40, 812 orders").
    """
    with reconciliation.warehouse().work() as con, stage(con, context.run_id, "checks"):
        as_of = run_as_of(con, context.run_id) or reconciliation.resolve_as_of()
        outages = log_quality.callback_outages(
            read_table(con, "landing.orders").lazy(),
            read_table(con, "landing.callbacks").lazy(),
            read_table(con, "recon.order_outcomes").lazy(),
            as_of,
            reconciliation.settings(),
        ).collect()
        replace_table(con, "recon.callback_outages", outages)
    return dg.MaterializeResult(metadata={"dagster/row_count": outages.height})
