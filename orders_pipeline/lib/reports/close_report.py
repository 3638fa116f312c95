"""The finance close report: the figures of one order day, read from the published warehouse.

Everything here is gathered, not rendered: :func:`close_report` reads the warehouse read-only
and returns a :class:`CloseReport` of small frozen dataclasses. Amounts stay integer minor
units all the way through; only the renderers (``close_render``, ``close_export``) turn them
into major units, exactly (:func:`~orders_pipeline.lib.reports.formatting.major_units`).

The day is an order day in the configured timezone: the orders whose ``created_at`` falls
between its two midnights there. With the default timezone (UTC) this is the day of
``recon.daily_summary``. The default day is the one before the last run's as-of, which is
"yesterday" when the pipeline runs daily. What each section means: docs/close-report.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb

from orders_pipeline.lib.common.errors import ReportError
from orders_pipeline.lib.common.vocabulary import OUTCOMES
from orders_pipeline.lib.reports.published import open_published
from orders_pipeline.lib.warehouse.sql import fetch_first, table_exists

MIX_DAYS = 14
"""Days of the outcome-mix chart, ending on the report day."""

# (label, lower bound inclusive, upper bound exclusive) in seconds of age at the as-of.
AGE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("< 1 day", 0, 86_400),
    ("1-3 days", 86_400, 3 * 86_400),
    ("3-7 days", 3 * 86_400, 7 * 86_400),
    ("7-30 days", 7 * 86_400, 30 * 86_400),
    ("30+ days", 30 * 86_400, None),
)


@dataclass(frozen=True)
class OutcomeFigure:
    """Orders of one outcome and their amount (minor units of the row's currency)."""

    outcome: str
    orders: int
    amount_minor: int


@dataclass(frozen=True)
class TotalsRow:
    """One currency and provider on the day (``provider`` is ``None`` for the currency's total)."""

    currency: str
    provider: str | None
    orders: int
    amount_minor: int
    outcomes: tuple[OutcomeFigure, ...]  # every outcome, in rule order (zero where none)

    def outcome(self, name: str) -> OutcomeFigure:
        """The figure of one outcome."""
        return next(figure for figure in self.outcomes if figure.outcome == name)


@dataclass(frozen=True)
class ActionRow:
    """The day's orders that need one action, per currency and provider, with how old they are."""

    currency: str
    provider: str
    action: str
    orders: int
    amount_minor: int
    oldest_age_seconds: int
    median_age_seconds: int


@dataclass(frozen=True)
class AgeBucketRow:
    """The whole open work queue (every exception, any order day) in one currency and age bucket."""

    currency: str
    bucket: str
    orders: int
    amount_minor: int


@dataclass(frozen=True)
class ChangeRow:
    """Orders whose outcome changed in the last run, grouped by order day, currency, provider and change."""

    order_day: date
    currency: str
    provider: str
    previous_outcome: str
    outcome: str
    orders: int
    amount_minor: int


@dataclass(frozen=True)
class OutageRow:
    """A callback outage that overlaps the day (its times are the whole outage, not clipped)."""

    provider: str
    start: datetime
    end: datetime
    duration_seconds: int
    ongoing: bool
    orders_created: int
    orders_overdue: int
    orders_missing: int


@dataclass(frozen=True)
class LogGapRow:
    """A sequence gap or repeat whose last line before it (else first after it) was written on the day."""

    kind: str
    source: str
    gap_type: str
    seq_from: int
    seq_to: int
    line_count: int
    after_line_at: datetime | None  # the last line before the gap (a repeated line itself)
    before_line_at: datetime | None  # the first line after the gap


@dataclass(frozen=True)
class LatencyRow:
    """Seconds from order to first terminal callback, for the day's orders of one provider that got one."""

    provider: str
    orders: int
    p50_seconds: int
    p90_seconds: int
    p99_seconds: int
    max_seconds: int


@dataclass(frozen=True)
class MixDay:
    """Orders per outcome on one order day (for the 14-day chart)."""

    day: date
    counts: tuple[tuple[str, int], ...]  # every outcome, in rule order

    @property
    def orders(self) -> int:
        """Orders of the day."""
        return sum(count for _, count in self.counts)


@dataclass(frozen=True)
class CoverageRow:
    """The provider's statement for the day, in one currency (``recon.statement_coverage``)."""

    provider: str
    currency: str
    covered: bool
    files: int
    rows: int
    payment_count: int
    payment_amount_minor: int
    refund_count: int
    refund_amount_minor: int
    chargeback_count: int
    chargeback_amount_minor: int
    fee_amount_minor: int
    payout_amount_minor: int


@dataclass(frozen=True)
class UnsettledRow:
    """The day's orders paid by callback whose statement payment is not (yet) there, or differs."""

    currency: str
    provider: str
    statement_status: str  # awaiting (not due yet), not_found (unsettled), amount_differs
    orders: int
    amount_minor: int


@dataclass(frozen=True)
class OrphanStatementRow:
    """Statement rows of the day for orders nobody logged."""

    currency: str
    provider: str
    type: str
    rows: int
    amount_minor: int


@dataclass(frozen=True)
class StatementFigures:
    """What the providers' statements say about the day (only when the warehouse has statements)."""

    providers: tuple[str, ...]  # providers with any statement in the warehouse
    coverage: tuple[CoverageRow, ...]
    unsettled: tuple[UnsettledRow, ...]
    orphans: tuple[OrphanStatementRow, ...]


@dataclass(frozen=True)
class CloseReport:
    """Every figure of the close report of one order day."""

    day: date
    timezone: str
    day_start: datetime  # UTC
    day_end: datetime  # UTC, exclusive
    as_of: datetime
    run_id: str
    previous_as_of: datetime | None
    totals: tuple[TotalsRow, ...]  # per currency: its total row first, then one row per provider
    actions: tuple[ActionRow, ...]
    age_buckets: tuple[AgeBucketRow, ...]
    changes: tuple[ChangeRow, ...]
    outages: tuple[OutageRow, ...]
    log_gaps: tuple[LogGapRow, ...]
    latency: tuple[LatencyRow, ...]
    mix: tuple[MixDay, ...]
    statements: StatementFigures | None

    @property
    def currency_totals(self) -> tuple[TotalsRow, ...]:
        """The total row of each currency."""
        return tuple(row for row in self.totals if row.provider is None)


def default_day(as_of: datetime, timezone: str) -> date:
    """The day before the as-of's date in ``timezone``: yesterday, for a run made today."""
    return as_of.astimezone(ZoneInfo(timezone)).date() - timedelta(days=1)


def day_window(day: date, timezone: str) -> tuple[datetime, datetime]:
    """The day's two midnights in ``timezone``, as UTC instants (the end is exclusive)."""
    zone = ZoneInfo(timezone)
    start = datetime.combine(day, time(0), zone)
    end = datetime.combine(day + timedelta(days=1), time(0), zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def latest_as_of(warehouse_path: Path) -> datetime:
    """The as-of of the last published run."""
    with open_published(warehouse_path) as con:
        return _last_run(con, warehouse_path)[1]


def close_report(warehouse_path: Path, day: date | None = None, timezone: str = "UTC") -> CloseReport:
    """Gather the close report of ``day`` (default: the day before the last run's as-of).

    Raises :class:`ReportError` (one line: what is wrong, how to fix it) when the warehouse is
    missing or has no orders on that day.
    """
    with open_published(warehouse_path) as con:
        run_id, as_of, previous_as_of = _last_run(con, warehouse_path)
        day = day or default_day(as_of, timezone)
        start, end = day_window(day, timezone)
        window = [start, end]
        totals = _totals(con, window)
        if not totals:
            raise ReportError(_no_orders_message(con, warehouse_path, day, timezone))
        return CloseReport(
            day=day,
            timezone=timezone,
            day_start=start,
            day_end=end,
            as_of=as_of,
            run_id=run_id,
            previous_as_of=previous_as_of,
            totals=totals,
            actions=_actions(con, window),
            age_buckets=_age_buckets(con),
            changes=_changes(con, run_id, timezone),
            outages=_outages(con, window),
            log_gaps=_log_gaps(con, window),
            latency=_latency(con, window),
            mix=_mix(con, day, timezone),
            statements=_statements(con, day, window),
        )


def _last_run(con: duckdb.DuckDBPyConnection, path: Path) -> tuple[str, datetime, datetime | None]:
    runs = con.execute("SELECT run_id, as_of FROM recon.runs ORDER BY finished_at DESC, run_id DESC LIMIT 2").fetchall()
    if not runs:
        raise ReportError(f"{path} has no published run yet; run `orders-pipeline reconcile` first")
    previous = runs[1][1] if len(runs) > 1 else None
    return runs[0][0], runs[0][1], previous


def _no_orders_message(con: duckdb.DuckDBPyConnection, path: Path, day: date, timezone: str) -> str:
    span = fetch_first(
        con,
        "SELECT min(timezone(?, created_at))::DATE, max(timezone(?, created_at))::DATE FROM recon.order_outcomes",
        [timezone, timezone],
    )
    if span is None or span[0] is None:
        return f"{path} holds no orders; reconcile some order logs first"
    return (
        f"no orders created on {day} ({timezone}) in {path}; its order days run from {span[0]} to {span[1]}: "
        f"pass --date in that range"
    )


_DAY = "created_at >= ? AND created_at < ?"


def _totals(con: duckdb.DuckDBPyConnection, window: list[datetime]) -> tuple[TotalsRow, ...]:
    rows = con.execute(
        f"SELECT currency, provider, outcome, count(*), sum(amount_minor)::BIGINT FROM recon.order_outcomes "
        f"WHERE {_DAY} GROUP BY ALL",
        window,
    ).fetchall()
    cells: dict[tuple[str, str | None], dict[str, tuple[int, int]]] = {}
    for currency, provider, outcome, count, amount in rows:
        for key in ((currency, provider), (currency, None)):
            before = cells.setdefault(key, {}).get(outcome, (0, 0))
            cells[key][outcome] = (before[0] + count, before[1] + amount)
    # Each currency's total row first, then its providers by name.
    ordered = sorted(cells, key=lambda key: (key[0], key[1] is not None, key[1] or ""))
    result = []
    for currency, provider in ordered:
        by_outcome = cells[(currency, provider)]
        figures = tuple(OutcomeFigure(o, *by_outcome.get(o, (0, 0))) for o in OUTCOMES)
        result.append(
            TotalsRow(
                currency,
                provider,
                sum(f.orders for f in figures),
                sum(f.amount_minor for f in figures),
                figures,
            )
        )
    return tuple(result)


def _actions(con: duckdb.DuckDBPyConnection, window: list[datetime]) -> tuple[ActionRow, ...]:
    rows = con.execute(
        f"SELECT currency, provider, action, count(*), sum(amount_minor)::BIGINT, max(age_seconds), "
        f"quantile_disc(age_seconds, 0.5) FROM recon.exceptions WHERE {_DAY} "
        f"GROUP BY ALL ORDER BY min(priority), action, currency, provider",
        window,
    ).fetchall()
    return tuple(ActionRow(*row) for row in rows)


def _age_buckets(con: duckdb.DuckDBPyConnection) -> tuple[AgeBucketRow, ...]:
    cases = " ".join(
        f"WHEN age_seconds < {upper} THEN {index}" for index, (_, _, upper) in enumerate(AGE_BUCKETS) if upper
    )
    rows = con.execute(
        f"SELECT currency, CASE {cases} ELSE {len(AGE_BUCKETS) - 1} END AS bucket, count(*), "
        f"sum(amount_minor)::BIGINT FROM recon.exceptions GROUP BY ALL ORDER BY currency, bucket"
    ).fetchall()
    return tuple(
        AgeBucketRow(currency, AGE_BUCKETS[bucket][0], count, amount) for currency, bucket, count, amount in rows
    )


def _changes(con: duckdb.DuckDBPyConnection, run_id: str, timezone: str) -> tuple[ChangeRow, ...]:
    rows = con.execute(
        "SELECT timezone(?, o.created_at)::DATE AS order_day, c.currency, c.provider, c.previous_outcome, c.outcome, "
        "count(*), sum(c.amount_minor)::BIGINT FROM recon.outcome_changes c "
        "LEFT JOIN recon.order_outcomes o USING (order_id) WHERE c.run_id = ? GROUP BY ALL ORDER BY ALL",
        [timezone, run_id],
    ).fetchall()
    return tuple(ChangeRow(*row) for row in rows)


def _outages(con: duckdb.DuckDBPyConnection, window: list[datetime]) -> tuple[OutageRow, ...]:
    rows = con.execute(
        "SELECT provider, outage_start, outage_end, duration_seconds, ongoing, orders_created, orders_overdue, "
        "orders_missing FROM recon.callback_outages WHERE outage_start < ? AND outage_end > ? "
        "ORDER BY outage_start, provider",
        [window[1], window[0]],
    ).fetchall()
    return tuple(OutageRow(*row) for row in rows)


def _log_gaps(con: duckdb.DuckDBPyConnection, window: list[datetime]) -> tuple[LogGapRow, ...]:
    if not (table_exists(con, "recon.order_lines") and table_exists(con, "recon.callback_lines")):
        return ()
    # A gap has no time of its own: it is placed by the lines around it (one time per seq).
    rows = con.execute(
        """
        WITH lines AS (
            SELECT 'orders' AS kind, source, seq, min(created_at) AS at FROM recon.order_lines
            WHERE seq IS NOT NULL GROUP BY ALL
            UNION ALL
            SELECT 'callbacks', source, seq, min(received_at) FROM recon.callback_lines
            WHERE seq IS NOT NULL GROUP BY ALL
        ), placed AS (
            SELECT g.kind, g.source, g.gap_type, g.seq_from, g.seq_to, g.line_count, b.at AS before_at, a.at AS after_at
            FROM recon.log_gaps g
            ASOF LEFT JOIN lines b ON g.kind = b.kind AND g.source = b.source AND g.seq_from >= b.seq
            ASOF LEFT JOIN lines a ON g.kind = a.kind AND g.source = a.source AND g.seq_to < a.seq
        )
        SELECT * FROM placed WHERE coalesce(before_at, after_at) >= ? AND coalesce(before_at, after_at) < ?
        ORDER BY coalesce(before_at, after_at), kind, source, seq_from
        """,
        window,
    ).fetchall()
    return tuple(LogGapRow(*row) for row in rows)


def _latency(con: duckdb.DuckDBPyConnection, window: list[datetime]) -> tuple[LatencyRow, ...]:
    # quantile_disc: an observed latency (whole seconds), never an interpolation.
    rows = con.execute(
        f"SELECT provider, count(latency_seconds), quantile_disc(latency_seconds, 0.5), "
        f"quantile_disc(latency_seconds, 0.9), quantile_disc(latency_seconds, 0.99), max(latency_seconds) "
        f"FROM recon.order_outcomes WHERE {_DAY} AND latency_seconds IS NOT NULL GROUP BY ALL ORDER BY provider",
        window,
    ).fetchall()
    return tuple(LatencyRow(*row) for row in rows)


def _mix(con: duckdb.DuckDBPyConnection, day: date, timezone: str) -> tuple[MixDay, ...]:
    first = day - timedelta(days=MIX_DAYS - 1)
    start, _ = day_window(first, timezone)
    _, end = day_window(day, timezone)
    rows = con.execute(
        "SELECT timezone(?, created_at)::DATE, outcome, count(*) FROM recon.order_outcomes "
        "WHERE created_at >= ? AND created_at < ? GROUP BY ALL",
        [timezone, start, end],
    ).fetchall()
    counts: dict[date, dict[str, int]] = {}
    for order_day, outcome, count in rows:
        counts.setdefault(order_day, {})[outcome] = count
    days = (first + timedelta(days=i) for i in range(MIX_DAYS))
    return tuple(MixDay(d, tuple((o, counts.get(d, {}).get(o, 0)) for o in OUTCOMES)) for d in days)


def _statements(con: duckdb.DuckDBPyConnection, day: date, window: list[datetime]) -> StatementFigures | None:
    providers = tuple(
        row[0] for row in con.execute("SELECT DISTINCT provider FROM recon.statement_coverage ORDER BY 1").fetchall()
    )
    if not providers:
        return None
    coverage = con.execute(
        "SELECT provider, currency, covered, files, rows, payment_count, payment_amount_minor, refund_count, "
        "refund_amount_minor, chargeback_count, chargeback_amount_minor, fee_amount_minor, payout_amount_minor "
        "FROM recon.statement_coverage WHERE statement_date = ? ORDER BY provider, currency",
        [day],
    ).fetchall()
    unsettled = con.execute(
        f"SELECT currency, provider, statement_status, count(*), sum(amount_minor)::BIGINT FROM recon.order_outcomes "
        f"WHERE {_DAY} AND terminal_status = 'success' "
        f"AND statement_status IN ('awaiting', 'not_found', 'amount_differs') GROUP BY ALL ORDER BY ALL",
        window,
    ).fetchall()
    orphans = con.execute(
        "SELECT currency, provider, type, count(*), sum(amount_minor)::BIGINT FROM recon.orphan_statement_lines "
        "WHERE statement_date = ? GROUP BY ALL ORDER BY ALL",
        [day],
    ).fetchall()
    return StatementFigures(
        providers,
        tuple(CoverageRow(*row) for row in coverage),
        tuple(UnsettledRow(*row) for row in unsettled),
        tuple(OrphanStatementRow(*row) for row in orphans),
    )
