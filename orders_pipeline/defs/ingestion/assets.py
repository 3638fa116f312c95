"""Landing the logs: every order and callback line is either landed (typed) or rejected with a reason."""


import dagster as dg

from orders_pipeline.defs.resources import ReconciliationResource, markdown_table, stage
from orders_pipeline.lib.ingestion import discover_files
from orders_pipeline.lib.landing import input_files_sql, sync_landing
from orders_pipeline.lib.schema import CALLBACKS, ORDERS

GROUP = "ingestion"


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "order_lines",
            group_name=GROUP,
            kinds={"duckdb", "polars"},
            description="Every valid order submission line, typed: money in integer minor units, times in UTC.",
        ),
        dg.AssetSpec(
            "callback_lines",
            group_name=GROUP,
            kinds={"duckdb", "polars"},
            description="Every valid provider callback line, typed; event_time defaults to received_at.",
        ),
        dg.AssetSpec(
            "rejected_lines",
            group_name=GROUP,
            kinds={"duckdb"},
            description="Input lines that could not be landed, with file, line number, raw text and reason.",
        ),
        dg.AssetSpec(
            "input_files",
            group_name=GROUP,
            kinds={"duckdb"},
            description="Each input file of the run: checksum, duplicate-of, and lines read / landed / rejected.",
        ),
    ]
)
def landed_logs(context: dg.AssetExecutionContext, reconciliation: ReconciliationResource):
    """Bring the landed lines in step with the order and callback log folders.

    Each file is parsed once, ever (tracked in the ``ingested_files`` manifest); re-delivered
    files are skipped, changed files re-ingested and reported, removed files' lines dropped.
    """
    settings = reconciliation.settings()
    files = {
        ORDERS: discover_files(reconciliation.orders_path, ORDERS),
        CALLBACKS: discover_files(reconciliation.callbacks_path, CALLBACKS),
    }
    for kind, found in files.items():
        if not found:
            context.log.warning(f"no {kind} log files under {getattr(reconciliation, kind + '_path')}")
    with reconciliation.warehouse().work() as con, stage(con, context.run.run_id, "ingest"):
        report = sync_landing(con, files, settings, context.run.run_id)
        con.execute(f"CREATE OR REPLACE TABLE recon.input_files AS {input_files_sql()}")
        con.execute(
            "CREATE OR REPLACE TABLE recon.rejected_lines AS SELECT * FROM landing.rejected_lines "
            "ORDER BY kind, file, line_number"
        )
        per_kind = {
            row[0]: row[1:]
            for row in con.execute(
                "SELECT kind, sum(lines_read), sum(lines_landed), sum(lines_rejected) FROM recon.input_files "
                "GROUP BY kind"
            ).fetchall()
        }
        reasons = con.execute(
            "SELECT reason, count(*) FROM recon.rejected_lines GROUP BY reason ORDER BY 2 DESC, 1"
        ).fetchall()
    for change in report.changed:
        context.log.warning(f"{change} changed after it was ingested: its lines were replaced by the new content")
    for gone in report.removed:
        context.log.warning(f"{gone} is no longer in the landing folder: its lines were removed")
    for kind, asset in ((ORDERS, "order_lines"), (CALLBACKS, "callback_lines")):
        read, landed, rejected = (int(v or 0) for v in per_kind.get(kind, (0, 0, 0)))
        yield dg.MaterializeResult(
            asset_key=asset,
            metadata={"dagster/row_count": landed, "lines_read": read, "lines_rejected": rejected},
        )
    yield dg.MaterializeResult(
        asset_key="rejected_lines",
        metadata={
            "dagster/row_count": sum(n for _, n in reasons),
            "by_reason": dg.MetadataValue.md(markdown_table(["reason", "lines"], reasons)),
        },
    )
    yield dg.MaterializeResult(
        asset_key="input_files",
        metadata={f"files_{status}": count for status, count in sorted(report.statuses.items())},
    )
