"""Properties of the outcome tables on random small inputs (hypothesis).

Besides the structural invariants (one outcome per existing order, summaries that tie out,
exceptions = orders needing action), every outcome row is compared with a plain-Python
reading of the rules written independently of the Polars plan.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orders_pipeline.lib.common.config import Settings
from orders_pipeline.lib.common.vocabulary import (
    ACTION_BY_OUTCOME,
    ACTIONS,
    FLAGS,
    OUTCOMES,
    STATUSES,
    TERMINAL_STATUSES,
)
from orders_pipeline.lib.finance_tables.exceptions import exceptions
from orders_pipeline.lib.finance_tables.summary import daily_summary
from orders_pipeline.lib.outcomes.rules import classify_orders
from orders_pipeline.lib.outcomes.statement_evidence import COVERED_DAY_SCHEMA, STATEMENT_ROW_COLUMNS, Statements
from orders_pipeline.lib.warehouse.contracts import ORDER_OUTCOMES
from orders_pipeline_tests.outcomes.test_rules import T0, make_callbacks, make_orders

US = timedelta(microseconds=1)
# Offsets around the interesting boundaries: skew (5m), sla (5m/15m), horizons (24h4m, 72h).
OFFSETS = [timedelta(minutes=m) for m in (-10, -5, 0, 1, 5, 10, 15, 60, 24 * 60 + 4, 72 * 60, 30 * 24 * 60)]
ORDER_IDS = ["o1", "o2", "o3", "o4"]
PROVIDERS = ["stripe", "adyen", "wechatpay", "acme"]
SETTINGS = Settings(amount_tolerance_minor=1)


@st.composite
def instants(draw: st.DrawFn) -> datetime:
    """Draw an instant near one of the rules' boundaries, give or take a microsecond."""
    return T0 + draw(st.sampled_from(OFFSETS)) + draw(st.sampled_from([-US, timedelta(0), timedelta(0), US]))


order_rows = st.fixed_dictionaries(
    {
        "order_id": st.sampled_from(ORDER_IDS),
        "merchant_id": st.sampled_from(["m1", "m2"]),
        "provider": st.sampled_from(PROVIDERS),
        "amount_minor": st.integers(0, 3),
        "currency": st.sampled_from(["USD", "JPY"]),
        "created_at": instants(),
    }
)
callback_rows = st.fixed_dictionaries(
    {
        "order_id": st.sampled_from([*ORDER_IDS, "ghost"]),
        "provider": st.sampled_from(PROVIDERS),
        "status": st.sampled_from(STATUSES),
        "amount_minor": st.one_of(st.none(), st.integers(0, 3)),
        "currency": st.one_of(st.none(), st.sampled_from(["USD", "JPY"])),
        "received_at": instants(),
        "event_time": instants(),
        "callback_id": st.sampled_from([None, None, "e1", "e2"]),
    }
)


