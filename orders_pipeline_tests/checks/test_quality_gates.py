"""The quality gates end to end, on a tiny corpus with planted faults.

Business anomalies (a sequence gap, a repeated seq, a callback outage, a duplicate file,
duplicate callback deliveries) are published and warn, never block. Structural faults (an
order with two outcomes, a summary that does not tie out) stop publishing: the CLI exits 1
naming the check, and the published warehouse keeps its bytes. Every suite validated in a run
lands in the Great Expectations Data Docs beside the warehouse, published or not.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest

from orders_pipeline import cli
from orders_pipeline.lib.checks import data_docs
from orders_pipeline.lib.finance_tables import summary as reconciliation_rules
from orders_pipeline.lib.outcomes import rules as outcome_rules
from orders_pipeline_tests.conftest import AS_OF, write_jsonl

DAY = datetime(2026, 11, 20, tzinfo=UTC)
# The planted outage: adyen callbacks stop after 09:00 and resume at 11:00.
OUTAGE_START = DAY.replace(hour=9)
OUTAGE_END = DAY.replace(hour=11)
OUTAGE_ORDERS = 25
LATE_CONFIRMED = 3  # outage orders whose callback came once adyen was back
SUITES = (
    "input_files_conservation",
    "order_outcomes_structure",
    "daily_summary_tie_out",
    "exceptions_tie_out",
    "business_thresholds",
)


def _ts(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _order(order_id: str, provider: str, created: datetime, **extra: object) -> dict:
    return {
        "order_id": order_id,
        "merchant_id": "m1",
        "provider": provider,
        "amount": "10.00",
        "currency": "EUR",
        "created_at": _ts(created),
        **extra,
    }


def _success(order_id: str, provider: str, received: datetime, **extra: object) -> dict:
    return {
        "order_id": order_id,
        "provider": provider,
        "status": "success",
        "amount": "10.00",
        "currency": "EUR",
        "received_at": _ts(received),
        **extra,
    }


def write_planted_corpus(root: Path) -> tuple[Path, Path, Path]:
    """Order logs, callback logs and a config file with every planted anomaly; returns their paths."""
    orders: list[dict] = []
    callbacks: list[dict] = []

    # Stream "orders-a": seq 1..10 with 4..6 missing, and seq 8 written twice (two orders).
    for n, seq in enumerate([1, 2, 3, 7, 8, 8, 9, 10], start=1):
        order_id = f"s-{n:02d}"
        created = DAY.replace(hour=10) + timedelta(minutes=n)
        orders.append(_order(order_id, "stripe", created, source="orders-a", seq=seq))
        callbacks.append(_success(order_id, "stripe", created + timedelta(minutes=1), callback_id=f"evt-{order_id}"))
    # s-01's success is delivered twice (same callback_id).
    callbacks.append(_success("s-01", "stripe", DAY.replace(hour=10, minute=9), callback_id="evt-s-01"))

    # adyen: callbacks flowing until 09:00 ...
    for n, created in enumerate([DAY.replace(hour=8, minute=m) for m in (0, 15, 30, 45, 59)], start=1):
        order_id = f"a-pre-{n}"
        orders.append(_order(order_id, "adyen", created))
        received = OUTAGE_START if n == 5 else created + timedelta(minutes=1)
        callbacks.append(_success(order_id, "adyen", received, callback_id=f"evt-{order_id}"))
    # ... then none for two hours while 25 adyen orders were created; 3 confirmed once it is back.
    for n in range(1, OUTAGE_ORDERS + 1):
        order_id = f"a-out-{n:02d}"
        orders.append(_order(order_id, "adyen", OUTAGE_START + timedelta(minutes=2 + 4 * (n - 1))))
        if n <= LATE_CONFIRMED:
            received = OUTAGE_END + timedelta(seconds=30 * (n - 1))
            callbacks.append(_success(order_id, "adyen", received, callback_id=f"evt-{order_id}"))

    orders_dir = root / "orders"
    write_jsonl(orders_dir / "2026-11-20.jsonl", orders)
    # A re-delivered file: same content under another name (read after the original).
    extra = [_order("x-01", "paypal", DAY.replace(hour=11, minute=50)), _order("x-02", "paypal", DAY.replace(hour=11))]
    write_jsonl(orders_dir / "extra-a.jsonl", extra)
    shutil.copyfile(orders_dir / "extra-a.jsonl", orders_dir / "extra-b-resent.jsonl")
    callbacks.append(_success("x-02", "paypal", DAY.replace(hour=11, minute=2)))
    write_jsonl(root / "callbacks" / "2026-11-20.jsonl", callbacks)

    config = root / "config.yaml"
    config.write_text(f"outages:\n  min_gap: 45m\n  min_orders: 20\nalerts:\n  json_file: {root / 'alerts.jsonl'}\n")
    return orders_dir, root / "callbacks", config


def _reconcile(orders: Path, callbacks: Path, config: Path, warehouse: Path) -> list[str]:
    return [
        "reconcile",
        "--orders",
        str(orders),
        "--callbacks",
        str(callbacks),
        "--config",
        str(config),
        "--warehouse",
        str(warehouse),
        "--as-of",
        AS_OF,
        "--quiet",
    ]


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One successful run over the planted corpus (shared by the read-only tests below)."""
    root = tmp_path_factory.mktemp("planted")
    orders, callbacks, config = write_planted_corpus(root)
    warehouse = root / "w.duckdb"
    code = cli.main(_reconcile(orders, callbacks, config, warehouse))
    return {"code": code, "root": root, "warehouse": warehouse, "args": (orders, callbacks, config)}


