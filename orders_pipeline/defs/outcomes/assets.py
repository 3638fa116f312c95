"""Each order's outcome as of the run: the SPEC's eight rules, its reason flags and the action to take."""


import dagster as dg
import polars as pl

from orders_pipeline.defs.resources import ReconciliationResource, stage
from orders_pipeline.lib.outcomes import classify_orders
from orders_pipeline.lib.landing import ranked_lines_sql
from orders_pipeline.lib.schema import CALLBACKS, ORDERS, OUTCOMES
from orders_pipeline.lib.warehouse import record_as_of, replace_table


@dg.asset(
    deps=["order_lines", "callback_lines"],
    group_name="outcomes",
    kinds={"duckdb", "polars"},
)
def order_outcomes(context: dg.AssetExecutionContext, reconciliation: ReconciliationResource) -> dg.MaterializeResult:
    """One row per order: outcome (confirmed, failed, pending, overdue, missing, amount_mismatch,
    conflict, reversed), reason flags, the action operations or finance should take, and the
    callback evidence behind it, evaluated as of the run's as-of time.
    """
    as_of = reconciliation.resolve_as_of()
    settings = reconciliation.settings()
    with reconciliation.warehouse().work() as con, stage(con, context.run.run_id, "classify"):
        record_as_of(con, context.run.run_id, as_of)
        orders = con.sql(ranked_lines_sql(ORDERS)).pl().lazy()
        callbacks = con.sql(ranked_lines_sql(CALLBACKS)).pl().lazy()
        outcomes = classify_orders(orders, callbacks, as_of, settings).collect()
        replace_table(con, "recon.order_outcomes", outcomes)
    distribution = outcomes.group_by("outcome").agg(pl.len().alias("orders"))
    by_outcome = dict(distribution.iter_rows())
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": outcomes.height,
            "as_of": as_of.isoformat(),
            **{f"outcome/{name}": int(by_outcome.get(name, 0)) for name in OUTCOMES},
            "exceptions": int((outcomes["action"] != "none").sum()),
        }
    )
