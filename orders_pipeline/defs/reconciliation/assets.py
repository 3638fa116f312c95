"""Finance's tables: the daily summary that ties out, the exceptions queue, and orphan callbacks."""


import dagster as dg
import polars as pl

from orders_pipeline.defs.partitions import order_days
from orders_pipeline.defs.resources import ReconciliationResource, markdown_table, run_as_of, stage
from orders_pipeline.lib import reconciliation as rules
from orders_pipeline.lib.landing import ranked_lines_sql
from orders_pipeline.lib.schema import CALLBACKS
from orders_pipeline.lib.warehouse import read_table, replace_table

GROUP = "reconciliation"
# Outcome rows summarised at a time when building the daily summary.
SUMMARY_CHUNK_ROWS = 2_000_000


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
    with reconciliation.warehouse().work() as con, stage(con, context.run.run_id, "classify"):
        # Summarised chunk by chunk and merged (exact: every column is a count or a sum), so
        # memory does not grow with the number of orders.
        outcomes = con.sql(
            "SELECT created_at, merchant_id, provider, currency, amount_minor, outcome, flags FROM recon.order_outcomes"
        ).to_arrow_reader(SUMMARY_CHUNK_ROWS)
        summary = rules.merge_daily_summaries(
            rules.daily_summary(pl.from_arrow(chunk).lazy()).collect() for chunk in outcomes
        )
        replace_table(con, "recon.daily_summary", summary)
    return dg.MaterializeResult(metadata={"dagster/row_count": summary.height})


@dg.asset(deps=["order_outcomes"], group_name=GROUP, kinds={"duckdb", "polars"})
def exceptions(context: dg.AssetExecutionContext, reconciliation: ReconciliationResource) -> dg.MaterializeResult:
    """The work queue: every order whose action is not ``none``, most urgent first
    (review_status, review_amount, refund_review, review_submission, investigate, query_provider).
    """
    with reconciliation.warehouse().work() as con, stage(con, context.run.run_id, "classify"):
        # Only the orders needing an action leave the warehouse (a few percent of them all).
        queue = rules.exceptions(read_table(con, "recon.order_outcomes", "WHERE action <> 'none'").lazy()).collect()
        replace_table(con, "recon.exceptions", queue)
    by_action = queue.group_by("action").len().sort("action")
    preview = queue.head(10).select("order_id", "outcome", "action", "age_seconds")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": queue.height,
            **{f"action/{a}": int(n) for a, n in by_action.iter_rows()},
            "preview": dg.MetadataValue.md(markdown_table(preview.columns, preview.iter_rows())),
        }
    )


@dg.asset(deps=["order_lines", "callback_lines", "order_outcomes"], group_name=GROUP, kinds={"duckdb", "polars"})
def orphan_callbacks(context: dg.AssetExecutionContext, reconciliation: ReconciliationResource) -> dg.MaterializeResult:
    """Callbacks for orders nobody logged (no landed order line at all): lost order logs or
    foreign traffic. Reported, never dropped.
    """
    with reconciliation.warehouse().work() as con, stage(con, context.run.run_id, "classify"):
        as_of = run_as_of(con, context.run.run_id) or reconciliation.resolve_as_of()
        # The anti-join runs in DuckDB first so only the few unmatched callbacks reach Polars;
        # orphan_callbacks applies the same rule again on what it is given.
        unmatched = f"SELECT * FROM ({ranked_lines_sql(CALLBACKS)}) ANTI JOIN landing.orders USING (order_id)"
        orphans = rules.orphan_callbacks(
            con.sql("SELECT order_id FROM landing.orders LIMIT 0").pl().lazy(), con.sql(unmatched).pl().lazy(), as_of
        ).collect()
        replace_table(con, "recon.orphan_callbacks", orphans)
    return dg.MaterializeResult(metadata={"dagster/row_count": orphans.height})