def with_read_order(rows: list[dict[str, Any]], shuffle: list[int]) -> list[dict[str, Any]]:
    """Give rows a read_order that differs from their position in the frame.

    Values are packed like landing's: three lines per file, the file rank in the high 32 bits.
    """
    order = sorted(range(len(rows)), key=lambda i: shuffle[i % len(shuffle)] if shuffle else 0)
    return [{**row, "read_order": ((order.index(i) // 3) << 32) + order.index(i) % 3} for i, row in enumerate(rows)]


def truncated_seconds(delta: timedelta) -> int:
    """Return whole seconds of ``delta``, truncated toward zero."""
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return micros // 1_000_000 if micros >= 0 else -((-micros) // 1_000_000)


def reference(
    orders: list[dict[str, Any]],
    callbacks: list[dict[str, Any]],
    as_of: datetime,
    cfg: Settings,
    statement: tuple[list[dict[str, Any]], set[str], set[tuple[str, date]]] = ([], set(), set()),
) -> dict[str, dict[str, Any]]:
    """Apply the rules, read literally, one order at a time.

    ``statement``: the statement rows that exist for the run, the providers with statements and
    the covered (provider, day) pairs (all days UTC here).
    """
    statement_rows, with_statements, covered_days = statement
    lines: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in orders:
        if line["created_at"] <= as_of:
            lines[line["order_id"]].append(line)
    received = [c for c in callbacks if c["received_at"] <= as_of]
    effective: list[tuple[dict[str, Any], int]] = []
    deliveries: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for c in received:
        if c["callback_id"] is None:
            effective.append((c, 1))
        else:
            deliveries[(c["order_id"], c["callback_id"])].append(c)
    for group in deliveries.values():
        effective.append((min(group, key=lambda c: (c["received_at"], c["read_order"])), len(group)))

    result = {}
    for order_id, subs in lines.items():
        canon = min(subs, key=lambda o: (o["created_at"], o["read_order"]))
        profile = cfg.profile(canon["provider"])
        created = canon["created_at"]
        mine = [(c, n) for c, n in effective if c["order_id"] == order_id]
        terminal = sorted(
            (c for c, _ in mine if c["status"] in TERMINAL_STATUSES),
            key=lambda c: (c["event_time"], c["received_at"], c["read_order"]),
        )
        statuses = [c["status"] for c in terminal]

        def before(first: str, later: str, statuses: list[str] = statuses) -> bool:
            return any(a == first and b == later for i, a in enumerate(statuses) for b in statuses[i + 1 :])

        last = terminal[-1] if terminal else None
        age = as_of - created

        has = canon["provider"] in with_statements
        own = [r for r in statement_rows if has and r["order_id"] == order_id and r["provider"] == canon["provider"]]
        payments = [r for r in own if r["type"] == "payment"]
        in_currency = [r["amount_minor"] for r in payments if r["currency"] == canon["currency"]]
        window = []
        day = created.date()
        while day <= (created + profile.settlement_delay).date():
            window.append(day)
            day += timedelta(days=1)
        covered = has and all((canon["provider"], d) in covered_days for d in window)
        holds = bool(payments)
        failed_last = last is not None and (
            last["status"] == "failed" or (last["status"] == "reversed" and not before("success", "reversed"))
        )
        if not has:
            status = "none"
        elif payments:
            matches = len(in_currency) == len(payments) and (
                abs(sum(in_currency) - canon["amount_minor"]) <= cfg.amount_tolerance_minor
            )
            status = "matched" if matches else "amount_differs"
        else:
            status = "not_found" if covered else "awaiting"

        if before("success", "failed") or (failed_last and holds):
            outcome = "conflict"
        elif before("success", "reversed"):
            outcome = "reversed"
        elif last is not None and last["status"] == "success" and covered and not holds:
            outcome = "unsettled"
        elif last is not None and last["status"] == "success":
            differs = (
                last["currency"] != canon["currency"]
                or last["amount_minor"] is None
                or abs(last["amount_minor"] - canon["amount_minor"]) > cfg.amount_tolerance_minor
            )
            outcome = "amount_mismatch" if differs else "confirmed"
        elif last is not None:
            outcome = "failed"
        elif holds:
            outcome = "callback_lost"
        elif age > profile.sla and covered:
            outcome = "not_at_provider"
        elif age > profile.retry_horizon:
            outcome = "missing"
        elif age > profile.sla:
            outcome = "overdue"
        else:
            outcome = "pending"

        same = {(o["merchant_id"], o["provider"], o["amount_minor"], o["currency"]) for o in subs}
        first_received = min((c["received_at"] for c in terminal), default=None)
        flags = {
            "duplicate_submission": len(subs) > 1 and len(same) == 1,
            "conflicting_submission": len(subs) > 1 and len(same) > 1,
            "duplicate_callback": any(c["status"] in TERMINAL_STATUSES and n >= 2 for c, n in mine)
            or any(statuses.count(s) >= 2 for s in TERMINAL_STATUSES),
            "late_callback": first_received is not None and first_received > created + profile.sla,
            "callback_before_order": any(c["event_time"] < created - cfg.clock_skew_allowance for c, _ in mine),
            "acknowledged": any(c["status"] == "pending" for c, _ in mine) and not terminal,
            "provider_mismatch": any(c["provider"] != canon["provider"] for c, _ in mine),
            "statement_conflict": failed_last and holds,
            "statement_refund": any(r["type"] in ("refund", "chargeback") for r in own),
            "statement_amount_mismatch": status == "amount_differs",
        }
        action = ACTION_BY_OUTCOME[outcome]
        if outcome == "confirmed" and flags["statement_amount_mismatch"] and not flags["statement_refund"]:
            action = "review_amount"
        if outcome == "confirmed" and flags["statement_refund"]:
            action = "refund_review"
        if flags["conflicting_submission"]:
            action = "review_submission"
        result[order_id] = {
            "order_id": order_id,
            "merchant_id": canon["merchant_id"],
            "provider": canon["provider"],
            "currency": canon["currency"],
            "amount_minor": canon["amount_minor"],
            "created_at": created,
            "outcome": outcome,
            "flags": [f for f in FLAGS if flags[f]],
            "action": action,
            "submission_count": len(subs),
            "callback_count": len(mine),
            "terminal_status": last["status"] if last else None,
            "terminal_received_at": last["received_at"] if last else None,
            "callback_amount_minor": last["amount_minor"] if last else None,
            "callback_currency": last["currency"] if last else None,
            "latency_seconds": truncated_seconds(first_received - created) if first_received else None,
            "age_seconds": truncated_seconds(age),
            "as_of": as_of,
            "statement_status": status,
            "statement_amount_minor": sum(in_currency) if in_currency else None,
        }
    return result


scenario = st.tuples(
    st.lists(order_rows, max_size=6),
    st.lists(callback_rows, max_size=8),
    instants(),
    st.lists(st.integers(0, 100), max_size=8),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario)
def test_outcomes_match_a_literal_reading_of_the_spec(case: tuple[Any, ...]) -> None:
    orders, callbacks, as_of, shuffle = case
    orders, callbacks = with_read_order(orders, shuffle), with_read_order(callbacks, shuffle[::-1])
    result = classify_orders(make_orders(*orders), make_callbacks(*callbacks), as_of, SETTINGS).collect()
    expected = reference(orders, callbacks, as_of, SETTINGS)

    assert result.schema == pl.Schema(ORDER_OUTCOMES.polars_schema())
    assert result["order_id"].to_list() == sorted(expected)
    for row in result.iter_rows(named=True):
        assert row["outcome"] in OUTCOMES
        assert row["action"] in ACTIONS
        assert row == expected[row["order_id"]]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario)
def test_summary_and_exceptions_tie_out_to_the_outcomes(case: tuple[Any, ...]) -> None:
    orders, callbacks, as_of, shuffle = case
    orders, callbacks = with_read_order(orders, shuffle), with_read_order(callbacks, shuffle)
    outcomes = classify_orders(make_orders(*orders), make_callbacks(*callbacks), as_of, SETTINGS).collect()
    summary = daily_summary(outcomes.lazy()).collect()
    urgent = exceptions(outcomes.lazy()).collect()

    assert outcomes["order_id"].is_unique().all()
    assert summary["order_count"].sum() == outcomes.height
    assert summary["amount_minor"].sum() == outcomes["amount_minor"].sum()
    per_row = summary.select(
        (pl.sum_horizontal(f"{o}_count" for o in OUTCOMES) == pl.col("order_count")).all(),
        (pl.sum_horizontal(f"{o}_amount_minor" for o in OUTCOMES) == pl.col("amount_minor")).all(),
    )
    assert summary.height == 0 or per_row.row(0) == (True, True)
    assert summary.null_count().sum_horizontal().sum() == 0
    for flag in FLAGS:
        assert summary[f"{flag}_count"].sum() == outcomes["flags"].list.contains(flag).sum()

    needing_action = set(outcomes.filter(pl.col("action") != "none")["order_id"])
    assert set(urgent["order_id"]) == needing_action
    assert urgent.height == len(needing_action)
    assert urgent["priority"].is_sorted()


statement_rows = st.fixed_dictionaries(
    {
        "order_id": st.sampled_from([*ORDER_IDS, "ghost"]),
        "provider": st.sampled_from(PROVIDERS),
        "type": st.sampled_from(["payment", "payment", "refund", "chargeback", "fee"]),
        "amount_minor": st.integers(0, 3),
        "currency": st.sampled_from(["USD", "JPY"]),
    }
)
statement_scenario = st.tuples(
    scenario,
    st.lists(statement_rows, max_size=6),
    st.sets(st.sampled_from(PROVIDERS), max_size=3),
    st.sets(
        st.tuples(st.sampled_from(PROVIDERS), st.sampled_from([T0.date() + timedelta(days=d) for d in range(-1, 32)])),
        max_size=12,
    ),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(statement_scenario)
def test_outcomes_with_statements_match_a_literal_reading_of_the_spec(case: tuple[Any, ...]) -> None:
    (orders, callbacks, as_of, shuffle), rows, providers, covered = case
    providers |= {r["provider"] for r in rows}  # a provider with rows has statements
    orders, callbacks = with_read_order(orders, shuffle), with_read_order(callbacks, shuffle[::-1])
    evidence = Statements(
        pl.DataFrame(rows, schema=STATEMENT_ROW_COLUMNS).lazy(),
        tuple(sorted(providers)),
        pl.DataFrame(sorted(covered), schema=COVERED_DAY_SCHEMA, orient="row"),
    )
    result = classify_orders(make_orders(*orders), make_callbacks(*callbacks), as_of, SETTINGS, evidence).collect()
    expected = reference(orders, callbacks, as_of, SETTINGS, (rows, providers, covered))
    assert result["order_id"].to_list() == sorted(expected)
    for row in result.iter_rows(named=True):
        assert row == expected[row["order_id"]]
