"""Publishing: the checked tables become the warehouse analysts and finance read, atomically."""


import json
from datetime import UTC, datetime

import dagster as dg
import polars as pl

from orders_pipeline.defs.resources import ReconciliationResource, run_as_of
from orders_pipeline.lib.warehouse import PUBLISHED_TABLES, fetch_first, publish

# Asset names are the table names they publish.
PUBLISHED_DEPS = [*PUBLISHED_TABLES, "order_lines", "callback_lines"]


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
    started_at = (
        datetime.fromtimestamp(record.start_time, UTC) if record is not None and record.start_time else None
    )
    with warehouse.work() as con:
        run = build_run_row(con, context.run.run_id, started_at)
        run = publish(con, warehouse, run)
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


def build_run_row(con, run_id: str, started_at: datetime | None) -> dict:
    """This run's row of ``recon.runs``: inputs with checksums, counts in and out, check results, timings."""
    files = con.sql(
        "SELECT kind, file, size_bytes, sha256, duplicate_of, lines_read, lines_landed, lines_rejected "
        "FROM recon.input_files ORDER BY kind, file"
    ).pl()
    checks = con.sql(
        "SELECT asset, check_name, passed, severity, observed, failing_sample FROM run_log.check_results "
        "WHERE run_id = ? ORDER BY asset, check_name",
        params=[run_id],
    ).pl()
    timings = con.execute(
        "SELECT stage, sum(seconds) FROM run_log.stage_timings WHERE run_id = ? GROUP BY stage ORDER BY stage",
        [run_id],
    ).fetchall()
    outcome_counts = dict(
        con.execute("SELECT outcome, count(*) FROM recon.order_outcomes GROUP BY outcome ORDER BY outcome").fetchall()
    )
    orphans = fetch_first(con, "SELECT count(*) FROM recon.orphan_callbacks")[0]
    return {
        "run_id": run_id,
        "as_of": run_as_of(con, run_id),
        "started_at": started_at,
        "status": "published",
        "input_files": files.to_dicts(),
        "files_read": int(files.filter(files["duplicate_of"].is_null()).height),
        "files_skipped_duplicate": int(files["duplicate_of"].is_not_null().sum()),
        "lines_read": int(files["lines_read"].sum() or 0),
        "lines_landed": int(files["lines_landed"].sum() or 0),
        "lines_rejected": int(files["lines_rejected"].sum() or 0),
        "orders": int(sum(outcome_counts.values())),
        "orphan_callbacks": int(orphans),
        "outcome_counts": outcome_counts,
        "check_results": [
            {**row, "observed": json.loads(row["observed"]), "failing_sample": json.loads(row["failing_sample"])}
            for row in checks.to_dicts()
        ],
        "checks_passed": bool(checks.filter(pl.col("severity") == "ERROR")["passed"].all()),
        "check_warnings": int(checks.filter((pl.col("severity") == "WARN") & ~pl.col("passed")).height),
        "stage_seconds": {stage: round(seconds, 3) for stage, seconds in timings},
    }
