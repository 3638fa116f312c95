"""The daily summary finance closes the day on: orders and amounts per day, merchant, provider, currency.

Counts and sums only, so it is built a chunk of outcome rows at a time and merged: exact, and
memory does not grow with the number of orders. Money stays Int64 minor units, and a row
never mixes currencies (currency is part of its key).
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb
import polars as pl

from orders_pipeline.lib.common.vocabulary import FLAGS, OUTCOMES
from orders_pipeline.lib.warehouse.contracts import DAILY_SUMMARY, ORDER_OUTCOMES
from orders_pipeline.lib.warehouse.sql import replace_table

SUMMARY_KEY = ("order_date", "merchant_id", "provider", "currency")
DAILY_SUMMARY_SCHEMA = DAILY_SUMMARY.polars_schema()
# Outcome rows summarised at a time.
SUMMARY_CHUNK_ROWS = 2_000_000


def build_daily_summary(con: duckdb.DuckDBPyConnection) -> int:
    """Rebuild ``recon.daily_summary`` from every outcome row (so it always ties out); returns its rows."""
    outcomes = con.sql(
        "SELECT created_at, merchant_id, provider, currency, amount_minor, outcome, flags "
        f"FROM {ORDER_OUTCOMES.qualified()}"
    ).to_arrow_reader(SUMMARY_CHUNK_ROWS)
    summary = merge_daily_summaries(daily_summary(pl.DataFrame(chunk).lazy()).collect() for chunk in outcomes)
    return replace_table(con, DAILY_SUMMARY, summary)


def daily_summary(outcomes: pl.LazyFrame) -> pl.LazyFrame:
    """Order counts and amounts per UTC order day, merchant, provider and currency.

    Input: ``recon.order_outcomes`` rows. Output: :data:`DAILY_SUMMARY_SCHEMA`, sorted by
    the key. The ``<outcome>_count`` columns add up to ``order_count`` and the
    ``<outcome>_amount_minor`` columns to ``amount_minor``, row by row (each order has exactly
    one outcome). ``<flag>_count`` counts the orders carrying the flag.
    """
    amount = pl.col("amount_minor")
    per_outcome = []
    for outcome in OUTCOMES:
        hit = pl.col("outcome") == outcome
        per_outcome.append(hit.sum().cast(pl.Int64).alias(f"{outcome}_count"))
        per_outcome.append(pl.when(hit).then(amount).otherwise(0).sum().cast(pl.Int64).alias(f"{outcome}_amount_minor"))
    per_flag = [pl.col("flags").list.contains(flag).sum().cast(pl.Int64).alias(f"{flag}_count") for flag in FLAGS]
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
