"""Classification in hash batches of ``order_id``: every line of an order lands in the same batch.

Orders are independent of each other, so they are classified a batch at a time and memory
stays flat however many orders a run evaluates. One pass over the landed lines writes the
columns classification needs into one Parquet folder per batch. Order lines, callbacks and
statement rows are split by the same hash of ``order_id``, so an order's statement rows are
in the batch of its lines and callbacks.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

import duckdb
import polars as pl

from orders_pipeline.lib.warehouse.contracts import ORDER_LINES
from orders_pipeline.lib.warehouse.sql import fetch_value

# Orders classified together at most (bounds the memory of one classification batch).
ORDERS_PER_BATCH = 1_500_000


def order_batch_count(con: duckdb.DuckDBPyConnection, days: list[date] | None, as_of: datetime) -> int:
    """How many hash batches keep each classification under :data:`ORDERS_PER_BATCH` order lines."""
    query = f"SELECT count(*) FROM {ORDER_LINES.qualified()} WHERE created_at <= $as_of"
    params: dict = {"as_of": as_of}
    if days is not None:
        query += " AND created_at::DATE IN (SELECT unnest($days::DATE[]))"
        params["days"] = days
    lines = fetch_value(con, query, params)
    return max(1, -(-lines // ORDERS_PER_BATCH))


def write_batches(
    con: duckdb.DuckDBPyConnection,
    lines_sql: str,
    columns: Sequence[str],
    days: list[date] | None,
    as_of: datetime,
    batches: int,
    folder: Path,
    params: dict | None = None,
) -> None:
    """Write ``columns`` of the landed lines of the orders to evaluate under ``folder``, split into hash batches.

    One Parquet folder per batch (``batch=<n>``, read back with :func:`read_batch`): a single
    pass over the landed lines however many batches there are (filtering the tables once per
    batch would read them ``batches`` times). Every line of an order (and every callback for
    it, and every statement row naming it) shares its ``order_id``, so each batch holds whole
    orders. ``params`` are the named parameters ``lines_sql`` uses.
    """
    query = f"SELECT {', '.join(columns)}, hash(order_id) % {batches} AS batch FROM ({lines_sql}) AS lines"
    params = dict(params or {})
    if days is not None:
        query += f"""
        WHERE order_id IN (
            SELECT order_id FROM {ORDER_LINES.qualified()} WHERE created_at <= $as_of
            GROUP BY order_id HAVING min(created_at)::DATE IN (SELECT unnest($days::DATE[]))
        )
        """
        params.update({"as_of": as_of, "days": days})
    folder.mkdir(parents=True, exist_ok=True)
    target = str(folder).replace("'", "''")
    con.execute(f"COPY ({query}) TO '{target}' (FORMAT parquet, PARTITION_BY (batch), OVERWRITE)", params)


def read_batch(folder: Path, batch: int, columns: dict[str, pl.DataType]) -> pl.LazyFrame:
    """The lines :func:`write_batches` wrote for one batch (``columns``; none when the batch is empty)."""
    files = sorted((folder / f"batch={batch}").glob("*.parquet"))
    if not files:
        return pl.LazyFrame(schema=columns)
    return pl.scan_parquet(files, hive_partitioning=False).select(list(columns))
