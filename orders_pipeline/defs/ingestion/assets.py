"""Landing the logs: every order and callback line is either landed (typed) or rejected with a reason."""


import dagster as dg
import polars as pl

from orders_pipeline.defs.resources import ReconciliationResource, stage
from orders_pipeline.lib import expectations
from orders_pipeline.lib.ingestion import DuckDBSink, discover_files, ingest
from orders_pipeline.lib.schema import CALLBACKS, ORDERS
from orders_pipeline.lib.warehouse import replace_table

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
    """Read the order and callback logs (JSONL/CSV, optionally gzip) into the work database."""
    expectations.preload()
    settings = reconciliation.settings()
    order_files = discover_files(reconciliation.orders_path, ORDERS)
    callback_files = discover_files(reconciliation.callbacks_path, CALLBACKS)
    if not order_files:
        context.log.warning(f"no order log files under {reconciliation.orders_path}")
    if not callback_files:
        context.log.warning(f"no callback log files under {reconciliation.callbacks_path}")
    with reconciliation.warehouse().work() as con, stage(con, context.run.run_id, "ingest"):
        con.execute("DROP TABLE IF EXISTS landing.orders")
        con.execute("DROP TABLE IF EXISTS landing.callbacks")
        con.execute("DROP TABLE IF EXISTS landing.rejected_lines")
        sink = DuckDBSink(con, schema="landing")
        files = pl.concat(
            [ingest(ORDERS, order_files, settings, sink), ingest(CALLBACKS, callback_files, settings, sink)]
        )
        replace_table(con, "recon.input_files", files)
        con.execute("CREATE OR REPLACE TABLE recon.rejected_lines AS SELECT * FROM landing.rejected_lines "
                    "ORDER BY kind, file, line_number")
        reasons = con.execute(
            "SELECT reason, count(*) FROM recon.rejected_lines GROUP BY reason ORDER BY 2 DESC, 1"
        ).fetchall()
        counts = files.group_by("kind").agg(
            pl.col("lines_read", "lines_landed", "lines_rejected").sum(),
            pl.col("duplicate_of").is_not_null().sum().alias("duplicate_files"),
            pl.len().alias("files"),
        )
    per_kind = {row["kind"]: row for row in counts.iter_rows(named=True)}
    orders, callbacks = per_kind.get(ORDERS, {}), per_kind.get(CALLBACKS, {})
    rejected_total = sum(n for _, n in reasons)
    yield dg.MaterializeResult(
        asset_key="order_lines",
        metadata={
            "dagster/row_count": int(orders.get("lines_landed", 0)),
            "lines_read": int(orders.get("lines_read", 0)),
            "lines_rejected": int(orders.get("lines_rejected", 0)),
        },
    )
    yield dg.MaterializeResult(
        asset_key="callback_lines",
        metadata={
            "dagster/row_count": int(callbacks.get("lines_landed", 0)),
            "lines_read": int(callbacks.get("lines_read", 0)),
            "lines_rejected": int(callbacks.get("lines_rejected", 0)),
        },
    )
    yield dg.MaterializeResult(
        asset_key="rejected_lines",
        metadata={
            "dagster/row_count": rejected_total,
            "by_reason": dg.MetadataValue.md(
                "\n".join(["| reason | lines |", "|---|---|", *(f"| {r} | {n} |" for r, n in reasons)])
            ),
        },
    )
    yield dg.MaterializeResult(
        asset_key="input_files",
        metadata={
            "dagster/row_count": files.height,
            "duplicate_files_skipped": int(files["duplicate_of"].is_not_null().sum()),
        },
    )
