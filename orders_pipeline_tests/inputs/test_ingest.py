"""Ingestion: discovery, line reading, validation rules, files, sinks.

docs/rules.md: Inputs, Money, Nothing is lost, and Precise rules > Reading.
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from orders_pipeline.lib.common.config import Settings
from orders_pipeline.lib.common.errors import InputError
from orders_pipeline.lib.common.time import TIMESTAMP
from orders_pipeline.lib.inputs.discovery import InputFile, discover_files
from orders_pipeline.lib.inputs.ingest import ingest_file, parse_callback_lines, parse_order_lines
from orders_pipeline.lib.inputs.sinks import DuckDBSink, MemorySink
from orders_pipeline.lib.warehouse.contracts import CALLBACK_LINES, ORDER_LINES, REJECTED_LINES

UTC_SETTINGS = Settings()
DROP = object()


def order(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "order_id": "o-1",
        "merchant_id": "m-1",
        "provider": "stripe",
        "amount": "12.50",
        "currency": "USD",
        "created_at": "2024-05-01T12:00:00Z",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not DROP}


def callback(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "order_id": "o-1",
        "provider": "stripe",
        "status": "success",
        "amount": "12.50",
        "currency": "USD",
        "received_at": "2024-05-01T12:01:00Z",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not DROP}


def as_line(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def lines_frame(lines: list[Any]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "file": ["f.jsonl"] * len(lines),
            "line_number": list(range(1, len(lines) + 1)),
            "read_order": list(range(len(lines))),
            "raw": [as_line(v) for v in lines],
        },
        schema={"file": pl.String, "line_number": pl.Int64, "read_order": pl.Int64, "raw": pl.String},
    )


def parse_orders(*lines: Any, settings: Settings = UTC_SETTINGS) -> tuple[pl.DataFrame, pl.DataFrame]:
    landed, rejected = parse_order_lines(lines_frame(list(lines)), settings)
    assert landed.schema == pl.Schema(ORDER_LINES.polars_schema())
    assert rejected.schema == pl.Schema(REJECTED_LINES.polars_schema())
    assert landed.height + rejected.height == len(lines)
    return landed, rejected


def parse_callbacks(*lines: Any, settings: Settings = UTC_SETTINGS) -> tuple[pl.DataFrame, pl.DataFrame]:
    landed, rejected = parse_callback_lines(lines_frame(list(lines)), settings)
    assert landed.schema == pl.Schema(CALLBACK_LINES.polars_schema())
    assert rejected.schema == pl.Schema(REJECTED_LINES.polars_schema())
    assert landed.height + rejected.height == len(lines)
    return landed, rejected


def order_reason(line: Any, settings: Settings = UTC_SETTINGS) -> str | None:
    landed, rejected = parse_orders(line, settings=settings)
    return rejected["reason"][0] if rejected.height else None


def callback_reason(line: Any, settings: Settings = UTC_SETTINGS) -> str | None:
    landed, rejected = parse_callbacks(line, settings=settings)
    return rejected["reason"][0] if rejected.height else None


def landed_order(line: Any, settings: Settings = UTC_SETTINGS) -> dict[str, Any]:
    landed, rejected = parse_orders(line, settings=settings)
    assert rejected.height == 0, rejected.to_dicts()
    return landed.row(0, named=True)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.lower().endswith(".gz"):
        data = content.encode() if isinstance(content, str) else content
        path.write_bytes(gzip.compress(data))
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_bytes(content.encode())
    return path


def run(root: Path, kind: str = "orders", chunk_lines: int = 1_000_000, settings: Settings = UTC_SETTINGS):
    sink = MemorySink()
    rows = []
    for file in discover_files(root, kind):  # type: ignore[arg-type]
        ingested = ingest_file(file, settings, sink, chunk_lines=chunk_lines)
        counts = ingested.counts
        rows.append(
            {
                "file": file.relative,
                "sha256": ingested.sha256,
                "lines_read": counts.read,
                "lines_landed": counts.landed,
                "lines_rejected": counts.rejected,
            }
        )
    files = pl.DataFrame(
        rows,
        schema={
            "file": pl.String,
            "sha256": pl.String,
            "lines_read": pl.Int64,
            "lines_landed": pl.Int64,
            "lines_rejected": pl.Int64,
        },
    )
    return files, sink.frame(kind), sink.frame("rejected_lines")  # type: ignore[arg-type]


def jsonl(*values: Any) -> str:
    return "".join(as_line(v) + "\n" for v in values)


# ---------------------------------------------------------------------------------------------
# discover_files
# ---------------------------------------------------------------------------------------------


def test_discover_recurses_and_sorts_by_relative_path(tmp_path: Path) -> None:
    for name in ["b/2.jsonl", "a.csv", "b/1.JSONL.GZ", "c/d/e.csv.gz", "notes.txt", ".hidden.jsonl", ".tmp/x.jsonl"]:
        write(tmp_path / name, "")
    found = discover_files(tmp_path, "orders")
    assert [f.relative for f in found] == ["a.csv", "b/1.JSONL.GZ", "b/2.jsonl", "c/d/e.csv.gz"]
    assert all(f.kind == "orders" and f.path.is_absolute() for f in found)


def test_discover_single_file_relative_is_its_name(tmp_path: Path) -> None:
    path = write(tmp_path / "sub" / "cb.jsonl", "")
    assert discover_files(path, "callbacks") == [InputFile("callbacks", path.resolve(), "cb.jsonl")]


def test_discover_missing_path_raises_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"orders path .*nope does not exist; pass a file or a directory"):
        discover_files(tmp_path / "nope", "orders")


def test_discover_single_file_with_other_suffix_raises(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is not a .jsonl, .csv"):
        discover_files(write(tmp_path / "orders.json", "{}"), "orders")


def test_discover_empty_directory_returns_no_files(tmp_path: Path) -> None:
    assert discover_files(tmp_path, "orders") == []


# ---------------------------------------------------------------------------------------------
# Orders: landing and normalisation
# ---------------------------------------------------------------------------------------------


def test_good_order_lands_with_normalised_fields() -> None:
    row = landed_order(
        order(
            order_id=" O-1 ",
            merchant_id="M1",
            provider="  Stripe ",
            currency=" usd",
            customer_id="c-9",
            request_id="r-1",
            source="api-1",
            seq=7,
            extra={"ignored": True},
        )
    )
    assert row == {
        "order_id": " O-1 ",  # ids are exact
        "merchant_id": "M1",
        "provider": "stripe",
        "amount_minor": 1250,
        "currency": "USD",
        "created_at": utc(2024, 5, 1, 12),
        "customer_id": "c-9",
        "request_id": "r-1",
        "source": "api-1",
        "seq": 7,
        "bad_seq": None,
        "file": "f.jsonl",
        "line_number": 1,
        "read_order": 0,
    }


def test_blank_optional_fields_land_as_null() -> None:
    row = landed_order(order(customer_id="", request_id="  ", source=None, seq=None))
    assert (row["customer_id"], row["request_id"], row["source"], row["seq"]) == (None, None, None, None)


def test_number_ids_are_taken_as_their_literal_text() -> None:
    row = landed_order(order(order_id=12345678901234567890123, merchant_id=7, customer_id=1))
    assert (row["order_id"], row["merchant_id"], row["customer_id"]) == ("12345678901234567890123", "7", "1")
    row = landed_order(
        '{"order_id": 12.10, "merchant_id": 1e3, "provider": "stripe", "amount": "1", '
        '"currency": "USD", "created_at": "2024-05-01T12:00:00Z"}'
    )
    assert (row["order_id"], row["merchant_id"]) == ("12.10", "1e3")


@pytest.mark.parametrize("value", [True, False, {"a": 1}, [1, 2], {}])
def test_boolean_object_or_array_id_is_bad_field(value: Any) -> None:
    assert order_reason(order(merchant_id=value)) == "bad_field:merchant_id"


def test_boolean_provider_is_bad_field() -> None:
    assert order_reason(order(provider=True)) == "bad_field:provider"


def test_unknown_keys_are_ignored_and_a_repeated_read_key_rejects_the_line() -> None:
    line = (
        '{"order_id":"a","Order_ID":"c","merchant_id":"m","provider":"stripe",'
        '"amount":"1","currency":"USD","created_at":"2024-05-01T12:00:00Z","zzz":[1,{"x":2}],"zzz":0}'
    )
    assert landed_order(line)["order_id"] == "a"
    assert order_reason(line.replace('"order_id":"a"', '"order_id":"a","order_id":"b"')) == "duplicate_key"


# ---------------------------------------------------------------------------------------------
# Orders: rejection reasons
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("line", ["not json", '{"order_id": "a"', "[1, 2]", '"a string"', "42", "{} {}", "\x0c{}"])
def test_malformed_json_is_rejected(line: str) -> None:
    landed, rejected = parse_orders(line)
    assert rejected["reason"].to_list() == ["malformed_json"]
    assert rejected["raw"][0] == line
    assert rejected["message"][0].startswith("line is")


@pytest.mark.parametrize("field", ["order_id", "merchant_id", "provider", "amount", "currency", "created_at"])
@pytest.mark.parametrize("missing", [DROP, None, "", "   "])
def test_missing_required_order_field(field: str, missing: Any) -> None:
    assert order_reason(order(**{field: missing})) == f"missing_field:{field}"


def test_missing_fields_reported_in_spec_table_order() -> None:
    assert order_reason(order(created_at=DROP, currency=DROP, merchant_id="")) == "missing_field:merchant_id"
    assert order_reason({"provider": "stripe"}) == "missing_field:order_id"


def test_bad_currency_is_rejected() -> None:
    for currency in ["XXX", "US", "dollar", 840, "XAU"]:
        assert order_reason(order(currency=currency)) == "bad_currency", currency


@pytest.mark.parametrize("amount", ["-5", "-0.01", -5, -0.5, "-1e2"])
def test_negative_amount_is_bad_amount(amount: Any) -> None:
    landed, rejected = parse_orders(order(amount=amount))
    assert rejected["reason"].to_list() == ["bad_amount"]


@pytest.mark.parametrize("amount", ["abc", "1e2", ".5", "5.", "1,5", "+5", "١٢", True, {"v": 1}, [1], "NaN"])
def test_non_decimal_amount_is_bad_amount(amount: Any) -> None:
    assert order_reason(order(amount=amount)) == "bad_amount"


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("1200", "JPY", 1200),
        ("12.5", "USD", 1250),
        (" 12.50 ", "USD", 1250),
        ("1.234", "KWD", 1234),
        (1200, "JPY", 1200),
        (12.5, "USD", 1250),
        (1.234, "KWD", 1234),
        ("12.500", "USD", 1250),
        ("0012.30", "USD", 1230),
        ("1.2300", "KWD", 1230),
    ],
)
def test_amount_in_minor_units_by_currency_exponent(amount: Any, currency: str, minor: int) -> None:
    assert landed_order(order(amount=amount, currency=currency))["amount_minor"] == minor


@pytest.mark.parametrize("amount", ["0", "0.00", 0, 0.0, "000.000"])
def test_zero_amount_is_allowed(amount: Any) -> None:
    assert landed_order(order(amount=amount))["amount_minor"] == 0


def test_more_decimals_than_the_currency_allows_is_rejected_with_message() -> None:
    landed, rejected = parse_orders(order(amount="1.234"), order(amount="1.5", currency="JPY"))
    assert rejected["reason"].to_list() == ["bad_amount", "bad_amount"]
    assert rejected["message"].to_list() == [
        "amount '1.234' has more decimals than USD allows (2)",
        "amount '1.5' has more decimals than JPY allows (0)",
    ]


def test_json_number_amount_is_taken_at_its_exact_value() -> None:
    line = (
        '{"order_id":"o","merchant_id":"m","provider":"p","amount":12.500000000000000001,'
        '"currency":"USD","created_at":"2024-05-01T12:00:00Z"}'
    )
    landed, rejected = parse_orders(line)
    assert rejected["reason"].to_list() == ["bad_amount"]
    assert rejected["message"][0] == "amount '12.500000000000000001' has more decimals than USD allows (2)"


def test_json_number_amount_in_exponent_notation() -> None:
    def line(amount: str, currency: str) -> str:
        return (
            f'{{"order_id":"o","merchant_id":"m","provider":"p","amount":{amount},"currency":"{currency}",'
            '"created_at":"2024-05-01T12:00:00Z"}'
        )

    assert landed_order(line("1.25e2", "JPY"))["amount_minor"] == 125
    assert landed_order(line("12.500", "USD"))["amount_minor"] == 1250
    assert landed_order(line("1.25E2", "USD"))["amount_minor"] == 12500
    assert landed_order(line("125e-2", "USD"))["amount_minor"] == 125
    assert landed_order(line("1.255e1", "USD"))["amount_minor"] == 1255
    assert order_reason(line("1.2555e1", "USD")) == "bad_amount"
    assert order_reason(line("1e400", "USD")) == "bad_amount"
    assert order_reason(line("1e-400", "USD")) == "bad_amount"


def test_amount_overflowing_int64_is_rejected() -> None:
    for amount in ["123456789012345678901", 123456789012345678901, "99999999999999999999.99"]:
        landed, rejected = parse_orders(order(amount=amount))
        assert rejected["reason"].to_list() == ["bad_amount"], amount
        assert "too large" in rejected["message"][0]


def test_amount_key_repeated_in_a_nested_object_uses_the_top_level_value() -> None:
    line = (
        '{"meta":{"amount":7.5},"order_id":"o","merchant_id":"m","provider":"p","amount":12.5,'
        '"currency":"USD","created_at":"2024-05-01T12:00:00Z","note":"amount"}'
    )
    assert landed_order(line)["amount_minor"] == 1250
    line = line.replace('"amount":12.5', '"amount":12.505')
    assert order_reason(line) == "bad_amount"


def test_amount_key_spelled_with_unicode_escape() -> None:
    line = (
        '{"order_id":"o","merchant_id":"m","provider":"p","amou\\u006et":12.500000000000000001,'
        '"currency":"USD","created_at":"2024-05-01T12:00:00Z"}'
    )
    assert order_reason(line) == "bad_amount"
    assert landed_order(line.replace("12.500000000000000001", "12.25"))["amount_minor"] == 1225


def test_amount_string_with_escapes_is_decoded() -> None:
    line = (
        '{"order_id":"o","merchant_id":"m","provider":"p","amount":"\\u0031\\u0032.5",'
        '"currency":"USD","created_at":"2024-05-01T12:00:00Z"}'
    )
    assert landed_order(line)["amount_minor"] == 1250


@pytest.mark.parametrize(
    ("created_at", "expected"),
    [
        ("2024-05-01T12:00:00Z", utc(2024, 5, 1, 12)),
        ("2024-05-01t12:00:00z", utc(2024, 5, 1, 12)),
        ("2024-05-01 12:00:00Z", utc(2024, 5, 1, 12)),
        ("2024-05-01T12:00:00+08:00", utc(2024, 5, 1, 4)),
        ("2024-05-01T12:00:00-05:30", utc(2024, 5, 1, 17, 30)),
        ("2024-05-01T12:00:00.123456789Z", utc(2024, 5, 1, 12, 0, 0, 123456)),
        # Fractions beyond microseconds are truncated, whatever their length (issue 15 row 10).
        ("2024-05-01T12:00:00.1234567890Z", utc(2024, 5, 1, 12, 0, 0, 123456)),
        ("2024-05-01T12:00:00.999999999999+02:00", utc(2024, 5, 1, 10, 0, 0, 999999)),
        ("2024-05-01 12:00:00.00000099999", utc(2024, 5, 1, 12, 0, 0, 0)),
        ("2024-05-01T12:00:00.5+01:00", utc(2024, 5, 1, 11, 0, 0, 500000)),
        ("2024-05-01T12:00:00", utc(2024, 5, 1, 12)),
    ],
)
def test_timestamp_forms_in_utc(created_at: str, expected: datetime) -> None:
    assert landed_order(order(created_at=created_at))["created_at"] == expected


def test_naive_timestamp_is_read_in_the_configured_timezone() -> None:
    shanghai = Settings(timezone="Asia/Shanghai")
    assert landed_order(order(created_at="2024-05-01T12:00:00"), shanghai)["created_at"] == utc(2024, 5, 1, 4)
    assert landed_order(order(created_at="2024-05-01T12:00:00Z"), shanghai)["created_at"] == utc(2024, 5, 1, 12)
    assert landed_order(order(created_at="2024-05-01T12:00:00+00:00"), shanghai)["created_at"] == utc(2024, 5, 1, 12)


def test_naive_timestamp_in_a_dst_gap_is_bad_timestamp() -> None:
    new_york = Settings(timezone="America/New_York")
    landed, rejected = parse_orders(order(created_at="2024-03-10T02:30:00"), settings=new_york)
    assert rejected["reason"].to_list() == ["bad_timestamp"]
    assert "does not exist in timezone America/New_York" in rejected["message"][0]
    assert landed_order(order(created_at="2024-03-10T02:30:00Z"), new_york)["created_at"] == utc(2024, 3, 10, 2, 30)


def test_ambiguous_naive_timestamp_takes_the_earlier_instant() -> None:
    new_york = Settings(timezone="America/New_York")
    assert landed_order(order(created_at="2024-11-03T01:30:00"), new_york)["created_at"] == utc(2024, 11, 3, 5, 30)


@pytest.mark.parametrize(
    "created_at",
    [
        "2024-13-01T00:00:00Z",
        "2024-02-30T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "2024-01-01T24:00:00Z",
        "2016-12-31T23:59:60Z",
        "2024-01-01T00:00Z",
        "2024-01-01",
        "2024-01-01T00:00:00.Z",
        "2024-01-01T00:00:00+0800",
        "2024-01-01T00:00:00+24:00",
        "2024-01-01T00:00:00 UTC",
        " 2024-01-01T00:00:00Z",
        "2024-1-1T00:00:00Z",
        "yesterday",
        "0000-01-01T00:00:00Z",
        "9999-12-31T23:30:00-01:00",
        1714564800,
        True,
    ],
)
def test_invalid_timestamp_is_bad_timestamp(created_at: Any) -> None:
    assert order_reason(order(created_at=created_at)) == "bad_timestamp"


@pytest.mark.parametrize(
    ("seq", "expected"), [(0, 0), (5, 5), ("7", 7), (" 8 ", 8), ("007", 7), (2**63 - 1, 2**63 - 1)]
)
def test_valid_seq(seq: Any, expected: int) -> None:
    assert landed_order(order(seq=seq))["seq"] == expected


@pytest.mark.parametrize(
    ("seq", "written"),
    [(-1, "-1"), (5.0, "5.0"), ("x", "x"), ("n/a", "n/a"), ("1e3", "1e3"), (True, "true"), ({"n": 1}, '{"n":1}')],
)
def test_a_seq_that_is_not_a_non_negative_integer_lands_as_absent(seq: Any, written: str) -> None:
    """Precise rules > Reading: ``seq`` never rejects a line; the value is kept for log_gaps."""
    row = landed_order(order(seq=seq, source="api-1"))
    assert (row["seq"], row["bad_seq"], row["source"]) == (None, written, "api-1")
    assert landed_order(order(seq=2**63))["seq"] is None


def test_one_reason_per_line_in_precedence_order() -> None:
    assert order_reason(order(order_id="", amount="x", currency="XXX")) == "missing_field:order_id"
    assert order_reason(order(merchant_id=True, amount="x")) == "bad_field:merchant_id"
    assert order_reason(order(amount="x", currency="XXX", created_at="bad")) == "bad_amount"
    assert order_reason(order(amount="1.234", currency="XXX")) == "bad_currency"
    assert order_reason(order(amount="1.234", created_at="bad")) == "bad_amount"
    assert order_reason(order(created_at="bad", customer_id=[1])) == "bad_timestamp"
    assert order_reason(order(customer_id=[1], seq=-1)) == "bad_field:customer_id"
    assert order_reason(order(created_at="bad", source=[1], seq=-1)) == "bad_timestamp"


def test_rejected_line_keeps_source_and_seq_when_readable() -> None:
    landed, rejected = parse_orders(
        order(amount="x", source="api-1", seq=41),
        order(amount="x", source="api-1", seq=-1),
        order(amount="x", source={"a": 1}, seq="42"),
        "not json",
    )
    assert rejected.select("source", "seq").rows() == [("api-1", 41), ("api-1", None), (None, 42), (None, None)]


def test_rejected_row_columns() -> None:
    landed, rejected = parse_orders(order(currency="EURO"))
    assert rejected.row(0, named=True) == {
        "kind": "orders",
        "file": "f.jsonl",
        "line_number": 1,
        "raw": json.dumps(order(currency="EURO")),
        "reason": "bad_currency",
        "message": "currency 'EURO' is not an ISO 4217 code with a known exponent",
        "source": None,
        "seq": None,
    }


# ---------------------------------------------------------------------------------------------
# Callbacks
# ---------------------------------------------------------------------------------------------


def test_good_callback_lands_and_event_time_defaults_to_received_at() -> None:
    landed, rejected = parse_callbacks(
        callback(status=" SUCCESS ", provider="Adyen", callback_id="cb-1", provider_txn_id="t-1", source="wh", seq="3")
    )
    assert rejected.height == 0
    assert landed.row(0, named=True) == {
        "order_id": "o-1",
        "provider": "adyen",
        "status": "success",
        "amount_minor": 1250,
        "currency": "USD",
        "received_at": utc(2024, 5, 1, 12, 1),
        "event_time": utc(2024, 5, 1, 12, 1),
        "callback_id": "cb-1",
        "provider_txn_id": "t-1",
        "parent_txn_id": None,
        "linked": False,
        "verified": None,
        "envelope_raw": None,
        "source": "wh",
        "seq": 3,
        "bad_seq": None,
        "file": "f.jsonl",
        "line_number": 1,
        "record_index": None,
        "read_order": 0,
    }


def test_callback_event_time_when_present() -> None:
    landed, _ = parse_callbacks(callback(event_time="2024-05-01T11:59:00+00:00"))
    assert landed["event_time"][0] == utc(2024, 5, 1, 11, 59)


def test_callback_bad_event_time_rejects_the_line() -> None:
    assert callback_reason(callback(event_time="soon")) == "bad_timestamp"
    landed, rejected = parse_callbacks(callback(event_time="soon"))
    assert rejected["message"][0].startswith("event_time 'soon' is not a valid timestamp")


@pytest.mark.parametrize("field", ["order_id", "provider", "status", "received_at"])
def test_missing_required_callback_field(field: str) -> None:
    assert callback_reason(callback(**{field: DROP})) == f"missing_field:{field}"


@pytest.mark.parametrize("status", ["success", "reversed"])
def test_success_and_reversed_require_amount_and_currency(status: str) -> None:
    assert callback_reason(callback(status=status, amount=DROP)) == "missing_field:amount"
    assert callback_reason(callback(status=status, currency="")) == "missing_field:currency"
    landed, rejected = parse_callbacks(callback(status=status, amount=DROP, currency=DROP))
    assert rejected["message"][0] == f"field 'amount' is required for status '{status}'"


@pytest.mark.parametrize("status", ["failed", "pending"])
def test_failed_and_pending_callbacks_may_omit_money(status: str) -> None:
    landed, rejected = parse_callbacks(callback(status=status, amount=DROP, currency=None))
    assert rejected.height == 0
    assert landed.select("amount_minor", "currency").row(0) == (None, None)


def test_amount_without_currency_on_a_failed_callback_is_missing_currency() -> None:
    assert callback_reason(callback(status="failed", currency=DROP)) == "missing_field:currency"
    assert callback_reason(callback(status="pending", amount="")) == "missing_field:amount"


def test_bad_amount_on_a_failed_callback_rejects_the_line() -> None:
    assert callback_reason(callback(status="failed", amount="1.234")) == "bad_amount"
    assert callback_reason(callback(status="failed", currency="ZZZ")) == "bad_currency"


@pytest.mark.parametrize("status", ["ok", "refunded", "", 1, True])
def test_bad_status(status: Any) -> None:
    expected = "missing_field:status" if status == "" else "bad_status"
    assert callback_reason(callback(status=status, amount=DROP)) == expected


def test_callback_precedence_status_before_money_and_time() -> None:
    assert callback_reason(callback(status="weird", amount="x", received_at="bad")) == "bad_status"
    assert callback_reason(callback(amount="x", received_at="bad")) == "bad_amount"
    assert callback_reason(callback(received_at="bad", event_time="bad")) == "bad_timestamp"
    assert callback_reason(callback(received_at=DROP, amount=DROP)) == "missing_field:received_at"


# ---------------------------------------------------------------------------------------------
# Files: reading
# ---------------------------------------------------------------------------------------------


def test_blank_lines_and_crlf_keep_physical_line_numbers(tmp_path: Path) -> None:
    content = (
        "\r\n" + json.dumps(order(order_id="a")) + "\r\n   \r\n\t\n" + json.dumps(order(order_id="b")) + "\r\nbad\r\n\n"
    )
    write(tmp_path / "o.jsonl", content)
    files, landed, rejected = run(tmp_path)
    assert landed.select("order_id", "line_number").rows() == [("a", 2), ("b", 5)]
    assert rejected.select("line_number", "raw").rows() == [(6, "bad")]
    assert files.select("lines_read", "lines_landed", "lines_rejected").row(0) == (3, 2, 1)


def test_utf8_bom_at_file_start_is_ignored(tmp_path: Path) -> None:
    write(tmp_path / "o.jsonl", b"\xef\xbb\xbf" + jsonl(order()).encode())
    files, landed, rejected = run(tmp_path)
    assert (landed.height, rejected.height) == (1, 0)


def test_last_line_without_newline_is_read(tmp_path: Path) -> None:
    write(tmp_path / "o.jsonl", jsonl(order(order_id="a")) + json.dumps(order(order_id="b")))
    files, landed, rejected = run(tmp_path)
    assert landed["order_id"].to_list() == ["a", "b"]


def test_invalid_utf8_line_is_bad_encoding_and_others_are_unaffected(tmp_path: Path) -> None:
    good = json.dumps(order(order_id="é-1")).encode()
    bad = json.dumps(order(order_id="x", source="api", seq=3)).encode().replace(b'"x"', b'"caf\xe9"')
    write(tmp_path / "o.jsonl", good + b"\n" + bad + b"\n" + good + b"\n")
    files, landed, rejected = run(tmp_path)
    assert landed["order_id"].to_list() == ["é-1", "é-1"]
    assert rejected.select("line_number", "reason", "source", "seq").rows() == [(2, "bad_encoding", "api", 3)]
    assert "caf\ufffd" in rejected["raw"][0]


def test_empty_file_reads_no_lines(tmp_path: Path) -> None:
    write(tmp_path / "o.jsonl", "")
    files, landed, rejected = run(tmp_path)
    assert files.select("lines_read", "lines_landed", "lines_rejected").row(0) == (0, 0, 0)


def test_gzip_jsonl_file(tmp_path: Path) -> None:
    content = jsonl(order(order_id="a"), "bad", order(order_id="b"))
    write(tmp_path / "o.jsonl.gz", content)
    files, landed, rejected = run(tmp_path)
    import hashlib

    row = files.row(0, named=True)
    assert row["sha256"] == hashlib.sha256(content.encode()).hexdigest()
    assert landed["order_id"].to_list() == ["a", "b"]
    assert rejected.select("line_number", "reason").rows() == [(2, "malformed_json")]


def test_corrupt_gzip_raises_input_error_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "bad.jsonl.gz").write_bytes(b"this is not gzip")
    with pytest.raises(InputError, match="cannot read orders file bad.jsonl.gz: not a valid gzip file"):
        run(tmp_path)


def test_truncated_gzip_raises_input_error(tmp_path: Path) -> None:
    data = gzip.compress(jsonl(*[order(order_id=f"o{i}") for i in range(2000)]).encode())
    (tmp_path / "cut.jsonl.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="cut.jsonl.gz: not a valid gzip file"):
        run(tmp_path)


def test_read_order_counts_each_files_lines_from_zero(tmp_path: Path) -> None:
    write(tmp_path / "a.jsonl", jsonl(order(order_id="a1"), "bad", order(order_id="a3")))
    write(
        tmp_path / "b.csv",
        "order_id,merchant_id,provider,amount,currency,created_at\nb1,m,stripe,1,USD,2024-05-01T00:00:00Z\n",
    )
    write(tmp_path / "c.jsonl.gz", jsonl(order(order_id="c1")))
    files, landed, rejected = run(tmp_path)
    assert landed.select("file", "order_id", "read_order").rows() == [
        ("a.jsonl", "a1", 0),
        ("a.jsonl", "a3", 2),
        ("b.csv", "b1", 0),
        ("c.jsonl.gz", "c1", 0),
    ]
    assert rejected["file"].to_list() == ["a.jsonl"]


def test_every_line_is_landed_or_rejected_and_counts_tie_out(tmp_path: Path) -> None:
    write(tmp_path / "a.jsonl", jsonl(order(), "x", order(amount="-1"), "", order(currency="ZZZ")) + "\n\n")
    write(tmp_path / "b.jsonl", jsonl(*[order(order_id=str(i)) for i in range(10)], "{"))
    files, landed, rejected = run(tmp_path)
    for row in files.iter_rows(named=True):
        assert row["lines_read"] == row["lines_landed"] + row["lines_rejected"]
        assert row["lines_landed"] == landed.filter(pl.col("file") == row["file"]).height
        assert row["lines_rejected"] == rejected.filter(pl.col("file") == row["file"]).height
    assert files["lines_read"].sum() == 4 + 11 == landed.height + rejected.height


def test_chunking_preserves_line_numbers_and_read_order(tmp_path: Path) -> None:
    values = []
    for i in range(23):
        values.append(order(order_id=f"o{i}") if i % 4 else "broken")
        if i % 5 == 0:
            values.append("   ")
    write(tmp_path / "a.jsonl", jsonl(*values))
    write(
        tmp_path / "b.csv",
        "order_id,merchant_id,provider,amount,currency,created_at\n"
        + "".join(f"c{i},m,stripe,{i},USD,2024-05-01T00:00:00Z\n" for i in range(7)),
    )
    whole = run(tmp_path, chunk_lines=1_000_000)
    tiny = run(tmp_path, chunk_lines=2)
    assert whole[0].equals(tiny[0])
    assert whole[1].equals(tiny[1])
    assert whole[2].equals(tiny[2])
    for file in ("a.jsonl", "b.csv"):
        read_order = tiny[1].filter(pl.col("file") == file)["read_order"].to_list()
        assert read_order == sorted(read_order)


# ---------------------------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------------------------

CSV_HEADER = "order_id,merchant_id,provider,amount,currency,created_at,customer_id\n"


def test_csv_with_header_and_quoted_comma(tmp_path: Path) -> None:
    write(tmp_path / "o.csv", CSV_HEADER + 'o1,"m,1",Stripe,12.50,usd,2024-05-01 12:00:00,"c ""x"""\n')
    files, landed, rejected = run(tmp_path)
    row = landed.row(0, named=True)
    assert (row["merchant_id"], row["provider"], row["amount_minor"], row["currency"], row["customer_id"]) == (
        "m,1",
        "stripe",
        1250,
        "USD",
        'c "x"',
    )
    assert row["line_number"] == 2


