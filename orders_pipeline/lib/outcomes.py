"""The outcome of every order as of a time: the SPEC's rules 1-8, its flags and its action.

Pure Polars: each function takes LazyFrames and returns one LazyFrame; the caller collects
the plan once. Nothing loops over rows: the work is a group-by to merge re-deliveries, one
rank, one group-by over order lines and callbacks together, and a sort by ``order_id``, so it
grows with the number of lines. Collect with the default (streaming) engine: on these
group-bys the in-memory engine is several times slower.

Input assumptions (the ingestion layer guarantees them): ``read_order`` is unique within a log
kind and ``0 <= read_order < 2**63`` (landing packs the file rank into its high bits);
timestamps are UTC microseconds. Orderings by (timestamp, ``read_order``) are computed as one
exact Int128 key, not as a multi-column sort.

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


def duration_micros(value: timedelta) -> int:
    """Return a timedelta as whole microseconds, exactly (no float)."""
    return (value.days * 86_400 + value.seconds) * _US_PER_SECOND + value.microseconds


def whole_seconds(micros: pl.Expr) -> pl.Expr:
    """Microseconds (Int64) to whole seconds, truncated toward zero (Polars ``//`` floors)."""
    return pl.when(micros >= 0).then(micros // _US_PER_SECOND).otherwise(-((-micros) // _US_PER_SECOND)).cast(pl.Int64)


def _span_us(end: pl.Expr, start: pl.Expr) -> pl.Expr:
    """``end - start`` in microseconds (Int64), exact."""
    return (end - start).dt.total_microseconds().cast(pl.Int64)


def _profile_us(provider: pl.Expr, settings: Settings, attribute: str) -> pl.Expr:
    """Per-row profile duration (``sla`` or ``retry_horizon``) in microseconds; unknown -> default."""
    mapping = {name: duration_micros(getattr(profile, attribute)) for name, profile in settings.providers.items()}
    default = duration_micros(getattr(settings.profile("default"), attribute))
    return provider.replace_strict(mapping, default=default, return_dtype=pl.Int64)


# Int128 keys hold a microsecond timestamp in the high 64 bits and a non-negative Int64
# (read_order, or a rank) in the low 64 bits, so (timestamp, tiebreak) compares as one integer.
_LOW_BITS = pl.lit(1 << 64, dtype=pl.Int128)


def _then_read_order(timestamp: str) -> pl.Expr:
    """Build an exact Int128 sort key for (``timestamp``, ``read_order``).

    ``timestamp`` in microseconds shifted left by 64 bits, plus ``read_order``: comparing keys
    compares the pair lexicographically, ``key % 2**64`` gives ``read_order`` back and
    ``key // 2**64`` the timestamp. One Int128 column is far cheaper to min/max/rank than a
    two-column sort.
    """
    return pl.col(timestamp).dt.epoch("us").cast(pl.Int128) * _LOW_BITS + pl.col("read_order").cast(pl.Int128)


def effective_callbacks(callbacks: pl.LazyFrame, as_of: datetime) -> pl.LazyFrame:
    """Callbacks that exist as of ``as_of``, with re-deliveries merged.

    Keeps callback lines with ``received_at <= as_of`` (a callback received exactly at
    ``as_of`` counts). Lines sharing (``order_id``, ``callback_id``) are one event delivered
    several times: the earliest received delivery is kept (ties: smallest ``read_order``) and
    ``delivery_count`` says how many deliveries it stands for. Lines without ``callback_id``
    are never merged (``delivery_count`` 1). Columns: :data:`EFFECTIVE_CALLBACK_SCHEMA`, or
    the input's columns of it plus ``delivery_count`` when the input is narrower (at least
    :data:`CLASSIFY_CALLBACK_COLUMNS`); row order is not specified.
    """
    present = callbacks.collect_schema()
    columns = [name for name in schema.CALLBACK_LINE_SCHEMA if name in present]
    received = callbacks.filter(pl.col("received_at") <= as_of_literal(as_of))
    with_id = received.filter(pl.col("callback_id").is_not_null())
    # Narrow group-by: the kept delivery's read_order (decoded from the min key) and the count;
    # then the kept lines are picked by read_order, which is unique among callback lines.
    kept = with_id.group_by("order_id", "callback_id").agg(
        (_then_read_order("received_at").min() % _LOW_BITS).cast(pl.Int64).alias("read_order"),
        pl.len().cast(pl.Int64).alias("delivery_count"),
    )
    merged = with_id.join(kept.select("read_order", "delivery_count"), on="read_order", how="inner")
    without_id = received.filter(pl.col("callback_id").is_null()).with_columns(
        pl.lit(1, dtype=pl.Int64).alias("delivery_count")
    )
    return pl.concat(
        [merged.select(*columns, "delivery_count"), without_id.select(*columns, "delivery_count")],
        how="vertical",
    ).cast({name: EFFECTIVE_CALLBACK_SCHEMA[name] for name in (*columns, "delivery_count")})


_SUBMISSION_FIELDS = ("merchant_id", "provider", "amount_minor", "currency")
# The line columns classify_orders reads. Callers may pass only these: fetching the other
# columns of millions of lines (ids, file names, sequence numbers) from the warehouse is waste.
CLASSIFY_ORDER_COLUMNS: dict[str, pl.DataType] = {
    name: schema.ORDER_LINE_SCHEMA[name] for name in ("order_id", *_SUBMISSION_FIELDS, "created_at", "read_order")
}
CLASSIFY_CALLBACK_COLUMNS: dict[str, pl.DataType] = {
    name: schema.CALLBACK_LINE_SCHEMA[name]
    for name in (
        "order_id", "provider", "status", "amount_minor", "currency", "received_at", "event_time", "callback_id",
        "read_order",
    )
}
# Low-cardinality labels go through the group-by as Categorical: min/max/min_by then work on
# integer codes (exact: one code per distinct string) and are cast back to String after.
_LABELS = ("merchant_id", "provider", "currency")
_LABELS_OUT = (*_LABELS, "terminal_status", "callback_currency", "_min_cb_provider", "_max_cb_provider")
_FLAG_BITS = {flag: 1 << bit for bit, flag in enumerate(schema.FLAGS)}
# Every flag combination as a list in schema.FLAGS order, indexed by its bit mask: building
# the list per row is then one gather instead of a list construction per row.
_FLAG_LISTS = pl.Series(
    "flags",
    [[flag for flag, bit in _FLAG_BITS.items() if mask & bit] for mask in range(1 << len(schema.FLAGS))],
    dtype=pl.List(pl.String()),
)


def _order_rows(orders: pl.LazyFrame, as_of: datetime) -> pl.LazyFrame:
    """Existing order lines, with ``_submission``: their key in (created_at, read_order) order."""
    return orders.filter(pl.col("created_at") <= as_of_literal(as_of)).select(
        "order_id",
        *(pl.col(name).cast(pl.Categorical) if name in _LABELS else pl.col(name) for name in _SUBMISSION_FIELDS),
        "created_at",
        _then_read_order("created_at").alias("_submission"),
    )


def _callback_rows(callbacks: pl.LazyFrame, as_of: datetime) -> pl.LazyFrame:
    """Effective callbacks as row-wise helper columns, so the group-by only runs plain aggregations.

    ``_pos`` is an exact Int128 key of terminal order (event_time, received_at, read_order):
    event_time in microseconds shifted left by 64 bits, plus the callback's rank by
    (received_at, read_order). It is unique, so "before" and "last" are integer comparisons.
    """
    status = pl.col("status")
    terminal = status.is_in(schema.TERMINAL_STATUSES)
    pos = pl.col("_pos")
    return (
        effective_callbacks(callbacks, as_of)
        .with_columns(
            (
                pl.col("event_time").dt.epoch("us").cast(pl.Int128) * _LOW_BITS
                + _then_read_order("received_at").rank("ordinal").cast(pl.Int128)
            ).alias("_pos")
        )
        .select(
            "order_id",
            pl.lit(1, dtype=pl.Int64).alias("_callback"),
            pl.when(terminal).then(pos).alias("_terminal_pos"),
            pl.when(status == "success").then(pos).alias("_success_pos"),
            pl.when(status == "failed").then(pos).alias("_failed_pos"),
            pl.when(status == "reversed").then(pos).alias("_reversed_pos"),
            pl.when(terminal).then(pl.col("received_at")).alias("_terminal_received"),
            status.cast(pl.Categorical).alias("_status"),
            pl.col("received_at").alias("_received_at"),
            pl.col("amount_minor").alias("_cb_amount_minor"),
            pl.col("currency").cast(pl.Categorical).alias("_cb_currency"),
            pl.col("provider").cast(pl.Categorical).alias("_cb_provider"),
            pl.col("event_time").alias("_event_time"),
            (status == "pending").alias("_pending"),
            # Deliveries per terminal status: >= 2 means one callback_id delivered twice or two
            # distinct callbacks with that status, i.e. exactly the duplicate_callback rule.
            *(
                pl.when(status == s).then(pl.col("delivery_count")).alias(f"_deliveries_{s}")
                for s in schema.TERMINAL_STATUSES
            ),
        )
    )


def _order_facts(orders: pl.LazyFrame, callbacks: pl.LazyFrame, as_of: datetime) -> pl.LazyFrame:
    """Per existing order: canonical submission, submission facts and callback facts.

    Order lines and effective callbacks go through one group-by on ``order_id`` (a diagonal
    concat: each side's columns are null on the other side's rows, and aggregations skip
    nulls), which saves a join on the string key.
    """
    last = "_terminal_pos"
    return (
        pl.concat([_order_rows(orders, as_of), _callback_rows(callbacks, as_of)], how="diagonal")
        .group_by("order_id")
        .agg(
            *(pl.col(name).min_by("_submission") for name in _SUBMISSION_FIELDS),
            # The smallest key is the canonical line's: its high bits are its created_at.
            (pl.col("_submission").min() // _LOW_BITS).alias("_created_us"),
            pl.col("_submission").count().cast(pl.Int64).alias("submission_count"),
            # Lines all agree on the 4-tuple iff every field takes a single value.
            *(pl.col(name).min().alias(f"_min_{name}") for name in _SUBMISSION_FIELDS),
            *(pl.col(name).max().alias(f"_max_{name}") for name in _SUBMISSION_FIELDS),
            pl.col("_callback").count().cast(pl.Int64).alias("callback_count"),
            pl.col("_pending").any().alias("_has_pending"),
            pl.col("_success_pos").min().alias("_first_success"),
            pl.col("_failed_pos").max().alias("_last_failed"),
            pl.col("_reversed_pos").max().alias("_last_reversed"),
            pl.col("_status").max_by(last).alias("terminal_status"),
            pl.col("_received_at").max_by(last).alias("terminal_received_at"),
            pl.col("_cb_amount_minor").max_by(last).alias("callback_amount_minor"),
            pl.col("_cb_currency").max_by(last).alias("callback_currency"),
            pl.col("_terminal_received").min().alias("_first_terminal_received"),
            *(pl.col(f"_deliveries_{s}").sum().alias(f"_deliveries_{s}") for s in schema.TERMINAL_STATUSES),
            pl.col("_event_time").min().alias("_min_event_time"),
            pl.col("_cb_provider").min().alias("_min_cb_provider"),
            pl.col("_cb_provider").max().alias("_max_cb_provider"),
        )
        .filter(pl.col("submission_count") > 0)
        .with_columns(pl.col("_created_us").cast(pl.Int64).cast(schema.TIMESTAMP).alias("created_at"))
        .with_columns(pl.col(name).cast(pl.String) for name in _LABELS_OUT)
    )


def classify_orders(orders: pl.LazyFrame, callbacks: pl.LazyFrame, as_of: datetime, settings: Settings) -> pl.LazyFrame:
    """One row per order existing as of ``as_of``, with outcome, flags and action.

    ``orders`` are landed order lines (:data:`schema.ORDER_LINE_SCHEMA`), ``callbacks`` landed
    callback lines (:data:`schema.CALLBACK_LINE_SCHEMA`); either may hold only the columns in
    :data:`CLASSIFY_ORDER_COLUMNS` / :data:`CLASSIFY_CALLBACK_COLUMNS`. Returns
    :data:`schema.ORDER_OUTCOME_SCHEMA` sorted by ``order_id``. The rules and every choice made
    where the SPEC is silent are in this module's docstring.
    """
    as_of_lit = as_of_literal(as_of)
    sla_us = _profile_us(pl.col("provider"), settings, "sla")
    horizon_us = _profile_us(pl.col("provider"), settings, "retry_horizon")
    age_us = _span_us(as_of_lit, pl.col("created_at"))
    has_terminal = pl.col("terminal_status").is_not_null()
    last = pl.col("terminal_status")
    success_then_failed = (pl.col("_first_success") < pl.col("_last_failed")).fill_null(False)
    success_then_reversed = (pl.col("_first_success") < pl.col("_last_reversed")).fill_null(False)
    amount_differs = pl.col("callback_currency").ne_missing(pl.col("currency")) | (
        (pl.col("callback_amount_minor") - pl.col("amount_minor")).abs() > settings.amount_tolerance_minor
    ).fill_null(True)
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

    several = pl.col("submission_count") > 1
    differ = pl.any_horizontal(*(pl.col(f"_min_{name}") != pl.col(f"_max_{name}") for name in _SUBMISSION_FIELDS))
    first_terminal_after_us = _span_us(pl.col("_first_terminal_received"), pl.col("created_at"))
    provider = pl.col("provider")
    conditions = {
        "duplicate_submission": several & ~differ,
        "conflicting_submission": several & differ,
        "duplicate_callback": pl.any_horizontal(
            *((pl.col(f"_deliveries_{s}") >= 2).fill_null(False) for s in schema.TERMINAL_STATUSES)
        ),
        "late_callback": (first_terminal_after_us > sla_us).fill_null(False),
        "callback_before_order": (
            _span_us(pl.col("_min_event_time"), pl.col("created_at")) < -duration_micros(settings.clock_skew_allowance)
        ).fill_null(False),
        "acknowledged": pl.col("_has_pending").fill_null(False) & ~has_terminal,
        "provider_mismatch": (
            (pl.col("_min_cb_provider") != provider) | (pl.col("_max_cb_provider") != provider)
        ).fill_null(False),
    }
    if tuple(conditions) != schema.FLAGS:  # pragma: no cover - guards the bit mask layout
        raise AssertionError("flag conditions must follow schema.FLAGS")
    flag_mask = pl.sum_horizontal(
        *(
            pl.when(cond).then(pl.lit(_FLAG_BITS[name], dtype=pl.Int64)).otherwise(0)
            for name, cond in conditions.items()
        )
    )
    action = (
        pl.when(pl.col("_conflicting"))
        .then(pl.lit(schema.CONFLICTING_SUBMISSION_ACTION))
        .otherwise(pl.col("outcome").replace_strict(schema.ACTION_BY_OUTCOME, return_dtype=pl.String))
    )

    return (
        _order_facts(orders, callbacks, as_of)
        .with_columns(
            outcome.alias("outcome"),
            flag_mask.alias("_flag_mask"),
            conditions["conflicting_submission"].alias("_conflicting"),
            pl.col("callback_count").fill_null(0),
            whole_seconds(first_terminal_after_us).alias("latency_seconds"),
            whole_seconds(age_us).alias("age_seconds"),
            as_of_lit.alias("as_of"),
        )
        .with_columns(action.alias("action"))
        # Sort while flags are still an integer mask: moving a list column is the costly part.
        .select(*(name if name != "flags" else "_flag_mask" for name in schema.ORDER_OUTCOME_SCHEMA))
        .sort("order_id")
        .with_columns(pl.lit(_FLAG_LISTS).gather(pl.col("_flag_mask")).alias("_flag_mask"))
        .rename({"_flag_mask": "flags"})
        .cast(schema.ORDER_OUTCOME_SCHEMA)
    )
