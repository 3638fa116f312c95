"""daily_summary, exceptions and orphan_callbacks (docs/rules.md#published-tables)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from orders_pipeline.lib.common.config import Settings
from orders_pipeline.lib.common.vocabulary import FLAGS, OUTCOMES
from orders_pipeline.lib.finance_tables.exceptions import EXCEPTION_SCHEMA, exceptions
from orders_pipeline.lib.finance_tables.orphans import ORPHAN_CALLBACK_SCHEMA, orphan_callbacks
from orders_pipeline.lib.finance_tables.summary import DAILY_SUMMARY_SCHEMA, daily_summary, merge_daily_summaries
from orders_pipeline.lib.outcomes.rules import classify_orders
from orders_pipeline_tests.outcomes.test_rules import AS_OF, T0, US, at, make_callbacks, make_orders


def outcomes_of(
    orders: list[dict[str, Any]], callbacks: list[dict[str, Any]] | None = None, as_of: datetime = AS_OF
) -> pl.LazyFrame:
    """Classify explicit order and callback rows as of ``as_of`` (lazy)."""
    return classify_orders(make_orders(*orders), make_callbacks(*(callbacks or [])), as_of, Settings())


def summary_of(orders: list[dict[str, Any]], callbacks: list[dict[str, Any]] | None = None) -> pl.DataFrame:
    """Collect the daily summary of explicit order and callback rows."""
    return daily_summary(outcomes_of(orders, callbacks)).collect()


# --- daily_summary -------------------------------------------------------------------------


def test_summary_has_every_outcome_and_flag_column_as_int64_without_nulls() -> None:
    result = summary_of([{}])
    assert result.schema == pl.Schema(DAILY_SUMMARY_SCHEMA)
    assert list(result.columns[:6]) == [
        "order_date",
        "merchant_id",
        "provider",
        "currency",
        "order_count",
        "amount_minor",
    ]
    for outcome in OUTCOMES:
        assert f"{outcome}_count" in result.columns
        assert f"{outcome}_amount_minor" in result.columns
    for flag in FLAGS:
        assert f"{flag}_count" in result.columns
    assert result.null_count().sum_horizontal().item() == 0


def test_summary_counts_and_amounts_per_outcome() -> None:
    orders = [
        {"order_id": "ok", "amount_minor": 1000},
        {"order_id": "late", "amount_minor": 250},
        {"order_id": "bad", "amount_minor": 40},
    ]
    callbacks = [{"order_id": "ok"}, {"order_id": "bad", "status": "failed", "amount_minor": None, "currency": None}]
    row = summary_of(orders, callbacks).row(0, named=True)
    assert (row["order_count"], row["amount_minor"]) == (3, 1290)
    assert (row["confirmed_count"], row["confirmed_amount_minor"]) == (1, 1000)
    assert (row["overdue_count"], row["overdue_amount_minor"]) == (1, 250)
    assert (row["failed_count"], row["failed_amount_minor"]) == (1, 40)
    assert (row["conflict_count"], row["conflict_amount_minor"]) == (0, 0)


def test_summary_per_outcome_columns_add_up_to_the_totals() -> None:
    orders = [{"order_id": f"o{i}", "amount_minor": 100 * i} for i in range(6)]
    callbacks = [
        {"order_id": "o1"},
        {"order_id": "o2", "amount_minor": 1},
        {"order_id": "o3", "status": "reversed", "amount_minor": 300},
        {"order_id": "o4", "status": "pending", "amount_minor": None, "currency": None},
    ]
    result = summary_of(orders, callbacks)
    counts = pl.sum_horizontal(f"{o}_count" for o in OUTCOMES)
    amounts = pl.sum_horizontal(f"{o}_amount_minor" for o in OUTCOMES)
    checked = result.select((counts == pl.col("order_count")).all(), (amounts == pl.col("amount_minor")).all())
    assert checked.row(0) == (True, True)


def test_summary_keeps_currencies_with_different_exponents_apart() -> None:
    orders = [
        {"order_id": "jpy", "currency": "JPY", "amount_minor": 1500},  # exponent 0: 1500 yen
        {"order_id": "usd", "currency": "USD", "amount_minor": 1500},  # exponent 2: 15.00 dollars
        {"order_id": "kwd", "currency": "KWD", "amount_minor": 1500},  # exponent 3: 1.500 dinars
        {"order_id": "kwd2", "currency": "KWD", "amount_minor": 1},
    ]
    result = summary_of(orders).select("currency", "order_count", "amount_minor")
    assert result.rows() == [("JPY", 1, 1500), ("KWD", 2, 1501), ("USD", 1, 1500)]


def test_summary_groups_by_utc_day_merchant_and_provider() -> None:
    orders = [
        {"order_id": "a", "created_at": datetime(2025, 3, 1, 23, 59, 59, 999_999, tzinfo=UTC)},
        {"order_id": "b", "created_at": datetime(2025, 3, 2, 0, 0, tzinfo=UTC)},
        {"order_id": "c", "created_at": datetime(2025, 3, 2, 0, 0, tzinfo=UTC), "merchant_id": "m2"},
        {"order_id": "d", "created_at": datetime(2025, 3, 2, 0, 0, tzinfo=UTC), "provider": "adyen"},
    ]
    result = daily_summary(outcomes_of(orders, as_of=datetime(2025, 3, 2, 1, tzinfo=UTC))).collect()
    assert result.select("order_date", "merchant_id", "provider", "order_count").rows() == [
        (datetime(2025, 3, 1).date(), "m1", "stripe", 1),
        (datetime(2025, 3, 2).date(), "m1", "adyen", 1),
        (datetime(2025, 3, 2).date(), "m1", "stripe", 1),
        (datetime(2025, 3, 2).date(), "m2", "stripe", 1),
    ]


def test_summary_counts_orders_carrying_each_flag() -> None:
    orders = [{"order_id": "a"}, {"order_id": "a"}, {"order_id": "b"}]
    callbacks = [{"order_id": "a", "provider": "adyen"}, {"order_id": "b", "provider": "adyen"}]
    row = summary_of(orders, callbacks).row(0, named=True)
    assert row["duplicate_submission_count"] == 1
    assert row["provider_mismatch_count"] == 2
    assert row["late_callback_count"] == 0


def test_summary_of_no_orders_is_empty_with_the_schema() -> None:
    result = daily_summary(outcomes_of([])).collect()
    assert result.height == 0
    assert result.schema == pl.Schema(DAILY_SUMMARY_SCHEMA)


@pytest.mark.parametrize("cuts", [[], [1], [2, 3], [1, 2, 3, 4, 5]], ids=["whole", "1+rest", "2+1+rest", "singles"])
def test_merged_summaries_of_chunks_equal_the_summary_of_all_orders(cuts) -> None:
    orders = [
        {"order_id": "a"},
        {"order_id": "a"},
        {"order_id": "b", "amount_minor": 250},
        {"order_id": "c", "created_at": datetime(2025, 3, 1, 23, 59, tzinfo=UTC)},
        {"order_id": "d", "merchant_id": "m2", "currency": "JPY", "amount_minor": 7},
        {"order_id": "e", "provider": "adyen"},
    ]
    callbacks = [{"order_id": "a", "provider": "adyen"}, {"order_id": "b", "status": "failed"}]
    outcomes = outcomes_of(orders, callbacks).collect()
    bounds = [0, *cuts, outcomes.height]
    chunks = [outcomes.slice(lo, hi - lo) for lo, hi in zip(bounds, bounds[1:], strict=False) if hi > lo]
    merged = merge_daily_summaries(daily_summary(chunk.lazy()).collect() for chunk in chunks)
    assert_frame_equal(merged, daily_summary(outcomes.lazy()).collect())


def test_merging_no_summaries_gives_an_empty_summary() -> None:
    result = merge_daily_summaries([])
    assert result.height == 0
    assert result.schema == pl.Schema(DAILY_SUMMARY_SCHEMA)


# --- exceptions ----------------------------------------------------------------------------


def test_exceptions_leave_out_orders_whose_action_is_none() -> None:
    orders = [{"order_id": "ok"}, {"order_id": "lost"}]
    result = exceptions(outcomes_of(orders, [{"order_id": "ok"}])).collect()
    assert result.schema == pl.Schema(EXCEPTION_SCHEMA)
    assert result["order_id"].to_list() == ["lost"]
    assert result.row(0, named=True)["action"] == "query_provider"


def test_exceptions_are_ordered_by_priority_then_age_amount_and_id() -> None:
    orders = [
        {"order_id": "overdue-old", "created_at": at(minutes=-30)},
        {"order_id": "overdue-big", "amount_minor": 5000},
        {"order_id": "overdue-a"},
        {"order_id": "overdue-b"},
        {"order_id": "missing", "created_at": at(hours=-80)},
        {"order_id": "conflict"},
        {"order_id": "mismatch"},
        {"order_id": "reversed"},
        {"order_id": "resubmitted"},
        {"order_id": "resubmitted", "amount_minor": 1},
    ]
    callbacks = [
        {"order_id": "conflict"},
        {"order_id": "conflict", "status": "failed", "received_at": at(minutes=2)},
        {"order_id": "mismatch", "amount_minor": 1},
        {"order_id": "reversed"},
        {"order_id": "reversed", "status": "reversed", "received_at": at(minutes=2)},
        {"order_id": "resubmitted"},
    ]
    result = exceptions(outcomes_of(orders, callbacks)).collect()
    assert result.select("order_id", "action", "priority").rows() == [
        ("conflict", "review_status", 1),
        ("mismatch", "review_amount", 2),
        ("reversed", "refund_review", 3),
        ("resubmitted", "review_submission", 4),
        ("missing", "investigate", 5),
        ("overdue-old", "query_provider", 6),
        ("overdue-big", "query_provider", 6),
        ("overdue-a", "query_provider", 6),
        ("overdue-b", "query_provider", 6),
    ]


# --- orphan_callbacks ----------------------------------------------------------------------


def test_callback_for_an_unknown_order_is_an_orphan() -> None:
    orders = make_orders({"order_id": "known"})
    callbacks = make_callbacks(
        {"order_id": "known"}, {"order_id": "ghost", "callback_id": "e9", "provider_txn_id": "tx"}
    )
    result = orphan_callbacks(orders, callbacks, AS_OF).collect()
    assert result.schema == pl.Schema(ORPHAN_CALLBACK_SCHEMA)
    row = result.row(0, named=True)
    assert result.height == 1
    assert (row["order_id"], row["callback_id"], row["provider_txn_id"], row["delivery_count"]) == (
        "ghost",
        "e9",
        "tx",
        1,
    )
    assert (row["file"], row["line_number"]) == ("callbacks/a.jsonl", 2)


def test_callbacks_of_an_order_created_after_as_of_are_not_orphans() -> None:
    orders = make_orders({"order_id": "future", "created_at": AS_OF + US})
    callbacks = make_callbacks({"order_id": "future"})
    assert orphan_callbacks(orders, callbacks, AS_OF).collect().height == 0


def test_orphan_received_after_as_of_is_not_reported() -> None:
    callbacks = make_callbacks(
        {"order_id": "ghost", "received_at": AS_OF + US}, {"order_id": "ghost2", "received_at": AS_OF}
    )
    result = orphan_callbacks(make_orders(), callbacks, AS_OF).collect()
    assert result["order_id"].to_list() == ["ghost2"]


def test_redelivered_orphan_is_reported_once() -> None:
    callbacks = make_callbacks(
        {"order_id": "ghost", "callback_id": "e1", "received_at": at(minutes=3)},
        {"order_id": "ghost", "callback_id": "e1", "received_at": at(minutes=2)},
    )
    result = orphan_callbacks(make_orders(), callbacks, AS_OF).collect()
    assert result.select("received_at", "line_number", "delivery_count").rows() == [(at(minutes=2), 2, 2)]


def test_orphans_are_sorted_by_received_at_order_id_file_line() -> None:
    callbacks = make_callbacks(
        {"order_id": "z", "received_at": at(minutes=1)},
        {"order_id": "b", "received_at": at(minutes=2)},
        {"order_id": "a", "received_at": at(minutes=2), "file": "callbacks/b.jsonl"},
        {"order_id": "a", "received_at": at(minutes=2), "file": "callbacks/a.jsonl"},
        {"order_id": "y", "received_at": T0 - timedelta(hours=1)},
    )
    result = orphan_callbacks(make_orders(), callbacks, AS_OF).collect()
    assert result.select("order_id", "file").rows() == [
        ("y", "callbacks/a.jsonl"),
        ("z", "callbacks/a.jsonl"),
        ("a", "callbacks/a.jsonl"),
        ("a", "callbacks/b.jsonl"),
        ("b", "callbacks/a.jsonl"),
    ]
