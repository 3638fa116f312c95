"""Native statement layouts, read from the fixtures: each native row maps to the row the fixture README states.

The expectations come from the providers' documents and the published bills (fixture README),
not from the parsers: each row is (line, type, order_id, amount_minor, currency, booked_at in
UTC, provider_txn_id, fee_minor, net_minor), and every file's records are conserved
(read = landed + rejected + ignored).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from orders_pipeline.lib.common.config import Settings, settings_from_mapping
from orders_pipeline.lib.inputs.discovery import InputFile
from orders_pipeline.lib.inputs.sinks import MemorySink
from orders_pipeline.lib.inputs.statements.ingest import detect_layout, ingest_statement_file

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "statements"
ALIPAY_BILL = "alipay/20880211096256330156_20190916_业务明细.csv"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def land(relative: str, settings: Settings | None = None) -> tuple[MemorySink, object]:
    path = FIXTURES / relative
    sink = MemorySink()
    result = ingest_statement_file(InputFile("statements", path, relative), settings or Settings(), sink)
    return sink, result


def rows(sink: MemorySink) -> list[tuple]:
    frame = sink.frame("statements")
    return [
        (
            r["line_number"],
            r["type"],
            r["order_id"],
            r["amount_minor"],
            r["currency"],
            r["booked_at"],
            r["provider_txn_id"],
            r["fee_minor"],
            r["net_minor"],
        )
        for r in frame.sort("line_number").iter_rows(named=True)
    ]


def reasons(sink: MemorySink, table: str) -> list[tuple[int, str]]:
    frame = sink.frame(table)  # type: ignore[arg-type]
    return sorted(zip(frame["line_number"].to_list(), frame["reason"].to_list(), strict=True))


def test_every_fixture_is_recognised_as_its_providers_layout() -> None:
    for folder in ("alipay", "wechatpay", "stripe", "adyen", "paypal"):
        for path in sorted((FIXTURES / folder).iterdir()):
            layout = detect_layout(path.read_bytes()[:65536])
            assert layout is not None, path.name
            assert layout.NAME == folder, path.name


def test_alipay_trade_bill_rows_refunds_and_comment_lines() -> None:
    sink, result = land(ALIPAY_BILL)
    got = rows(sink)
    assert got[0] == (
        6,
        "payment",
        "service_1568601259302",
        1,
        "CNY",
        utc("2019-09-16T10:55:23+08:00"),
        "2019091622001458860515315453",
        0,
        1,
    )
    assert got[1] == (
        7,
        "refund",
        "service_1568601259302",
        1,
        "CNY",
        utc("2019-09-16T10:56:48+08:00"),
        "2019091622001458860515315453",
        0,
        1,
    )
    assert [r[0] for r in got] == list(range(6, 16))
    assert [r[1] for r in got].count("payment") == 6
    assert [r[1] for r in got].count("refund") == 4
    # The trailing TAB of every id cell is not part of the id.
    assert all("\t" not in r[2] and "\t" not in r[6] for r in got)
    assert set(sink.frame("statements")["statement_date"].to_list()) == {date(2019, 9, 16)}
    assert reasons(sink, "ignored_records") == [
        (1, "ignored:header"),
        (2, "ignored:header"),
        (3, "ignored:header"),
        (4, "ignored:header"),
        (16, "ignored:header"),
        (17, "ignored:summary"),
        (18, "ignored:summary"),
        (19, "ignored:header"),
    ]
    assert (result.counts.read, result.counts.landed, result.counts.rejected, result.counts.ignored) == (18, 10, 0, 8)


def test_wechatpay_27_column_bill_with_bom_crlf_and_backticks() -> None:
    sink, result = land("wechatpay/20190219_ALL.csv")
    got = rows(sink)
    assert got[0] == (
        2,
        "refund",
        "autotest_20190216081946_82335",
        1,
        "CNY",
        utc("2019-02-19T05:01:46+08:00"),
        "4200000263201902167700134212",
        0,
        None,
    )
    assert got[2] == (
        4,
        "payment",
        "autotest_20190219015232_89201",
        3,
        "CNY",
        utc("2019-02-19T01:52:32+08:00"),
        "4200000263201902167700134902",
        1,
        None,
    )
    assert [r[1] for r in got].count("refund") == 3
    assert len(got) == 11
    assert set(sink.frame("statements")["statement_date"].to_list()) == {date(2019, 2, 19)}
    assert reasons(sink, "ignored_records") == [(13, "ignored:summary"), (14, "ignored:summary")]
    assert result.counts.read == 13


def test_wechatpay_official_example_with_a_sub_merchant() -> None:
    sink, _ = land("wechatpay/20220321_ALL_wxcloudrun_doc_example.csv")
    assert rows(sink) == [
        (
            2,
            "payment",
            "2021WERUN1647840687637",
            1,
            "CNY",
            utc("2022-03-21T13:51:31+08:00"),
            "420000612032130748613220688",
            0,
            None,
        )
    ]


def test_wechatpay_old_24_column_example_with_full_width_colons() -> None:
    sink, result = land("wechatpay/20141110_ALL_v2_doc_example.csv")
    assert rows(sink) == [
        (
            2,
            "payment",
            "1415640626",
            1,
            "CNY",
            utc("2014-11-10T16:33:45+08:00"),
            "1001690740201411100005734289",
            0,
            None,
        ),
        (
            3,
            "payment",
            "1415635270",
            1,
            "CNY",
            utc("2014-11-10T16:46:14+08:00"),
            "1002780740201411100005729794",
            0,
            None,
        ),
    ]
    assert result.counts.ignored == 2


def test_stripe_itemized_balance_report_signed_amounts_and_categories() -> None:
    sink, result = land("stripe/balance_change_from_activity.itemized.3.csv")
    assert rows(sink) == [
        (2, "payment", "ORD-1001", 2500, "USD", utc("2026-11-18T09:15:02Z"), "txn_1Q0aA1", 103, 2397),
        (3, "payment", "ORD-1002", 3000, "JPY", utc("2026-11-18T11:40:17Z"), "txn_1Q0aA2", 120, 2880),
        (4, "refund", "ORD-1001", 1000, "USD", utc("2026-11-18T14:02:55Z"), "txn_1Q0aA3", 0, 1000),
        (5, "chargeback", "ORD-0990", 4000, "USD", utc("2026-11-18T16:20:00Z"), "txn_1Q0aA4", 1500, 5500),
        (6, "adjustment", "ORD-0990", 4000, "USD", utc("2026-11-18T17:45:31Z"), "txn_1Q0aA5", 1500, 5500),
        (7, "fee", None, 50, "USD", utc("2026-11-18T18:00:00Z"), "txn_1Q0aA6", 0, 50),
        (9, "payment", "ORD-1003", 5000, "USD", utc("2026-11-18T20:05:09Z"), "txn_1Q0aA8", 175, 4825),
        (10, "adjustment", "ORD-1003", 1500, "USD", utc("2026-11-18T20:05:10Z"), "txn_1Q0aA9", 0, 1500),
        (11, "payout", None, 4182, "USD", utc("2026-11-18T23:59:59Z"), "txn_1Q0aB1", 0, 4182),
    ]
    assert reasons(sink, "rejected_lines") == [(8, "missing_field:order_id")]
    assert (result.counts.read, result.counts.landed, result.counts.rejected) == (10, 9, 1)


def test_stripe_order_id_column_comes_from_the_configured_metadata_key() -> None:
    settings = settings_from_mapping({"statements": {"stripe_metadata_key": "cart"}})
    sink, _ = land("stripe/balance_change_from_activity.itemized.3.csv", settings)
    # No payment_metadata[cart] column: every payment, refund and chargeback row lacks its order.
    assert {reason for _, reason in reasons(sink, "rejected_lines")} == {"missing_field:order_id"}
    assert set(sink.frame("statements")["type"].to_list()) <= {"fee", "payout", "adjustment"}


def test_adyen_batch_report_journal_types_zones_and_date_only_booking() -> None:
    sink, result = land("adyen/settlement_detail_report_batch_101.csv")
    cet = "+01:00"
    assert rows(sink) == [
        (2, "payment", "ORD-2001", 4990, "EUR", utc(f"2026-11-18T02:10:00{cet}"), "8815800000000101", None, 4895),
        (3, "payment", "ORD-2002", 5000, "JPY", utc(f"2026-11-18T02:10:00{cet}"), "8815800000000102", None, None),
        (4, "refund", "ORD-2003", 2000, "EUR", utc(f"2026-11-18T02:10:00{cet}"), "8815800000000203", None, 2000),
        (5, "chargeback", "ORD-2004", 3500, "EUR", utc(f"2026-11-18T02:10:00{cet}"), "8815800000000304", None, 4500),
        (6, "adjustment", "ORD-2004", 3500, "EUR", utc(f"2026-11-18T02:10:00{cet}"), "8815800000000404", None, 3500),
        (7, "payment", "ORD-2005", 99, "EUR", utc(f"2026-11-18T00:00:00{cet}"), "8815800000000105", None, 70),
        (8, "fee", None, 125, "EUR", utc(f"2026-11-18T02:10:00{cet}"), "Transaction Fees November 17 2026", None, 125),
        (9, "fee", None, 40, "EUR", utc(f"2026-11-18T02:10:00{cet}"), "Invoice 2026100042", None, 40),
        (10, "adjustment", None, 500, "EUR", utc(f"2026-11-18T02:10:00{cet}"), "Deposit Correction", None, 500),
        (11, "payout", None, 6205, "EUR", utc(f"2026-11-18T02:10:00{cet}"), "Batch 101, ExampleShopEU", None, 6205),
    ]
    assert reasons(sink, "rejected_lines") == [(12, "bad_timestamp")]
    assert "XYZ" in sink.frame("rejected_lines")["message"][0]
    assert set(sink.frame("statements")["statement_date"].to_list()) == {date(2026, 11, 18)}
    assert result.counts.read == 11


def test_adyen_report_with_quoted_metadata_and_second_chargeback() -> None:
    sink, _ = land("adyen/settlement_detail_report_batch_102.csv")
    pst = "-08:00"
    assert rows(sink) == [
        (2, "payment", "ORD-2011", 12000, "USD", utc(f"2026-11-18T03:05:00{pst}"), "8815800000000111", None, 11760),
        (3, "chargeback", "ORD-2012", 6000, "USD", utc(f"2026-11-18T03:05:00{pst}"), "8815800000000312", None, 7500),
        (4, "adjustment", "ORD-2013", 800, "USD", utc(f"2026-11-18T03:05:00{pst}"), "8815800000000413", None, 800),
    ]


def test_paypal_stl_quoted_record_types_tcodes_and_hundredths() -> None:
    sink, result = land("paypal/STL-20261118.01.009.CSV")
    pst = "-08:00"
    assert rows(sink) == [
        (5, "payment", "ORD-3001", 2500, "USD", utc(f"2026-11-18T01:12:30{pst}"), "5TY05013RG002845M", 103, None),
        (6, "payment", "INV-3002", 1999, "USD", utc(f"2026-11-18T02:00:05{pst}"), "5TY05013RG002846N", 88, None),
        (7, "refund", "ORD-3003", 1500, "USD", utc(f"2026-11-18T04:30:00{pst}"), "5TY05013RG002847P", 45, None),
        (8, "chargeback", "ORD-3004", 4200, "USD", utc(f"2026-11-18T05:45:00{pst}"), "5TY05013RG002848Q", None, None),
        (9, "fee", "ORD-3004", 2000, "USD", utc(f"2026-11-18T05:45:00{pst}"), "5TY05013RG002849R", None, None),
        (10, "adjustment", "ORD-3005", 700, "USD", utc(f"2026-11-18T06:00:00{pst}"), "5TY05013RG002850S", None, None),
        (11, "payout", None, 1000, "USD", utc(f"2026-11-18T23:00:00{pst}"), "5TY05013RG002851T", None, None),
    ]
    assert reasons(sink, "ignored_records") == [
        (1, "ignored:header"),
        (2, "ignored:header"),
        (3, "ignored:header"),
        (12, "ignored:summary"),
        (13, "ignored:summary"),
        (14, "ignored:summary"),
        (15, "ignored:summary"),
        (16, "ignored:summary"),
    ]
    assert set(sink.frame("statements")["statement_date"].to_list()) == {date(2026, 11, 18)}
    assert (result.counts.read, result.counts.landed, result.counts.ignored) == (15, 7, 8)


def test_paypal_stl_unquoted_section_with_jpy_and_currency_conversion() -> None:
    sink, result = land("paypal/STL-20261119.01.009.CSV")
    pst = "-08:00"
    assert rows(sink) == [
        (3, "payment", "ORD-3101", 3500, "JPY", utc(f"2026-11-19T08:00:01{pst}"), "7HX11122AB334455C", 128, None),
        (4, "payment", "ORD-3102", 1000, "EUR", utc(f"2026-11-19T08:30:02{pst}"), "7HX11122AB334456D", None, None),
        (5, "adjustment", "ORD-3102", 1000, "EUR", utc(f"2026-11-19T08:30:02{pst}"), "7HX11122AB334457E", None, None),
        (6, "adjustment", "ORD-3102", 1163, "USD", utc(f"2026-11-19T08:30:02{pst}"), "7HX11122AB334458F", None, None),
        (7, "adjustment", "ORD-3103", 500, "USD", utc(f"2026-11-19T09:00:00{pst}"), "7HX11122AB334459G", None, None),
    ]
    assert reasons(sink, "rejected_lines") == [(8, "missing_field:amount")]
    assert len(reasons(sink, "ignored_records")) == 6
    assert result.counts.read == result.counts.landed + result.counts.rejected + result.counts.ignored == 12


@pytest.mark.parametrize(
    "relative",
    [
        str(p.relative_to(FIXTURES))
        for folder in ("alipay", "wechatpay", "stripe", "adyen", "paypal")
        for p in sorted((FIXTURES / folder).iterdir())
    ],
)
def test_every_record_of_every_fixture_is_accounted_for(relative: str) -> None:
    sink, result = land(relative)
    counts = result.counts  # type: ignore[attr-defined]
    assert counts.landed == sink.frame("statements").height
    assert counts.rejected == sink.frame("rejected_lines").height
    assert counts.ignored == sink.frame("ignored_records").height
    assert counts.read == counts.landed + counts.rejected + counts.ignored
    raw = (FIXTURES / relative).read_bytes()
    physical = [line for line in raw.split(b"\n") if line.strip(b" \t\r\xef\xbb\xbf")]
    headers = 1 if not relative.startswith("paypal") else raw.count(b"CH,") + raw.count(b'"CH"')
    assert counts.read == len(physical) - headers
    every_line = pl.concat(
        [sink.frame(t).select("line_number") for t in ("statements", "rejected_lines", "ignored_records")]  # type: ignore[arg-type]
    )["line_number"]
    assert every_line.is_unique().all()