def _query(warehouse: Path, sql: str) -> pl.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        return con.sql(sql).pl()


def _docs_pages(warehouse: Path) -> dict[str, list[Path]]:
    folder = data_docs.data_docs_folder(warehouse)
    return {suite: sorted((folder / "validations" / suite).rglob("*.html")) for suite in SUITES}


def test_gaps_and_outages_read_in_chunks_of_streams_are_the_same(planted, tmp_path, monkeypatch) -> None:
    # One log stream / provider per chunk: the tables must not change.
    monkeypatch.setattr("orders_pipeline.lib.common.batching.CHUNK_ROWS", 1)
    orders, callbacks, config = planted["args"]
    own_config = tmp_path / "config.yaml"  # its own alerts file: the planted one is asserted on
    own_config.write_text(config.read_text().replace(str(planted["root"] / "alerts.jsonl"), str(tmp_path / "a.jsonl")))
    warehouse = tmp_path / "chunked.duckdb"
    assert cli.main(_reconcile(orders, callbacks, own_config, warehouse)) == 0
    for table in ("log_gaps", "callback_outages"):
        chunked = _query(warehouse, f"SELECT * FROM recon.{table}")
        assert chunked.height > 0
        assert chunked.equals(_query(planted["warehouse"], f"SELECT * FROM recon.{table}"))


def test_planted_run_publishes_and_warnings_never_block(planted) -> None:
    assert planted["code"] == 0
    runs = _query(planted["warehouse"], "SELECT checks_passed, check_warnings, check_results FROM recon.runs")
    assert runs.height == 1
    assert runs["checks_passed"][0] is True
    results = {r["check_name"]: r for r in json.loads(runs["check_results"][0])}
    for blocking in ("lines_conserved", "one_outcome_per_order", "summary_ties_out", "exceptions_tie_out"):
        assert results[blocking]["severity"] == "ERROR"
        assert results[blocking]["passed"] is True
    warned = {name for name, r in results.items() if r["severity"] == "WARN" and not r["passed"]}
    assert warned == {"overdue_rate", "callback_outages", "sequence_gaps"}
    assert runs["check_warnings"][0] == len(warned)
    assert results["sequence_gaps"]["observed"] == {"sequence_gaps": 2}
    assert results["orphan_rate"]["passed"] is True
    assert results["missing_amount"]["passed"] is True