def test_csv_record_with_too_many_cells_is_malformed_csv(tmp_path: Path) -> None:
    write(tmp_path / "o.csv", CSV_HEADER + "o1,m,stripe,1,USD,2024-05-01T00:00:00Z,c,EXTRA\n")
    files, landed, rejected = run(tmp_path)
    assert rejected.select("line_number", "reason", "raw").rows() == [
        (2, "malformed_csv", "o1,m,stripe,1,USD,2024-05-01T00:00:00Z,c,EXTRA")
    ]
    assert rejected["message"][0] == "record has 8 cells, more than the header"


def test_csv_record_with_missing_cells_has_missing_fields(tmp_path: Path) -> None:
    write(tmp_path / "o.csv", CSV_HEADER + "o1,m,stripe,1,USD,2024-05-01T00:00:00Z\no2,m,stripe\n")
    files, landed, rejected = run(tmp_path)
    assert landed["order_id"].to_list() == ["o1"]
    assert landed["customer_id"].to_list() == [None]
    assert rejected.select("line_number", "reason").rows() == [(3, "missing_field:amount")]


def test_csv_multiline_cell_counts_from_its_first_line(tmp_path: Path) -> None:
    content = (
        CSV_HEADER
        + 'o1,m,stripe,1,USD,2024-05-01T00:00:00Z,"two\nlines"\r\n\r\no2,m,stripe,x,USD,2024-05-01T00:00:00Z,c\r\n'
    )
    write(tmp_path / "o.csv.gz", content)
    files, landed, rejected = run(tmp_path)
    assert landed.select("order_id", "customer_id", "line_number").rows() == [("o1", "two\nlines", 2)]
    assert rejected.select("line_number", "reason").rows() == [(5, "bad_amount")]
    assert files["lines_read"].to_list() == [2]


