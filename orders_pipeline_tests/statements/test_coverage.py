"""Which statement rows exist and count, which days are covered, and the orphans (docs/rules.md#precise-statements).

Each scenario lands a few small canonical statement files (and order lines) into an in-memory
work database, then asks the run's questions as of a time.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from orders_pipeline.lib.checks.structural import statement_coverage_ties_out, statement_rows_conserved
from orders_pipeline.lib.checks.thresholds import missing_statement_days
from orders_pipeline.lib.common.config import Settings, settings_from_mapping
from orders_pipeline.lib.finance_tables.orphans import build_orphan_statement_lines
from orders_pipeline.lib.inputs.discovery import discover_files
from orders_pipeline.lib.inputs.manifest import land_inputs
from orders_pipeline.lib.statements.coverage import build_statement_coverage, day_ends_at, statement_days
from orders_pipeline.lib.statements.effective import order_rows_sql

US = timedelta(microseconds=1)
MIDNIGHT = datetime(2026, 11, 20, tzinfo=UTC)
AS_OF = datetime(2026, 11, 20, 12, tzinfo=UTC)


def line(**kw: Any) -> dict[str, Any]:
    return {
        "provider": "stripe",
        "statement_date": "2026-11-19",
        "type": "payment",
        "order_id": "o1",
        "amount": "10.00",
        "currency": "USD",
        "booked_at": "2026-11-19T10:00:00Z",
        "provider_txn_id": "t1",
        **kw,
    }


def order(order_id: str, created_at: str = "2026-11-19T09:00:00Z") -> dict[str, Any]:
    return {
        "order_id": order_id,
        "merchant_id": "m",
        "provider": "stripe",
        "amount": "10.00",
        "currency": "USD",
        "created_at": created_at,
    }


def land(tmp_path: Path, files: dict[str, list[dict]], orders: list[dict] | None = None, settings=None):
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE SCHEMA recon")
    for name, rows in files.items():
        path = tmp_path / "statements" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "orders").mkdir(exist_ok=True)
    (tmp_path / "orders" / "o.jsonl").write_text("".join(json.dumps(o) + "\n" for o in orders or []))
    found = {
        "orders": discover_files(tmp_path / "orders", "orders"),
        "callbacks": [],
        "statements": discover_files(tmp_path / "statements", "statements"),
    }
    land_inputs(con, found, settings or Settings(), "run-1", ("orders", "callbacks", "statements"))
    return con


def covered(con: duckdb.DuckDBPyConnection, as_of: datetime, settings: Settings | None = None) -> list[tuple]:
    return statement_days(con, as_of, settings or Settings()).covered_days.rows()


def counted(con: duckdb.DuckDBPyConnection, as_of: datetime = AS_OF) -> list[tuple]:
    return con.execute(
        f"SELECT file, line_number, type, order_id FROM ({order_rows_sql()}) ORDER BY ALL", {"as_of": as_of}
    ).fetchall()


def coverage(con: duckdb.DuckDBPyConnection, as_of: datetime = AS_OF, settings: Settings | None = None) -> list[dict]:
    build_statement_coverage(con, as_of, settings or Settings())
    return con.sql("SELECT * EXCLUDE (as_of) FROM recon.statement_coverage ORDER BY ALL").pl().to_dicts()


# --- day end and coverage ----------------------------------------------------------------------


def test_a_day_is_covered_only_once_the_midnight_after_it_is_strictly_before_the_as_of(tmp_path: Path) -> None:
    con = land(tmp_path, {"a.jsonl": [line()]})
    assert covered(con, MIDNIGHT) == []
    assert covered(con, MIDNIGHT + US) == [("stripe", date(2026, 11, 19))]


def test_the_day_ends_at_midnight_in_the_providers_statement_timezone(tmp_path: Path) -> None:
    shanghai = settings_from_mapping({"providers": {"stripe": {"statement_timezone": "Asia/Shanghai"}}})
    con = land(tmp_path, {"a.jsonl": [line()]})
    beijing_midnight = datetime(2026, 11, 19, 16, tzinfo=UTC)
    assert day_ends_at(date(2026, 11, 19), "Asia/Shanghai") == beijing_midnight
    assert covered(con, beijing_midnight, shanghai) == []
    assert covered(con, beijing_midnight + US, shanghai) == [("stripe", date(2026, 11, 19))]


def test_a_fee_only_file_covers_its_day_and_gives_its_provider_statements(tmp_path: Path) -> None:
    con = land(tmp_path, {"fees.jsonl": [line(type="fee", order_id=None)]})
    days = statement_days(con, AS_OF, Settings())
    assert days.providers == ("stripe",)
    assert days.covered_days.rows() == [("stripe", date(2026, 11, 19))]
    assert counted(con) == []


def test_a_row_booked_after_the_as_of_does_not_exist_for_the_run_in_any_way(tmp_path: Path) -> None:
    later = line(booked_at="2026-11-20T12:00:00.000001Z", order_id="nobody")
    con = land(tmp_path, {"late.jsonl": [later]})
    days = statement_days(con, AS_OF, Settings())
    assert (days.providers, days.covered_days.height) == ((), 0)
    assert counted(con) == []
    assert build_orphan_statement_lines(con, AS_OF) == 0
    assert coverage(con) == []
    # Booked exactly at the as-of, it exists.
    assert counted(con, datetime(2026, 11, 20, 12, 0, 0, 1, tzinfo=UTC)) == [("late.jsonl", 1, "payment", "nobody")]


def test_each_file_is_for_every_provider_and_day_among_its_rows(tmp_path: Path) -> None:
    rows = [line(), line(provider="adyen", statement_date="2026-11-18"), line(statement_date="2026-11-17")]
    con = land(tmp_path, {"a.jsonl": rows})
    assert covered(con, AS_OF) == [
        ("adyen", date(2026, 11, 18)),
        ("stripe", date(2026, 11, 17)),
        ("stripe", date(2026, 11, 19)),
    ]


# --- the same row in two files -------------------------------------------------------------


def test_the_same_row_in_a_later_file_is_dropped_and_its_file_still_covers(tmp_path: Path) -> None:
    con = land(
        tmp_path,
        {"a.jsonl": [line()], "b.jsonl": [line(statement_date="2026-11-19", booked_at="2026-11-19T11:00:00Z")]},
    )
    assert counted(con) == [("a.jsonl", 1, "payment", "o1")]
    [day] = coverage(con)
    assert (day["files"], day["rows"], day["duplicate_rows"], day["payment_count"], day["payment_amount_minor"]) == (
        2,
        1,
        1,
        1,
        1000,
    )


def test_identical_rows_within_one_file_all_count(tmp_path: Path) -> None:
    con = land(tmp_path, {"a.jsonl": [line(), line()]})
    assert counted(con) == [("a.jsonl", 1, "payment", "o1"), ("a.jsonl", 2, "payment", "o1")]


def test_the_key_compares_the_amount_by_value_and_leaves_the_currency_out(tmp_path: Path) -> None:
    con = land(tmp_path, {"a.jsonl": [line(amount="10", currency="JPY")], "b.jsonl": [line(amount="10.0")]})
    assert counted(con) == [("a.jsonl", 1, "payment", "o1")]
    other = land(tmp_path / "x", {"a.jsonl": [line(amount="10")], "b.jsonl": [line(amount="10.01")]})
    assert len(counted(other)) == 2


@pytest.mark.parametrize("field", ["provider", "type", "order_id", "provider_txn_id"])
def test_rows_differing_in_one_key_field_are_two_rows(tmp_path: Path, field: str) -> None:
    changed = {"provider": "adyen", "type": "refund", "order_id": "o2", "provider_txn_id": "t2"}[field]
    con = land(tmp_path, {"a.jsonl": [line()], "b.jsonl": [line(**{field: changed})]})
    assert len(counted(con)) == 2


def test_missing_ids_are_equal_in_the_key(tmp_path: Path) -> None:
    fee = line(type="fee", order_id=None, provider_txn_id=None, amount="0.30")
    payout = line(type="payout", order_id=None, provider_txn_id=None, amount="5.00")
    con = land(tmp_path, {"a.jsonl": [fee], "b.jsonl": [fee, payout]})  # b is not a copy of a: two files
    [day] = coverage(con)
    assert (day["rows"], day["duplicate_rows"], day["fee_amount_minor"], day["files"]) == (2, 1, 30, 2)


def test_a_redelivered_statement_file_is_a_duplicate_file_and_counts_nothing(tmp_path: Path) -> None:
    con = land(tmp_path, {"a.jsonl": [line()], "a.resent.jsonl": [line()]})
    files = con.execute(
        "SELECT file, duplicate_of, lines_read FROM recon.input_files WHERE kind = 'statements' ORDER BY file"
    ).fetchall()
    assert files == [("a.jsonl", None, 1), ("a.resent.jsonl", "a.jsonl", 0)]
    [day] = coverage(con)
    assert (day["files"], day["rows"], day["duplicate_rows"]) == (1, 1, 0)


def test_a_copy_in_an_earlier_file_that_does_not_exist_for_the_run_drops_nothing(tmp_path: Path) -> None:
    con = land(tmp_path, {"a.jsonl": [line(booked_at="2026-11-21T00:00:00Z")], "b.jsonl": [line()]})
    assert counted(con) == [("b.jsonl", 1, "payment", "o1")]


# --- the coverage table and its tie-out --------------------------------------------------------


def test_coverage_totals_per_type_and_currency_tie_out(tmp_path: Path) -> None:
    rows = [
        line(),
        line(order_id="o2", provider_txn_id="t2", amount="5.00"),
        line(type="refund", provider_txn_id="r1", amount="2.00"),
        line(type="chargeback", order_id="o3", provider_txn_id="c1", amount="3.00"),
        line(type="fee", order_id=None, provider_txn_id="f1", amount="0.20"),
        line(type="payout", order_id=None, provider_txn_id="p1", amount="9.80"),
        line(type="adjustment", order_id=None, provider_txn_id="x1", amount="1.00"),
        line(order_id="o4", provider_txn_id="t4", amount="700", currency="JPY"),
    ]
    con = land(tmp_path, {"a.jsonl": rows, "b.jsonl": [rows[0]]})
    days = {(d["currency"]): d for d in coverage(con)}
    assert days["USD"] | {} == {
        "provider": "stripe",
        "statement_date": date(2026, 11, 19),
        "currency": "USD",
        "files": 2,
        "day_ends_at": MIDNIGHT,
        "covered": True,
        "rows": 7,
        "duplicate_rows": 1,
        "payment_count": 2,
        "payment_amount_minor": 1500,
        "refund_count": 1,
        "refund_amount_minor": 200,
        "chargeback_count": 1,
        "chargeback_amount_minor": 300,
        "fee_amount_minor": 20,
        "payout_amount_minor": 980,
        "adjustment_amount_minor": 100,
    }
    assert (days["JPY"]["payment_count"], days["JPY"]["payment_amount_minor"], days["JPY"]["files"]) == (1, 700, 2)
    assert statement_coverage_ties_out(con, AS_OF).passed
    con.execute(
        "UPDATE recon.statement_coverage SET payment_amount_minor = payment_amount_minor + 1 WHERE currency = 'USD'"
    )
    evidence = statement_coverage_ties_out(con, AS_OF)
    assert not evidence.passed
    assert evidence.failing_sample[0]["currency"] == "USD"


def test_a_day_not_ended_is_listed_but_not_covered(tmp_path: Path) -> None:
    con = land(tmp_path, {"a.jsonl": [line(statement_date="2026-11-20", booked_at="2026-11-20T08:00:00Z")]})
    [day] = coverage(con)
    assert (day["covered"], day["day_ends_at"]) == (False, datetime(2026, 11, 21, tzinfo=UTC))
    assert statement_coverage_ties_out(con, AS_OF).passed


def test_statement_rows_are_conserved_per_file(tmp_path: Path) -> None:
    con = land(tmp_path, {"a.jsonl": [line(), line(type="bogus")]})
    assert statement_rows_conserved(con).passed
    con.execute("DELETE FROM landing.statement_lines")
    assert not statement_rows_conserved(con).passed


# --- orphan statement lines ------------------------------------------------------------------


def test_orphans_are_payment_refund_and_chargeback_rows_nobody_logged_an_order_for(tmp_path: Path) -> None:
    rows = [
        line(order_id="known"),
        line(order_id="ghost", provider_txn_id="g1"),
        line(order_id="ghost", provider_txn_id="g2", type="refund"),
        line(order_id="ghost", provider_txn_id="g3", type="fee"),
        line(order_id="future", provider_txn_id="f1"),
        line(order_id="known", provider="adyen", provider_txn_id="a1"),
    ]
    orders = [order("known"), order("future", created_at="2026-11-21T00:00:00Z")]
    con = land(tmp_path, {"a.jsonl": rows, "b.jsonl": [rows[1]]}, orders)
    assert build_orphan_statement_lines(con, AS_OF) == 2
    assert con.execute(
        "SELECT type, order_id, provider_txn_id, file FROM recon.orphan_statement_lines ORDER BY ALL"
    ).fetchall() == [("payment", "ghost", "g1", "a.jsonl"), ("refund", "ghost", "g2", "a.jsonl")]


# --- statement days expected but not delivered --------------------------------------------------


def test_days_missing_between_the_first_statement_day_and_the_last_day_that_ended() -> None:
    import polars as pl

    delivered = pl.DataFrame(
        {
            "provider": ["stripe", "stripe", "stripe", "adyen"],
            "statement_date": [date(2026, 11, 16), date(2026, 11, 17), date(2026, 11, 19), date(2026, 11, 19)],
        }
    )
    assert missing_statement_days(delivered, AS_OF, Settings()) == {"stripe": [date(2026, 11, 18)]}
    assert missing_statement_days(delivered, datetime(2026, 11, 21, 0, 0, 1, tzinfo=UTC), Settings()) == {
        "adyen": [date(2026, 11, 20)],
        "stripe": [date(2026, 11, 18), date(2026, 11, 20)],
    }