def test_sequence_gap_and_repeated_seq_are_published(planted) -> None:
    gaps = _query(planted["warehouse"], "SELECT * FROM recon.log_gaps ORDER BY seq_from, gap_type")
    assert gaps.to_dicts() == [
        {
            "kind": "orders",
            "source": "orders-a",
            "gap_type": "missing",
            "seq_from": 4,
            "seq_to": 6,
            "line_count": 3,
            "bad_values": None,
        },
        {
            "kind": "orders",
            "source": "orders-a",
            "gap_type": "repeated",
            "seq_from": 8,
            "seq_to": 8,
            "line_count": 2,
            "bad_values": None,
        },
    ]


def test_callback_outage_is_published_with_the_orders_it_hit(planted) -> None:
    outages = _query(planted["warehouse"], "SELECT * FROM recon.callback_outages")
    assert outages.to_dicts() == [
        {
            "provider": "adyen",
            "outage_start": OUTAGE_START,
            "outage_end": OUTAGE_END,
            "duration_seconds": 7200,
            "ongoing": False,
            "orders_created": OUTAGE_ORDERS,
            "orders_overdue": OUTAGE_ORDERS - LATE_CONFIRMED,
            "orders_missing": 0,
        }
    ]


def test_duplicate_file_is_recorded_and_skipped(planted) -> None:
    files = _query(planted["warehouse"], "SELECT * FROM recon.input_files WHERE kind = 'orders' ORDER BY file")
    by_name = {row["file"]: row for row in files.to_dicts()}
    resent, original = by_name["extra-b-resent.jsonl"], by_name["extra-a.jsonl"]
    assert resent["duplicate_of"] == "extra-a.jsonl"
    assert resent["sha256"] == original["sha256"]
    assert (resent["lines_read"], resent["lines_landed"], resent["lines_rejected"]) == (0, 0, 0)
    assert original["duplicate_of"] is None
    assert original["lines_landed"] == 2
    if "status" in files.columns:
        assert resent["status"] == "duplicate"
    # its orders are counted once
    assert _query(planted["warehouse"], "SELECT submission_count FROM recon.order_outcomes WHERE order_id = 'x-01'")[
        "submission_count"
    ].to_list() == [1]


def test_duplicate_callback_delivery_is_flagged(planted) -> None:
    rows = _query(
        planted["warehouse"],
        "SELECT order_id, outcome, flags FROM recon.order_outcomes WHERE list_contains(flags, 'duplicate_callback')",
    )
    assert rows.to_dicts() == [{"order_id": "s-01", "outcome": "confirmed", "flags": ["duplicate_callback"]}]


def test_quality_alerts_show_the_breaches(planted) -> None:
    alerts = _query(planted["warehouse"], "SELECT threshold, breached, observed, max_allowed FROM recon.quality_alerts")
    by_name = {row["threshold"]: row for row in alerts.to_dicts()}
    assert {name for name, row in by_name.items() if row["breached"]} == {
        "overdue_rate",
        "callback_outages",
        "sequence_gaps",
    }
    assert by_name["callback_outages"]["observed"] == "1"
    assert by_name["sequence_gaps"]["observed"] == "2"
    assert float(by_name["overdue_rate"]["observed"]) == pytest.approx(22 / 40)
    assert by_name["orphan_rate"]["breached"] is False
    # and the configured JSON-lines sink got one object for the run
    sent = [json.loads(line) for line in (planted["root"] / "alerts.jsonl").read_text().splitlines()]
    assert len(sent) == 1
    assert {a["name"] for a in sent[0]["alerts"]} == {"overdue_rate", "callback_outages", "sequence_gaps"}


def test_data_docs_cover_every_suite_of_the_run(planted) -> None:
    folder = data_docs.data_docs_folder(planted["warehouse"])
    assert folder == planted["root"] / "w.gx_data_docs"
    index = (folder / "index.html").read_text()
    pages = _docs_pages(planted["warehouse"])
    for suite in SUITES:
        assert len(pages[suite]) == 1, suite
        assert suite in index
    thresholds = pages["business_thresholds"][0].read_text()
    assert "callback_outages" in thresholds
    assert "sequence_gaps" in thresholds


