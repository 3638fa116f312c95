"""Canonical statement lines (docs/rules.md#canonical-statement-line, #precise-statements): JSONL, CSV, Parquet, .gz.

Each scenario lands one small file and checks what was landed, rejected (one reason) and the
counts: read = landed + rejected + ignored.
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orders_pipeline.lib.common.config import Settings, settings_from_mapping
from orders_pipeline.lib.inputs.discovery import InputFile, discover_files
from orders_pipeline.lib.inputs.sinks import MemorySink
from orders_pipeline.lib.inputs.statements.ingest import ingest_statement_file

GOOD: dict[str, Any] = {
    "provider": "Stripe ",
    "statement_date": "2026-11-18",
    "type": " Payment",
    "order_id": "o-1",
    "amount": "12.50",
    "currency": "usd",
    "booked_at": "2026-11-18T10:00:00Z",
    "provider_txn_id": "txn_1",
    "fee": "0.40",
    "net": "12.10",
}


def land_jsonl(tmp_path: Path, rows: list[dict | str], settings: Settings | None = None, name: str = "s.jsonl"):
    path = tmp_path / name
    text = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)
    path.write_bytes(gzip.compress(text.encode()) if name.endswith(".gz") else text.encode())
    sink = MemorySink()
    result = ingest_statement_file(InputFile("statements", path, name), settings or Settings(), sink)
    return sink, result


def one_reason(tmp_path: Path, **changes: Any) -> str | None:
    row = {k: v for k, v in {**GOOD, **changes}.items() if v is not ...}
    sink, _ = land_jsonl(tmp_path, [row])
    rejected = sink.frame("rejected_lines")
    assert rejected.height + sink.frame("statements").height == 1
    return rejected["reason"][0] if rejected.height else None


def test_a_good_line_is_landed_typed_and_normalised(tmp_path: Path) -> None:
    sink, result = land_jsonl(tmp_path, [GOOD])
    row = sink.frame("statements").row(0, named=True)
    assert row == {
        "provider": "stripe",
        "statement_date": date(2026, 11, 18),
        "type": "payment",
        "order_id": "o-1",
        "amount_minor": 1250,
        "currency": "USD",
        "booked_at": datetime(2026, 11, 18, 10, tzinfo=UTC),
        "provider_txn_id": "txn_1",
        "fee_minor": 40,
        "net_minor": 1210,
        "file": "s.jsonl",
        "line_number": 1,
        "read_order": 0,
    }
    assert (result.counts.read, result.counts.landed, result.counts.rejected, result.counts.ignored) == (1, 1, 0, 0)


@pytest.mark.parametrize("field", ["provider", "statement_date", "type", "amount", "currency", "booked_at"])
def test_each_required_field_missing_is_rejected_by_name(tmp_path: Path, field: str) -> None:
    assert one_reason(tmp_path, **{field: ...}) == f"missing_field:{field}"
    assert one_reason(tmp_path, **{field: "  "}) == f"missing_field:{field}"


@pytest.mark.parametrize("kind", ["payment", "refund", "chargeback"])
def test_order_id_is_required_for_the_types_that_name_an_order(tmp_path: Path, kind: str) -> None:
    assert one_reason(tmp_path, type=kind, order_id=...) == "missing_field:order_id"


@pytest.mark.parametrize("kind", ["fee", "payout", "adjustment"])
def test_order_id_is_optional_for_fee_payout_and_adjustment(tmp_path: Path, kind: str) -> None:
    assert one_reason(tmp_path, type=kind, order_id=...) is None


def test_an_unknown_type_is_bad_type_even_without_an_order(tmp_path: Path) -> None:
    assert one_reason(tmp_path, type="settlement", order_id=...) == "bad_type"


@pytest.mark.parametrize("value", ["2026-02-30", "2026-11-18T00:00:00Z", "18.11.2026", "20261118"])
def test_statement_date_must_be_a_real_date(tmp_path: Path, value: str) -> None:
    assert one_reason(tmp_path, statement_date=value) == "bad_date"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"amount": "-12.50"}, "bad_amount"),
        ({"amount": "1.234"}, "bad_amount"),
        ({"currency": "XYZ"}, "bad_currency"),
        ({"booked_at": "yesterday"}, "bad_timestamp"),
        ({"fee": "-0.40"}, "bad_amount"),
        ({"fee": "0.405"}, "bad_amount"),
        ({"net": "abc"}, "bad_amount"),
        ({"fee": True}, "bad_amount"),
        ({"order_id": {"id": 1}}, "bad_field:order_id"),
    ],
)
def test_field_checks(tmp_path: Path, changes: dict[str, Any], reason: str) -> None:
    assert one_reason(tmp_path, **changes) == reason


def test_zero_amounts_and_absent_fee_and_net_are_fine(tmp_path: Path) -> None:
    sink, _ = land_jsonl(tmp_path, [{**GOOD, "amount": 0, "fee": None, "net": ""}])
    row = sink.frame("statements").row(0, named=True)
    assert (row["amount_minor"], row["fee_minor"], row["net_minor"]) == (0, None, None)


def test_a_json_number_amount_is_read_exactly(tmp_path: Path) -> None:
    sink, _ = land_jsonl(
        tmp_path,
        [
            '{"provider":"adyen","statement_date":"2026-11-18","type":"payment",'
            '"order_id":"o","amount":12.500000000000000001,"currency":"USD",'
            '"booked_at":"2026-11-18T10:00:00Z"}'
        ],
    )
    assert sink.frame("rejected_lines")["reason"].to_list() == ["bad_amount"]


def test_a_naive_booked_at_is_read_in_the_configured_timezone(tmp_path: Path) -> None:
    settings = settings_from_mapping({"timezone": "Asia/Shanghai"})
    sink, _ = land_jsonl(tmp_path, [{**GOOD, "booked_at": "2026-11-18 10:00:00"}], settings)
    assert sink.frame("statements")["booked_at"][0] == datetime(2026, 11, 18, 2, tzinfo=UTC)


def test_several_problems_give_one_reason_in_the_documented_order(tmp_path: Path) -> None:
    # missing currency comes before the bad type, the bad date and the bad amount
    assert one_reason(tmp_path, currency=..., type="x", statement_date="no", amount="-1") == "missing_field:currency"
    assert one_reason(tmp_path, type="x", statement_date="no", amount="-1") == "bad_type"
    assert one_reason(tmp_path, statement_date="no", amount="-1") == "bad_date"


def test_malformed_lines_are_rejected_and_counted(tmp_path: Path) -> None:
    sink, result = land_jsonl(tmp_path, [GOOD, "{broken", "[1, 2]", "", GOOD])
    assert sink.frame("rejected_lines").select("line_number", "reason").rows() == [
        (2, "malformed_json"),
        (3, "malformed_json"),
    ]
    assert sink.frame("statements")["line_number"].to_list() == [1, 5]
    assert (result.counts.read, result.counts.landed, result.counts.rejected) == (4, 2, 2)


def test_gzipped_jsonl_reads_the_same(tmp_path: Path) -> None:
    sink, result = land_jsonl(tmp_path, [GOOD, GOOD], name="s.jsonl.gz")
    assert sink.frame("statements").height == 2
    assert result.counts.read == 2


def test_canonical_csv_with_a_header(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text(
        "provider,statement_date,type,order_id,amount,currency,booked_at\n"
        "wechatpay,2026-11-18,refund,o-9,1.00,CNY,2026-11-18T10:00:00+08:00\n"
        "wechatpay,2026-11-18,fee,,0.10,CNY,2026-11-18T23:00:00+08:00,extra\n"
    )
    sink = MemorySink()
    result = ingest_statement_file(InputFile("statements", path, "s.csv"), Settings(), sink)
    assert sink.frame("statements").select("type", "order_id", "amount_minor").rows() == [("refund", "o-9", 100)]
    assert sink.frame("rejected_lines").select("line_number", "reason").rows() == [(3, "malformed_csv")]
    assert result.counts.read == 2


def _parquet(tmp_path: Path, columns: dict[str, pa.Array]) -> tuple[MemorySink, Any]:
    path = tmp_path / "s.parquet"
    pq.write_table(pa.table(columns), path)
    sink = MemorySink()
    return sink, ingest_statement_file(InputFile("statements", path, "s.parquet"), Settings(), sink)


def test_parquet_typed_columns_are_read_exactly(tmp_path: Path) -> None:
    sink, result = _parquet(
        tmp_path,
        {
            "provider": pa.array(["paypal", "paypal"]),
            "statement_date": pa.array([date(2026, 11, 18), date(2026, 11, 18)]),
            "type": pa.array(["payment", "fee"]),
            "order_id": pa.array(["o-1", None]),
            "amount": pa.array([Decimal("12.50"), Decimal("0.30")], pa.decimal128(12, 2)),
            "currency": pa.array(["EUR", "EUR"]),
            "booked_at": pa.array([datetime(2026, 11, 18, 9, tzinfo=UTC)] * 2, pa.timestamp("us", tz="UTC")),
            "fee": pa.array([40, None], pa.int64()),
        },
    )
    assert sink.frame("statements").select("type", "order_id", "amount_minor", "booked_at", "fee_minor").rows() == [
        ("payment", "o-1", 1250, datetime(2026, 11, 18, 9, tzinfo=UTC), 4000),
        ("fee", None, 30, datetime(2026, 11, 18, 9, tzinfo=UTC), None),
    ]
    assert sink.frame("rejected_lines")["reason"].to_list() == []
    assert result.counts.read == 2
    assert sink.frame("statements")["line_number"].to_list() == [1, 2]


def test_an_integer_fee_in_parquet_is_not_a_whole_unit_of_the_currency(tmp_path: Path) -> None:
    # Parquet integers are their text: fee 40 (an int column) is 40 EUR, not 40 cents.
    sink, _ = _parquet(
        tmp_path,
        {
            "provider": pa.array(["paypal"]),
            "statement_date": pa.array(["2026-11-18"]),
            "type": pa.array(["fee"]),
            "amount": pa.array(["1"]),
            "currency": pa.array(["EUR"]),
            "booked_at": pa.array(["2026-11-18T09:00:00Z"]),
            "fee": pa.array([40], pa.int64()),
        },
    )
    assert sink.frame("statements")["fee_minor"].to_list() == [4000]


def test_a_float_amount_column_rejects_the_whole_parquet_file_as_one_record(tmp_path: Path) -> None:
    sink, result = _parquet(
        tmp_path,
        {
            "provider": pa.array(["paypal"]),
            "statement_date": pa.array(["2026-11-18"]),
            "type": pa.array(["payment"]),
            "order_id": pa.array(["o"]),
            "amount": pa.array([12.5], pa.float64()),
            "currency": pa.array(["EUR"]),
            "booked_at": pa.array(["2026-11-18T09:00:00Z"]),
        },
    )
    rejected = sink.frame("rejected_lines").row(0, named=True)
    assert (rejected["line_number"], rejected["reason"]) == (0, "bad_amount")
    assert "'amount'" in rejected["message"]
    assert "double" in rejected["message"]
    assert (result.counts.read, result.counts.landed, result.counts.rejected) == (1, 0, 1)


def test_parquet_is_discovered_for_statements_only(tmp_path: Path) -> None:
    (tmp_path / "a.parquet").write_bytes(b"PAR1")
    (tmp_path / "b.jsonl").write_text("")
    assert [f.relative for f in discover_files(tmp_path, "statements")] == ["a.parquet", "b.jsonl"]
    skipped: list[str] = []
    assert [f.relative for f in discover_files(tmp_path, "orders", skipped)] == ["b.jsonl"]
    assert skipped == ["a.parquet"]
