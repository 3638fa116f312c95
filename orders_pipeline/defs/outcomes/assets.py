"""Each order's outcome as of the run: the outcome rules, its reason flags and the action to take."""

from typing import Any

import dagster as dg

from orders_pipeline.defs.partitions import order_days
from orders_pipeline.defs.resources import ReconciliationResource, requested_days
from orders_pipeline.lib.common.vocabulary import OUTCOMES
from orders_pipeline.lib.outcomes.day_counts import outcome_counts_by_day
from orders_pipeline.lib.outcomes.evaluation import evaluate_outcomes


@dg.asset(
    deps=["order_lines", "callback_lines", "statement_lines", "statement_coverage"],
    group_name="outcomes",
    kinds={"duckdb", "polars"},
    partitions_def=order_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def order_outcomes(
    context: dg.AssetExecutionContext, reconciliation: ReconciliationResource, pyspark: dg.ResourceParam[Any]
) -> dg.MaterializeResult:
    """One row per order: outcome (confirmed, failed, pending, overdue, missing, amount_mismatch,
    conflict, reversed, and with provider statements unsettled, callback_lost, not_at_provider),
    reason flags, the action operations or finance should take, the callback evidence and what
    the provider's statement says (statement_status). Partitioned by order day (UTC): a run
    re-evaluates the days in its range plus every day whose orders can still change, received
    new lines, or is covered by a statement day that arrived; final days keep the outcome of
    their last evaluation. Each day's partition shows that day's orders per outcome; the run's
    own figures (run/...) are the same on every day of the run.
    """
    as_of = reconciliation.run_as_of(context)
    engine = reconciliation.run_engine(context, pyspark)
    days = requested_days(context)
    with reconciliation.work(context, "classify") as con, reconciliation.warehouse().scratch("classify") as scratch:
        report = evaluate_outcomes(
            con,
            scratch,
            as_of,
            reconciliation.settings(),
            days,
            classify=engine.classify,
            min_buckets=engine.min_buckets,
        )
        by_day = outcome_counts_by_day(con, *days) if days else {}
    # Each order day's partition gets that day's figures; the run's own figures are the same on every day.
    for day, counts in by_day.items():
        context.add_asset_metadata(
            {
                "dagster/row_count": sum(counts[name] for name in OUTCOMES),
                **{f"outcome/{name}": counts[name] for name in OUTCOMES},
                "exceptions": counts["exceptions"],
            },
            partition_key=day.isoformat(),
        )
    run_wide: dict[str, Any] = {
        "as_of": as_of.isoformat(),
        "days_evaluated": "all" if report.days is None else len(report.days),
        "batches": report.batches,
        "engine": engine.name,
        "providers_with_statements": ", ".join(report.statement_providers) or "none",
        "run/orders_evaluated": report.orders,
        "run/exceptions": report.exceptions,
    }
    if not days:  # not launched for partitions: the figures are the run's
        run_wide |= {
            "dagster/row_count": report.orders,
            **{f"outcome/{name}": int(report.outcome_counts.get(name, 0)) for name in OUTCOMES},
        }
    return dg.MaterializeResult(metadata=run_wide)