def test_csv_unknown_columns_ignored_and_header_names_trimmed(tmp_path: Path) -> None:
    write(
        tmp_path / "o.csv",
        "\ufeff order_id ,x,merchant_id,provider,amount,currency,created_at,seq\n"
        "o1,?,m,stripe,1,JPY,2024-05-01T00:00:00+09:00,12\n",
    )
    files, landed, rejected = run(tmp_path)
    assert landed.select("order_id", "amount_minor", "created_at", "seq").row(0) == ("o1", 1, utc(2024, 4, 30, 15), 12)


def test_csv_invalid_utf8_record_is_bad_encoding(tmp_path: Path) -> None:
    write(tmp_path / "o.csv", CSV_HEADER.encode() + b"o1,m,stripe,1,USD,2024-05-01T00:00:00Z,caf\xe9\n")
    files, landed, rejected = run(tmp_path)
    assert rejected.select("reason", "raw").rows() == [
        ("bad_encoding", "o1,m,stripe,1,USD,2024-05-01T00:00:00Z,caf\ufffd")
    ]


def test_callbacks_from_csv(tmp_path: Path) -> None:
    write(
        tmp_path / "c.csv",
        "order_id,provider,status,amount,currency,received_at\n"
        "o1,stripe,FAILED,,,2024-05-01T00:00:00Z\no2,stripe,success,,USD,2024-05-01T00:00:00Z\n",
    )
    files, landed, rejected = run(tmp_path, kind="callbacks")
    assert landed.select("order_id", "status", "amount_minor").rows() == [("o1", "failed", None)]
    assert rejected["reason"].to_list() == ["missing_field:amount"]


