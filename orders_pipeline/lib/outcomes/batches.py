"""Classification in hash batches (buckets) of ``order_id``: every line of an order lands in the same batch.

Orders are independent of each other, so classification is a function of one bucket
(:func:`classify_bucket`): the unit of scale of classification. Memory stays flat however
many orders a run evaluates, and buckets can be classified anywhere — in process one after
the other (:func:`classify_buckets`, the local engine) or on Spark executors
(:mod:`orders_pipeline.lib.engines.spark`). One pass over the landed lines writes the columns
classification needs into one Parquet folder per bucket (:func:`write_batches`). Order lines,
callbacks and statement rows are split by the same hash of ``order_id``, so an order's
statement rows are in the bucket of its lines and callbacks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa

from orders_pipeline.lib.common.batching import computed_ahead
from orders_pipeline.lib.common.config import Settings
from orders_pipeline.lib.common.vocabulary import CALLBACKS, ORDERS, STATEMENTS
from orders_pipeline.lib.outcomes.rules import CLASSIFY_CALLBACK_COLUMNS, CLASSIFY_ORDER_COLUMNS, classify_orders
from orders_pipeline.lib.outcomes.statement_evidence import STATEMENT_ROW_COLUMNS, Statements
from orders_pipeline.lib.statements.coverage import StatementDays
from orders_pipeline.lib.warehouse.contracts import ORDER_LINES
from orders_pipeline.lib.warehouse.sql import fetch_value

# The columns of each kind of line a bucket holds.
BUCKET_COLUMNS: dict[str, dict[str, pl.DataType]] = {
    ORDERS: dict(CLASSIFY_ORDER_COLUMNS),
    CALLBACKS: dict(CLASSIFY_CALLBACK_COLUMNS),
    STATEMENTS: dict(STATEMENT_ROW_COLUMNS),
}

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
    params["batch_folder"] = str(folder)  # a parameter, never SQL text: folders may hold quotes
    con.execute(f"COPY ({query}) TO $batch_folder (FORMAT parquet, PARTITION_BY (batch), OVERWRITE)", params)


def read_batch(folder: Path, batch: int, columns: dict[str, pl.DataType]) -> pa.Table:
    """The lines :func:`write_batches` wrote for one batch (``columns``; none when the batch is empty)."""
    files = sorted((folder / f"batch={batch}").glob("*.parquet"))
    if not files:
        return pl.DataFrame(schema=columns).to_arrow()
    return pl.read_parquet(files, hive_partitioning=False, columns=list(columns)).to_arrow()


def classify_bucket(
    orders: pa.Table,
    callbacks: pa.Table,
    statements: pa.Table | None,
    as_of: datetime,
    settings: Settings,
    evidence: StatementDays,
) -> pa.Table:
    """The outcomes of one bucket of orders: all their order lines, callbacks and statement rows.

    ``orders``, ``callbacks`` and ``statements`` hold (at least) the columns of
    :data:`BUCKET_COLUMNS`; ``statements`` is ignored when no provider has statements. Returns
    one row per order (``recon.order_outcomes``), sorted by ``order_id``. Reads and writes
    nothing else, so it runs the same in process and on a Spark executor.
    """
    statement_evidence = None
    if evidence.providers:
        statement_evidence = Statements(
            _lazy(statements, BUCKET_COLUMNS[STATEMENTS]), evidence.providers, evidence.covered_days
        )
    outcomes = classify_orders(
        _lazy(orders, BUCKET_COLUMNS[ORDERS]),
        _lazy(callbacks, BUCKET_COLUMNS[CALLBACKS]),
        as_of,
        settings,
        statement_evidence,
    )
    return outcomes.collect().to_arrow()


def _lazy(rows: pa.Table | None, columns: dict[str, pl.DataType]) -> pl.LazyFrame:
    if rows is None:
        return pl.LazyFrame(schema=columns)
    frame = pl.from_arrow(rows)
    assert isinstance(frame, pl.DataFrame)
    return frame.lazy().select(list(columns))


@dataclass(frozen=True)
class BucketSpill:
    """Where :func:`write_batches` spilled a run's lines: ``folder/<kind>/batch=<n>`` for ``buckets`` buckets."""

    folder: Path
    buckets: int
    with_statements: bool

    def kind_folder(self, kind: str) -> Path:
        """The folder of one kind's lines."""
        return self.folder / kind

    def read(self, bucket: int) -> tuple[pa.Table, pa.Table, pa.Table | None]:
        """One bucket's order lines, callbacks and (with statements) statement rows."""
        orders, callbacks = (
            read_batch(self.kind_folder(kind), bucket, BUCKET_COLUMNS[kind]) for kind in (ORDERS, CALLBACKS)
        )
        statements = (
            read_batch(self.kind_folder(STATEMENTS), bucket, BUCKET_COLUMNS[STATEMENTS])
            if self.with_statements
            else None
        )
        return orders, callbacks, statements


Classifier = Callable[[BucketSpill, datetime, Settings, StatementDays], Iterator[pa.Table]]
"""How an engine classifies every bucket of a spill: one outcome table per bucket, in bucket order."""


def classify_buckets(
    spill: BucketSpill, as_of: datetime, settings: Settings, evidence: StatementDays
) -> Iterator[pa.Table]:
    """The local engine: each bucket classified in process, the next one computed while the caller writes this one."""

    def classify(bucket: int) -> pa.Table:
        return classify_bucket(*spill.read(bucket), as_of, settings, evidence)

    yield from computed_ahead(classify, range(spill.buckets))
