"""Sequence gaps: where lines carry ``source`` and ``seq``, the ranges a log shipper dropped or sent twice.

A business anomaly, never blocking: published and raised as a warning. Gaps are per log
stream, so streams are read a chunk of whole streams at a time (bounded memory).
"""

from __future__ import annotations

import duckdb
import polars as pl

from orders_pipeline.lib.common.batching import merge_sorted, pack_groups
from orders_pipeline.lib.common.vocabulary import CALLBACKS, ORDERS
from orders_pipeline.lib.inputs.envelopes.linking import UNLINKED
from orders_pipeline.lib.warehouse.contracts import CALLBACK_LINES, LOG_GAPS, ORDER_LINES, PUBLISHED_REJECTED_LINES
from orders_pipeline.lib.warehouse.sql import replace_table

GAP_MISSING = "missing"
GAP_REPEATED = "repeated"
GAP_BAD_SEQ = "bad_seq"
# bad_seq rows show this many of the distinct values as written (a shipper writes one or two).
_BAD_VALUES_SHOWN = 5
LOG_GAP_SCHEMA = LOG_GAPS.polars_schema()
# How log_gaps rows are sorted.
LOG_GAP_ORDER = ("kind", "source", "seq_from", "gap_type")


def build_log_gaps(con: duckdb.DuckDBPyConnection) -> int:
    """Rebuild ``recon.log_gaps`` from the landed and rejected lines; returns its rows."""
    # Unlinked callback records are counted among the rejected lines (envelopes.linking).
    callbacks = f"(SELECT * FROM {CALLBACK_LINES.qualified()} WHERE NOT ({UNLINKED}))"
    tables = (ORDER_LINES.qualified(), callbacks, PUBLISHED_REJECTED_LINES.qualified())
    sizes = con.execute(
        "SELECT source, count(*) FROM ("
        + " UNION ALL ".join(f"SELECT source FROM {table} WHERE seq IS NOT NULL" for table in tables)
        + ") WHERE source IS NOT NULL GROUP BY source ORDER BY source"
    ).fetchall()
    sequenced = "WHERE source IS NOT NULL AND seq IS NOT NULL AND source IN (SELECT unnest($sources))"
    parts = []
    for sources in pack_groups(sizes):
        params = {"sources": sources}
        orders, callbacks, rejected = (
            con.sql(f"SELECT {columns} FROM {table} {sequenced}", params=params).pl().lazy()
            for columns, table in zip(("source, seq", "source, seq", "kind, source, seq"), tables, strict=True)
        )
        parts.append(log_gaps(orders, callbacks, rejected))
    bad = (
        con.sql(f"SELECT source, bad_seq FROM {table} WHERE source IS NOT NULL AND bad_seq IS NOT NULL").pl().lazy()
        for table in tables[:2]
    )
    parts.append(bad_seq_values(*bad))
    return replace_table(con, LOG_GAPS, merge_sorted(parts, LOG_GAP_SCHEMA, LOG_GAP_ORDER))


def bad_seq_values(order_lines: pl.LazyFrame, callback_lines: pl.LazyFrame) -> pl.LazyFrame:
    """One ``bad_seq`` row per (log kind, source) whose landed lines carry a seq that is not a non-negative integer.

    Such a seq counts as absent for gap detection (the line is landed, never rejected for it);
    this row says how many lines had one and which values (at most five, most frequent first),
    so a log shipper writing ``"seq": "n/a"`` is seen.
    """
    lines = pl.concat(
        [
            order_lines.select(pl.lit(ORDERS).alias("kind"), "source", "bad_seq"),
            callback_lines.select(pl.lit(CALLBACKS).alias("kind"), "source", "bad_seq"),
        ],
        how="vertical",
    ).filter(pl.col("source").is_not_null() & pl.col("bad_seq").is_not_null())
    per_value = lines.group_by("kind", "source", "bad_seq").agg(pl.len().alias("n"))
    return (
        per_value.sort("n", "bad_seq", descending=[True, False])
        .group_by("kind", "source", maintain_order=True)
        .agg(pl.col("n").sum().alias("line_count"), pl.col("bad_seq").head(_BAD_VALUES_SHOWN).alias("bad_values"))
        .select(
            "kind",
            "source",
            pl.lit(GAP_BAD_SEQ).alias("gap_type"),
            pl.lit(None, pl.Int64).alias("seq_from"),
            pl.lit(None, pl.Int64).alias("seq_to"),
            "line_count",
            "bad_values",
        )
        .cast(LOG_GAP_SCHEMA)
    )


def log_gaps(order_lines: pl.LazyFrame, callback_lines: pl.LazyFrame, rejected_lines: pl.LazyFrame) -> pl.LazyFrame:
    """Missing and repeated ``seq`` values per (log kind, source).

    Every line that carries both ``source`` and ``seq`` counts as seen: landed order lines
    (kind ``orders``), landed callback lines (kind ``callbacks``) and rejected lines (their
    ``kind``), because a rejected line still arrived and is not a gap. Lines of skipped
    duplicate files never reach this function, so they are not repeats.

    - ``missing``: each run of absent seq values strictly between the smallest and the largest
      seq seen (no gap is claimed before the first or after the last seq seen).
    - ``repeated``: each seq seen on two or more lines.

    (``bad_seq`` rows, lines whose seq could not be read, come from :func:`bad_seq_values`.)

    Output: ``recon.log_gaps`` rows, sorted by kind, source, seq_from, gap_type.
    """
    seen = pl.concat(
        [
            order_lines.select(pl.lit(ORDERS).alias("kind"), "source", "seq"),
            callback_lines.select(pl.lit(CALLBACKS).alias("kind"), "source", "seq"),
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
    repeated, missing = (
        frame.with_columns(pl.lit(None, pl.List(pl.String)).alias("bad_values")) for frame in (repeated, missing)
    )
    return pl.concat([missing, repeated], how="vertical").cast(LOG_GAP_SCHEMA).sort(*LOG_GAP_ORDER)
