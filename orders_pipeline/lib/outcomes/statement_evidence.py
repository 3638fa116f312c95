"""What the providers' statements say about each order: its payment rows, refunds, and whether it is covered.

Shared by the outcome rules (docs/rules.md#precise-statements, docs/rules.md#coverage). Pure
Polars over the facts :mod:`orders_pipeline.lib.outcomes.rules` computes per order; the
statement rows come in already reduced to what exists for the run
(:mod:`orders_pipeline.lib.statements.effective`): ``booked_at <= as_of``, the duplicate-row
rule applied, payment, refund and chargeback rows only.

Per order (its canonical submission's provider, currency, amount and ``created_at``):

* ``_has_statements``: the provider has at least one statement row existing for the run;
* ``_payment_rows``: its payment rows of that provider (any currency);
* ``_payments_in_currency`` / ``_payment_rows_in_currency``: their sum and count in the
  order's currency; ``_payment_in_other_currency``: a payment row in another currency;
* ``_statement_refund``: a refund or chargeback row of that provider;
* ``_covered``: every statement day from the date of ``created_at`` through the date of
  ``created_at + settlement_delay`` (the provider's statement timezone) is covered.

Rows of another provider with the order's id are neither the order's nor an orphan: they
simply do not match the join on (``order_id``, ``provider``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import polars as pl

from orders_pipeline.lib.common.config import Settings
from orders_pipeline.lib.common.time import duration_micros

# The columns a batch of statement rows must have.
STATEMENT_ROW_COLUMNS: dict[str, pl.DataType] = {
    "order_id": pl.String(),
    "provider": pl.String(),
    "type": pl.String(),
    "amount_minor": pl.Int64(),
    "currency": pl.String(),
}
COVERED_DAY_SCHEMA: dict[str, pl.DataType] = {"provider": pl.String(), "statement_date": pl.Date()}


@dataclass(frozen=True)
class Statements:
    """The statement evidence of one classification batch.

    ``rows``: the batch's payment, refund and chargeback rows that exist for the run
    (:data:`STATEMENT_ROW_COLUMNS`); ``providers``: every provider with statements for the run;
    ``covered_days``: every covered (provider, statement_date) (:data:`COVERED_DAY_SCHEMA`).
    """

    rows: pl.LazyFrame
    providers: tuple[str, ...]
    covered_days: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=COVERED_DAY_SCHEMA))


def covered_runs(covered_days: pl.DataFrame) -> pl.DataFrame:
    """Each covered day with the first day of its unbroken run of covered days (per provider).

    An order is covered when the last day of its window is covered and that day's run started
    no later than the window's first day: then every day in between is covered.
    """
    if covered_days.is_empty():
        return pl.DataFrame(schema={**COVERED_DAY_SCHEMA, "_run_start": pl.Date()})
    days = covered_days.unique().sort("provider", "statement_date")
    gap = (pl.col("statement_date") - pl.col("statement_date").shift(1)).over("provider") != timedelta(days=1)
    return (
        days.with_columns(gap.fill_null(True).cum_sum().over("provider").alias("_run"))
        .with_columns(pl.col("statement_date").min().over("provider", "_run").alias("_run_start"))
        .select("provider", "statement_date", "_run_start")
    )


def _local_date(instant: pl.Expr, provider: pl.Expr, settings: Settings) -> pl.Expr:
    """The date of a UTC instant in each row's provider's statement timezone."""
    default_zone = settings.profile("default").statement_timezone
    by_zone: dict[str, list[str]] = {}
    for name, profile in settings.providers.items():
        if name != "default" and profile.statement_timezone != default_zone:
            by_zone.setdefault(profile.statement_timezone, []).append(name)
    local = instant.dt.convert_time_zone(default_zone).dt.date()
    for zone, names in sorted(by_zone.items()):
        local = pl.when(provider.is_in(names)).then(instant.dt.convert_time_zone(zone).dt.date()).otherwise(local)
    return local


def _settlement_delay_us(provider: pl.Expr, settings: Settings) -> pl.Expr:
    mapping = {name: duration_micros(profile.settlement_delay) for name, profile in settings.providers.items()}
    default = duration_micros(settings.profile("default").settlement_delay)
    return provider.replace_strict(mapping, default=default, return_dtype=pl.Int64)


def with_statement_evidence(facts: pl.LazyFrame, statements: Statements, settings: Settings) -> pl.LazyFrame:
    """``facts`` (one row per order: order_id, provider, currency, created_at) plus the statement columns."""
    rows = statements.rows.select(list(STATEMENT_ROW_COLUMNS)).cast(pl.Schema(STATEMENT_ROW_COLUMNS))
    is_payment = pl.col("type") == "payment"
    per_currency = rows.group_by("order_id", "provider", "currency").agg(
        is_payment.sum().cast(pl.Int64).alias("_rows"),
        pl.when(is_payment).then(pl.col("amount_minor")).sum().cast(pl.Int64).alias("_sum"),
        pl.col("type").is_in(["refund", "chargeback"]).any().alias("_refund"),
    )
    same_currency = pl.col("_row_currency") == pl.col("currency")
    per_order = (
        facts.select("order_id", "provider", "currency")
        .join(per_currency.rename({"currency": "_row_currency"}), on=["order_id", "provider"], how="inner")
        .group_by("order_id")
        .agg(
            pl.col("_rows").sum().alias("_payment_rows"),
            pl.when(same_currency).then(pl.col("_rows")).otherwise(0).sum().alias("_payment_rows_in_currency"),
            pl.when(same_currency).then(pl.col("_sum")).otherwise(0).sum().alias("_payments_in_currency"),
            (pl.when(same_currency).then(0).otherwise(pl.col("_rows")).sum() > 0).alias("_payment_in_other_currency"),
            pl.col("_refund").any().alias("_statement_refund"),
        )
    )
    provider = pl.col("provider")
    window_end = pl.col("created_at") + pl.duration(microseconds=_settlement_delay_us(provider, settings))
    runs = covered_runs(statements.covered_days).lazy()
    has = pl.col("_has_statements")
    return (
        facts.join(per_order, on="order_id", how="left")
        .with_columns(
            _local_date(pl.col("created_at"), provider, settings).alias("_window_first"),
            _local_date(window_end, provider, settings).alias("_window_last"),
        )
        .join(runs, left_on=["provider", "_window_last"], right_on=["provider", "statement_date"], how="left")
        .with_columns(provider.is_in(list(statements.providers)).alias("_has_statements"))
        # Evidence only counts for a provider that has statements (the (S) rules are inert otherwise).
        .with_columns(
            (has & (pl.col("_run_start") <= pl.col("_window_first"))).fill_null(False).alias("_covered"),
            pl.when(has).then(pl.col("_payment_rows")).fill_null(0).alias("_payment_rows"),
            pl.when(has).then(pl.col("_payment_rows_in_currency")).fill_null(0).alias("_payment_rows_in_currency"),
            pl.when(has).then(pl.col("_payments_in_currency")).alias("_payments_in_currency"),
            (has & pl.col("_payment_in_other_currency")).fill_null(False).alias("_payment_in_other_currency"),
            (has & pl.col("_statement_refund")).fill_null(False).alias("_statement_refund"),
        )
        .drop("_window_first", "_window_last", "_run_start")
    )


def without_statement_evidence(facts: pl.LazyFrame) -> pl.LazyFrame:
    """``facts`` with the statement columns of a run where no provider has statements."""
    return facts.with_columns(
        pl.lit(False).alias("_has_statements"),
        pl.lit(False).alias("_covered"),
        pl.lit(0, pl.Int64).alias("_payment_rows"),
        pl.lit(0, pl.Int64).alias("_payment_rows_in_currency"),
        pl.lit(None, pl.Int64).alias("_payments_in_currency"),
        pl.lit(False).alias("_payment_in_other_currency"),
        pl.lit(False).alias("_statement_refund"),
    )
