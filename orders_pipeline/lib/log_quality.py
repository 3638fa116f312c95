"""Gaps and duplicates in the logs: sequence gaps per log stream, and callback outages.

Business anomalies, never blocking: they are published and raised as warnings. Pure Polars,
LazyFrame in and out.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from orders_pipeline.lib import schema
from orders_pipeline.lib.config import Settings
from orders_pipeline.lib.outcomes import as_of_literal, duration_micros, whole_seconds

GAP_MISSING = "missing"
GAP_REPEATED = "repeated"

# One row per run of absent seq values ("missing": seq_from..seq_to, line_count = how many
# are absent) or per seq seen on more than one line ("repeated": seq_from = seq_to,
# line_count = how many lines carried it), per log kind and source.
LOG_GAP_SCHEMA: dict[str, pl.DataType] = {
    "kind": pl.String(),
    "source": pl.String(),
    "gap_type": pl.String(),
    "seq_from": pl.Int64(),
    "seq_to": pl.Int64(),
    "line_count": pl.Int64(),
}

# How log_gaps rows are sorted.
LOG_GAP_ORDER = ("kind", "source", "seq_from", "gap_type")

# One row per outage: a stretch longer than settings.outages.min_gap with no callback received
# from the provider while at least settings.outages.min_orders of its orders were created.
CALLBACK_OUTAGE_SCHEMA: dict[str, pl.DataType] = {
    "provider": pl.String(),
    "outage_start": schema.TIMESTAMP,
    "outage_end": schema.TIMESTAMP,
    "duration_seconds": pl.Int64(),
    "ongoing": pl.Boolean(),
    "orders_created": pl.Int64(),
    "orders_overdue": pl.Int64(),
    "orders_missing": pl.Int64(),
}
# How callback_outages rows are sorted.
CALLBACK_OUTAGE_ORDER = ("provider", "outage_start")


def log_gaps(order_lines: pl.LazyFrame, callback_lines: pl.LazyFrame, rejected_lines: pl.LazyFrame) -> pl.LazyFrame:
    """Missing and repeated ``seq`` values per (log kind, source).

    Every line that carries both ``source`` and ``seq`` counts as seen: landed order lines
    (kind ``orders``), landed callback lines (kind ``callbacks``) and rejected lines (their
    ``kind``), because a rejected line still arrived and is not a gap. Lines of skipped
    duplicate files never reach this function, so they are not repeats.

    - ``missing``: each run of absent seq values strictly between the smallest and the largest
      seq seen (no gap is claimed before the first or after the last seq seen).
    - ``repeated``: each seq seen on two or more lines.

    Output: :data:`LOG_GAP_SCHEMA`, sorted by kind, source, seq_from, gap_type.
    """
    seen = pl.concat(
        [
            order_lines.select(pl.lit(schema.ORDERS).alias("kind"), "source", "seq"),
            callback_lines.select(pl.lit(schema.CALLBACKS).alias("kind"), "source", "seq"),
            rejected_lines.select("kind", "source", "seq"),
        ],
        how="vertical",
    ).filter(pl.col("source").is_not_null() & pl.col("seq").is_not_null())
    per_seq = seen.group_by("kind", "source", "seq").agg(pl.len().cast(pl.Int64).alias("line_count"))
    repeated = per_seq.filter(pl.col("line_count") > 1).select(
        "kind",
        "source",
        pl.lit(GAP_REPEATED).alias("gap_type"),
        pl.col("seq").alias("seq_from"),
        pl.col("seq").alias("seq_to"),
        "line_count",
    )
    previous = pl.col("seq").shift(1).over("kind", "source", order_by="seq")
    missing = (
        per_seq.with_columns(previous.alias("_previous"))
        .filter((pl.col("seq") - pl.col("_previous")) > 1)
        .select(
            "kind",
            "source",
            pl.lit(GAP_MISSING).alias("gap_type"),
            (pl.col("_previous") + 1).alias("seq_from"),
            (pl.col("seq") - 1).alias("seq_to"),
            (pl.col("seq") - pl.col("_previous") - 1).alias("line_count"),
        )
    )
    return (
        pl.concat([missing, repeated], how="vertical")
        .cast(LOG_GAP_SCHEMA)
        .sort(*LOG_GAP_ORDER)
    )


def callback_outages(
    callbacks: pl.LazyFrame,
    outcomes: pl.LazyFrame,
    as_of: datetime,
    settings: Settings,
) -> pl.LazyFrame:
    """Stretches with no callback from a provider while its orders kept being created.

    Per provider, the candidate windows are:

    - between two consecutive callback receipts of the provider (any landed callback line
      with ``received_at <= as_of``, orphans and re-deliveries included: each shows the
      provider's callbacks were flowing), grouped by the *callback's* provider;
    - from its last receipt to ``as_of`` (``ongoing``);
    - from its first order's ``created_at`` to its first receipt, when orders came first; or
      to ``as_of`` (``ongoing``) when the provider sent no callback at all.

    A window is an outage when it is longer than ``settings.outages.min_gap`` (exactly, in
    microseconds) and at least ``settings.outages.min_orders`` orders of the provider were
    created inside it: strictly after its start and strictly before its end, except that a
    window opened by the first order includes that order (and any created at the same time).
    Orders are the existing orders of ``outcomes`` (canonical provider and ``created_at``),
    whose outcome gives ``orders_overdue`` and ``orders_missing``.

    Output: :data:`CALLBACK_OUTAGE_SCHEMA`, sorted by provider, outage_start.
    """
    as_of_lit = as_of_literal(as_of)
    min_gap_us = duration_micros(settings.outages.min_gap)

    receipts = (
        callbacks.filter(pl.col("received_at") <= as_of_lit)
        .select("provider", pl.col("received_at").alias("start"))
        .unique()
    )
    between = receipts.with_columns(
        pl.col("start").shift(-1).over("provider", order_by="start").alias("end"),
    ).select(
        "provider",
        "start",
        pl.col("end").fill_null(as_of_lit).alias("end"),
        pl.col("end").is_null().alias("ongoing"),
        pl.lit(False).alias("_opened_by_order"),
    )
    order_times = outcomes.select("provider", "created_at", "outcome")
    first_order = order_times.group_by("provider").agg(pl.col("created_at").min().alias("start"))
    first_receipt = receipts.group_by("provider").agg(pl.col("start").min().alias("_first_receipt"))
    leading = (
        first_order.join(first_receipt, on="provider", how="left")
        .filter(pl.col("_first_receipt").is_null() | (pl.col("start") < pl.col("_first_receipt")))
        .select(
            "provider",
            "start",
            pl.col("_first_receipt").fill_null(as_of_lit).alias("end"),
            pl.col("_first_receipt").is_null().alias("ongoing"),
            pl.lit(True).alias("_opened_by_order"),
        )
    )
    windows = (
        pl.concat([between, leading], how="vertical")
        .with_columns((pl.col("end") - pl.col("start")).dt.total_microseconds().cast(pl.Int64).alias("_length_us"))
        .filter(pl.col("_length_us") > min_gap_us)
    )

    # Windows of one provider never overlap, so an order can only lie in the latest window
    # that starts at or before it: an as-of join finds it, then the bounds are checked.
    inside = (
        order_times.sort("created_at")
        .join_asof(
            windows.select("provider", "start", "end", "_opened_by_order").sort("start"),
            left_on="created_at",
            right_on="start",
            by="provider",
            strategy="backward",
            check_sortedness=False,  # both sides are sorted on the asof key just above
        )
        .filter(
            pl.col("start").is_not_null()
            & ((pl.col("created_at") > pl.col("start")) | pl.col("_opened_by_order"))
            & (pl.col("created_at") < pl.col("end"))
        )
        .group_by("provider", "start")
        .agg(
            pl.len().cast(pl.Int64).alias("orders_created"),
            (pl.col("outcome") == "overdue").sum().cast(pl.Int64).alias("orders_overdue"),
            (pl.col("outcome") == "missing").sum().cast(pl.Int64).alias("orders_missing"),
        )
    )
    return (
        windows.join(inside, on=["provider", "start"], how="left")
        .with_columns(pl.col("orders_created", "orders_overdue", "orders_missing").fill_null(0))
        .filter(pl.col("orders_created") >= settings.outages.min_orders)
        .select(
            "provider",
            pl.col("start").alias("outage_start"),
            pl.col("end").alias("outage_end"),
            whole_seconds(pl.col("_length_us")).alias("duration_seconds"),
            "ongoing",
            "orders_created",
            "orders_overdue",
            "orders_missing",
        )
        .cast(CALLBACK_OUTAGE_SCHEMA)
        .sort(*CALLBACK_OUTAGE_ORDER)
    )


def merge_sorted(parts: list[pl.LazyFrame], table_schema: dict[str, pl.DataType], order: tuple[str, ...]) -> pl.DataFrame:
    """Collect the results of disjoint groups (log streams, providers) into one table, sorted by ``order``."""
    if not parts:
        return pl.DataFrame(schema=table_schema)
    return pl.concat([part.collect() for part in parts], how="vertical").sort(*order)
