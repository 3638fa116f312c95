"""Which order days a run must (re)evaluate.

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

from datetime import date, datetime, timedelta

import duckdb

from orders_pipeline.lib.common.config import Settings
from orders_pipeline.lib.inputs.manifest import ensure_landing_tables
from orders_pipeline.lib.warehouse.contracts import ORDER_OUTCOMES, TOUCHED_ORDERS, UNEVALUATED_FILES
from orders_pipeline.lib.warehouse.sql import table_exists

OUTCOMES_TABLE = ORDER_OUTCOMES.qualified()


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
    if not table_exists(con, ORDER_OUTCOMES.name):
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
        fresh_files AS (SELECT kind, file FROM {UNEVALUATED_FILES.qualified()}),
        touched AS (
            SELECT order_id FROM landing.orders
            WHERE file IN (SELECT file FROM fresh_files WHERE kind = 'orders')
            UNION SELECT order_id FROM landing.callbacks
            WHERE file IN (SELECT file FROM fresh_files WHERE kind = 'callbacks')
            UNION SELECT order_id FROM {TOUCHED_ORDERS.qualified()}
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