# ---------------------------------------------------------------------------------------------
# Sinks
# ---------------------------------------------------------------------------------------------


def test_memory_sink_without_writes_gives_empty_frames_with_the_contract() -> None:
    sink = MemorySink()
    assert sink.frame("orders").schema == pl.Schema(ORDER_LINES.polars_schema())
    assert sink.frame("callbacks").schema == pl.Schema(CALLBACK_LINES.polars_schema())
    assert sink.frame("rejected_lines").schema == pl.Schema(REJECTED_LINES.polars_schema())


def test_duckdb_sink_round_trip_with_exact_types(tmp_path: Path) -> None:
    write(tmp_path / "o" / "o.jsonl", jsonl(order(seq=1, source="s"), "bad"))
    write(tmp_path / "c" / "c.jsonl", jsonl(callback(), callback(status="pending", amount=DROP, currency=DROP)))
    con = duckdb.connect(":memory:")
    sink = DuckDBSink(con)
    DuckDBSink(con)  # idempotent
    for file in [*discover_files(tmp_path / "o", "orders"), *discover_files(tmp_path / "c", "callbacks")]:
        ingest_file(file, UTC_SETTINGS, sink)
    types = dict(
        con.sql(
            "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'landing'"
        ).fetchall()
    )
    expected_sql = {
        pl.String(): "VARCHAR",
        pl.Int64(): "BIGINT",
        pl.Boolean(): "BOOLEAN",
        TIMESTAMP: "TIMESTAMP WITH TIME ZONE",
    }
    for table, contract in [
        ("orders", ORDER_LINES.polars_schema()),
        ("callbacks", CALLBACK_LINES.polars_schema()),
        ("rejected_lines", REJECTED_LINES.polars_schema()),
    ]:
        for column, dtype in contract.items():
            assert types[f"{table}.{column}"] == expected_sql[dtype], (table, column)
    columns = [
        c
        for (c,) in con.sql(
            "SELECT column_name FROM information_schema.columns WHERE table_schema='landing' "
            "AND table_name='orders' ORDER BY ordinal_position"
        ).fetchall()
    ]
    assert columns == list(ORDER_LINES.polars_schema())
    row = con.sql("SELECT order_id, amount_minor, created_at, seq FROM landing.orders").fetchall()[0]
    assert row[:2] == ("o-1", 1250)
    assert row[3] == 1
    assert row[2] == utc(2024, 5, 1, 12)
    assert con.sql("SELECT count(*) FROM landing.callbacks").fetchall() == [(2,)]
    assert con.sql("SELECT reason FROM landing.rejected_lines").fetchall() == [("malformed_json",)]


