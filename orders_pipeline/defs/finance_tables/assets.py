"""Finance's tables: the daily summary that ties out, the exceptions queue, and orphan callbacks."""

import dagster as dg

from orders_pipeline.defs.partitions import order_days
from orders_pipeline.defs.resources import ReconciliationResource, markdown_table, requested_days
from orders_pipeline.lib.finance_tables.exceptions import build_exceptions
from orders_pipeline.lib.finance_tables.orphans import build_orphan_callbacks, build_orphan_statement_lines
from orders_pipeline.lib.finance_tables.summary import build_daily_summary
from orders_pipeline.lib.outcomes.day_counts import summary_counts_by_day

GROUP = "finance_tables"


@dg.asset(
    deps=["order_outcomes"],
    group_name=GROUP,
    kinds={"duckdb", "polars"},
    partitions_def=order_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def daily_summary(context: dg.AssetExecutionContext, reconciliation: ReconciliationResource) -> dg.MaterializeResult:
    """Per order day (UTC), merchant, provider and currency: order count and amount in total and
    per outcome, plus how many orders carry each flag. Counts add up to the orders, amounts to
    the order amounts, to the minor unit. Partitioned by order day like ``order_outcomes``;
    rebuilt from all outcome rows, so it always ties out to them.
    """
    days = requested_days(context)
    with reconciliation.work(context, "classify") as con:
        rows = build_daily_summary(con)
        by_day = summary_counts_by_day(con, *days) if days else {}
    for day, (groups, orders) in by_day.items():  # each day's partition: that day's rows
        context.add_asset_metadata({"dagster/row_count": groups, "orders": orders}, partition_key=day.isoformat())
    return dg.MaterializeResult(metadata={"run/rows": rows} if days else {"dagster/row_count": rows})


@dg.asset(deps=["order_outcomes"], group_name=GROUP, kinds={"duckdb", "polars"})
def exceptions(context: dg.AssetExecutionContext, reconciliation: ReconciliationResource) -> dg.MaterializeResult:
    """The work queue: every order whose action is not ``none``, most urgent first
    (review_status; review_amount and review_settlement; refund_review and apply_statement;
    review_submission; investigate; query_provider and close_unpaid).
    """
    with reconciliation.work(context, "classify") as con:
        report = build_exceptions(con)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": report.rows,
            **{f"action/{action}": count for action, count in report.by_action.items()},
            "preview": dg.MetadataValue.md(markdown_table(report.most_urgent.columns, report.most_urgent.iter_rows())),
        }
    )


@dg.asset(deps=["order_lines", "callback_lines", "order_outcomes"], group_name=GROUP, kinds={"duckdb", "polars"})
def orphan_callbacks(context: dg.AssetExecutionContext, reconciliation: ReconciliationResource) -> dg.MaterializeResult:
    """Callbacks for orders nobody logged (no landed order line at all): lost order logs or
    foreign traffic. Reported, never dropped.
    """
    as_of = reconciliation.run_as_of(context)
    with reconciliation.work(context, "classify") as con:
        rows = build_orphan_callbacks(con, as_of)
    return dg.MaterializeResult(metadata={"dagster/row_count": rows})


@dg.asset(deps=["order_lines", "statement_lines", "order_outcomes"], group_name=GROUP, kinds={"duckdb"})
def orphan_statement_lines(
    context: dg.AssetExecutionContext, reconciliation: ReconciliationResource
) -> dg.MaterializeResult:
    """Statement payments, refunds and chargebacks for orders nobody logged (no landed order
    line at all): money the provider booked that the platform has no order for.
    """
    as_of = reconciliation.run_as_of(context)
    with reconciliation.work(context, "classify") as con:
        rows = build_orphan_statement_lines(con, as_of)
    return dg.MaterializeResult(metadata={"dagster/row_count": rows})
