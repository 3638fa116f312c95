"""Each order's outcome as of the run: the outcome rules, its reason flags and the action to take."""

from typing import Any

import dagster as dg

from orders_pipeline.defs.partitions import order_days
from orders_pipeline.defs.resources import ReconciliationResource, requested_days
from orders_pipeline.lib.common.vocabulary import OUTCOMES
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
    their last evaluation.
    """
    as_of = reconciliation.run_as_of(context)
    engine = reconciliation.run_engine(context, pyspark)
    with reconciliation.work(context, "classify") as con, reconciliation.warehouse().scratch("classify") as scratch:
        report = evaluate_outcomes(
            con,
            scratch,
            as_of,
            reconciliation.settings(),
            requested_days(context),
            classify=engine.classify,
            min_buckets=engine.min_buckets,
        )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": report.orders,
            "as_of": as_of.isoformat(),
            "days_evaluated": "all" if report.days is None else len(report.days),
            "batches": report.batches,
            "engine": engine.name,
            "providers_with_statements": ", ".join(report.statement_providers) or "none",
            **{f"outcome/{name}": int(report.outcome_counts.get(name, 0)) for name in OUTCOMES},
            "exceptions": report.exceptions,
        }
    )
