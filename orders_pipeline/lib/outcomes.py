"""The outcome of every order as of a time: the SPEC's rules 1-8, its flags and its action.

Pure Polars: each function takes LazyFrames and returns one LazyFrame; the caller collects
the plan once. Nothing loops over rows: the work is two sorts, a few group-bys and one join,
so it scales with the number of lines.

Decisions where the SPEC is silent (the lead's, written down here so the code is the record):

- An order exists as of ``as_of`` when at least one of its lines has ``created_at <= as_of``;
  later lines of the same ``order_id`` do not exist for the run and are not submissions.
- Canonical submission: the earliest ``created_at``, ties the smallest ``read_order``. It
  gives the order's merchant, provider (so its profile), amount, currency and ``created_at``.
- ``submission_count`` counts the existing lines. ``duplicate_submission``: more than one line
  and all agree on (merchant, provider, amount_minor, currency); ``conflicting_submission``:
  more than one line and some differ in any of those.
- Callbacks of an order are its :func:`effective_callbacks` (received ``<= as_of``,
  re-deliveries of one ``callback_id`` merged). ``callback_count`` counts them, all statuses.
- Terminal order is (``event_time``, ``received_at``, ``read_order``); ``read_order`` is unique,
  so the order is total. "A success followed by a later failed/reversed" means any success
  strictly before any failed/reversed in that order, not only adjacent ones.
- ``amount_mismatch``: the last terminal is a success whose currency differs from the order's
  (always, whatever the amounts), or whose amount differs by more than
  ``settings.amount_tolerance_minor``. A success without amount or currency (ingestion does not
  land one) is treated as a mismatch: it cannot be confirmed.
- ``failed``: the last terminal is ``failed``, or ``reversed`` with no success before it.
- Durations are compared exactly, in microseconds: ``age == sla`` is ``pending``,
  ``age == retry_horizon`` is ``overdue``.
- A callback from another provider counts for the outcome and adds ``provider_mismatch``.
- ``duplicate_callback``: a terminal effective callback with ``delivery_count >= 2``, or two or
  more effective terminal callbacks with the same status. Pending never counts.
- ``late_callback``: the earliest *received* terminal callback has
  ``received_at > created_at + sla``.
- ``callback_before_order``: any effective callback (any status) with
  ``event_time < created_at - clock_skew_allowance`` (strict).
- ``acknowledged``: at least one pending callback and no terminal one.
- ``terminal_status`` / ``terminal_received_at`` / ``callback_amount_minor`` /
  ``callback_currency`` describe the last terminal callback in terminal order (null if none).
- ``latency_seconds``: whole seconds, truncated toward zero, from ``created_at`` to the earliest
  received terminal callback (negative when it came before the order; null if none).
  ``age_seconds``: whole seconds, truncated, of ``as_of - created_at``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from orders_pipeline.lib import schema
from orders_pipeline.lib.config import Settings

# An effective callback: one landed callback line, re-deliveries of its callback_id merged in.
EFFECTIVE_CALLBACK_SCHEMA: dict[str, pl.DataType] = {
    **schema.CALLBACK_LINE_SCHEMA,
    "delivery_count": pl.Int64(),
}

_US_PER_SECOND = 1_000_000


def as_of_literal(as_of: datetime) -> pl.Expr:
    """``as_of`` as a UTC microsecond timestamp literal; a naive datetime is refused."""
    if as_of.tzinfo is None or as_of.utcoffset() is None:
        raise ValueError(f"as_of must be timezone-aware, got naive {as_of.isoformat()}")
    return pl.lit(as_of.astimezone(UTC), dtype=schema.TIMESTAMP)


def _micros(value: timedelta) -> int:
    """A timedelta as whole microseconds, exactly (no float)."""
    return (value.days * 86_400 + value.seconds) * _US_PER_SECOND + value.microseconds


def whole_seconds(micros: pl.Expr) -> pl.Expr:
    """Microseconds (Int64) to whole seconds, truncated toward zero (Polars ``//`` floors)."""
    return (
        pl.when(micros >= 0)
        .then(micros // _US_PER_SECOND)
        .otherwise(-((-micros) // _US_PER_SECOND))
        .cast(pl.Int64)
    )


def _span_us(end: pl.Expr, start: pl.Expr) -> pl.Expr:
    """``end - start`` in microseconds (Int64), exact."""
    return (end - start).dt.total_microseconds().cast(pl.Int64)


def _profile_us(provider: pl.Expr, settings: Settings, attribute: str) -> pl.Expr:
    """Per-row profile duration (``sla`` or ``retry_horizon``) in microseconds; unknown -> default."""
    mapping = {name: _micros(getattr(profile, attribute)) for name, profile in settings.providers.items()}
    default = _micros(getattr(settings.profile("default"), attribute))
    return provider.replace_strict(mapping, default=default, return_dtype=pl.Int64)


def effective_callbacks(callbacks: pl.LazyFrame, as_of: datetime) -> pl.LazyFrame:
    """Callbacks that exist as of ``as_of``, with re-deliveries merged.

    Keeps callback lines with ``received_at <= as_of`` (a callback received exactly at
    ``as_of`` counts). Lines sharing (``order_id``, ``callback_id``) are one event delivered
    several times: the earliest received delivery is kept (ties: smallest ``read_order``) and
    ``delivery_count`` says how many deliveries it stands for. Lines without ``callback_id``
    are never merged (``delivery_count`` 1). Columns: :data:`EFFECTIVE_CALLBACK_SCHEMA`.
    """
    columns = list(schema.CALLBACK_LINE_SCHEMA)
    received = callbacks.filter(pl.col("received_at") <= as_of_literal(as_of))
    with_id = (
        received.filter(pl.col("callback_id").is_not_null())
        .group_by("order_id", "callback_id")
        .agg(
            pl.exclude("order_id", "callback_id").sort_by("received_at", "read_order").first(),
            pl.len().cast(pl.Int64).alias("delivery_count"),
        )
    )
    without_id = received.filter(pl.col("callback_id").is_null()).with_columns(
        pl.lit(1, dtype=pl.Int64).alias("delivery_count")
    )
    return pl.concat(
        [with_id.select(*columns, "delivery_count"), without_id.select(*columns, "delivery_count")],
        how="vertical",
    ).cast(EFFECTIVE_CALLBACK_SCHEMA)


def _canonical_orders(orders: pl.LazyFrame, as_of: datetime) -> pl.LazyFrame:
    """One row per order existing as of ``as_of``: its canonical submission and submission facts."""
    keys = ("merchant_id", "provider", "amount_minor", "currency")
    existing = orders.filter(pl.col("created_at") <= as_of_literal(as_of))
    by_submission = ("created_at", "read_order")
    return existing.group_by("order_id").agg(
        *(pl.col(name).sort_by(*by_submission).first() for name in (*keys, "created_at")),
        pl.len().cast(pl.Int64).alias("submission_count"),
        # Lines all agree on the 4-tuple iff every field takes a single value.
        pl.any_horizontal(*(pl.col(name).min() != pl.col(name).max() for name in keys)).alias("_submissions_differ"),
    )


def _callback_facts(effective: pl.LazyFrame) -> pl.LazyFrame:
    """Per ``order_id``: what the outcome and flag rules need from its effective callbacks."""
    status = pl.col("status")
    terminal = status.is_in(schema.TERMINAL_STATUSES)
    # A unique position in terminal order, so that "before" and "last" are exact.
    positioned = effective.sort("event_time", "received_at", "read_order").with_row_index("_pos")
    pos = pl.col("_pos")

    def last_terminal(name: str) -> pl.Expr:
        return pl.col(name).filter(terminal).sort_by(pos.filter(terminal)).last()

    return positioned.group_by("order_id").agg(
        pl.len().cast(pl.Int64).alias("callback_count"),
        terminal.any().alias("_has_terminal"),
        (status == "pending").any().alias("_has_pending"),
        pos.filter(status == "success").min().alias("_first_success"),
        pos.filter(status == "failed").max().alias("_last_failed"),
        pos.filter(status == "reversed").max().alias("_last_reversed"),
        last_terminal("status").alias("terminal_status"),
        last_terminal("received_at").alias("terminal_received_at"),
        last_terminal("amount_minor").alias("callback_amount_minor"),
        last_terminal("currency").alias("callback_currency"),
        pl.col("received_at").filter(terminal).min().alias("_first_terminal_received"),
        (
            (terminal & (pl.col("delivery_count") >= 2)).any()
            | pl.any_horizontal(*((status == s).sum() >= 2 for s in schema.TERMINAL_STATUSES))
        ).alias("_duplicate_callback"),
        pl.col("event_time").min().alias("_min_event_time"),
        pl.col("provider").min().alias("_min_provider"),
        pl.col("provider").max().alias("_max_provider"),
    )


def classify_orders(
    orders: pl.LazyFrame, callbacks: pl.LazyFrame, as_of: datetime, settings: Settings
) -> pl.LazyFrame:
    """One row per order existing as of ``as_of``, with outcome, flags and action.

    ``orders`` are landed order lines (:data:`schema.ORDER_LINE_SCHEMA`), ``callbacks`` landed
    callback lines (:data:`schema.CALLBACK_LINE_SCHEMA`). Returns
    :data:`schema.ORDER_OUTCOME_SCHEMA` sorted by ``order_id``. The rules and every choice made
    where the SPEC is silent are in this module's docstring.
    """
    as_of_lit = as_of_literal(as_of)
    canonical = _canonical_orders(orders, as_of)
    facts = _callback_facts(effective_callbacks(callbacks, as_of))
    joined = canonical.join(facts, on="order_id", how="left")

    sla_us = _profile_us(pl.col("provider"), settings, "sla")
    horizon_us = _profile_us(pl.col("provider"), settings, "retry_horizon")
    age_us = _span_us(as_of_lit, pl.col("created_at"))
    has_terminal = pl.col("_has_terminal").fill_null(False)
    last = pl.col("terminal_status")
    success_then_failed = (pl.col("_first_success") < pl.col("_last_failed")).fill_null(False)
    success_then_reversed = (pl.col("_first_success") < pl.col("_last_reversed")).fill_null(False)
    amount_differs = (
        pl.col("callback_currency").ne_missing(pl.col("currency"))
        | ((pl.col("callback_amount_minor") - pl.col("amount_minor")).abs() > settings.amount_tolerance_minor).fill_null(
            True
        )
    )
    outcome = (
        pl.when(success_then_failed)
        .then(pl.lit("conflict"))
        .when(success_then_reversed)
        .then(pl.lit("reversed"))
        .when((last == "success") & amount_differs)
        .then(pl.lit("amount_mismatch"))
        .when(last == "success")
        .then(pl.lit("confirmed"))
        .when(last.is_in(["failed", "reversed"]))
        .then(pl.lit("failed"))
        .when(age_us > horizon_us)
        .then(pl.lit("missing"))
        .when(age_us > sla_us)
        .then(pl.lit("overdue"))
        .otherwise(pl.lit("pending"))
    )

    multiple = pl.col("submission_count") > 1
    first_terminal_after_us = _span_us(pl.col("_first_terminal_received"), pl.col("created_at"))
    conditions = {
        "duplicate_submission": multiple & ~pl.col("_submissions_differ"),
        "conflicting_submission": multiple & pl.col("_submissions_differ"),
        "duplicate_callback": pl.col("_duplicate_callback").fill_null(False),
        "late_callback": (first_terminal_after_us > sla_us).fill_null(False),
        "callback_before_order": (
            _span_us(pl.col("_min_event_time"), pl.col("created_at")) < -_micros(settings.clock_skew_allowance)
        ).fill_null(False),
        "acknowledged": pl.col("_has_pending").fill_null(False) & ~has_terminal,
        "provider_mismatch": (
            (pl.col("_min_provider") != pl.col("provider")) | (pl.col("_max_provider") != pl.col("provider"))
        ).fill_null(False),
    }
    assert tuple(conditions) == schema.FLAGS
    flags = pl.concat_list(
        [pl.when(cond).then(pl.lit(name, dtype=pl.String)).otherwise(pl.lit(None, dtype=pl.String)) for name, cond in conditions.items()]
    ).list.drop_nulls()
    action = (
        pl.when(conditions["conflicting_submission"])
        .then(pl.lit(schema.CONFLICTING_SUBMISSION_ACTION))
        .otherwise(pl.col("outcome").replace_strict(schema.ACTION_BY_OUTCOME, return_dtype=pl.String))
    )

    return (
        joined.with_columns(
            outcome.alias("outcome"),
            flags.alias("flags"),
            pl.col("callback_count").fill_null(0),
            whole_seconds(first_terminal_after_us).alias("latency_seconds"),
            whole_seconds(age_us).alias("age_seconds"),
            as_of_lit.alias("as_of"),
        )
        .with_columns(action.alias("action"))
        .select(list(schema.ORDER_OUTCOME_SCHEMA))
        .cast(schema.ORDER_OUTCOME_SCHEMA)
        .sort("order_id")
    )
