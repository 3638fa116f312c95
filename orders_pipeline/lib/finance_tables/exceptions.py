"""The exceptions queue: every order whose action is not none, most urgent first."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import polars as pl

from orders_pipeline.lib.common.vocabulary import ACTION_PRIORITY
from orders_pipeline.lib.warehouse.contracts import EXCEPTIONS, ORDER_OUTCOMES
from orders_pipeline.lib.warehouse.sql import read_table, replace_table

EXCEPTION_SCHEMA = EXCEPTIONS.polars_schema()


@dataclass(frozen=True)
class ExceptionsReport:
    """The queue's size per action, and its most urgent rows."""

    rows: int
    by_action: dict[str, int]
    most_urgent: pl.DataFrame


def build_exceptions(con: duckdb.DuckDBPyConnection, preview_rows: int = 10) -> ExceptionsReport:
    """Rebuild ``recon.exceptions`` from the outcomes; only the orders needing an action are read."""
    queue = exceptions(read_table(con, ORDER_OUTCOMES, "WHERE action <> 'none'").lazy()).collect()
    replace_table(con, EXCEPTIONS, queue)
    by_action = {str(action): int(count) for action, count in queue.group_by("action").len().sort("action").iter_rows()}
    preview = queue.head(preview_rows).select("order_id", "outcome", "action", "age_seconds")
    return ExceptionsReport(queue.height, by_action, preview)


def exceptions(outcomes: pl.LazyFrame) -> pl.LazyFrame:
    """Every order whose action is not ``none``, most urgent first.

    ``priority`` comes from the action
    (:data:`~orders_pipeline.lib.common.vocabulary.ACTION_PRIORITY`, 1 = most urgent); within a
    priority the oldest order first, then the largest amount, then ``order_id``.
    Output: :data:`EXCEPTION_SCHEMA`.
    """
    return (
        outcomes.filter(pl.col("action") != "none")
        .with_columns(pl.col("action").replace_strict(ACTION_PRIORITY, return_dtype=pl.Int64).alias("priority"))
        .select(list(EXCEPTION_SCHEMA))
        .cast(EXCEPTION_SCHEMA)
        .sort(
            ["priority", "age_seconds", "amount_minor", "order_id"],
            descending=[False, True, True, False],
        )
    )
