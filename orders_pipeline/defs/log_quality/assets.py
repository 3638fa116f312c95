"""Where the logs themselves went wrong: sequence gaps and callback outages."""

import dagster as dg

from orders_pipeline.defs.resources import ReconciliationResource
from orders_pipeline.lib.log_quality.gaps import build_log_gaps
from orders_pipeline.lib.log_quality.outages import build_callback_outages

GROUP = "log_quality"


@dg.asset(deps=["order_lines", "callback_lines", "rejected_lines"], group_name=GROUP, kinds={"duckdb", "polars"})
def log_gaps(context: dg.AssetExecutionContext, reconciliation: ReconciliationResource) -> dg.MaterializeResult:
    """Missing and repeated sequence numbers per log kind and source stream: lines a log
    shipper dropped or sent twice.
    """
    with reconciliation.work(context, "checks") as con:
        rows = build_log_gaps(con)
    return dg.MaterializeResult(metadata={"dagster/row_count": rows})


@dg.asset(deps=["order_outcomes"], group_name=GROUP, kinds={"duckdb", "polars"})
def callback_outages(context: dg.AssetExecutionContext, reconciliation: ReconciliationResource) -> dg.MaterializeResult:
    """Per provider, stretches with no callback received while orders kept being created, with
    how many of those orders are now overdue or missing ("adyen down 02:10-03:40, 812 orders").
    """
    as_of = reconciliation.run_as_of(context)
    with reconciliation.work(context, "checks") as con:
        rows = build_callback_outages(con, as_of, reconciliation.settings())
    return dg.MaterializeResult(metadata={"dagster/row_count": rows})
