"""Each order's outcome as of the run: the SPEC's eight rules, its reason flags and the action to take."""


import dagster as dg
import polars as pl

from orders_pipeline.defs.partitions import order_days, requested_days
from orders_pipeline.defs.resources import ReconciliationResource, stage
from orders_pipeline.lib.outcomes import classify_orders
from orders_pipeline.lib.landing import ranked_lines_sql
from orders_pipeline.lib.order_days import days_to_evaluate, replace_days, scoped_lines_sql
from orders_pipeline.lib.schema import CALLBACKS, ORDERS, OUTCOMES
from orders_pipeline.lib.warehouse import record_as_of, replace_table


@dg.asset(
    deps=["order_lines", "callback_lines"],
    group_name="outcomes",
    kinds={"duckdb", "polars"},
    partitions_def=order_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def order_outcomes(context: dg.AssetExecutionContext, reconciliation: ReconciliationResource) -> dg.MaterializeResult:
    """One row per order: outcome (confirmed, failed, pending, overdue, missing, amount_mismatch,
    conflict, reversed), reason flags, the action operations or finance should take, and the
    callback evidence behind it. Partitioned by order day (UTC): a run re-evaluates the days in
    its range plus every day whose orders can still change or received new lines; final days
    keep the outcome of their last evaluation.
    """
    as_of = reconciliation.resolve_as_of()
    settings = reconciliation.settings()
    run_id = context.run.run_id
    with reconciliation.warehouse().work() as con, stage(con, run_id, "classify"):
        record_as_of(con, run_id, as_of)
        days = days_to_evaluate(con, run_id, as_of, settings, requested_days(context))
        frames = []
        for kind in (ORDERS, CALLBACKS):
            query, params = scoped_lines_sql(ranked_lines_sql(kind), days, as_of)
            frames.append(con.sql(query, params=params).pl().lazy())
        outcomes = classify_orders(frames[0], frames[1], as_of, settings).collect()
        con.register("_new_outcomes", outcomes.to_arrow())
        try:
            replace_days(con, days, "_new_outcomes")
        finally:
            con.unregister("_new_outcomes")
    by_outcome = dict(outcomes.group_by("outcome").agg(pl.len()).iter_rows())
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": outcomes.height,
            "as_of": as_of.isoformat(),
            "days_evaluated": "all" if days is None else len(days),
            **{f"outcome/{name}": int(by_outcome.get(name, 0)) for name in OUTCOMES},
            "exceptions": int((outcomes["action"] != "none").sum()),
        }
    )
