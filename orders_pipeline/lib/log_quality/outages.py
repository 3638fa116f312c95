"""Callback outages: stretches with no callback from a provider while its orders kept being created.

A business anomaly, never blocking. Outages are per provider, so providers are read a chunk of
whole providers at a time (bounded memory).
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import polars as pl

from orders_pipeline.lib.common.batching import merge_sorted, pack_groups
from orders_pipeline.lib.common.config import Settings
from orders_pipeline.lib.common.time import as_of_literal, duration_micros, whole_seconds
from orders_pipeline.lib.inputs.envelopes.linking import UNLINKED
from orders_pipeline.lib.warehouse.contracts import CALLBACK_LINES, CALLBACK_OUTAGES, ORDER_OUTCOMES
from orders_pipeline.lib.warehouse.sql import replace_table

CALLBACK_OUTAGE_SCHEMA = CALLBACK_OUTAGES.polars_schema()
# How callback_outages rows are sorted.
CALLBACK_OUTAGE_ORDER = ("provider", "outage_start")


def build_callback_outages(con: duckdb.DuckDBPyConnection, as_of: datetime, settings: Settings) -> int:
    """Rebuild ``recon.callback_outages`` from the landed callbacks and the outcomes; returns its rows."""
    # An unlinked callback record is rejected: not a callback received (envelopes.linking).
    callbacks = f"(SELECT * FROM {CALLBACK_LINES.qualified()} WHERE NOT ({UNLINKED}))"
    outcomes = ORDER_OUTCOMES.qualified()
    sizes = con.execute(
        f"SELECT provider, count(*) FROM (SELECT provider FROM {callbacks} UNION ALL SELECT provider FROM {outcomes}) "
        "GROUP BY provider ORDER BY provider"
    ).fetchall()
    chosen = "WHERE provider IN (SELECT unnest($providers))"
    parts = [
        callback_outages(
            con.sql(f"SELECT provider, received_at FROM {callbacks} {chosen}", params={"providers": group}).pl().lazy(),
            con.sql(f"SELECT provider, created_at, outcome FROM {outcomes} {chosen}", params={"providers": group})
            .pl()
            .lazy(),
            as_of,
            settings,
        )
        for group in pack_groups(sizes)
    ]
    return replace_table(con, CALLBACK_OUTAGES, merge_sorted(parts, CALLBACK_OUTAGE_SCHEMA, CALLBACK_OUTAGE_ORDER))


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

    Output: ``recon.callback_outages`` rows, sorted by provider, outage_start.
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
