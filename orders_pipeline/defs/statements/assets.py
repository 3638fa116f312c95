"""Provider statements: their rows landed like log lines, and which statement days a run can judge orders by."""

from typing import Any

import dagster as dg

from orders_pipeline.defs.resources import ReconciliationResource, markdown_table
from orders_pipeline.lib.common.vocabulary import STATEMENTS
from orders_pipeline.lib.inputs.discovery import broken_links
from orders_pipeline.lib.inputs.manifest import land_inputs
from orders_pipeline.lib.statements.coverage import build_statement_coverage
from orders_pipeline.lib.warehouse.contracts import STATEMENT_LINES

GROUP = "statements"


@dg.asset(group_name=GROUP, kinds={"duckdb", "polars"}, description=STATEMENT_LINES.description)
def statement_lines(
    context: dg.AssetExecutionContext, reconciliation: ReconciliationResource, pyspark: dg.ResourceParam[Any]
) -> dg.MaterializeResult:
    """Bring the landed statement rows in step with the statements folder (``--statements``).

    Canonical statement lines and the providers' native layouts (Alipay and WeChat Pay bills,
    Stripe balance reports, Adyen settlement details, PayPal STL). Each file goes through the
    same manifest as the logs: parsed once, re-deliveries skipped, changed files re-ingested,
    removed files' rows dropped. Every record is landed, rejected or ignored (summary and
    header lines) with a reason. Without a statements path, no provider has statements.
    """
    files = reconciliation.statement_files()
    for warning in broken_links(reconciliation.input_path(STATEMENTS), STATEMENTS):
        context.log.warning(warning)
    with reconciliation.work(context, "ingest") as con:
        engine = reconciliation.run_engine(context, pyspark)
        report = land_inputs(
            con, {STATEMENTS: files}, reconciliation.settings(), context.run.run_id, (STATEMENTS,), land=engine.land
        )
    for change in report.sync.changed:
        context.log.warning(f"{change} changed after it was ingested: its rows were replaced by the new content")
    for gone in report.sync.removed:
        context.log.warning(f"{gone} is no longer in the statements folder: its rows were removed")
    counts = report.per_kind[STATEMENTS]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": counts.landed,
            "lines_read": counts.read,
            "lines_rejected": counts.rejected,
            "lines_ignored": counts.ignored,
            "files": len(files),
            "rejected_by_reason": dg.MetadataValue.md(markdown_table(["reason", "rows"], report.rejections_by_reason)),
            "ignored_by_reason": dg.MetadataValue.md(markdown_table(["reason", "rows"], report.ignored_by_reason)),
        }
    )


@dg.asset(deps=["statement_lines"], group_name=GROUP, kinds={"duckdb", "polars"})
def statement_coverage(
    context: dg.AssetExecutionContext, reconciliation: ReconciliationResource
) -> dg.MaterializeResult:
    """Per provider, statement day and currency: the statement files and rows of the day, the
    payment, refund, chargeback, fee, payout and adjustment totals, and whether the day is
    covered (it ended before the as-of, in the provider's statement timezone). Orders are
    judged by their statements only once every day of their window is covered.
    """
    as_of = reconciliation.run_as_of(context)
    with reconciliation.work(context, "classify") as con:
        rows = build_statement_coverage(con, as_of, reconciliation.settings())
    return dg.MaterializeResult(metadata={"dagster/row_count": rows, "as_of": as_of.isoformat()})
