"""The (S) rules, flags, actions and statement columns (docs/rules.md#outcomes, #precise-statements), given/expect.

Default order: o1, stripe, 1000 USD, created at T0 (2025-03-01 12:00 UTC), as of T0 + 1 h.
``covered`` covers stripe's statement days 2025-03-01 and 2025-03-02 (the order's window with
the default one-day settlement delay, UTC); ``paid(...)`` is a statement payment row.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl
import pytest

from orders_pipeline.lib.common.config import Settings, settings_from_mapping
from orders_pipeline.lib.outcomes.rules import classify_orders
from orders_pipeline.lib.outcomes.statement_evidence import COVERED_DAY_SCHEMA, STATEMENT_ROW_COLUMNS, Statements
from orders_pipeline_tests.outcomes.test_rules import (
    AS_OF,
    T0,
    US,
    at,
    failed,
    make_callbacks,
    make_orders,
    pending,
    success,
)
from orders_pipeline_tests.outcomes.test_rules import reversed_ as reversal

DAY = date(2025, 3, 1)
NEXT = date(2025, 3, 2)
COVERED = [("stripe", DAY), ("stripe", NEXT)]


def row(kind: str = "payment", **kw: Any) -> dict[str, Any]:
    return {"order_id": "o1", "provider": "stripe", "type": kind, "amount_minor": 1000, "currency": "USD", **kw}


def paid(**kw: Any) -> dict[str, Any]:
    return row("payment", **kw)


def judge(
    callbacks: list[dict[str, Any]] | None = None,
    statement: list[dict[str, Any]] | None = None,
    covered: list[tuple[str, date]] | None = None,
    orders: list[dict[str, Any]] | None = None,
    providers: tuple[str, ...] = ("stripe",),
    as_of: datetime = AS_OF,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """The single outcome row of a one-order scenario with statement evidence."""
    statements = Statements(
        pl.DataFrame(statement or [], schema=STATEMENT_ROW_COLUMNS).lazy(),
        providers,
        pl.DataFrame(covered or [], schema=COVERED_DAY_SCHEMA, orient="row"),
    )
    result = classify_orders(
        make_orders(*(orders or [{}])), make_callbacks(*(callbacks or [])), as_of, settings or Settings(), statements
    ).collect()
    assert result.height == 1
    return result.row(0, named=True)


def summary(r: dict[str, Any]) -> tuple[str, list[str], str, str, int | None]:
    return r["outcome"], r["flags"], r["action"], r["statement_status"], r["statement_amount_minor"]


# --- rule 7: callback_lost --------------------------------------------------------------------


def test_no_callback_and_a_payment_row_is_callback_lost() -> None:
    assert summary(judge(statement=[paid()], covered=COVERED)) == (
        "callback_lost",
        [],
        "apply_statement",
        "matched",
        1000,
    )


def test_callback_lost_needs_neither_coverage_nor_age() -> None:
    young = judge(statement=[paid()], as_of=at(minutes=1))
    assert summary(young) == ("callback_lost", [], "apply_statement", "matched", 1000)


def test_a_pending_callback_is_no_terminal_one_callback_lost_stays() -> None:
    r = judge([pending(1)], statement=[paid()])
    assert (r["outcome"], r["flags"]) == ("callback_lost", ["acknowledged"])


def test_callback_lost_with_another_amount_flags_the_statement_amount() -> None:
    r = judge(statement=[paid(amount_minor=900)], covered=COVERED)
    assert summary(r) == ("callback_lost", ["statement_amount_mismatch"], "apply_statement", "amount_differs", 900)


# --- rule 8: not_at_provider ------------------------------------------------------------------


def test_covered_past_sla_without_payment_is_not_at_provider() -> None:
    assert summary(judge(covered=COVERED)) == ("not_at_provider", [], "close_unpaid", "not_found", None)


def test_not_at_provider_beats_missing() -> None:
    r = judge(covered=[("stripe", DAY + timedelta(days=i)) for i in range(5)], as_of=at(days=4))
    assert summary(r) == ("not_at_provider", [], "close_unpaid", "not_found", None)


def test_age_exactly_sla_is_still_pending_even_when_covered() -> None:
    assert summary(judge(covered=COVERED, as_of=at(minutes=5))) == ("pending", [], "none", "not_found", None)
    assert judge(covered=COVERED, as_of=at(minutes=5) + US)["outcome"] == "not_at_provider"


def test_not_covered_without_payment_keeps_the_callback_rules_and_awaits() -> None:
    assert summary(judge(covered=[("stripe", DAY)])) == ("overdue", [], "query_provider", "awaiting", None)
    assert summary(judge(as_of=at(hours=73))) == ("missing", [], "investigate", "awaiting", None)


def test_a_gap_in_the_window_leaves_the_order_uncovered() -> None:
    settings = settings_from_mapping({"providers": {"stripe": {"settlement_delay": "2d"}}})
    gap = [("stripe", DAY), ("stripe", DAY + timedelta(days=2))]
    assert judge(covered=gap, settings=settings)["statement_status"] == "awaiting"
    full = [*gap, ("stripe", NEXT)]
    assert judge(covered=full, settings=settings)["statement_status"] == "not_found"


# --- rule 3: unsettled ------------------------------------------------------------------------


def test_success_covered_without_payment_is_unsettled() -> None:
    assert summary(judge([success(1)], covered=COVERED)) == ("unsettled", [], "review_settlement", "not_found", None)


def test_unsettled_beats_a_callback_amount_mismatch() -> None:
    assert judge([success(1, amount_minor=5)], covered=COVERED)["outcome"] == "unsettled"


def test_success_not_covered_without_payment_is_confirmed_and_awaiting() -> None:
    assert summary(judge([success(1)], covered=[("stripe", DAY)])) == ("confirmed", [], "none", "awaiting", None)


def test_reversed_after_success_is_reversed_even_when_covered_without_payment() -> None:
    assert judge([success(1), reversal(2)], covered=COVERED)["outcome"] == "reversed"


# --- matched, amount_differs and the statement amount ----------------------------------------


def test_success_with_its_payment_is_confirmed_and_matched() -> None:
    assert summary(judge([success(1)], statement=[paid()], covered=COVERED)) == (
        "confirmed",
        [],
        "none",
        "matched",
        1000,
    )


def test_payment_rows_are_summed_split_settlements_match() -> None:
    r = judge([success(1)], statement=[paid(amount_minor=400), paid(amount_minor=600)])
    assert summary(r) == ("confirmed", [], "none", "matched", 1000)


def test_statement_amount_off_by_more_than_the_tolerance_is_reviewed() -> None:
    r = judge([success(1)], statement=[paid(amount_minor=1003)])
    assert summary(r) == ("confirmed", ["statement_amount_mismatch"], "review_amount", "amount_differs", 1003)


def test_statement_amount_within_the_tolerance_matches() -> None:
    settings = replace(Settings(), amount_tolerance_minor=3)
    assert judge([success(1)], statement=[paid(amount_minor=1003)], settings=settings)["statement_status"] == "matched"
    assert judge([success(1)], statement=[paid(amount_minor=996)], settings=settings)["statement_status"] == (
        "amount_differs"
    )


def test_a_payment_row_in_another_currency_differs_and_has_no_amount_in_the_orders_currency() -> None:
    r = judge([success(1)], statement=[paid(currency="EUR")])
    assert summary(r) == ("confirmed", ["statement_amount_mismatch"], "review_amount", "amount_differs", None)


def test_a_payment_row_in_another_currency_beside_a_matching_one_still_differs() -> None:
    r = judge([success(1)], statement=[paid(), paid(currency="EUR", amount_minor=1)])
    assert summary(r) == ("confirmed", ["statement_amount_mismatch"], "review_amount", "amount_differs", 1000)


def test_a_callback_amount_mismatch_with_a_matched_statement_is_amount_mismatch() -> None:
    r = judge([success(1, amount_minor=999)], statement=[paid()])
    assert summary(r) == ("amount_mismatch", [], "review_amount", "matched", 1000)


# --- rule 1, second case: statement_conflict --------------------------------------------------


def test_failed_callback_but_a_payment_row_is_a_statement_conflict() -> None:
    r = judge([failed(1)], statement=[paid()])
    assert summary(r) == ("conflict", ["statement_conflict"], "review_status", "matched", 1000)


def test_reversed_without_success_and_a_payment_row_is_a_statement_conflict() -> None:
    assert summary(judge([reversal(1)], statement=[paid()]))[:2] == ("conflict", ["statement_conflict"])


def test_success_then_reversed_with_a_payment_row_is_no_statement_conflict() -> None:
    assert summary(judge([success(1), reversal(2)], statement=[paid()]))[:2] == ("reversed", [])


def test_statement_conflict_is_flagged_also_when_the_first_case_already_matched() -> None:
    r = judge([success(1), failed(2)], statement=[paid()])
    assert (r["outcome"], r["flags"]) == ("conflict", ["statement_conflict"])


def test_failed_then_success_with_a_payment_row_is_confirmed() -> None:
    assert summary(judge([failed(1), success(2)], statement=[paid()]))[:2] == ("confirmed", [])


def test_failed_without_payment_is_failed_even_when_covered() -> None:
    assert summary(judge([failed(1)], covered=COVERED)) == ("failed", [], "none", "not_found", None)


# --- statement_refund and the action overrides ------------------------------------------------


@pytest.mark.parametrize("kind", ["refund", "chargeback"])
def test_a_refund_or_chargeback_row_flags_a_confirmed_order_for_refund_review(kind: str) -> None:
    r = judge([success(1)], statement=[paid(), row(kind)])
    assert summary(r) == ("confirmed", ["statement_refund"], "refund_review", "matched", 1000)


def test_refund_review_wins_over_the_statement_amount_review() -> None:
    r = judge([success(1)], statement=[paid(amount_minor=1), row("refund")])
    assert (r["flags"], r["action"]) == (["statement_refund", "statement_amount_mismatch"], "refund_review")


def test_statement_refund_is_set_whatever_the_outcome_and_keeps_the_outcomes_action() -> None:
    lost = judge(statement=[paid(), row("refund")])
    assert summary(lost) == ("callback_lost", ["statement_refund"], "apply_statement", "matched", 1000)
    refund_only = judge(statement=[row("chargeback")], covered=COVERED)
    assert summary(refund_only) == ("not_at_provider", ["statement_refund"], "close_unpaid", "not_found", None)


def test_conflicting_submission_still_wins_the_action() -> None:
    r = judge(statement=[paid()], orders=[{}, {"amount_minor": 5, "created_at": at(minutes=1)}])
    assert (r["outcome"], r["action"]) == ("callback_lost", "review_submission")


# --- whose rows count ---------------------------------------------------------------------------


def test_rows_of_another_provider_with_the_orders_id_are_not_the_orders() -> None:
    r = judge(
        [success(1)],
        statement=[paid(provider="adyen"), row("refund", provider="adyen")],
        covered=COVERED,
        providers=("stripe", "adyen"),
    )
    assert summary(r) == ("unsettled", [], "review_settlement", "not_found", None)


def test_a_provider_without_statements_is_judged_as_without_any() -> None:
    r = judge(orders=[{"provider": "adyen"}], statement=[paid(provider="adyen")], covered=[("adyen", DAY)])
    assert summary(r) == ("overdue", [], "query_provider", "none", None)


def test_no_provider_with_statements_is_exactly_the_run_without_statements() -> None:
    scenarios = [[], [success(1)], [failed(1)], [success(1), reversal(2)], [pending(1)]]
    for callbacks in scenarios:
        plain = classify_orders(make_orders({}), make_callbacks(*callbacks), AS_OF, Settings()).collect()
        empty = Statements(pl.DataFrame(schema=STATEMENT_ROW_COLUMNS).lazy(), ())
        with_none = classify_orders(make_orders({}), make_callbacks(*callbacks), AS_OF, Settings(), empty).collect()
        assert plain.equals(with_none)
        assert plain.row(0, named=True)["statement_status"] == "none"


def test_the_canonical_submissions_provider_decides_which_rows_count() -> None:
    orders = [{"provider": "stripe"}, {"provider": "adyen", "created_at": at(minutes=1)}]
    r = judge(orders=orders, statement=[paid(provider="adyen")], providers=("stripe", "adyen"))
    assert r["statement_status"] == "awaiting"


# --- the coverage window in the statement timezone -------------------------------------------


def test_the_window_is_counted_in_the_providers_statement_timezone() -> None:
    shanghai = settings_from_mapping({"providers": {"alipay": {"statement_timezone": "Asia/Shanghai"}}})
    late = {"provider": "alipay", "created_at": datetime(2025, 3, 1, 17, 0, tzinfo=T0.tzinfo)}  # 2025-03-02 01:00 +08
    as_of = datetime(2025, 3, 5, tzinfo=T0.tzinfo)
    utc_days = [("alipay", DAY), ("alipay", NEXT)]
    local_days = [("alipay", NEXT), ("alipay", date(2025, 3, 3))]
    assert (
        judge(orders=[late], covered=utc_days, providers=("alipay",), as_of=as_of, settings=shanghai)[
            "statement_status"
        ]
        == "awaiting"
    )
    assert (
        judge(orders=[late], covered=local_days, providers=("alipay",), as_of=as_of, settings=shanghai)[
            "statement_status"
        ]
        == "not_found"
    )


def test_an_order_created_just_before_midnight_needs_the_next_two_days() -> None:
    night = {"created_at": datetime(2025, 3, 1, 23, 59, 59, tzinfo=T0.tzinfo)}
    as_of = datetime(2025, 3, 5, tzinfo=T0.tzinfo)
    assert judge(orders=[night], covered=[("stripe", DAY)], as_of=as_of)["statement_status"] == "awaiting"
    assert judge(orders=[night], covered=COVERED, as_of=as_of)["statement_status"] == "not_found"


def test_a_zero_settlement_delay_needs_only_the_day_of_the_order() -> None:
    settings = settings_from_mapping({"providers": {"stripe": {"settlement_delay": "0s"}}})
    assert judge(covered=[("stripe", DAY)], settings=settings)["outcome"] == "not_at_provider"