# --- blocking faults: nothing is published ------------------------------------------------------


def _published_then_faulty_run(planted: dict, tmp_path: Path) -> tuple[Path, list[str], str]:
    """A copy of the planted run's state (corpus, published warehouse, work database, Data Docs),
    so a faulty run can follow a good one without paying for the good one again.
    """
    root = tmp_path / "copy"
    shutil.copytree(planted["root"], root)
    orders, callbacks, config = write_planted_corpus(root)  # same corpus; config points into the copy
    (root / "alerts.jsonl").unlink()
    warehouse = root / "w.duckdb"
    before = hashlib.sha256(warehouse.read_bytes()).hexdigest()
    return warehouse, _reconcile(orders, callbacks, config, warehouse), before


def _assert_blocked(warehouse: Path, args: list[str], before: str, check: str, capsys) -> None:
    code = cli.main(args)
    err = capsys.readouterr().err
    assert code == 1, err
    assert check in err
    assert "Traceback" not in err
    assert hashlib.sha256(warehouse.read_bytes()).hexdigest() == before
    assert _query(warehouse, "SELECT count(*) AS n FROM recon.runs")["n"][0] == 1


def test_order_with_two_outcomes_blocks_publishing(planted, tmp_path, capsys, monkeypatch) -> None:
    warehouse, args, before = _published_then_faulty_run(planted, tmp_path)
    real_classify = outcome_rules.classify_orders

    def classify_with_duplicate(*args, **kwargs):
        frame = real_classify(*args, **kwargs)
        return pl.concat([frame, frame.head(1)])

    monkeypatch.setattr("orders_pipeline.lib.outcomes.batches.classify_orders", classify_with_duplicate)
    _assert_blocked(warehouse, args, before, "one_outcome_per_order", capsys)
    # the failed run's suite is in the Data Docs, failing, next to the published run's
    pages = _docs_pages(warehouse)["order_outcomes_structure"]
    assert len(pages) == 2
    newest = max(pages, key=lambda p: p.parent.name).read_text()
    assert "duplicate_order_ids" in newest


def test_summary_that_does_not_tie_out_blocks_publishing(planted, tmp_path, capsys, monkeypatch) -> None:
    warehouse, args, before = _published_then_faulty_run(planted, tmp_path)
    real_summary = reconciliation_rules.daily_summary

    def summary_one_count_off(*args, **kwargs):
        first = pl.int_range(pl.len()) == 0
        return real_summary(*args, **kwargs).with_columns(
            pl.when(first).then(pl.col("order_count") + 1).otherwise(pl.col("order_count")).alias("order_count")
        )

    monkeypatch.setattr("orders_pipeline.lib.finance_tables.summary.daily_summary", summary_one_count_off)
    _assert_blocked(warehouse, args, before, "summary_ties_out", capsys)
    pages = _docs_pages(warehouse)["daily_summary_tie_out"]
    assert len(pages) == 2
    newest = max(pages, key=lambda p: p.parent.name).read_text()
    assert "order_count = sum_of_outcome_counts" in newest