# ---------------------------------------------------------------------------------------------
# Property: nothing is lost
# ---------------------------------------------------------------------------------------------

GOOD = [
    order(),
    order(amount=3.25, currency="EUR", seq=1),
    order(amount="7", currency="JPY", created_at="2024-01-01 00:00:00"),
]
BAD = [
    "not json",
    "[1]",
    order(amount="-1"),
    order(currency="???"),
    order(created_at="2024-02-30T00:00:00Z"),
    order(order_id=None),
    order(seq="x"),
    order(merchant_id=[1]),
]
line_strategy = st.one_of(
    st.sampled_from([as_line(v) for v in GOOD + BAD]),
    st.sampled_from(["", "   ", "\t"]),
    st.text(alphabet=st.characters(blacklist_characters="\n\r", blacklist_categories=("Cs",)), max_size=30),
    st.binary(max_size=20).filter(lambda b: b"\n" not in b and b"\r" not in b),
)


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(line_strategy, max_size=25), chunk=st.integers(min_value=1, max_value=7))
def test_property_every_non_blank_line_lands_or_is_rejected_exactly_once(
    tmp_path_factory: pytest.TempPathFactory, lines: list[str | bytes], chunk: int
) -> None:
    root = tmp_path_factory.mktemp("prop")
    data = b"".join((line if isinstance(line, bytes) else line.encode()) + b"\n" for line in lines)
    (root / "o.jsonl").write_bytes(data)
    files, landed, rejected = run(root, chunk_lines=chunk)
    expected = [
        i + 1
        for i, line in enumerate(data.split(b"\n")[:-1])
        if (i > 0 or not line.startswith(b"\xef\xbb\xbf") or line[3:].strip(b" \t\r")) and line.strip(b" \t\r")
    ]
    seen = sorted(landed["line_number"].to_list() + rejected["line_number"].to_list())
    assert seen == expected
    assert files["lines_read"][0] == len(expected) == files["lines_landed"][0] + files["lines_rejected"][0]
    orders = landed["read_order"].to_list()
    assert orders == sorted(set(orders))
    assert all(0 <= o < len(expected) for o in orders)


