"""The statement generator: deterministic, about the generated corpus, every statement scenario present."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import duckdb
import pytest

from orders_pipeline import cli
from orders_pipeline.devtools.generator import AS_OF, generate_corpus
from orders_pipeline.devtools.statements import generate_statements
from orders_pipeline.lib.warehouse.connection import configure

N, SEED = 4000, 5


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("statements_corpus")
    generate_corpus(N, SEED, out)
    statements = generate_statements(N, SEED, out)
    warehouse = out / "w.duckdb"
    args = ["reconcile", "--orders", str(out / "orders"), "--callbacks", str(out / "callbacks")]
    args += ["--statements", str(out / "statements"), "--config", str(statements.config)]
    assert cli.main([*args, "--warehouse", str(warehouse), "--as-of", AS_OF.isoformat(), "--quiet"]) == 0
    return {"out": out, "statements": statements, "con": configure(duckdb.connect(str(warehouse), read_only=True))}


def test_same_arguments_give_byte_identical_statements(generated: dict, tmp_path: Path) -> None:
    generate_statements(N, SEED, tmp_path)
    for folder in ("statements", "statements-late"):
        assert _digest(tmp_path / folder) == _digest(generated["out"] / folder)


def test_every_provider_writes_its_native_layout(generated: dict) -> None:
    names = {p.relative_to(generated["out"] / "statements").as_posix() for p in generated["statements"].files}
    for pattern in (
        r"alipay/alipay-\d{4}-\d{2}-\d{2}\.csv",
        r"wechatpay/wechatpay-\d{4}-\d{2}-\d{2}\.csv",
        r"stripe/stripe-\d{4}-\d{2}-\d{2}\.csv",
        r"adyen/settlement_detail_report_batch_\d{8}\.csv",
        r"paypal/STL-\d{8}\.01\.009\.CSV",
        r"pgsoft/pgsoft-\d{4}-\d{2}-\d{2}\.jsonl",
    ):
        assert any(re.fullmatch(pattern, name) for name in names), pattern
    assert generated["statements"].late_files


def test_the_statements_are_about_the_corpus_orders(generated: dict) -> None:
    con = generated["con"]
    named = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE order_id IN (SELECT order_id FROM recon.order_lines)) "
        "FROM recon.statement_lines WHERE type = 'payment' AND order_id NOT LIKE 'GHOST%'"
    ).fetchone()
    assert named is not None
    assert named[0] > N // 2
    # The few others name orders whose line the corpus corrupted or dropped (a lost order log).
    assert named[1] >= 0.98 * named[0]


def test_every_statement_scenario_is_present(generated: dict) -> None:
    con = generated["con"]
    outcomes = dict(con.execute("SELECT outcome, count(*) FROM recon.order_outcomes GROUP BY 1").fetchall())
    for outcome in ("callback_lost", "not_at_provider", "unsettled", "confirmed", "missing"):
        assert outcomes.get(outcome, 0) > 0, outcome
    flags = dict(con.execute("SELECT unnest(flags), count(*) FROM recon.order_outcomes GROUP BY 1").fetchall())
    for flag in ("statement_conflict", "statement_refund", "statement_amount_mismatch"):
        assert flags.get(flag, 0) > 0, flag
    statuses = {r[0] for r in con.execute("SELECT DISTINCT statement_status FROM recon.order_outcomes").fetchall()}
    assert statuses == {"matched", "amount_differs", "not_found", "awaiting"}
    assert con.execute("SELECT count(*) FROM recon.orphan_statement_lines").fetchone()[0] > 0  # type: ignore[index]
    types = {r[0] for r in con.execute("SELECT DISTINCT type FROM recon.statement_lines").fetchall()}
    assert {"payment", "refund", "fee", "payout"} <= types
    later = con.execute("SELECT count(*) FROM recon.statement_lines WHERE booked_at > ?", [AS_OF]).fetchone()
    assert later is not None
    assert later[0] > 0  # Stripe's intraday report
    duplicates = con.execute(
        "SELECT count(*) FROM recon.input_files WHERE kind = 'statements' AND duplicate_of IS NOT NULL"
    ).fetchone()
    assert duplicates == (1,)
    missing_days = con.execute(
        "SELECT breached FROM recon.quality_alerts WHERE threshold = 'missing_statement_days'"
    ).fetchone()
    assert missing_days == (True,)


def test_every_generated_statement_row_is_landed(generated: dict) -> None:
    files = (
        generated["con"]
        .execute("SELECT sum(lines_rejected), sum(lines_landed) FROM recon.input_files WHERE kind = 'statements'")
        .fetchone()
    )
    assert files is not None
    assert files[0] == 0
    assert files[1] > 0
