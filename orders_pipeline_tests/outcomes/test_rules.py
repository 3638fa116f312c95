"""Outcome rules, flags, actions and boundaries of classify_orders (docs/rules.md#outcomes)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from orders_pipeline.lib.common.config import Settings, settings_from_mapping
from orders_pipeline.lib.outcomes.effective_callbacks import EFFECTIVE_CALLBACK_SCHEMA, effective_callbacks
from orders_pipeline.lib.outcomes.rules import classify_orders
from orders_pipeline.lib.warehouse.contracts import CALLBACK_LINES, ORDER_LINES, ORDER_OUTCOMES

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
AS_OF = T0 + timedelta(hours=1)
US = timedelta(microseconds=1)


def at(**delta: float) -> datetime:
    """T0 shifted by a timedelta given as keywords: ``at(minutes=5)``."""
    return T0 + timedelta(**delta)


def make_orders(*rows: dict[str, Any]) -> pl.LazyFrame:
    """Build order lines in ORDER_LINE_SCHEMA; each row states only what matters, the rest defaults."""
    defaults: dict[str, Any] = {
        "order_id": "o1",
        "merchant_id": "m1",
        "provider": "stripe",
        "amount_minor": 1000,
        "currency": "USD",
        "created_at": T0,
        "customer_id": None,
        "request_id": None,
        "source": None,
        "seq": None,
        "file": "orders/a.jsonl",
    }
    full = [{**defaults, "line_number": i + 1, "read_order": i, **row} for i, row in enumerate(rows)]
    return pl.DataFrame(full, schema=ORDER_LINES.polars_schema()).lazy()


def make_callbacks(*rows: dict[str, Any]) -> pl.LazyFrame:
    """Build callback lines in CALLBACK_LINE_SCHEMA; ``event_time`` defaults to ``received_at``."""
    defaults: dict[str, Any] = {
        "order_id": "o1",
        "provider": "stripe",
        "status": "success",
        "amount_minor": 1000,
        "currency": "USD",
        "received_at": at(minutes=1),
        "callback_id": None,
        "provider_txn_id": None,
        "source": None,
        "seq": None,
        "file": "callbacks/a.jsonl",
    }
    full = []
    for i, row in enumerate(rows):
        line = {**defaults, "line_number": i + 1, "read_order": i, **row}
        line.setdefault("event_time", line["received_at"])
        full.append(line)
    return pl.DataFrame(full, schema=CALLBACK_LINES.polars_schema()).lazy()


def classify(
    orders: list[dict[str, Any]] | None = None,
    callbacks: list[dict[str, Any]] | None = None,
    as_of: datetime = AS_OF,
    settings: Settings | None = None,
) -> pl.DataFrame:
    """classify_orders on explicit rows (default: one stripe order o1 at T0), collected."""
    return classify_orders(
        make_orders(*(orders if orders is not None else [{}])),
        make_callbacks(*(callbacks or [])),
        as_of,
        settings or Settings(),
    ).collect()


def one(
    orders: list[dict[str, Any]] | None = None, callbacks: list[dict[str, Any]] | None = None, **kw: Any
) -> dict[str, Any]:
    """Return the single outcome row of a one-order scenario, as a dict."""
    result = classify(orders, callbacks, **kw)
    assert result.height == 1
    return result.row(0, named=True)


def outcome(callbacks: list[dict[str, Any]] | None = None, **kw: Any) -> str:
    """Return the outcome of order o1 (stripe, 1000 USD, created at T0) given its callbacks."""
    return one(callbacks=callbacks, **kw)["outcome"]


def success(minute: float, **kw: Any) -> dict[str, Any]:
    """Describe a success callback received ``minute`` minutes after T0."""
    return {"status": "success", "received_at": at(minutes=minute), **kw}


def failed(minute: float, **kw: Any) -> dict[str, Any]:
    """Describe a failed callback (no amount) received ``minute`` minutes after T0."""
    return {"status": "failed", "received_at": at(minutes=minute), "amount_minor": None, "currency": None, **kw}


def reversed_(minute: float, **kw: Any) -> dict[str, Any]:
    """Describe a reversed callback received ``minute`` minutes after T0."""
    return {"status": "reversed", "received_at": at(minutes=minute), **kw}


def pending(minute: float, **kw: Any) -> dict[str, Any]:
    """Describe a pending callback (no amount) received ``minute`` minutes after T0."""
    return {"status": "pending", "received_at": at(minutes=minute), "amount_minor": None, "currency": None, **kw}


# --- output contract ---------------------------------------------------------------------


def test_output_has_the_outcome_schema_and_is_sorted_by_order_id() -> None:
    result = classify([{"order_id": "b"}, {"order_id": "a"}, {"order_id": "c"}])
    assert result.schema == pl.Schema(ORDER_OUTCOMES.polars_schema())
    assert result["order_id"].to_list() == ["a", "b", "c"]
    assert result["as_of"].to_list() == [AS_OF] * 3


def test_empty_inputs_give_an_empty_frame_with_the_schema() -> None:
    result = classify_orders(make_orders(), make_callbacks(), AS_OF, Settings()).collect()
    assert result.height == 0
    assert result.schema == pl.Schema(ORDER_OUTCOMES.polars_schema())


def test_naive_as_of_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        classify_orders(make_orders({}), make_callbacks(), datetime(2025, 3, 1), Settings())


def test_as_of_in_another_timezone_is_the_same_instant() -> None:
    paris = AS_OF.astimezone(ZoneInfo("Europe/Paris"))
    assert one(as_of=paris)["as_of"] == AS_OF


def test_order_without_callbacks_has_null_terminal_fields_and_no_flags() -> None:
    row = one()
    assert row["callback_count"] == 0
    assert row["terminal_status"] is None
    assert row["terminal_received_at"] is None
    assert row["callback_amount_minor"] is None
    assert row["callback_currency"] is None
    assert row["latency_seconds"] is None
    assert row["flags"] == []


def test_confirmed_order_carries_the_last_terminal_callback() -> None:
    row = one(callbacks=[success(2, amount_minor=1000)])
    assert row["outcome"] == "confirmed"
    assert row["action"] == "none"
    assert row["terminal_status"] == "success"
    assert row["terminal_received_at"] == at(minutes=2)
    assert row["callback_amount_minor"] == 1000
    assert row["callback_currency"] == "USD"
    assert row["latency_seconds"] == 120
    assert row["age_seconds"] == 3600
    assert row["callback_count"] == 1
    assert row["submission_count"] == 1


# --- rules 1-8 and their precedence ----------------------------------------------------


def test_success_alone_is_confirmed() -> None:
    assert outcome([success(1)]) == "confirmed"


def test_failed_alone_is_failed() -> None:
    assert outcome([failed(1)]) == "failed"


def test_reversed_alone_is_failed() -> None:
    assert outcome([reversed_(1)]) == "failed"


def test_success_then_reversed_is_reversed() -> None:
    row = one(callbacks=[success(1), reversed_(2)])
    assert row["outcome"] == "reversed"
    assert row["action"] == "refund_review"
    assert row["terminal_status"] == "reversed"


def test_reversed_then_success_is_confirmed() -> None:
    assert outcome([reversed_(1), success(2)]) == "confirmed"


def test_success_then_failed_is_conflict() -> None:
    row = one(callbacks=[success(1), failed(2)])
    assert row["outcome"] == "conflict"
    assert row["action"] == "review_status"


def test_success_failed_success_is_conflict() -> None:
    assert outcome([success(1), failed(2), success(3)]) == "conflict"


def test_success_before_a_non_adjacent_failed_is_conflict() -> None:
    assert outcome([success(1), reversed_(2), pending(3), failed(4)]) == "conflict"


def test_failed_then_success_is_confirmed() -> None:
    assert outcome([failed(1), success(2)]) == "confirmed"


def test_conflict_beats_reversed() -> None:
    assert outcome([success(1), reversed_(2), failed(3)]) == "conflict"


def test_reversed_beats_amount_mismatch() -> None:
    assert outcome([success(1, amount_minor=5), reversed_(2)]) == "reversed"


def test_failed_then_reversed_is_failed() -> None:
    assert outcome([failed(1), reversed_(2)]) == "failed"


def test_amount_mismatch_when_last_success_has_another_amount() -> None:
    row = one(callbacks=[success(1, amount_minor=999)])
    assert row["outcome"] == "amount_mismatch"
    assert row["action"] == "review_amount"
    assert row["callback_amount_minor"] == 999


def test_amount_mismatch_looks_at_the_last_terminal_only() -> None:
    assert outcome([failed(1), success(2, amount_minor=1)]) == "amount_mismatch"
    assert outcome([success(1, amount_minor=1), failed(0.5), success(2)]) == "confirmed"


def test_amount_difference_equal_to_tolerance_is_confirmed() -> None:
    settings = replace(Settings(), amount_tolerance_minor=2)
    assert outcome([success(1, amount_minor=1002)], settings=settings) == "confirmed"
    assert outcome([success(1, amount_minor=998)], settings=settings) == "confirmed"


def test_amount_difference_one_over_tolerance_is_mismatch() -> None:
    settings = replace(Settings(), amount_tolerance_minor=2)
    assert outcome([success(1, amount_minor=1003)], settings=settings) == "amount_mismatch"
    assert outcome([success(1, amount_minor=997)], settings=settings) == "amount_mismatch"


def test_default_tolerance_is_zero() -> None:
    assert outcome([success(1, amount_minor=1001)]) == "amount_mismatch"


def test_different_currency_is_mismatch_even_with_equal_amount_and_tolerance() -> None:
    settings = replace(Settings(), amount_tolerance_minor=10_000)
    row = one(callbacks=[success(1, currency="EUR")], settings=settings)
    assert row["outcome"] == "amount_mismatch"
    assert row["callback_currency"] == "EUR"


def test_no_callback_within_sla_is_pending() -> None:
    assert outcome(as_of=at(minutes=4)) == "pending"


def test_age_exactly_sla_is_pending() -> None:
    assert outcome(as_of=at(minutes=5)) == "pending"


def test_age_one_microsecond_over_sla_is_overdue() -> None:
    row = one(as_of=at(minutes=5) + US)
    assert row["outcome"] == "overdue"
    assert row["action"] == "query_provider"
    assert row["age_seconds"] == 300


def test_age_exactly_retry_horizon_is_overdue() -> None:
    assert outcome(as_of=at(hours=72)) == "overdue"


def test_age_one_microsecond_over_retry_horizon_is_missing() -> None:
    row = one(as_of=at(hours=72) + US)
    assert row["outcome"] == "missing"
    assert row["action"] == "investigate"


def test_pending_callback_does_not_stop_the_clock() -> None:
    assert outcome([pending(1)], as_of=at(minutes=10)) == "overdue"
    assert outcome([pending(1)], as_of=at(hours=73)) == "missing"
    assert outcome([pending(1)], as_of=at(minutes=3)) == "pending"


# --- terminal order ----------------------------------------------------------------------


def test_terminal_order_is_by_event_time_before_received_at() -> None:
    # The failed arrived first but happened later: success -> failed is a conflict.
    late_success = success(10, event_time=at(minutes=1))
    early_failed = failed(2, event_time=at(minutes=2))
    assert outcome([late_success, early_failed]) == "conflict"
    # The success arrived last but happened first, so the failed is the last terminal.
    row = one(callbacks=[failed(1, event_time=at(minutes=3)), success(5, event_time=at(minutes=2))])
    assert row["outcome"] == "conflict"
    assert row["terminal_status"] == "failed"


def test_failed_event_before_success_event_is_confirmed_whatever_the_receipt_order() -> None:
    assert outcome([success(1, event_time=at(minutes=3)), failed(2, event_time=at(minutes=2))]) == "confirmed"


def test_equal_event_time_is_ordered_by_received_at() -> None:
    same = at(minutes=1)
    assert outcome([failed(3, event_time=same), success(2, event_time=same)]) == "conflict"
    assert outcome([success(3, event_time=same), failed(2, event_time=same)]) == "confirmed"


def test_equal_event_and_received_time_is_ordered_by_read_order() -> None:
    same = at(minutes=1)
    # Rows are read in list order: success first, failed second -> conflict.
    assert outcome([success(1, event_time=same), failed(1, event_time=same)]) == "conflict"
    assert outcome([failed(1, event_time=same), success(1, event_time=same)]) == "confirmed"


def test_read_order_not_frame_position_breaks_ties() -> None:
    same = at(minutes=1)
    rows = [success(1, event_time=same, read_order=7), failed(1, event_time=same, read_order=3)]
    assert outcome(rows) == "confirmed"


# --- as_of boundaries --------------------------------------------------------------------


def test_callback_received_exactly_at_as_of_counts() -> None:
    assert outcome([{"received_at": AS_OF}]) == "confirmed"


def test_callback_received_one_microsecond_after_as_of_is_ignored() -> None:
    row = one(callbacks=[{"received_at": AS_OF + US}])
    assert row["outcome"] == "overdue"
    assert row["callback_count"] == 0


def test_order_created_after_as_of_does_not_exist() -> None:
    result = classify([{"order_id": "early"}, {"order_id": "late", "created_at": AS_OF + US}])
    assert result["order_id"].to_list() == ["early"]


def test_order_created_exactly_at_as_of_exists_with_age_zero() -> None:
    row = one([{"created_at": AS_OF}])
    assert row["outcome"] == "pending"
    assert row["age_seconds"] == 0


def test_line_created_after_as_of_is_not_a_submission() -> None:
    row = one([{}, {"created_at": AS_OF + US, "amount_minor": 5}])
    assert row["submission_count"] == 1
    assert row["flags"] == []


# --- canonical submission ---------------------------------------------------------------


def test_canonical_submission_is_the_earliest_created_at() -> None:
    row = one([{"created_at": at(minutes=2), "amount_minor": 1}, {"created_at": at(minutes=1), "amount_minor": 2}])
    assert row["amount_minor"] == 2
    assert row["created_at"] == at(minutes=1)


def test_canonical_submission_ties_go_to_the_first_read_line() -> None:
    rows = [
        {"merchant_id": "m-late", "amount_minor": 1, "read_order": 9},
        {"merchant_id": "m-first", "amount_minor": 2, "read_order": 4, "provider": "adyen", "currency": "EUR"},
    ]
    row = one(rows)
    assert (row["merchant_id"], row["amount_minor"], row["provider"], row["currency"]) == ("m-first", 2, "adyen", "EUR")


def test_large_packed_read_orders_still_break_ties() -> None:
    # Landing packs the file rank into the high 32 bits of read_order: values far above 2**40.
    orders = [{"amount_minor": 1, "read_order": (900 << 32) + 1}, {"amount_minor": 2, "read_order": (3 << 32) + 9}]
    redelivered = [
        success(2, callback_id="e", amount_minor=1, read_order=(7 << 40) + 1),
        success(2, callback_id="e", amount_minor=2, read_order=(2 << 40) + 5),
    ]
    row = one(orders, callbacks=redelivered)
    assert (row["amount_minor"], row["callback_amount_minor"], row["outcome"]) == (2, 2, "confirmed")
    same_instant = [success(2, read_order=(2 << 40) + 5), failed(2, read_order=(1 << 60))]
    assert outcome(same_instant) == "conflict"
    assert outcome(same_instant[::-1]) == "conflict"  # frame position does not matter, read_order does


def test_canonical_provider_chooses_the_profile() -> None:
    # adyen (canonical, earlier) has sla 5m like stripe but a 30d horizon: 4 days is overdue.
    rows = [{"provider": "adyen", "created_at": T0}, {"provider": "stripe", "created_at": at(minutes=1)}]
    assert one(rows, as_of=at(days=4))["outcome"] == "overdue"


# --- provider profiles -------------------------------------------------------------------


def test_adyen_retries_for_30_days() -> None:
    order = [{"provider": "adyen"}]
    assert one(order, as_of=at(days=30))["outcome"] == "overdue"
    assert one(order, as_of=at(days=30) + US)["outcome"] == "missing"


def test_wechatpay_retries_for_24h4m() -> None:
    order = [{"provider": "wechatpay"}]
    assert one(order, as_of=at(hours=24, minutes=4))["outcome"] == "overdue"
    assert one(order, as_of=at(hours=24, minutes=4) + US)["outcome"] == "missing"


def test_paypal_sla_is_10_minutes() -> None:
    order = [{"provider": "paypal"}]
    assert one(order, as_of=at(minutes=10))["outcome"] == "pending"
    assert one(order, as_of=at(minutes=10) + US)["outcome"] == "overdue"


def test_unknown_provider_uses_the_default_profile() -> None:
    order = [{"provider": "acme-games"}]
    assert one(order, as_of=at(minutes=15))["outcome"] == "pending"
    assert one(order, as_of=at(minutes=15) + US)["outcome"] == "overdue"
    assert one(order, as_of=at(hours=72) + US)["outcome"] == "missing"


def test_configured_profile_overrides_the_default() -> None:
    settings = settings_from_mapping({"providers": {"stripe": {"sla": "1h"}, "default": {"sla": "2m"}}})
    assert one([{"provider": "stripe"}], as_of=at(minutes=59), settings=settings)["outcome"] == "pending"
    assert one([{"provider": "other"}], as_of=at(minutes=3), settings=settings)["outcome"] == "overdue"


# --- flags ---------------------------------------------------------------------------------


def test_duplicate_submission_flag() -> None:
    row = one([{}, {"created_at": at(minutes=1)}], callbacks=[success(2)])
    assert row["flags"] == ["duplicate_submission"]
    assert row["submission_count"] == 2
    assert row["action"] == "none"


@pytest.mark.parametrize(
    ("field", "value"),
    [("merchant_id", "m2"), ("provider", "adyen"), ("amount_minor", 1001), ("currency", "EUR")],
)
def test_conflicting_submission_flag_and_action(field: str, value: Any) -> None:
    row = one([{}, {field: value, "created_at": at(minutes=1)}], callbacks=[success(2)])
    assert row["flags"] == ["conflicting_submission"]
    assert row["outcome"] == "confirmed"
    assert row["action"] == "review_submission"


def test_conflicting_submission_action_beats_any_outcome_action() -> None:
    row = one([{}, {"amount_minor": 5}], as_of=at(hours=80))
    assert row["outcome"] == "missing"
    assert row["action"] == "review_submission"


def test_single_submission_has_no_submission_flag() -> None:
    assert one(callbacks=[success(1)])["flags"] == []


def test_redelivered_callback_id_is_merged_and_flagged() -> None:
    row = one(callbacks=[success(1, callback_id="evt_1"), success(3, callback_id="evt_1")])
    assert row["callback_count"] == 1
    assert row["flags"] == ["duplicate_callback"]
    assert row["outcome"] == "confirmed"


def test_redelivery_keeps_the_earliest_received_delivery() -> None:
    # Read first but received later; the kept delivery is the earlier received one.
    rows = [success(3, callback_id="evt_1", amount_minor=1000), success(2, callback_id="evt_1", amount_minor=7)]
    row = one(callbacks=rows)
    assert row["callback_amount_minor"] == 7
    assert row["terminal_received_at"] == at(minutes=2)


def test_redelivery_received_at_the_same_time_keeps_the_first_read() -> None:
    rows = [
        success(2, callback_id="evt_1", amount_minor=7, read_order=5),
        success(2, callback_id="evt_1", amount_minor=1000, read_order=2),
    ]
    assert one(callbacks=rows)["callback_amount_minor"] == 1000


def test_same_callback_id_on_two_orders_is_not_merged() -> None:
    result = classify(
        [{"order_id": "a"}, {"order_id": "b"}],
        [success(1, order_id="a", callback_id="evt"), success(1, order_id="b", callback_id="evt")],
    )
    assert result["callback_count"].to_list() == [1, 1]
    assert result["flags"].to_list() == [[], []]


def test_callbacks_without_callback_id_are_never_merged() -> None:
    row = one(callbacks=[success(1), success(1)])
    assert row["callback_count"] == 2
    assert row["flags"] == ["duplicate_callback"]


def test_two_distinct_terminal_callbacks_with_the_same_status_are_duplicates() -> None:
    row = one(callbacks=[failed(1, callback_id="a"), failed(2, callback_id="b")])
    assert row["flags"] == ["duplicate_callback"]


def test_different_terminal_statuses_are_not_duplicates() -> None:
    assert one(callbacks=[failed(1, callback_id="a"), success(2, callback_id="b")])["flags"] == []


def test_repeated_pending_is_not_a_duplicate_callback() -> None:
    row = one(callbacks=[pending(1, callback_id="p"), pending(2, callback_id="p"), pending(3), success(4)])
    assert "duplicate_callback" not in row["flags"]
    assert row["callback_count"] == 3


def test_late_callback_flag() -> None:
    assert one(callbacks=[success(5) | {"received_at": at(minutes=5) + US}])["flags"] == ["late_callback"]


def test_callback_received_exactly_at_sla_is_not_late() -> None:
    assert one(callbacks=[success(5)])["flags"] == []


def test_late_callback_uses_the_earliest_received_terminal() -> None:
    # Terminal order puts the late-received success first, but the failed arrived in time.
    rows = [success(30, event_time=at(minutes=1)), failed(2, event_time=at(minutes=2))]
    row = one(callbacks=rows)
    assert "late_callback" not in row["flags"]
    assert row["latency_seconds"] == 120


def test_late_callback_ignores_pending_callbacks() -> None:
    row = one(callbacks=[pending(1), success(20)])
    assert row["flags"] == ["late_callback"]
    assert row["latency_seconds"] == 1200


def test_callback_before_order_flag() -> None:
    row = one(callbacks=[success(1, event_time=at(minutes=-5) - US)])
    assert row["flags"] == ["callback_before_order"]


def test_callback_exactly_at_the_clock_skew_allowance_is_not_before_order() -> None:
    assert one(callbacks=[success(1, event_time=at(minutes=-5))])["flags"] == []


def test_callback_before_order_counts_pending_callbacks() -> None:
    row = one(callbacks=[pending(1, event_time=at(hours=-1))], as_of=at(minutes=2))
    assert row["flags"] == ["callback_before_order", "acknowledged"]


def test_configured_clock_skew_allowance() -> None:
    settings = replace(Settings(), clock_skew_allowance=timedelta(0))
    assert one(callbacks=[success(1, event_time=T0 - US)], settings=settings)["flags"] == ["callback_before_order"]


def test_latency_is_truncated_toward_zero_even_when_negative() -> None:
    row = one(callbacks=[{"received_at": T0 - timedelta(seconds=1, microseconds=500_000)}])
    assert row["latency_seconds"] == -1
    row = one(callbacks=[{"received_at": T0 + timedelta(seconds=1, microseconds=999_999)}])
    assert row["latency_seconds"] == 1


def test_age_seconds_is_truncated() -> None:
    assert one(as_of=T0 + timedelta(seconds=59, microseconds=999_999))["age_seconds"] == 59


def test_acknowledged_flag() -> None:
    row = one(callbacks=[pending(1)], as_of=at(minutes=2))
    assert row["flags"] == ["acknowledged"]
    assert row["outcome"] == "pending"
    assert row["callback_count"] == 1
    assert row["terminal_status"] is None


def test_pending_then_terminal_is_not_acknowledged() -> None:
    assert one(callbacks=[pending(1), success(2)])["flags"] == []


def test_provider_mismatch_flag_and_the_callback_still_counts() -> None:
    row = one(callbacks=[success(1, provider="adyen")])
    assert row["flags"] == ["provider_mismatch"]
    assert row["outcome"] == "confirmed"


def test_provider_mismatch_from_a_pending_callback() -> None:
    row = one(callbacks=[pending(1, provider="adyen"), success(2)])
    assert row["flags"] == ["provider_mismatch"]


def test_same_provider_is_no_mismatch() -> None:
    assert one(callbacks=[success(1, provider="stripe")])["flags"] == []


def test_flags_follow_the_schema_order() -> None:
    row = one(
        [{}, {"created_at": at(minutes=1)}],
        callbacks=[
            success(20, provider="adyen", event_time=at(minutes=-10)),
            success(21, provider="adyen"),
        ],
    )
    assert row["flags"] == [
        "duplicate_submission",
        "duplicate_callback",
        "late_callback",
        "callback_before_order",
        "provider_mismatch",
    ]


# --- effective_callbacks ------------------------------------------------------------------


def test_effective_callbacks_merges_by_order_and_callback_id() -> None:
    frame = make_callbacks(
        success(3, callback_id="e1"),
        success(1, callback_id="e1"),
        success(2, callback_id="e1"),
        success(1),
        success(1),
        success(1, callback_id="e1", order_id="o2"),
    )
    result = effective_callbacks(frame, AS_OF).collect().sort("order_id", "read_order")
    assert result.schema == pl.Schema(EFFECTIVE_CALLBACK_SCHEMA)
    assert result.select("order_id", "callback_id", "read_order", "delivery_count").rows() == [
        ("o1", "e1", 1, 3),
        ("o1", None, 3, 1),
        ("o1", None, 4, 1),
        ("o2", "e1", 5, 1),
    ]


def test_effective_callbacks_drop_later_receipts_before_merging() -> None:
    frame = make_callbacks(success(1, callback_id="e1"), {"callback_id": "e1", "received_at": AS_OF + US})
    result = effective_callbacks(frame, AS_OF).collect()
    assert result["delivery_count"].to_list() == [1]