TRICKY_CSV = (
    "\ufeff order_id ,merchant_id,provider,amount,currency,created_at,note,seq\r\n"
    "\r\n"
    "o1,m,Stripe,1.50,usd,2024-05-01T00:00:00Z,dup,1\r\n"
    "   \r\n"
    "o2,m,stripe\r\n"
    "o3,m,stripe,1,USD,2024-05-01T00:00:00Z,x,2,EXTRA\r\n"
    ",m,stripe,1,USD,2024-05-01T00:00:00Z,,3\r\n"
    "o4, m ,stripe,1,JPY,2024-05-01 09:00:00,,x\r\n"
    "o5, m ,stripe,1,JPY,2024-05-01 09:00:00,,\r\n"
)


@pytest.mark.parametrize("chunk_lines", [1, 1_000_000])
def test_csv_fast_path_matches_the_csv_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk_lines: int
) -> None:
    from orders_pipeline.lib.inputs import ingest as ingestion

    content = (
        TRICKY_CSV.encode()
        + b"o6,m,stripe,1,USD,2024-05-01T00:00:00Z,caf\xe9,4\n"
        + b"o7,m,stripe,2,EUR,2024-05-01T00:00:00Z,,5"
    )
    write(tmp_path / "o.csv", content)
    fast = run(tmp_path, chunk_lines=chunk_lines, settings=Settings(timezone="Asia/Tokyo"))
    monkeypatch.setattr(ingestion, "block_is_simple", lambda data: False)
    slow = run(tmp_path, chunk_lines=chunk_lines, settings=Settings(timezone="Asia/Tokyo"))
    for a, b in zip(fast, slow, strict=True):
        assert a.equals(b), (a, b)
    files, landed, rejected = fast
    assert landed.select("order_id", "merchant_id", "amount_minor", "created_at", "line_number").rows() == [
        ("o1", "m", 150, utc(2024, 5, 1), 3),
        ("o4", " m ", 1, utc(2024, 5, 1), 8),
        ("o5", " m ", 1, utc(2024, 5, 1), 9),
        ("o7", "m", 200, utc(2024, 5, 1), 11),
    ]
    assert rejected.select("line_number", "reason").rows() == [
        (5, "missing_field:amount"),
        (6, "malformed_csv"),
        (7, "missing_field:order_id"),
        (10, "bad_encoding"),
    ]


