"""Where outcomes are written: a run's evaluated days replace their old rows, whole or not at all."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import date

import duckdb
import pyarrow as pa

from orders_pipeline.lib.inputs.manifest import ensure_landing_tables
from orders_pipeline.lib.warehouse.contracts import (
    ORDER_OUTCOMES,
    TOUCHED_ORDERS,
    TOUCHED_STATEMENT_DAYS,
    UNEVALUATED_FILES,
)
from orders_pipeline.lib.warehouse.sql import table_exists, transaction

OUTCOMES_TABLE = ORDER_OUTCOMES.qualified()
# Where a full evaluation builds the next outcomes table before swapping it in.
NEXT_OUTCOMES = replace(ORDER_OUTCOMES, name="recon.order_outcomes_next")


def replace_days(con: duckdb.DuckDBPyConnection, days: list[date] | None, batches: Iterable[pa.Table]) -> None:
    """Replace the outcomes of ``days`` (all days when ``None``) with the rows of ``batches``.

    Each batch holds whole orders (see
    :func:`~orders_pipeline.lib.outcomes.batches.write_batches`) and is written as it comes, so
    only one batch is in memory at a time. Either every batch is in or none is: a run killed
    midway leaves the old outcomes, and the lines they do not account for yet, as they were.
    An order whose canonical day moved out of ``days`` (an earlier line arrived) loses its old
    row too: no order ever has two.
    """
    ensure_landing_tables(con)
    if days is None or not table_exists(con, ORDER_OUTCOMES.name):
        _replace_all(con, batches)
        return
    with transaction(con):
        con.execute(
            f"DELETE FROM {OUTCOMES_TABLE} WHERE created_at::DATE IN (SELECT unnest($days::DATE[]))", {"days": days}
        )
        _clear_pending(con)
        for batch in batches:
            con.register("_outcome_batch", batch)
            try:
                con.execute(f"DELETE FROM {OUTCOMES_TABLE} WHERE order_id IN (SELECT order_id FROM _outcome_batch)")
                con.execute(f"INSERT INTO {OUTCOMES_TABLE} BY NAME SELECT * FROM _outcome_batch")
            finally:
                con.unregister("_outcome_batch")


def _replace_all(con: duckdb.DuckDBPyConnection, batches: Iterable[pa.Table]) -> None:
    """Every order evaluated: build the new table a committed batch at a time, then swap it in.

    DuckDB keeps what a transaction wrote in memory until it commits: one transaction over 50M
    outcome rows held 10 GB. A run killed while building leaves a half-built next table, which
    the next run drops.
    """
    con.execute(f"DROP TABLE IF EXISTS {NEXT_OUTCOMES.qualified()}")
    con.execute(NEXT_OUTCOMES.ddl())
    for batch in batches:
        con.register("_outcome_batch", batch)
        try:
            con.execute(f"INSERT INTO {NEXT_OUTCOMES.qualified()} BY NAME SELECT * FROM _outcome_batch")
        finally:
            con.unregister("_outcome_batch")
    with transaction(con):
        con.execute(f"DROP TABLE IF EXISTS {OUTCOMES_TABLE}")
        con.execute(f"ALTER TABLE {NEXT_OUTCOMES.qualified()} RENAME TO {ORDER_OUTCOMES.name.split('.')[1]}")
        _clear_pending(con)


def _clear_pending(con: duckdb.DuckDBPyConnection) -> None:
    """What the new outcomes account for: lines landed or removed since the last evaluation."""
    for table in (UNEVALUATED_FILES, TOUCHED_ORDERS, TOUCHED_STATEMENT_DAYS):
        con.execute(f"DELETE FROM {table.qualified()}")
