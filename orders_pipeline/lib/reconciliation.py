"""Reconciliation tables built from the order outcomes: daily summary, exceptions, orphans.

Pure Polars, LazyFrame in and out. Money stays Int64 minor units; sums never pass through a
float, and a summary row never mixes currencies (currency is part of its key).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import polars as pl

from orders_pipeline.lib import schema
from orders_pipeline.lib.outcomes import effective_callbacks

SUMMARY_KEY = ("order_date", "merchant_id", "provider", "currency")

# One row per (UTC order day, merchant, provider, currency). Wide: totals, then a count and an
# amount per outcome (schema.OUTCOMES order), then a count of orders carrying each flag
# (schema.FLAGS order). Every column is present and non-null, zero when nothing matched.
DAILY_SUMMARY_SCHEMA: dict[str, pl.DataType] = {
    "order_date": pl.Date(),
    "merchant_id": pl.String(),
    "provider": pl.String(),
    "currency": pl.String(),
    "order_count": pl.Int64(),
    "amount_minor": pl.Int64(),
    **{column: pl.Int64() for outcome in schema.OUTCOMES for column in (f"{outcome}_count", f"{outcome}_amount_minor")},
    **{f"{flag}_count": pl.Int64() for flag in schema.FLAGS},
}

# Every order whose action is not "none", most urgent first.
EXCEPTION_SCHEMA: dict[str, pl.DataType] = {
    "order_id": pl.String(),
    "merchant_id": pl.String(),
    "provider": pl.String(),
    "currency": pl.String(),
    "amount_minor": pl.Int64(),
    "created_at": schema.TIMESTAMP,
    "outcome": pl.String(),
    "flags": pl.List(pl.String()),
    "action": pl.String(),
    "age_seconds": pl.Int64(),
    "priority": pl.Int64(),
}

# 1 = most urgent. Contradictions and money first; then wrong submissions; then lost
# callbacks, where missing (will not come back) beats overdue (may still come).
ACTION_PRIORITY: dict[str, int] = {
    "review_status": 1,
    "review_amount": 2,
    "refund_review": 3,
    "review_submission": 4,
    "investigate": 5,
    "query_provider": 6,
}

# Callbacks received by as_of whose order_id matches no landed order line at all.
ORPHAN_CALLBACK_SCHEMA: dict[str, pl.DataType] = {
    "order_id": pl.String(),
    "provider": pl.String(),
    "status": pl.String(),
    "amount_minor": pl.Int64(),
    "currency": pl.String(),
    "received_at": schema.TIMESTAMP,
    "event_time": schema.TIMESTAMP,
    "callback_id": pl.String(),
    "provider_txn_id": pl.String(),
    "delivery_count": pl.Int64(),
    "file": pl.String(),
    "line_number": pl.Int64(),
}


def daily_summary(outcomes: pl.LazyFrame) -> pl.LazyFrame:
    """Order counts and amounts per UTC order day, merchant, provider and currency.

    Input: :data:`schema.ORDER_OUTCOME_SCHEMA`. Output: :data:`DAILY_SUMMARY_SCHEMA`, sorted by
    the key. The ``<outcome>_count`` columns add up to ``order_count`` and the
    ``<outcome>_amount_minor`` columns to ``amount_minor``, row by row (each order has exactly
    one outcome). ``<flag>_count`` counts the orders carrying the flag.
    """
    amount = pl.col("amount_minor")
    per_outcome = []
    for outcome in schema.OUTCOMES:
        hit = pl.col("outcome") == outcome
        per_outcome.append(hit.sum().cast(pl.Int64).alias(f"{outcome}_count"))
        per_outcome.append(pl.when(hit).then(amount).otherwise(0).sum().cast(pl.Int64).alias(f"{outcome}_amount_minor"))
    per_flag = [
        pl.col("flags").list.contains(flag).sum().cast(pl.Int64).alias(f"{flag}_count") for flag in schema.FLAGS
    ]
    return (
        outcomes.with_columns(pl.col("created_at").dt.convert_time_zone("UTC").dt.date().alias("order_date"))
        .group_by(*SUMMARY_KEY)
        .agg(
            pl.len().cast(pl.Int64).alias("order_count"),
            amount.sum().cast(pl.Int64).alias("amount_minor"),
            *per_outcome,
            *per_flag,
        )
        .select(list(DAILY_SUMMARY_SCHEMA))
        .cast(DAILY_SUMMARY_SCHEMA)
        .sort(*SUMMARY_KEY)
    )


def merge_daily_summaries(parts: Iterable[pl.DataFrame]) -> pl.DataFrame:
    """Add up the daily summaries of disjoint sets of orders into the summary of all of them.

    Every column but the key is a count or a sum, so summarising a table chunk by chunk and
    merging gives exactly its summary: the warehouse builds it that way without holding
    every order in memory at once. Output: :data:`DAILY_SUMMARY_SCHEMA`, sorted by the key.
    """
    frames = list(parts)
    if not frames:
        return pl.DataFrame(schema=DAILY_SUMMARY_SCHEMA)
    return (
        pl.concat(frames, how="vertical")
        .group_by(*SUMMARY_KEY)
        .agg(pl.exclude(*SUMMARY_KEY).sum())
        .select(list(DAILY_SUMMARY_SCHEMA))
        .cast(DAILY_SUMMARY_SCHEMA)
        .sort(*SUMMARY_KEY)
    )


def exceptions(outcomes: pl.LazyFrame) -> pl.LazyFrame:
    """Every order whose action is not ``none``, most urgent first.

    ``priority`` comes from the action (:data:`ACTION_PRIORITY`, 1 = most urgent); within a
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
