"""Sequence gaps and callback outages (docs/rules.md#gaps-and-duplicates)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import polars as pl

from orders_pipeline.lib.common.config import OutageSettings, Settings
from orders_pipeline.lib.log_quality.gaps import LOG_GAP_SCHEMA, log_gaps
from orders_pipeline.lib.log_quality.outages import CALLBACK_OUTAGE_SCHEMA, callback_outages
from orders_pipeline.lib.outcomes.rules import classify_orders
from orders_pipeline.lib.warehouse.contracts import REJECTED_LINES
from orders_pipeline_tests.outcomes.test_rules import T0, US, at, make_callbacks, make_orders


def rejected(*rows: dict[str, Any]) -> pl.LazyFrame:
    """Build rejected lines in REJECTED_LINE_SCHEMA from the fields that matter."""
    defaults = {
        "kind": "orders",
        "file": "orders/a.jsonl",
        "line_number": 1,
        "raw": "{}",
        "reason": "bad_amount",
        "message": "",
        "source": None,
        "seq": None,
    }
    return pl.DataFrame([{**defaults, **row} for row in rows], schema=REJECTED_LINES.polars_schema()).lazy()


def gaps(
    orders: list[int], callbacks: list[int] | None = None, rejects: list[dict[str, Any]] | None = None
) -> pl.DataFrame:
    """log_gaps for order lines of source "app" with the given seqs (and callback lines of "hook")."""
    return log_gaps(
        make_orders(*({"source": "app", "seq": s} for s in orders)),
        make_callbacks(*({"source": "hook", "seq": s} for s in (callbacks or []))),
        rejected(*(rejects or [])),
    ).collect()


# --- log_gaps ------------------------------------------------------------------------------


def test_contiguous_sequence_has_no_gap() -> None:
    result = gaps([1, 2, 3, 4])
    assert result.height == 0
    assert result.schema == pl.Schema(LOG_GAP_SCHEMA)


def test_missing_range_is_reported_with_its_size() -> None:
    result = gaps([1, 2, 6, 7, 9])
    assert result.rows() == [("orders", "app", "missing", 3, 5, 3, None), ("orders", "app", "missing", 8, 8, 1, None)]


def test_no_gap_is_claimed_before_the_first_seq_seen() -> None:
    assert gaps([100, 101]).height == 0


def test_repeated_seq_is_reported_with_its_line_count() -> None:
    result = gaps([1, 2, 2, 2, 3])
    assert result.rows() == [("orders", "app", "repeated", 2, 2, 3, None)]


def test_rejected_line_fills_a_gap() -> None:
    assert gaps([1, 3], rejects=[{"kind": "orders", "source": "app", "seq": 2}]).height == 0


def test_rejected_line_of_another_kind_or_source_does_not_fill_a_gap() -> None:
    result = gaps(
        [1, 3],
        rejects=[{"kind": "callbacks", "source": "app", "seq": 2}, {"kind": "orders", "source": "web", "seq": 2}],
    )
    assert result.select("kind", "source", "gap_type", "seq_from").rows() == [("orders", "app", "missing", 2)]


def test_gaps_are_per_kind_and_source() -> None:
    orders = make_orders(
        {"source": "b", "seq": 1}, {"source": "b", "seq": 3}, {"source": "a", "seq": 5}, {"source": "a", "seq": 7}
    )
    callbacks = make_callbacks({"source": "a", "seq": 1}, {"source": "a", "seq": 4})
    result = log_gaps(orders, callbacks, rejected()).collect()
    assert result.rows() == [
        ("callbacks", "a", "missing", 2, 3, 2, None),
        ("orders", "a", "missing", 6, 6, 1, None),
        ("orders", "b", "missing", 2, 2, 1, None),
    ]


def test_lines_without_source_or_seq_are_ignored() -> None:
    orders = make_orders(
        {"source": "a", "seq": 1}, {"source": None, "seq": 2}, {"source": "a", "seq": None}, {"source": "a", "seq": 2}
    )
    assert log_gaps(orders, make_callbacks(), rejected()).collect().height == 0


# --- callback_outages ----------------------------------------------------------------------

SETTINGS = replace(Settings(), outages=OutageSettings(min_gap=timedelta(minutes=30), min_orders=3))


def outages(
    orders: list[dict[str, Any]], callbacks: list[dict[str, Any]], as_of_minutes: float, settings: Settings = SETTINGS
) -> pl.DataFrame:
    """Collect callback_outages for orders o0, o1, ... and callbacks, as of ``as_of_minutes`` after T0."""
    as_of = at(minutes=as_of_minutes)
    order_frame = make_orders(*({"order_id": f"o{i}", **row} for i, row in enumerate(orders)))
    callback_frame = make_callbacks(*callbacks)
    outcomes = classify_orders(order_frame, callback_frame, as_of, settings)
    return callback_outages(callback_frame, outcomes, as_of, settings).collect()


def orders_at(*minutes: float, **fields: Any) -> list[dict[str, Any]]:
    """Describe orders created the given minutes after T0."""
    return [{"created_at": at(minutes=m), **fields} for m in minutes]


def receipts_at(*minutes: float, **fields: Any) -> list[dict[str, Any]]:
    """Describe (orphan) stripe callbacks received the given minutes after T0."""
    return [{"order_id": "other", "received_at": at(minutes=m), **fields} for m in minutes]


def test_planted_window_between_receipts_is_an_outage() -> None:
    result = outages(orders_at(5, 20, 40), receipts_at(0, 1, 50, 55), as_of_minutes=60)
    assert result.schema == pl.Schema(CALLBACK_OUTAGE_SCHEMA)
    row = result.row(0, named=True)
    assert result.height == 1
    assert (row["provider"], row["outage_start"], row["outage_end"]) == ("stripe", at(minutes=1), at(minutes=50))
    assert (row["duration_seconds"], row["ongoing"], row["orders_created"]) == (49 * 60, False, 3)
    assert (row["orders_overdue"], row["orders_missing"]) == (3, 0)


def test_window_with_fewer_than_min_orders_is_not_an_outage() -> None:
    assert outages(orders_at(5, 20), receipts_at(0, 1, 50, 55), as_of_minutes=60).height == 0


def test_window_exactly_min_gap_is_not_an_outage() -> None:
    assert outages(orders_at(5, 10, 20), receipts_at(0, 30, 35), as_of_minutes=40).height == 0


def test_orders_at_the_window_bounds_are_not_inside() -> None:
    assert outages(orders_at(1, 20, 40, 50), receipts_at(1, 50, 55), as_of_minutes=60).height == 0


def test_quiet_stretch_until_as_of_is_an_ongoing_outage() -> None:
    result = outages(orders_at(10, 20, 30), receipts_at(0, 5), as_of_minutes=45)
    row = result.row(0, named=True)
    assert (row["outage_start"], row["outage_end"], row["ongoing"], row["orders_created"]) == (
        at(minutes=5),
        at(minutes=45),
        True,
        3,
    )


def test_orders_before_the_first_receipt_open_a_window_including_the_first_order() -> None:
    result = outages(orders_at(0, 10, 20), receipts_at(40, 41), as_of_minutes=42)
    row = result.row(0, named=True)
    assert (row["outage_start"], row["outage_end"], row["ongoing"], row["orders_created"]) == (
        T0,
        at(minutes=40),
        False,
        3,
    )


def test_provider_without_any_callback_is_one_ongoing_outage() -> None:
    result = outages(orders_at(0, 10, 20, provider="adyen"), receipts_at(0, 59), as_of_minutes=60)
    assert result.select("provider", "outage_start", "outage_end", "ongoing", "orders_created").rows() == [
        ("adyen", T0, at(minutes=60), True, 3)
    ]


def test_provider_without_callbacks_over_a_short_span_is_not_an_outage() -> None:
    assert outages(orders_at(0, 10, 20, provider="adyen"), receipts_at(0, 29), as_of_minutes=29).height == 0


def test_receipts_count_for_the_callback_provider() -> None:
    # adyen callbacks keep flowing, but none from stripe: stripe is in an outage.
    result = outages(orders_at(10, 20, 30), receipts_at(0, 15, 30, 44, provider="adyen"), as_of_minutes=45)
    assert result.select("provider", "outage_start", "ongoing").rows() == [("stripe", at(minutes=10), True)]


def test_callback_received_after_as_of_does_not_end_an_outage() -> None:
    result = outages(orders_at(10, 20, 30), receipts_at(0, 46), as_of_minutes=45)
    assert result.select("outage_start", "outage_end", "ongoing").rows() == [(T0, at(minutes=45), True)]


def test_outage_counts_overdue_and_missing_orders_from_the_outcomes() -> None:
    # At 30 h, alipay orders older than its 25 h horizon are missing, the recent one overdue.
    orders = orders_at(10, 20, 29 * 60, provider="alipay") + orders_at(40)
    result = outages(orders, receipts_at(0, 1), as_of_minutes=30 * 60)
    assert result.select("provider", "orders_created", "orders_overdue", "orders_missing").rows() == [
        ("alipay", 3, 1, 2)
    ]


def test_several_outages_are_sorted_by_provider_and_start() -> None:
    orders = orders_at(5, 10, 15) + orders_at(105, 110, 115) + orders_at(5, 10, 15, provider="adyen")
    callbacks = receipts_at(0, 100, 200) + receipts_at(0, 50, 200, provider="adyen")
    result = outages(orders, callbacks, as_of_minutes=200)
    assert result.select("provider", "outage_start").rows() == [
        ("adyen", T0),
        ("stripe", T0),
        ("stripe", at(minutes=100)),
    ]


def test_no_orders_no_outage() -> None:
    assert outages([], receipts_at(0), as_of_minutes=600).height == 0


def test_microsecond_precision_of_the_gap() -> None:
    # A gap one microsecond longer than min_gap counts.
    callbacks = receipts_at(0) + [{"order_id": "other", "received_at": at(minutes=30) + US}]
    assert outages(orders_at(5, 10, 20), callbacks, as_of_minutes=30.5).height == 1
