"""Publishing: the checked tables become the warehouse analysts and finance read, atomically."""

from datetime import UTC, datetime

import dagster as dg

from orders_pipeline.defs.resources import ReconciliationResource
from orders_pipeline.lib.warehouse.contracts import PUBLISHED_TABLES
from orders_pipeline.lib.warehouse.publish import publish_run

# Asset names are the table names they publish.
PUBLISHED_DEPS = [
    *(table.name.split(".")[1] for table in PUBLISHED_TABLES),
    "order_lines",
    "callback_lines",
    "statement_lines",
]


@dg.asset(deps=PUBLISHED_DEPS, group_name="publishing", kinds={"duckdb"})
def reconciliation_warehouse(
    context: dg.AssetExecutionContext, reconciliation: ReconciliationResource
) -> dg.MaterializeResult:
    """The published DuckDB warehouse (schema ``recon``): a complete, checked snapshot swapped in
    atomically, so readers see the previous run or this one, never a mix. Also appends this run
    to ``runs`` and the orders whose outcome changed since the last publish to ``outcome_changes``.
    """
    warehouse = reconciliation.warehouse()
    record = context.instance.get_run_record_by_id(context.run.run_id)
    started_at = datetime.fromtimestamp(record.start_time, UTC) if record is not None and record.start_time else None
    with warehouse.work() as con:
        run = publish_run(con, warehouse, context.run.run_id, reconciliation.run_as_of(context), started_at)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(warehouse.path)),
            "as_of": str(run["as_of"]),
            "orders": run["orders"],
            "lines_read": run["lines_read"],
            "lines_rejected": run["lines_rejected"],
            "checks_passed": run["checks_passed"],
            "stage_seconds": dg.MetadataValue.json(run["stage_seconds"]),
        }
    )
