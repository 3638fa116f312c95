"""What each order day holds after a run, for the per-partition metadata of the outcome assets."""

from __future__ import annotations

from collections import Counter
from datetime import date

import duckdb

from orders_pipeline.lib.warehouse.contracts import DAILY_SUMMARY, ORDER_OUTCOMES


def outcome_counts_by_day(con: duckdb.DuckDBPyConnection, first: date, last: date) -> dict[date, Counter[str]]:
    """Per order day (UTC date of ``created_at``) from ``first`` to ``last``: orders per outcome, and exceptions.

    Every day of the span is in the result, with an empty counter when it has no order. The
    counter's ``exceptions`` key counts the day's orders whose action is not ``none``.
    """
    counts: dict[date, Counter[str]] = {
        date.fromordinal(day): Counter() for day in range(first.toordinal(), last.toordinal() + 1)
    }
    rows = con.execute(
        f"""
        SELECT created_at::DATE AS day, outcome, action <> 'none' AS is_exception, count(*)
        FROM {ORDER_OUTCOMES.qualified()}
        WHERE created_at::DATE BETWEEN ? AND ?
        GROUP BY ALL
        """,
        [first, last],
    ).fetchall()
    for day, outcome, is_exception, count in rows:
        counts[day][outcome] += count
        if is_exception:
            counts[day]["exceptions"] += count
    return counts


def summary_counts_by_day(con: duckdb.DuckDBPyConnection, first: date, last: date) -> dict[date, tuple[int, int]]:
    """Per order day from ``first`` to ``last``: ``daily_summary`` rows and the orders they count (0, 0 when none)."""
    counts = {date.fromordinal(day): (0, 0) for day in range(first.toordinal(), last.toordinal() + 1)}
    rows = con.execute(
        f"SELECT order_date, count(*), sum(order_count) FROM {DAILY_SUMMARY.qualified()} "
        "WHERE order_date BETWEEN ? AND ? GROUP BY ALL",
        [first, last],
    ).fetchall()
    for day, groups, orders in rows:
        counts[day] = (int(groups), int(orders))
    return counts
