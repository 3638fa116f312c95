"""Effective callbacks: the callbacks that exist as of a time, each event counted once.

Shared by the outcome rules and the orphan callbacks (docs/rules.md#precise-classifying:
re-deliveries are merged on ``callback_id`` within one order, the earliest received kept).
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from orders_pipeline.lib.common.time import as_of_literal
from orders_pipeline.lib.warehouse.contracts import CALLBACK_LINES

_CALLBACK_LINE_TYPES = CALLBACK_LINES.polars_schema()

# An effective callback: one landed callback line, re-deliveries of its callback_id merged in.
EFFECTIVE_CALLBACK_SCHEMA: dict[str, pl.DataType] = {**_CALLBACK_LINE_TYPES, "delivery_count": pl.Int64()}

# Int128 keys hold a microsecond timestamp in the high 64 bits and a non-negative Int64
# (read_order, or a rank) in the low 64 bits, so (timestamp, tiebreak) compares as one integer.
LOW_BITS = pl.lit(1 << 64, dtype=pl.Int128)


def then_read_order(timestamp: str) -> pl.Expr:
    """Build an exact Int128 sort key for (``timestamp``, ``read_order``).

    ``timestamp`` in microseconds shifted left by 64 bits, plus ``read_order``: comparing keys
    compares the pair lexicographically, ``key % 2**64`` gives ``read_order`` back and
    ``key // 2**64`` the timestamp. One Int128 column is far cheaper to min/max/rank than a
    two-column sort.
    """
    return pl.col(timestamp).dt.epoch("us").cast(pl.Int128) * LOW_BITS + pl.col("read_order").cast(pl.Int128)


def effective_callbacks(callbacks: pl.LazyFrame, as_of: datetime) -> pl.LazyFrame:
    """Callbacks that exist as of ``as_of``, with re-deliveries merged.

    Keeps callback lines with ``received_at <= as_of`` (a callback received exactly at
    ``as_of`` counts). Lines sharing (``order_id``, ``callback_id``) are one event delivered
    several times: the earliest received delivery is kept (ties: smallest ``read_order``) and
    ``delivery_count`` says how many deliveries it stands for. Lines without ``callback_id``
    are never merged (``delivery_count`` 1). Columns: :data:`EFFECTIVE_CALLBACK_SCHEMA`, or
    the input's columns of it plus ``delivery_count`` when the input is narrower (at least
    :data:`~orders_pipeline.lib.outcomes.rules.CLASSIFY_CALLBACK_COLUMNS`); row order is not
    specified.
    """
    present = callbacks.collect_schema()
    columns = [name for name in _CALLBACK_LINE_TYPES if name in present]
    received = callbacks.filter(pl.col("received_at") <= as_of_literal(as_of))
    with_id = received.filter(pl.col("callback_id").is_not_null())
    # Narrow group-by: the kept delivery's read_order (decoded from the min key) and the count;
    # then the kept lines are picked by read_order, which is unique among callback lines.
    kept = with_id.group_by("order_id", "callback_id").agg(
        (then_read_order("received_at").min() % LOW_BITS).cast(pl.Int64).alias("read_order"),
        pl.len().cast(pl.Int64).alias("delivery_count"),
    )
    merged = with_id.join(kept.select("read_order", "delivery_count"), on="read_order", how="inner")
    without_id = received.filter(pl.col("callback_id").is_null()).with_columns(
        pl.lit(1, dtype=pl.Int64).alias("delivery_count")
    )
    return pl.concat(
        [merged.select(*columns, "delivery_count"), without_id.select(*columns, "delivery_count")],
        how="vertical",
    ).cast({name: EFFECTIVE_CALLBACK_SCHEMA[name] for name in (*columns, "delivery_count")})
