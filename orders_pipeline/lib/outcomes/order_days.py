"""Which order days a run must (re)evaluate.

Outcomes are partitioned by order day (UTC date of the order's canonical ``created_at``). A
day is *final* once it was evaluated at an as-of past its end plus the longest provider
retry horizon: every order of that day was then past its horizon, so no callback will come
by itself and its outcome cannot change without new input. A run evaluates:

* days with orders that were never evaluated;
* days that are not final yet (the live window);
* days of orders touched by input since the last evaluation: lines of files landed since, and
  orders whose lines were removed (a file changed or disappeared); statement rows count as
  the lines of the orders they name;
* the order days a statement day covers, when that day arrived or lost rows since the last
  evaluation: the days of the orders of its provider created from ``settlement_delay`` before
  the statement day's start up to its end (statement timezone), i.e. exactly the orders whose
  coverage window holds that day;
* every day of a provider whose orders were evaluated with statements and now have none, or
  the other way round (its first statement arrived, or its last was removed);
* days evaluated at an as-of later than this run's (a re-run "as of" an earlier time);
* days the caller asks for (a Dagster partition range: a backfill).

Other days keep the outcomes (and the ``as_of``) of the run that last evaluated them. An
outcomes table written before a column was added to its contract is evaluated whole.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import duckdb

from orders_pipeline.lib.common.config import Settings
from orders_pipeline.lib.inputs.manifest import ensure_landing_tables
from orders_pipeline.lib.warehouse.contracts import (
    ORDER_OUTCOMES,
    STATEMENT_LINES,
    TOUCHED_ORDERS,
    TOUCHED_STATEMENT_DAYS,
    UNEVALUATED_FILES,
)
from orders_pipeline.lib.warehouse.sql import table_exists

OUTCOMES_TABLE = ORDER_OUTCOMES.qualified()


def longest_retry_horizon(settings: Settings) -> timedelta:
    """The longest retry horizon of any provider profile (what makes a day final)."""
    return max(profile.retry_horizon for profile in settings.providers.values())


def live_window(as_of: datetime, settings: Settings) -> tuple[date, date]:
    """The days whose orders can still change by themselves as of ``as_of``."""
    return (as_of - longest_retry_horizon(settings)).date(), as_of.date()


def covered_order_window(day: date, settings: Settings, provider: str) -> tuple[datetime, datetime]:
    """The UTC span of ``created_at`` of the orders whose coverage window holds statement ``day``.

    An order's window runs from the date of ``created_at`` to the date of ``created_at +
    settlement_delay`` (statement timezone): it holds ``day`` exactly when ``created_at`` is at
    least the day's start minus the delay and before the day's end.
    """
    profile = settings.profile(provider)
    zone = ZoneInfo(profile.statement_timezone)
    start = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return start - profile.settlement_delay, end


def _statement_windows(con: duckdb.DuckDBPyConnection, settings: Settings) -> list[dict]:
    """The created_at spans, per provider, of the orders the statement days that arrived or changed cover."""
    days = con.execute(
        f"""
        SELECT DISTINCT provider, statement_date FROM {STATEMENT_LINES.qualified()}
        WHERE file IN (SELECT file FROM {UNEVALUATED_FILES.qualified()} WHERE kind = 'statements')
        UNION SELECT provider, statement_date FROM {TOUCHED_STATEMENT_DAYS.qualified()}
        ORDER BY ALL
        """
    ).fetchall()
    windows = []
    for provider, day in days:
        start, end = covered_order_window(day, settings, provider)
        windows.append({"provider": provider, "created_from": start, "created_before": end})
    return windows


def _outcomes_are_current(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the outcomes table has every column of its contract (else it is rebuilt whole)."""
    schema, name = ORDER_OUTCOMES.name.split(".")
    present = {
        row[0]
        for row in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND table_name = ?", [schema, name]
        ).fetchall()
    }
    return set(ORDER_OUTCOMES.column_names) <= present


def days_to_evaluate(
    con: duckdb.DuckDBPyConnection,
    as_of: datetime,
    settings: Settings,
    requested: tuple[date, date] | None = None,
    statement_providers: tuple[str, ...] = (),
) -> list[date] | None:
    """The order days this run must evaluate; ``None`` means every day (nothing evaluated yet).

    ``statement_providers``: the providers with statements for this run.
    """
    if not table_exists(con, ORDER_OUTCOMES.name) or not _outcomes_are_current(con):
        return None
    ensure_landing_tables(con)
    horizon_us = int(longest_retry_horizon(settings) / timedelta(microseconds=1))
    first, last = requested or (date.max, date.min)
    windows = _statement_windows(con, settings)
    by_window = (
        """
        UNION SELECT DISTINCT o.created_at::DATE
        FROM landing.orders AS o, (SELECT unnest($windows, recursive := true)) AS w
        WHERE o.created_at <= $as_of AND o.provider = w.provider
          AND o.created_at >= w.created_from AND o.created_at < w.created_before
        """
        if windows
        else ""
    )
    rows = con.execute(
        f"""
        WITH canon AS (
            SELECT order_id, min(created_at)::DATE AS day FROM landing.orders
            WHERE created_at <= $as_of GROUP BY order_id
        ),
        statement_providers AS (SELECT unnest($statement_providers::VARCHAR[]) AS provider),
        switched AS (
            -- providers that gained or lost their statements since their orders were evaluated
            (SELECT provider FROM statement_providers
             EXCEPT SELECT DISTINCT provider FROM {OUTCOMES_TABLE} WHERE statement_status <> 'none')
            UNION
            (SELECT DISTINCT provider FROM {OUTCOMES_TABLE} WHERE statement_status <> 'none'
             EXCEPT SELECT provider FROM statement_providers)
        ),
        evaluated AS (SELECT created_at::DATE AS day, min(as_of) AS first_as_of, max(as_of) AS last_as_of
                      FROM {OUTCOMES_TABLE} GROUP BY 1),
        fresh_files AS (SELECT kind, file FROM {UNEVALUATED_FILES.qualified()}),
        touched AS (
            SELECT order_id FROM landing.orders
            WHERE file IN (SELECT file FROM fresh_files WHERE kind = 'orders')
            UNION SELECT order_id FROM landing.callbacks
            WHERE file IN (SELECT file FROM fresh_files WHERE kind = 'callbacks')
            UNION SELECT order_id FROM {STATEMENT_LINES.qualified()}
            WHERE file IN (SELECT file FROM fresh_files WHERE kind = 'statements') AND order_id IS NOT NULL
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
        UNION SELECT DISTINCT created_at::DATE FROM landing.orders
              WHERE created_at <= $as_of AND provider IN (SELECT provider FROM switched)
        UNION SELECT DISTINCT created_at::DATE FROM {OUTCOMES_TABLE} WHERE provider IN (SELECT provider FROM switched)
        {by_window}
        ORDER BY 1
        """,
        {
            "as_of": as_of,
            "horizon": horizon_us,
            "first": first,
            "last": last,
            "statement_providers": list(statement_providers),
            **({"windows": windows} if windows else {}),
        },
    ).fetchall()
    return [row[0] for row in rows]