def test_csv_switches_to_the_csv_module_at_the_first_quoted_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orders_pipeline.lib.inputs import ingest as ingestion

    decisions: list[bool] = []
    original = ingestion.block_is_simple
    monkeypatch.setattr(ingestion, "block_is_simple", lambda data: decisions.append(original(data)) or decisions[-1])
    header = "order_id,merchant_id,provider,amount,currency,created_at,customer_id\n"
    plain = "".join(f"o{i},m,stripe,{i},USD,2024-05-01T00:00:00Z,c{i}\n" for i in range(3000))
    quoted = (
        'q1,m,stripe,1,USD,2024-05-01T00:00:00Z,"multi\nline, with comma"\nq2,m,stripe,x,USD,2024-05-01T00:00:00Z,c\n'
    )
    write(tmp_path / "o.csv", header + plain + quoted + plain.replace("o", "p", 3000))
    files, landed, rejected = run(tmp_path, chunk_lines=100)
    assert files["lines_read"].to_list() == [6002]
    assert landed.filter(pl.col("order_id") == "q1").select("customer_id", "line_number").row(0) == (
        "multi\nline, with comma",
        3002,
    )
    assert rejected.select("line_number", "reason").rows() == [(3004, "bad_amount")]
    assert landed.filter(pl.col("order_id") == "p2999")["line_number"].to_list() == [6004]
    assert landed["read_order"].to_list() == sorted(landed["read_order"].to_list())
    assert decisions[0] is True
    assert decisions[-1] is False


