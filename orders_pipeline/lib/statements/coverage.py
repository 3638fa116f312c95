"""Coverage: which statement days of which providers a run can judge orders by (docs/rules.md#coverage).

* A statement file is *for* every (provider, ``statement_date``) among its rows that exist for
  the run, of any type (a fee-only file covers its day; a file with no such row covers nothing).
  Rows dropped by the duplicate-row rule still make their file "for" their day: they exist for
  the run, they are only not counted twice.
* A statement day has *ended* when the midnight after it, in the provider's statement timezone,
  is strictly earlier than the as-of. A day is *covered* when some file is for it and it ended.
* A provider *has statements* when at least one of its rows exists for the run, on any day.

``recon.statement_coverage`` shows, per provider, statement day and currency, the files, the
rows counted (and those dropped as duplicates) and the totals per type, so finance can tie a
provider's statement to the pipeline's view of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import duckdb
import polars as pl

from orders_pipeline.lib.common.config import Settings
from orders_pipeline.lib.inputs.manifest import ensure_landing_tables
from orders_pipeline.lib.outcomes.statement_evidence import COVERED_DAY_SCHEMA
from orders_pipeline.lib.statements.effective import statement_rows_sql
from orders_pipeline.lib.warehouse.contracts import STATEMENT_COVERAGE
from orders_pipeline.lib.warehouse.sql import replace_table

COVERAGE_SCHEMA = STATEMENT_COVERAGE.polars_schema()


def day_ends_at(day: date, timezone: str) -> datetime:
    """The midnight after ``day`` in ``timezone``, as a UTC instant."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=ZoneInfo(timezone)).astimezone(UTC)


@dataclass(frozen=True)
class StatementDays:
    """The providers with statements for the run, and their covered days."""

    providers: tuple[str, ...]
    covered_days: pl.DataFrame
    """Columns :data:`~orders_pipeline.lib.outcomes.statement_evidence.COVERED_DAY_SCHEMA`."""


def _days(con: duckdb.DuckDBPyConnection, as_of: datetime, settings: Settings) -> pl.DataFrame:
    """Every (provider, statement_date) some file is for, with its files, end and whether it is covered."""
    ensure_landing_tables(con)
    days = con.sql(
        f"SELECT provider, statement_date, count(DISTINCT file)::BIGINT AS files "
        f"FROM ({statement_rows_sql()}) AS rows GROUP BY ALL ORDER BY ALL",
        params={"as_of": as_of},
    ).pl()
    ends = [
        day_ends_at(day, settings.profile(provider).statement_timezone)
        for provider, day in days.select("provider", "statement_date").iter_rows()
    ]
    return days.with_columns(
        pl.Series("day_ends_at", ends, dtype=COVERAGE_SCHEMA["day_ends_at"]),
    ).with_columns((pl.col("day_ends_at") < as_of.astimezone(UTC)).alias("covered"))


def statement_days(con: duckdb.DuckDBPyConnection, as_of: datetime, settings: Settings) -> StatementDays:
    """The providers with statements as of ``as_of``, and the days each can judge orders by."""
    days = _days(con, as_of, settings)
    return StatementDays(
        providers=tuple(sorted(days["provider"].unique().to_list())),
        covered_days=days.filter(pl.col("covered"))
        .select(list(COVERED_DAY_SCHEMA))
        .cast(pl.Schema(COVERED_DAY_SCHEMA)),
    )


def build_statement_coverage(con: duckdb.DuckDBPyConnection, as_of: datetime, settings: Settings) -> int:
    """Rebuild ``recon.statement_coverage`` for the run; returns its rows."""
    days = _days(con, as_of, settings)
    if days.is_empty():
        return replace_table(con, STATEMENT_COVERAGE, pl.DataFrame(schema=COVERAGE_SCHEMA))

    def total(kind: str) -> str:
        return f"coalesce(sum(amount_minor) FILTER (WHERE counted AND type = '{kind}'), 0)::BIGINT"

    totals = con.sql(
        f"""
        SELECT provider, statement_date, currency,
               count(*) FILTER (WHERE counted)::BIGINT AS rows,
               count(*) FILTER (WHERE NOT counted)::BIGINT AS duplicate_rows,
               count(*) FILTER (WHERE counted AND type = 'payment')::BIGINT AS payment_count,
               {total("payment")} AS payment_amount_minor,
               count(*) FILTER (WHERE counted AND type = 'refund')::BIGINT AS refund_count,
               {total("refund")} AS refund_amount_minor,
               count(*) FILTER (WHERE counted AND type = 'chargeback')::BIGINT AS chargeback_count,
               {total("chargeback")} AS chargeback_amount_minor,
               {total("fee")} AS fee_amount_minor,
               {total("payout")} AS payout_amount_minor,
               {total("adjustment")} AS adjustment_amount_minor
        FROM ({statement_rows_sql()}) AS rows
        GROUP BY ALL
        """,
        params={"as_of": as_of},
    ).pl()
    coverage = (
        totals.join(days, on=["provider", "statement_date"], how="left")
        .with_columns(pl.lit(as_of.astimezone(UTC)).alias("as_of"))
        .select(list(COVERAGE_SCHEMA))
        .cast(COVERAGE_SCHEMA)
        .sort("provider", "statement_date", "currency")
    )
    return replace_table(con, STATEMENT_COVERAGE, coverage)