def test_typed_lines_check_counts_each_kind_of_bad_landed_line() -> None:
    """A line that ingestion should never have landed is caught by the typed-lines suite."""
    import duckdb

    from orders_pipeline.lib.checks.structural import typed_lines_valid

    con = duckdb.connect()
    con.execute("CREATE SCHEMA landing")
    con.execute(
        "CREATE TABLE landing.orders AS SELECT * FROM (VALUES "
        "('o1', 'm1', 'stripe', 100::BIGINT, 'USD', TIMESTAMPTZ '2026-11-20 10:00:00+00'), "
        "('o2', 'm1', 'stripe', -5::BIGINT, 'XYZ', TIMESTAMPTZ '2026-11-20 10:00:00+00'), "
        "(NULL, 'm1', 'stripe', 1::BIGINT, 'USD', TIMESTAMPTZ '2026-11-20 10:00:00+00')) "
        "AS t(order_id, merchant_id, provider, amount_minor, currency, created_at)"
    )
    con.execute(
        "CREATE TABLE landing.callbacks AS SELECT * FROM (VALUES "
        "('o1', 'stripe', 'success', 100::BIGINT, 'USD', TIMESTAMPTZ '2026-11-20 10:01:00+00', "
        " TIMESTAMPTZ '2026-11-20 10:01:00+00', false), "
        "('o1', 'stripe', 'reversed', NULL::BIGINT, NULL, TIMESTAMPTZ '2026-11-20 10:02:00+00', "
        " TIMESTAMPTZ '2026-11-20 10:02:00+00', false), "
        "('o2', 'stripe', 'ok', NULL::BIGINT, NULL, TIMESTAMPTZ '2026-11-20 10:02:00+00', "
        " TIMESTAMPTZ '2026-11-20 10:02:00+00', false), "
        # an unlinked refund (no order yet) is rejected by linking, not a typing fault
        "(NULL, 'adyen', 'reversed', 5::BIGINT, 'EUR', TIMESTAMPTZ '2026-11-20 10:02:00+00', "
        " TIMESTAMPTZ '2026-11-20 10:02:00+00', true)) "
        "AS t(order_id, provider, status, amount_minor, currency, received_at, event_time, linked)"
    )
    orders, callbacks = typed_lines_valid(con, "orders"), typed_lines_valid(con, "callbacks")
    assert not orders.passed
    assert not callbacks.passed
    assert {**orders.observed, **callbacks.observed} == {
        "order_lines_with_null_fields": 1,
        "order_lines_with_negative_amount": 1,
        "order_lines_with_unknown_currency": 1,
        "callback_lines_with_null_fields": 0,
        "callback_lines_with_unknown_status": 1,
        "settled_callbacks_without_amount": 1,
        "callback_lines_with_negative_amount": 0,
        "callback_lines_with_unknown_currency": 0,
    }


def test_outcome_structure_check_counts_each_key_problem() -> None:
    """Duplicates, orders without outcome and outcomes without an existing order are each counted."""
    from orders_pipeline.lib.checks.structural import one_outcome_per_order

    con = duckdb.connect()
    con.execute("CREATE SCHEMA landing")
    con.execute("CREATE SCHEMA recon")
    con.execute(
        "CREATE TABLE landing.orders AS SELECT * FROM (VALUES "
        "('o1', TIMESTAMPTZ '2026-11-20 09:00:00+00'), ('o1', TIMESTAMPTZ '2026-11-20 09:30:00+00'), "
        "('o2', TIMESTAMPTZ '2026-11-20 09:00:00+00'), ('o3', TIMESTAMPTZ '2026-11-20 13:00:00+00'), "
        "('o5', TIMESTAMPTZ '2026-11-20 08:00:00+00')) AS t(order_id, created_at)"
    )
    # o1 twice (one order, two rows), o2 none, o3 exists only after the as-of, o4 never logged.
    con.execute(
        "CREATE TABLE recon.order_outcomes AS SELECT order_id, 'm1' AS merchant_id, 'stripe' AS provider, "
        "'USD' AS currency, TIMESTAMPTZ '2026-11-20 09:00:00+00' AS created_at, 'pending' AS outcome, "
        "'none' AS action, []::VARCHAR[] AS flags, 100::BIGINT AS amount_minor, "
        "NULL::BIGINT AS callback_amount_minor, TIMESTAMPTZ '2026-11-20 12:00:00+00' AS as_of, "
        "'none' AS statement_status, NULL::BIGINT AS statement_amount_minor "
        "FROM (VALUES ('o1'), ('o1'), ('o3'), ('o4'), ('o5')) AS t(order_id)"
    )
    evidence = one_outcome_per_order(con, datetime(2026, 11, 20, 12, tzinfo=UTC))
    assert not evidence.passed
    assert {k: v for k, v in evidence.observed.items() if v} == {
        "duplicate_order_ids": 1,
        "orders_without_outcome": 1,
        "outcomes_without_order": 2,
    }
