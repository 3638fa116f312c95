"""Each order's outcome as of the run: the SPEC's eight rules, its reason flags and the action to take."""


import dagster as dg

from orders_pipeline.defs.partitions import order_days, requested_days
from orders_pipeline.defs.resources import ReconciliationResource, stage
from orders_pipeline.lib.outcomes import classify_orders
from orders_pipeline.lib.landing import ranked_lines_sql
from orders_pipeline.lib.order_days import batch_lines_sql, days_to_evaluate, order_batch_count, replace_days
from orders_pipeline.lib.schema import CALLBACKS, ORDERS, OUTCOMES
from orders_pipeline.lib.warehouse import record_as_of


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
        # Orders are independent of each other: classify them in hash batches of bounded size
        # so memory stays flat however many orders a run evaluates.
        batches = order_batch_count(con, days, as_of)
        for batch in range(batches):
            orders, callbacks = (
                con.sql(query, params=params).pl().lazy()
                for query, params in (
                    batch_lines_sql(ranked_lines_sql(kind), days, as_of, batches, batch) for kind in (ORDERS, CALLBACKS)
                )
            )
            outcomes = classify_orders(orders, callbacks, as_of, settings).collect().to_arrow()
            con.execute(("CREATE OR REPLACE TEMP TABLE new_outcomes AS " if batch == 0 else "INSERT INTO new_outcomes ")
                        + "SELECT * FROM outcomes")
        replace_days(con, days, "new_outcomes")
        counts = dict(con.execute("SELECT outcome, count(*) FROM new_outcomes GROUP BY 1").fetchall())
        exceptions = con.execute("SELECT count(*) FROM new_outcomes WHERE action <> 'none'").fetchall()[0][0]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": sum(counts.values()),
            "as_of": as_of.isoformat(),
            "days_evaluated": "all" if days is None else len(days),
            "batches": batches,
            **{f"outcome/{name}": int(counts.get(name, 0)) for name in OUTCOMES},
            "exceptions": int(exceptions),
        }
    )
