"""Landing the inputs: every order and callback line is either landed (typed) or rejected with a reason."""

from typing import Any

import dagster as dg

from orders_pipeline.defs.resources import ReconciliationResource, markdown_table
from orders_pipeline.lib.checks.gx_suites import prefetch_context
from orders_pipeline.lib.common.vocabulary import CALLBACKS, ORDERS
from orders_pipeline.lib.inputs.discovery import broken_links
from orders_pipeline.lib.inputs.file_warnings import file_warnings
from orders_pipeline.lib.inputs.manifest import land_inputs
from orders_pipeline.lib.warehouse.contracts import (
    CALLBACK_LINES,
    IGNORED_RECORDS,
    INPUT_FILES,
    ORDER_LINES,
    REJECTED_LINES,
)

GROUP = "inputs"


@dg.multi_asset(
    specs=[
        dg.AssetSpec("order_lines", group_name=GROUP, kinds={"duckdb", "polars"}, description=ORDER_LINES.description),
        dg.AssetSpec(
            "callback_lines", group_name=GROUP, kinds={"duckdb", "polars"}, description=CALLBACK_LINES.description
        ),
        dg.AssetSpec("rejected_lines", group_name=GROUP, kinds={"duckdb"}, description=REJECTED_LINES.description),
        dg.AssetSpec("ignored_records", group_name=GROUP, kinds={"duckdb"}, description=IGNORED_RECORDS.description),
        dg.AssetSpec("input_files", group_name=GROUP, kinds={"duckdb"}, description=INPUT_FILES.description),
    ]
)
def landed_logs(
    context: dg.AssetExecutionContext, reconciliation: ReconciliationResource, pyspark: dg.ResourceParam[Any]
):
    """Bring the landed lines in step with the order and callback folders.

    Each file is parsed once, ever (tracked in the file manifest); re-delivered files are
    skipped, changed files re-ingested and reported, removed files' lines dropped.
    """
    prefetch_context()  # the checks' Great Expectations import, off the critical path
    files = reconciliation.input_files()
    for kind, found in files.items():
        for warning in broken_links(reconciliation.input_path(kind), kind):
            context.log.warning(warning)
        if not found:
            context.log.warning(f"no {kind} files under {reconciliation.input_path(kind)}")
    with reconciliation.work(context, "ingest") as con:
        engine = reconciliation.run_engine(context, pyspark)
        report = land_inputs(con, files, reconciliation.settings(), context.run.run_id, land=engine.land)
        for warning in file_warnings(con):
            context.log.warning(warning)
    for change in report.sync.changed:
        context.log.warning(f"{change} changed after it was ingested: its lines were replaced by the new content")
    for gone in report.sync.removed:
        context.log.warning(f"{gone} is no longer in its input folder: its lines were removed")
    for kind, asset in ((ORDERS, "order_lines"), (CALLBACKS, "callback_lines")):
        counts = report.per_kind[kind]
        yield dg.MaterializeResult(
            asset_key=asset,
            metadata={"dagster/row_count": counts.landed, "lines_read": counts.read, "lines_rejected": counts.rejected},
        )
    yield dg.MaterializeResult(
        asset_key="rejected_lines",
        metadata={
            "dagster/row_count": sum(n for _, n in report.rejections_by_reason),
            "by_reason": dg.MetadataValue.md(markdown_table(["reason", "lines"], report.rejections_by_reason)),
        },
    )
    yield dg.MaterializeResult(
        asset_key="ignored_records",
        metadata={
            "dagster/row_count": sum(n for _, n in report.ignored_by_reason),
            "by_reason": dg.MetadataValue.md(markdown_table(["reason", "records"], report.ignored_by_reason)),
        },
    )
    yield dg.MaterializeResult(
        asset_key="input_files",
        metadata={f"files_{status}": count for status, count in sorted(report.sync.statuses.items())},
    )
