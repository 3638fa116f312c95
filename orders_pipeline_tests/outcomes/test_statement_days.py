"""A statement day's arrival re-evaluates exactly the order days it covers (docs/rules.md#coverage).

Orders of stripe are created every day at 10:00 UTC; the first evaluation happens long after,
so every order day is final. Then a statement file lands: the run must re-evaluate the order
days whose orders' coverage window holds its day, the days of the orders it names, and none
of the others.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from orders_pipeline.lib.common.config import Settings, settings_from_mapping
from orders_pipeline.lib.inputs.discovery import discover_files
from orders_pipeline.lib.inputs.manifest import land_inputs
from orders_pipeline.lib.outcomes.evaluation import evaluate_outcomes
from orders_pipeline.lib.outcomes.order_days import covered_order_window, days_to_evaluate
from orders_pipeline.lib.statements.coverage import statement_days

FIRST = date(2026, 9, 1)
DAYS = [FIRST + timedelta(days=i) for i in range(10)]
LATE = datetime(2026, 12, 1, tzinfo=UTC)  # every order day is final by then


def fee(day: date, provider: str = "stripe", **kw: Any) -> dict[str, Any]:
    return {
        "provider": provider,
        "statement_date": day.isoformat(),
        "type": "fee",
        "amount": "0.10",
        "currency": "USD",
        "booked_at": f"{day.isoformat()}T23:00:00Z",
        **kw,
    }


class Landing:
    def __init__(self, root: Path, settings: Settings) -> None:
        self.root, self.settings = root, settings
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute("CREATE SCHEMA recon")
        orders = [
            {
                "order_id": f"{provider}-{day.isoformat()}",
                "merchant_id": "m",
                "provider": provider,
                "amount": "10.00",
                "currency": "USD",
                "created_at": f"{day.isoformat()}T10:00:00Z",
            }
            for day in DAYS
            for provider in ("stripe", "adyen")
        ]
        self.write("orders/o.jsonl", orders)
        (root / "callbacks").mkdir()
        (root / "statements").mkdir()

    def write(self, relative: str, rows: list[dict]) -> None:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))

    def run(self, as_of: datetime = LATE) -> list[date] | None:
        files = {kind: discover_files(self.root / kind, kind) for kind in ("orders", "callbacks", "statements")}
        land_inputs(self.con, files, self.settings, "run", ("orders", "callbacks", "statements"))
        evidence = statement_days(self.con, as_of, self.settings)
        days = days_to_evaluate(self.con, as_of, self.settings, None, evidence.providers)
        scratch = self.root / "scratch"
        scratch.mkdir(exist_ok=True)
        evaluate_outcomes(self.con, scratch, as_of, self.settings)
        return days


@pytest.fixture
def landing(tmp_path: Path) -> Landing:
    landing = Landing(tmp_path, Settings())
    landing.write("statements/stripe-early.jsonl", [fee(FIRST)])  # stripe has statements from the start
    assert landing.run() is None  # nothing evaluated yet: every day
    assert landing.run() == []  # every day final, nothing new
    return landing


def test_a_statement_day_re_evaluates_the_order_days_whose_window_holds_it(landing: Landing) -> None:
    landing.write("statements/stripe-05.jsonl", [fee(date(2026, 9, 5))])
    # Window of an order: its day and the next (settlement_delay 1 day, UTC).
    assert landing.run() == [date(2026, 9, 4), date(2026, 9, 5)]
    assert landing.run() == []


def test_the_orders_a_statement_names_are_re_evaluated_whatever_their_day(landing: Landing) -> None:
    payment = {**fee(date(2026, 9, 9)), "type": "payment", "order_id": "stripe-2026-09-02", "amount": "10.00"}
    landing.write("statements/stripe-09.jsonl", [payment])
    assert landing.run() == [date(2026, 9, 2), date(2026, 9, 8), date(2026, 9, 9)]


def test_removing_a_statement_file_re_evaluates_the_days_it_covered(landing: Landing) -> None:
    landing.write("statements/stripe-07.jsonl", [fee(date(2026, 9, 7))])
    landing.run()
    (landing.root / "statements" / "stripe-07.jsonl").unlink()
    assert landing.run() == [date(2026, 9, 6), date(2026, 9, 7)]


def test_a_providers_first_statement_re_evaluates_all_its_order_days(landing: Landing) -> None:
    landing.write("statements/adyen-03.jsonl", [fee(date(2026, 9, 3), provider="adyen")])
    assert landing.run() == DAYS
    statuses = landing.con.execute(
        "SELECT DISTINCT statement_status FROM recon.order_outcomes WHERE provider = 'adyen' ORDER BY 1"
    ).fetchall()
    assert statuses == [("awaiting",)]  # one day covers no order's whole window


def test_the_window_follows_the_statement_timezone_and_the_settlement_delay(tmp_path: Path) -> None:
    settings = settings_from_mapping(
        {"providers": {"stripe": {"statement_timezone": "Asia/Shanghai", "settlement_delay": "2d"}}}
    )
    start, end = covered_order_window(date(2026, 9, 5), settings, "stripe")
    assert (start, end) == (datetime(2026, 9, 2, 16, tzinfo=UTC), datetime(2026, 9, 5, 16, tzinfo=UTC))
    landing = Landing(tmp_path, settings)
    landing.write("statements/stripe-early.jsonl", [fee(FIRST)])
    landing.run()
    landing.write("statements/stripe-05.jsonl", [fee(date(2026, 9, 5))])
    assert landing.run() == [date(2026, 9, 3), date(2026, 9, 4), date(2026, 9, 5)]