csv_cell = st.sampled_from(
    [
        "o1",
        "m",
        "stripe",
        "12.50",
        "1.234",
        "USD",
        "JPY",
        "XXX",
        "2024-05-01T00:00:00Z",
        "2024-02-30 00:00:00",
        "",
        " ",
        "7",
        "x",
        "-1",
        "a,b",
        'say "hi"',
        "two\nlines",
    ]
)
csv_record = st.lists(csv_cell, min_size=0, max_size=9)


@hsettings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(csv_record, max_size=15), crlf=st.booleans(), chunk=st.integers(min_value=1, max_value=5))
def test_property_csv_records_are_each_landed_or_rejected_once_on_both_paths(
    tmp_path_factory: pytest.TempPathFactory, records: list[list[str]], crlf: bool, chunk: int
) -> None:
    import csv
    import io

    from orders_pipeline.lib.inputs import ingest as ingestion

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n" if crlf else "\n")
    writer.writerow(["order_id", "merchant_id", "provider", "amount", "currency", "created_at", "seq"])
    for record in records:
        writer.writerow(record)
    root = tmp_path_factory.mktemp("csvprop")
    (root / "o.csv").write_text(buffer.getvalue(), newline="")
    results = [run(root, chunk_lines=chunk)]
    original = ingestion.block_is_simple
    ingestion.block_is_simple = lambda data: False  # type: ignore[assignment]
    try:
        results.append(run(root, chunk_lines=chunk))
    finally:
        ingestion.block_is_simple = original  # type: ignore[assignment]
    for a, b in zip(*results, strict=True):
        assert a.equals(b)
    files, landed, rejected = results[0]
    # csv.writer writes an empty record as an empty line and [" "] as a whitespace-only line:
    # both are blank lines, not records ([""] is written as '""', a record).
    expected = sum(1 for r in records if r and r != [" "])
    assert files["lines_read"].to_list() == [expected] == [landed.height + rejected.height]


@pytest.mark.parametrize("timezone", ["UTC", "Europe/Paris"])
def test_bad_timestamp_message_names_the_value_and_the_expected_shape(timezone: str) -> None:
    values = ["2024-01-01T24:00:00", "0000-01-01T00:00:00"]
    landed, rejected = parse_orders(*[order(created_at=v) for v in values], settings=Settings(timezone=timezone))
    assert rejected["message"].to_list() == [
        f"created_at '{v}' is not a valid timestamp; expected YYYY-MM-DDTHH:MM:SS[.fraction] "
        "with Z, ±HH:MM or no offset"
        for v in values
    ]


def test_csv_record_with_too_many_cells_keeps_no_source_or_seq(tmp_path: Path) -> None:
    write(
        tmp_path / "o.csv",
        "order_id,merchant_id,provider,amount,currency,created_at,source,seq\n"
        "o1,m,stripe,1,USD,2024-05-01T00:00:00Z,Acme, Inc,api,7\n"
        "o2,m,stripe,x,USD,2024-05-01T00:00:00Z,api,8\n",
    )
    files, landed, rejected = run(tmp_path)
    assert rejected.select("reason", "source", "seq").rows() == [
        ("malformed_csv", None, None),
        ("bad_amount", "api", 8),
    ]


def test_file_sha256_is_the_digest_of_the_decompressed_content(tmp_path: Path) -> None:
    import hashlib

    from orders_pipeline.lib.inputs.reading import file_sha256

    content = jsonl(order(), "x") * 3
    (path,) = discover_files(write(tmp_path / "a.jsonl.gz", content), "orders")
    assert file_sha256(path) == hashlib.sha256(content.encode()).hexdigest()
    (tmp_path / "bad.jsonl.gz").write_bytes(b"nope")
    (bad,) = discover_files(tmp_path / "bad.jsonl.gz", "orders")
    with pytest.raises(InputError, match="not a valid gzip file"):
        file_sha256(bad)
