"""Which order days a run must (re)evaluate, and where their outcomes are written.

Outcomes are partitioned by order day (UTC date of the order's canonical ``created_at``). A
day is *final* once it was evaluated at an as-of past its end plus the longest provider
retry horizon: every order of that day was then past its horizon, so no callback will come
by itself and its outcome cannot change without new input. A run evaluates:

* days with orders that were never evaluated;
* days that are not final yet (the live window);
* days of orders touched by input since the last evaluation: lines of files landed since, and
  orders whose lines were removed (a file changed or disappeared);
* days evaluated at an as-of later than this run's (a re-run "as of" an earlier time);
* days the caller asks for (a Dagster partition range: a backfill).

Other days keep the outcomes (and the ``as_of``) of the run that last evaluated them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa

from orders_pipeline.lib import schema
from orders_pipeline.lib.config import Settings
from orders_pipeline.lib.landing import TOUCHED, UNEVALUATED, ensure_landing_tables
from orders_pipeline.lib.warehouse import replace_table, table_exists, transaction

OUTCOMES_TABLE = "recon.order_outcomes"
# Where a full evaluation builds the next outcomes table before swapping it in.
OUTCOMES_NEXT = "recon.order_outcomes_next"


def longest_retry_horizon(settings: Settings) -> timedelta:
    """The longest retry horizon of any provider profile (what makes a day final)."""
    return max(profile.retry_horizon for profile in settings.providers.values())


def live_window(as_of: datetime, settings: Settings) -> tuple[date, date]:
    """The days whose orders can still change by themselves as of ``as_of``."""
    return (as_of - longest_retry_horizon(settings)).date(), as_of.date()


def days_to_evaluate(
    con: duckdb.DuckDBPyConnection,
    as_of: datetime,
    settings: Settings,
    requested: tuple[date, date] | None = None,
) -> list[date] | None:
    """The order days this run must evaluate; ``None`` means every day (nothing evaluated yet)."""
    if not table_exists(con, OUTCOMES_TABLE):
        return None
    ensure_landing_tables(con)
    horizon_us = int(longest_retry_horizon(settings) / timedelta(microseconds=1))
    first, last = requested or (date.max, date.min)
    rows = con.execute(
        f"""
        WITH canon AS (
            SELECT order_id, min(created_at)::DATE AS day FROM landing.orders
            WHERE created_at <= $as_of GROUP BY order_id
        ),
        evaluated AS (SELECT created_at::DATE AS day, min(as_of) AS first_as_of, max(as_of) AS last_as_of
                      FROM {OUTCOMES_TABLE} GROUP BY 1),
        fresh_files AS (SELECT kind, file FROM {UNEVALUATED}),
        touched AS (
            SELECT order_id FROM landing.orders
            WHERE file IN (SELECT file FROM fresh_files WHERE kind = 'orders')
            UNION SELECT order_id FROM landing.callbacks
            WHERE file IN (SELECT file FROM fresh_files WHERE kind = 'callbacks')
            UNION SELECT order_id FROM {TOUCHED}
        )
        SELECT day FROM (SELECT DISTINCT day FROM canon) ANTI JOIN evaluated USING (day)
        UNION SELECT day FROM evaluated
              WHERE first_as_of < day::TIMESTAMPTZ + INTERVAL 1 DAY + to_microseconds($horizon::BIGINT)
                 OR last_as_of > $as_of
        UNION SELECT day FROM canon WHERE order_id IN (SELECT order_id FROM touched)
        UNION SELECT created_at::DATE FROM {OUTCOMES_TABLE} WHERE order_id IN (SELECT order_id FROM touched)
        UNION SELECT day FROM canon WHERE day BETWEEN $first AND $last
        UNION SELECT created_at::DATE FROM {OUTCOMES_TABLE} WHERE created_at::DATE BETWEEN $first AND $last
        ORDER BY 1
        """,
        {"as_of": as_of, "horizon": horizon_us, "first": first, "last": last},
    ).fetchall()
    return [row[0] for row in rows]


# Orders classified together at most (bounds the memory of one classification batch).
ORDERS_PER_BATCH = 1_500_000


def order_batch_count(con: duckdb.DuckDBPyConnection, days: list[date] | None, as_of: datetime) -> int:
    """How many hash batches keep each classification under :data:`ORDERS_PER_BATCH` order lines."""
    query = "SELECT count(*) FROM landing.orders WHERE created_at <= $as_of"
    params: dict = {"as_of": as_of}
    if days is not None:
        query += " AND created_at::DATE IN (SELECT unnest($days::DATE[]))"
        params["days"] = days
    lines = con.execute(query, params).fetchall()[0][0]
    return max(1, -(-lines // ORDERS_PER_BATCH))


def write_batches(
    con: duckdb.DuckDBPyConnection,
    lines_sql: str,
    columns: Sequence[str],
    days: list[date] | None,
    as_of: datetime,
    batches: int,
    folder: Path,
) -> None:
    """Write ``columns`` of the landed lines of the orders to evaluate under ``folder``, split into hash batches.

    One Parquet folder per batch (``batch=<n>``, read back with :func:`read_batch`): a single
    pass over the landed lines however many batches there are (filtering the tables once per
    batch would read them ``batches`` times). Every line of an order (and every callback for
    it) shares its ``order_id``, so each batch holds whole orders.
    """
    query = f"SELECT {', '.join(columns)}, hash(order_id) % {batches} AS batch FROM ({lines_sql}) AS lines"
    params: dict = {}
    if days is not None:
        query += """
        WHERE order_id IN (
            SELECT order_id FROM landing.orders WHERE created_at <= $as_of
            GROUP BY order_id HAVING min(created_at)::DATE IN (SELECT unnest($days::DATE[]))
        )
        """
        params = {"as_of": as_of, "days": days}
    folder.mkdir(parents=True, exist_ok=True)
    target = str(folder).replace("'", "''")
    con.execute(f"COPY ({query}) TO '{target}' (FORMAT parquet, PARTITION_BY (batch), OVERWRITE)", params)


def read_batch(folder: Path, batch: int, columns: dict[str, pl.DataType]) -> pl.LazyFrame:
    """The lines :func:`write_batches` wrote for one batch (``columns``; none when the batch is empty)."""
    files = sorted((folder / f"batch={batch}").glob("*.parquet"))
    if not files:
        return pl.LazyFrame(schema=columns)
    return pl.scan_parquet(files, hive_partitioning=False).select(list(columns))


def replace_days(con: duckdb.DuckDBPyConnection, days: list[date] | None, batches: Iterable[pa.Table]) -> None:
    """Replace the outcomes of ``days`` (all days when ``None``) with the rows of ``batches``.

    Each batch holds whole orders (see :func:`write_batches`) and is written as it comes, so
    only one batch is in memory at a time. Either every batch is in or none is: a run killed
    midway leaves the old outcomes, and the lines they do not account for yet, as they were.
    An order whose canonical day moved out of ``days`` (an earlier line arrived) loses its old
    row too: no order ever has two.
    """
    ensure_landing_tables(con)
    if days is None or not table_exists(con, OUTCOMES_TABLE):
        _replace_all(con, batches)
        return
    with transaction(con):
        con.execute(f"DELETE FROM {OUTCOMES_TABLE} WHERE created_at::DATE IN (SELECT unnest($days::DATE[]))",
                    {"days": days})
        _clear_pending(con)
        for batch in batches:
            con.register("_outcome_batch", batch)
            try:
                con.execute(f"DELETE FROM {OUTCOMES_TABLE} WHERE order_id IN (SELECT order_id FROM _outcome_batch)")
                con.execute(f"INSERT INTO {OUTCOMES_TABLE} SELECT * FROM _outcome_batch")
            finally:
                con.unregister("_outcome_batch")


def _replace_all(con: duckdb.DuckDBPyConnection, batches: Iterable[pa.Table]) -> None:
    """Every order evaluated: build the new table a committed batch at a time, then swap it in.

    DuckDB keeps what a transaction wrote in memory until it commits: one transaction over 50M
    outcome rows held 10 GB. A run killed while building leaves a half-built next table, which
    the next run drops.
    """
    con.execute(f"DROP TABLE IF EXISTS {OUTCOMES_NEXT}")
    created = False
    for batch in batches:
        con.register("_outcome_batch", batch)
        try:
            verb = f"INSERT INTO {OUTCOMES_NEXT}" if created else f"CREATE TABLE {OUTCOMES_NEXT} AS"
            con.execute(f"{verb} SELECT * FROM _outcome_batch")
            created = True
        finally:
            con.unregister("_outcome_batch")
    if not created:
        replace_table(con, OUTCOMES_NEXT, schema.empty_frame(schema.ORDER_OUTCOME_SCHEMA))
    with transaction(con):
        con.execute(f"DROP TABLE IF EXISTS {OUTCOMES_TABLE}")
        con.execute(f"ALTER TABLE {OUTCOMES_NEXT} RENAME TO {OUTCOMES_TABLE.split('.')[1]}")
        _clear_pending(con)


def _clear_pending(con: duckdb.DuckDBPyConnection) -> None:
    """What the new outcomes account for: lines landed or removed since the last evaluation."""
    for table in (UNEVALUATED, TOUCHED):
        con.execute(f"DELETE FROM {table}")
