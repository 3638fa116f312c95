"""The outcome of every order as of a time: the outcome rules, the reason flags and the action.

The rules are docs/rules.md#outcomes, #flags and #actions: all eleven rules when the order's
provider has statements, and without them rules 1 (first case), 2, 4, 5, 6, 9, 10 and 11. What
the statements say about an order is :mod:`.statement_evidence`; when no provider has
statements the plan is the one of a pipeline without statements, plus two constant columns.

Pure Polars: each function takes LazyFrames and returns one LazyFrame; the caller collects
the plan once. Nothing loops over rows: the work is a group-by to merge re-deliveries, one
rank, one group-by over order lines and callbacks together, and a sort by ``order_id``, so it
grows with the number of lines. Collect with the default (streaming) engine: on these
group-bys the in-memory engine is several times slower.

Input assumptions (the ingestion layer guarantees them): ``read_order`` is unique within a log
kind and ``0 <= read_order < 2**63`` (landing packs the file rank into its high bits);
timestamps are UTC microseconds. Orderings by (timestamp, ``read_order``) are computed as one
exact Int128 key, not as a multi-column sort.

Decisions where the rules are silent (written down here so the code is the record):

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

Statements (the (S) rules, docs/rules.md#precise-statements):

- "The statement holds a payment" means at least one payment row of the order's provider
  with its ``order_id`` (any currency, any statement day); "covered" is
  :func:`~orders_pipeline.lib.outcomes.statement_evidence.with_statement_evidence`'s.
- Rule 1, second case, and the ``statement_conflict`` flag: the last terminal callback is
  ``failed``, or ``reversed`` with no success before it, and the statement holds a payment.
- ``statement_amount_minor``: the sum of the payment rows in the order's currency; null when
  there is none in that currency (also when the only payment rows are in another currency:
  the status then says ``amount_differs``).
- ``statement_status``: ``none`` without statements for the provider; with payment rows
  ``matched`` when all are in the order's currency and their sum is within the tolerance of
  the order's amount, else ``amount_differs``; without payment rows ``not_found`` when
  covered, else ``awaiting``. ``statement_amount_mismatch`` is exactly ``amount_differs``.
- Actions: after the outcome's action, a ``confirmed`` order flagged
  ``statement_amount_mismatch`` (and not ``statement_refund``) gets ``review_amount``, one
  flagged ``statement_refund`` gets ``refund_review``; ``conflicting_submission`` still wins.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from orders_pipeline.lib.common.config import Settings
from orders_pipeline.lib.common.time import TIMESTAMP, as_of_literal, duration_micros, span_micros, whole_seconds
from orders_pipeline.lib.common.vocabulary import (
    ACTION_BY_OUTCOME,
    CONFLICTING_SUBMISSION_ACTION,
    FLAGS,
    STATEMENT_AMOUNT_ACTION,
    STATEMENT_REFUND_ACTION,
    TERMINAL_STATUSES,
    Flag,
)
from orders_pipeline.lib.outcomes.effective_callbacks import LOW_BITS, effective_callbacks, then_read_order
from orders_pipeline.lib.outcomes.statement_evidence import (
    Statements,
    with_statement_evidence,
    without_statement_evidence,
)
from orders_pipeline.lib.warehouse.contracts import CALLBACK_LINES, ORDER_LINES, ORDER_OUTCOMES


def _profile_us(provider: pl.Expr, settings: Settings, attribute: str) -> pl.Expr:
    """Per-row profile duration (``sla`` or ``retry_horizon``) in microseconds; unknown -> default."""
    mapping = {name: duration_micros(getattr(profile, attribute)) for name, profile in settings.providers.items()}
    default = duration_micros(getattr(settings.profile("default"), attribute))
    return provider.replace_strict(mapping, default=default, return_dtype=pl.Int64)


_ORDER_LINE_TYPES = ORDER_LINES.polars_schema()
_CALLBACK_LINE_TYPES = CALLBACK_LINES.polars_schema()
ORDER_OUTCOME_SCHEMA = ORDER_OUTCOMES.polars_schema()

_SUBMISSION_FIELDS = ("merchant_id", "provider", "amount_minor", "currency")
# The line columns classify_orders reads. Callers may pass only these: fetching the other
# columns of millions of lines (ids, file names, sequence numbers) from the warehouse is waste.
CLASSIFY_ORDER_COLUMNS: dict[str, pl.DataType] = {
    name: _ORDER_LINE_TYPES[name] for name in ("order_id", *_SUBMISSION_FIELDS, "created_at", "read_order")
}
CLASSIFY_CALLBACK_COLUMNS: dict[str, pl.DataType] = {
    name: _CALLBACK_LINE_TYPES[name]
    for name in (
        "order_id",
        "provider",
        "status",
        "amount_minor",
        "currency",
        "received_at",
        "event_time",
        "callback_id",
        "read_order",
    )
}
# Low-cardinality labels go through the group-by as Categorical: min/max/min_by then work on
# integer codes (exact: one code per distinct string) and are cast back to String after.
_LABELS = ("merchant_id", "provider", "currency")
_LABELS_OUT = (*_LABELS, "terminal_status", "callback_currency", "_min_cb_provider", "_max_cb_provider")
_FLAG_BITS = {flag: 1 << bit for bit, flag in enumerate(FLAGS)}
# Every flag combination as a list in FLAGS order, indexed by its bit mask: building
# the list per row is then one gather instead of a list construction per row.
_FLAG_LISTS = pl.Series(
    "flags",
    [[flag for flag, bit in _FLAG_BITS.items() if mask & bit] for mask in range(1 << len(FLAGS))],
    dtype=pl.List(pl.String()),
)


def _order_rows(orders: pl.LazyFrame, as_of: datetime) -> pl.LazyFrame:
    """Existing order lines, with ``_submission``: their key in (created_at, read_order) order."""
    return orders.filter(pl.col("created_at") <= as_of_literal(as_of)).select(
        "order_id",
        *(pl.col(name).cast(pl.Categorical) if name in _LABELS else pl.col(name) for name in _SUBMISSION_FIELDS),
        "created_at",
        then_read_order("created_at").alias("_submission"),
    )


def _callback_rows(callbacks: pl.LazyFrame, as_of: datetime) -> pl.LazyFrame:
    """Effective callbacks as row-wise helper columns, so the group-by only runs plain aggregations.

    ``_pos`` is an exact Int128 key of terminal order (event_time, received_at, read_order):
    event_time in microseconds shifted left by 64 bits, plus the callback's rank by
    (received_at, read_order). It is unique, so "before" and "last" are integer comparisons.
    """
    status = pl.col("status")
    terminal = status.is_in(TERMINAL_STATUSES)
    pos = pl.col("_pos")
    return (
        effective_callbacks(callbacks, as_of)
        .with_columns(
            (
                pl.col("event_time").dt.epoch("us").cast(pl.Int128) * LOW_BITS
                + then_read_order("received_at").rank("ordinal").cast(pl.Int128)
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
            *(pl.when(status == s).then(pl.col("delivery_count")).alias(f"_deliveries_{s}") for s in TERMINAL_STATUSES),
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
            (pl.col("_submission").min() // LOW_BITS).alias("_created_us"),
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
            *(pl.col(f"_deliveries_{s}").sum().alias(f"_deliveries_{s}") for s in TERMINAL_STATUSES),
            pl.col("_event_time").min().alias("_min_event_time"),
            pl.col("_cb_provider").min().alias("_min_cb_provider"),
            pl.col("_cb_provider").max().alias("_max_cb_provider"),
        )
        .filter(pl.col("submission_count") > 0)
        .with_columns(pl.col("_created_us").cast(pl.Int64).cast(TIMESTAMP).alias("created_at"))
        .with_columns(pl.col(name).cast(pl.String) for name in _LABELS_OUT)
    )


def classify_orders(
    orders: pl.LazyFrame,
    callbacks: pl.LazyFrame,
    as_of: datetime,
    settings: Settings,
    statements: Statements | None = None,
) -> pl.LazyFrame:
    """One row per order existing as of ``as_of``, with outcome, flags and action.

    ``orders`` are landed order lines (``landing.orders``), ``callbacks`` landed callback lines
    (``landing.callbacks``); either may hold only the columns in
    :data:`CLASSIFY_ORDER_COLUMNS` / :data:`CLASSIFY_CALLBACK_COLUMNS`. ``statements`` is the
    statement evidence of these orders (``None``, or no provider with statements: every (S)
    rule is inert and ``statement_status`` is ``none``). Returns :data:`ORDER_OUTCOME_SCHEMA`
    sorted by ``order_id``. The rules and every choice made where the rules are silent are in
    this module's docstring.
    """
    as_of_lit = as_of_literal(as_of)
    sla_us = _profile_us(pl.col("provider"), settings, "sla")
    horizon_us = _profile_us(pl.col("provider"), settings, "retry_horizon")
    age_us = span_micros(as_of_lit, pl.col("created_at"))
    has_terminal = pl.col("terminal_status").is_not_null()
    last = pl.col("terminal_status")
    success_then_failed = (pl.col("_first_success") < pl.col("_last_failed")).fill_null(False)
    success_then_reversed = (pl.col("_first_success") < pl.col("_last_reversed")).fill_null(False)
    tolerance = settings.amount_tolerance_minor
    amount_differs = pl.col("callback_currency").ne_missing(pl.col("currency")) | (
        (pl.col("callback_amount_minor") - pl.col("amount_minor")).abs() > tolerance
    ).fill_null(True)

    # Statement evidence (columns from statement_evidence): the (S) rules.
    has_statements = pl.col("_has_statements")
    holds_payment = pl.col("_payment_rows") > 0
    covered = pl.col("_covered")
    failed_last = (last == "failed") | ((last == "reversed") & ~success_then_reversed)
    statement_conflict = failed_last.fill_null(False) & holds_payment
    statement_matches = ~pl.col("_payment_in_other_currency") & (
        (pl.col("_payments_in_currency") - pl.col("amount_minor")).abs() <= tolerance
    ).fill_null(False)
    statement_status = (
        pl.when(~has_statements)
        .then(pl.lit("none"))
        .when(holds_payment)
        .then(pl.when(statement_matches).then(pl.lit("matched")).otherwise(pl.lit("amount_differs")))
        .when(covered)
        .then(pl.lit("not_found"))
        .otherwise(pl.lit("awaiting"))
    )

    outcome = (
        pl.when(success_then_failed | statement_conflict)
        .then(pl.lit("conflict"))
        .when(success_then_reversed)
        .then(pl.lit("reversed"))
        .when((last == "success") & covered & ~holds_payment)
        .then(pl.lit("unsettled"))
        .when((last == "success") & amount_differs)
        .then(pl.lit("amount_mismatch"))
        .when(last == "success")
        .then(pl.lit("confirmed"))
        .when(last.is_in(["failed", "reversed"]))
        .then(pl.lit("failed"))
        .when(holds_payment)
        .then(pl.lit("callback_lost"))
        .when((age_us > sla_us) & covered)
        .then(pl.lit("not_at_provider"))
        .when(age_us > horizon_us)
        .then(pl.lit("missing"))
        .when(age_us > sla_us)
        .then(pl.lit("overdue"))
        .otherwise(pl.lit("pending"))
    )

    several = pl.col("submission_count") > 1
    differ = pl.any_horizontal(*(pl.col(f"_min_{name}") != pl.col(f"_max_{name}") for name in _SUBMISSION_FIELDS))
    first_terminal_after_us = span_micros(pl.col("_first_terminal_received"), pl.col("created_at"))
    provider = pl.col("provider")
    conditions: dict[Flag, pl.Expr] = {
        "duplicate_submission": several & ~differ,
        "conflicting_submission": several & differ,
        "duplicate_callback": pl.any_horizontal(
            *((pl.col(f"_deliveries_{s}") >= 2).fill_null(False) for s in TERMINAL_STATUSES)
        ),
        "late_callback": (first_terminal_after_us > sla_us).fill_null(False),
        "callback_before_order": (
            span_micros(pl.col("_min_event_time"), pl.col("created_at"))
            < -duration_micros(settings.clock_skew_allowance)
        ).fill_null(False),
        "acknowledged": pl.col("_has_pending").fill_null(False) & ~has_terminal,
        "provider_mismatch": (
            (pl.col("_min_cb_provider") != provider) | (pl.col("_max_cb_provider") != provider)
        ).fill_null(False),
        "statement_conflict": statement_conflict,
        "statement_refund": pl.col("_statement_refund"),
        "statement_amount_mismatch": pl.col("statement_status") == "amount_differs",
    }
    if tuple(conditions) != FLAGS:  # pragma: no cover - guards the bit mask layout
        raise AssertionError("flag conditions must follow FLAGS")
    flag_mask = pl.sum_horizontal(
        *(
            pl.when(cond).then(pl.lit(_FLAG_BITS[name], dtype=pl.Int64)).otherwise(0)
            for name, cond in conditions.items()
        )
    )
    confirmed = pl.col("outcome") == "confirmed"
    action = (
        pl.when(pl.col("_conflicting"))
        .then(pl.lit(CONFLICTING_SUBMISSION_ACTION))
        .when(confirmed & pl.col("_statement_refund"))
        .then(pl.lit(STATEMENT_REFUND_ACTION))
        .when(confirmed & (pl.col("statement_status") == "amount_differs"))
        .then(pl.lit(STATEMENT_AMOUNT_ACTION))
        .otherwise(pl.col("outcome").replace_strict(ACTION_BY_OUTCOME, return_dtype=pl.String))
    )

    facts = _order_facts(orders, callbacks, as_of)
    if statements is not None and statements.providers:
        facts = with_statement_evidence(facts, statements, settings)
    else:
        facts = without_statement_evidence(facts)
    return (
        facts.with_columns(
            statement_status.alias("statement_status"),
            pl.when(pl.col("_payment_rows_in_currency") > 0)
            .then(pl.col("_payments_in_currency"))
            .alias("statement_amount_minor"),
        )
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
        .select(*(name if name != "flags" else "_flag_mask" for name in ORDER_OUTCOME_SCHEMA))
        .sort("order_id")
        .with_columns(pl.lit(_FLAG_LISTS).gather(pl.col("_flag_mask")).alias("_flag_mask"))
        .rename({"_flag_mask": "flags"})
        .cast(ORDER_OUTCOME_SCHEMA)
    )
