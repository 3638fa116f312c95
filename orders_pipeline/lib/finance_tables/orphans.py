"""Orphans: callbacks and statement rows for orders nobody logged (lost order logs, or foreign traffic)."""

from __future__ import annotations

from datetime import datetime

import duckdb
import polars as pl

from orders_pipeline.lib.common.vocabulary import CALLBACKS
from orders_pipeline.lib.inputs.manifest import ranked_lines_sql
from orders_pipeline.lib.outcomes.effective_callbacks import effective_callbacks
from orders_pipeline.lib.statements.effective import order_rows_sql
from orders_pipeline.lib.warehouse.contracts import ORDER_LINES, ORPHAN_CALLBACKS, ORPHAN_STATEMENT_LINES
from orders_pipeline.lib.warehouse.sql import fetch_value, replace_table, replace_table_from_query

ORPHAN_CALLBACK_SCHEMA = ORPHAN_CALLBACKS.polars_schema()


def build_orphan_callbacks(con: duckdb.DuckDBPyConnection, as_of: datetime) -> int:
    """Rebuild ``recon.orphan_callbacks``; returns its rows.

    The anti-join runs in DuckDB first so only the few unmatched callbacks reach Polars;
    :func:`orphan_callbacks` applies the same rule again on what it is given.
    """
    unmatched = f"SELECT * FROM ({ranked_lines_sql(CALLBACKS)}) ANTI JOIN {ORDER_LINES.qualified()} USING (order_id)"
    no_orders = con.sql(f"SELECT order_id FROM {ORDER_LINES.qualified()} LIMIT 0").pl().lazy()
    orphans = orphan_callbacks(no_orders, con.sql(unmatched).pl().lazy(), as_of).collect()
    return replace_table(con, ORPHAN_CALLBACKS, orphans)


def orphan_callbacks(orders: pl.LazyFrame, callbacks: pl.LazyFrame, as_of: datetime) -> pl.LazyFrame:
    """Effective callbacks received by ``as_of`` whose ``order_id`` matches no landed order line.

    Any landed order line counts, even one created after ``as_of``: such an order has no
    outcome yet, and its callbacks are not orphans. Re-deliveries are merged as in
    :func:`~orders_pipeline.lib.outcomes.effective_callbacks`. Output:
    :data:`ORPHAN_CALLBACK_SCHEMA`, sorted by ``received_at``, ``order_id``, ``file``,
    ``line_number``.
    """
    # Merging is per order_id, so dropping the matched callbacks first gives the same orphans
    # and leaves only the (few) orphan lines to merge.
    unmatched = callbacks.join(orders.select("order_id"), on="order_id", how="anti")
    return (
        effective_callbacks(unmatched, as_of)
        .select(list(ORPHAN_CALLBACK_SCHEMA))
        .cast(ORPHAN_CALLBACK_SCHEMA)
        .sort("received_at", "order_id", "file", "line_number")
    )


def build_orphan_statement_lines(con: duckdb.DuckDBPyConnection, as_of: datetime) -> int:
    """Rebuild ``recon.orphan_statement_lines``; returns its rows.

    docs/rules.md#precise-statements: payment, refund and chargeback rows that exist for the
    run (counted once: the duplicate-row rule applies) whose ``order_id`` matches no landed
    order line, whatever that line's ``created_at``; one row per statement row.
    """
    columns = ", ".join(ORPHAN_STATEMENT_LINES.column_names)
    replace_table_from_query(
        con,
        ORPHAN_STATEMENT_LINES,
        f"SELECT {columns} FROM ({order_rows_sql()}) AS rows ANTI JOIN {ORDER_LINES.qualified()} USING (order_id) "
        "ORDER BY booked_at, order_id, file, line_number",
        {"as_of": as_of},
    )
    return int(fetch_value(con, f"SELECT count(*) FROM {ORPHAN_STATEMENT_LINES.qualified()}"))
