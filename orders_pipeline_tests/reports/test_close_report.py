"""The close report's figures, worked out by hand from the explicit corpus of ``close_corpus`` and the rules.

Report day 2026-11-19 (UTC), the warehouse after run 2 (as of 2026-11-20 12:00) unless said
otherwise. Ages are as of run 2: s5 created 14:00 is 22 h = 79200 s old, and so on.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from orders_pipeline import cli
from orders_pipeline.devtools.generator import generate_corpus
from orders_pipeline.lib.common.errors import ReportError
from orders_pipeline.lib.common.vocabulary import OUTCOMES
from orders_pipeline.lib.reports.close_export import amount_format, csv_rows, render_csv, write_report
from orders_pipeline.lib.reports.close_render import render_html, short_duration
from orders_pipeline.lib.reports.close_report import (
    ActionRow,
    AgeBucketRow,
    ChangeRow,
    CoverageRow,
    LatencyRow,
    OrphanStatementRow,
    UnsettledRow,
    close_report,
    day_window,
    default_day,
)
from orders_pipeline.lib.reports.formatting import major_text, major_units
from orders_pipeline.lib.reports.published import open_published
from orders_pipeline_tests.reports.close_corpus import build_close_warehouse

DAY = date(2026, 11, 19)


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    return build_close_warehouse(tmp_path_factory.mktemp("close"))


@pytest.fixture(scope="module")
def report(built):
    return close_report(built["warehouse"], DAY)


# --- money and days ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minor", "currency", "exact", "text"),
    [
        (7985, "USD", "79.85", "79.85"),
        (1500, "JPY", "1500", "1,500"),
        (1250, "KWD", "1.250", "1.250"),
        (0, "USD", "0.00", "0.00"),
        (123456789012, "EUR", "1234567890.12", "1,234,567,890.12"),
        (9_223_372_036_854_775_807, "USD", "92233720368547758.07", "92,233,720,368,547,758.07"),
    ],
)
def test_major_units_are_exact_with_the_currencys_decimals(minor, currency, exact, text) -> None:
    assert major_units(minor, currency) == Decimal(exact)
    assert str(major_units(minor, currency)) == exact
    assert major_text(minor, currency) == text


def test_the_day_is_counted_in_the_configured_timezone() -> None:
    assert day_window(DAY, "UTC") == (_utc("2026-11-19T00:00:00"), _utc("2026-11-20T00:00:00"))
    assert day_window(DAY, "Asia/Shanghai") == (_utc("2026-11-18T16:00:00"), _utc("2026-11-19T16:00:00"))
    # A day with a clock change is 25 hours long.
    start, end = day_window(date(2026, 10, 25), "Europe/Berlin")
    assert (end - start).total_seconds() == 25 * 3600
    assert default_day(_utc("2026-11-20T12:00:00"), "UTC") == DAY
    assert default_day(_utc("2026-11-20T20:00:00"), "Asia/Shanghai") == date(2026, 11, 20)  # 04:00 on the 21st


def test_short_durations() -> None:
    assert [short_duration(s) for s in (0, 59, 60, 3600, 79200, 93784, None)] == [
        "0s",
        "59s",
        "1m 0s",
        "1h 0m",
        "22h 0m",
        "1d 2h",
        "-",
    ]


# --- the figures -----------------------------------------------------------------------------------


def test_header_is_the_last_run_and_the_one_before(report) -> None:
    assert (report.day, report.timezone) == (DAY, "UTC")
    assert (report.as_of, report.previous_as_of) == (_utc("2026-11-20T12:00:00"), _utc("2026-11-20T06:00:00"))
    assert (report.day_start, report.day_end) == (_utc("2026-11-19T00:00:00"), _utc("2026-11-20T00:00:00"))


def test_totals_per_currency_and_provider(report) -> None:
    def figures(row):
        return (row.orders, row.amount_minor, {f.outcome: (f.orders, f.amount_minor) for f in row.outcomes if f.orders})

    got = {(row.currency, row.provider): figures(row) for row in report.totals}
    assert got == {
        ("CNY", None): (1, 8888, {"missing": (1, 8888)}),
        ("CNY", "alipay"): (1, 8888, {"missing": (1, 8888)}),
        ("EUR", None): (2, 14000, {"confirmed": (1, 10000), "overdue": (1, 4000)}),
        ("EUR", "adyen"): (2, 14000, {"confirmed": (1, 10000), "overdue": (1, 4000)}),
        ("JPY", None): (1, 1500, {"confirmed": (1, 1500)}),
        ("JPY", "adyen"): (1, 1500, {"confirmed": (1, 1500)}),
        ("KWD", None): (1, 1250, {"confirmed": (1, 1250)}),
        ("KWD", "paypal"): (1, 1250, {"confirmed": (1, 1250)}),
        # s1 12.50 + s2 7.25 + s3 5.00 confirmed, s5 20.00 amount_mismatch, s4 3.10 failed, s6 2.00 overdue
        ("USD", None): (
            7,
            7985,
            {"confirmed": (4, 5475), "amount_mismatch": (1, 2000), "failed": (1, 310), "overdue": (1, 200)},
        ),
        ("USD", "paypal"): (1, 3000, {"confirmed": (1, 3000)}),
        ("USD", "stripe"): (
            6,
            4985,
            {"confirmed": (3, 2475), "amount_mismatch": (1, 2000), "failed": (1, 310), "overdue": (1, 200)},
        ),
    }
    # Each currency's total comes first, then its providers by name.
    assert [(r.currency, r.provider) for r in report.totals][-3:] == [
        ("USD", None),
        ("USD", "paypal"),
        ("USD", "stripe"),
    ]
    assert all(tuple(f.outcome for f in row.outcomes) == OUTCOMES for row in report.totals)


def test_needs_action_by_action_most_urgent_first(report) -> None:
    assert report.actions == (
        ActionRow("USD", "stripe", "review_amount", 1, 2000, 79200, 79200),  # priority 2
        ActionRow("CNY", "alipay", "investigate", 1, 8888, 126000, 126000),  # priority 5
        ActionRow("EUR", "adyen", "query_provider", 1, 4000, 95400, 95400),  # priority 6
        ActionRow("USD", "stripe", "query_provider", 1, 200, 72000, 72000),
    )


def test_open_queue_by_age_covers_every_exception(report) -> None:
    assert report.age_buckets == (
        AgeBucketRow("CNY", "1-3 days", 1, 8888),  # c1, 35 h
        AgeBucketRow("EUR", "1-3 days", 1, 4000),  # a2, 26.5 h
        AgeBucketRow("USD", "< 1 day", 2, 2200),  # s5 22 h, s6 20 h
        AgeBucketRow("USD", "3-7 days", 1, 5000),  # old1 (2026-11-15), 5 d 2 h
    )


def test_changes_since_the_previous_run(built, report) -> None:
    assert report.changes == (ChangeRow(DAY, "USD", "stripe", "overdue", "confirmed", 1, 500),)
    first = close_report(built["after_run_1"], DAY)
    assert (first.previous_as_of, first.changes) == (None, ())


def test_outages_that_overlap_the_day(report) -> None:
    got = [(o.provider, o.start, o.end, o.duration_seconds, o.orders_created, o.orders_overdue) for o in report.outages]
    assert got == [
        # a2 (09:30) and a3 (20:00) created while adyen was silent; a2 is still overdue.
        ("adyen", _utc("2026-11-19T09:00:30"), _utc("2026-11-19T20:02:00"), 39690, 2, 1),
        # s3, s6 and s4 created between s5's callback and s4's; s6 is still overdue.
        ("stripe", _utc("2026-11-19T14:01:00"), _utc("2026-11-19T18:00:30"), 14370, 3, 1),
    ]  # stripe's silence from 2026-11-15 to 2026-11-18 10:01 is another day's


def test_log_gaps_placed_on_the_day_by_the_lines_around_them(report) -> None:
    got = [
        (g.kind, g.source, g.gap_type, g.seq_from, g.seq_to, g.after_line_at, g.before_line_at) for g in report.log_gaps
    ]
    # The batch stream's missing seq 2 follows a line of 2026-11-15: not this day.
    assert got == [("orders", "web", "missing", 12, 12, _utc("2026-11-19T11:00:00"), _utc("2026-11-19T14:00:00"))]


def test_callback_latency_percentiles_are_nearest_rank(report) -> None:
    assert report.latency == (
        LatencyRow("adyen", 2, 30, 120, 120, 120),  # 30, 120
        LatencyRow("paypal", 2, 60, 300, 300, 300),  # 60, 300
        LatencyRow("stripe", 5, 60, 61200, 61200, 61200),  # 30, 60, 60, 120, 61200 (s3, 17 h late)
    )


def test_outcome_mix_over_fourteen_days(report) -> None:
    assert [d.day for d in report.mix] == [date(2026, 11, 6 + i) for i in range(14)]
    non_empty = {d.day: {o: n for o, n in d.counts if n} for d in report.mix if d.orders}
    assert non_empty == {
        date(2026, 11, 15): {"missing": 1},
        date(2026, 11, 18): {"confirmed": 1},
        DAY: {"amount_mismatch": 1, "confirmed": 7, "failed": 1, "missing": 1, "overdue": 2},
    }


def test_statements_coverage_unsettled_and_orphans(report) -> None:
    statements = report.statements
    assert statements is not None
    assert statements.providers == ("adyen",)
    assert statements.coverage == (CoverageRow("adyen", "EUR", True, 1, 3, 2, 10500, 0, 0, 0, 0, 30, 0),)
    # a3 was paid by callback; its days (11-19 and 11-20) are not all covered yet: awaiting.
    assert statements.unsettled == (UnsettledRow("JPY", "adyen", "awaiting", 1, 1500),)
    assert statements.orphans == (OrphanStatementRow("EUR", "adyen", "payment", 1, 500),)


def test_report_in_another_timezone_moves_the_day(built) -> None:
    # In Shanghai (UTC+8) 2026-11-19 runs from 11-18 16:00 to 11-19 16:00 UTC:
    # c1 01:00, a1 09:00, a2 09:30, s1 10:00, s2 11:00, s5 14:00, s3 15:00 (s6 16:00 is the 20th).
    shanghai = close_report(built["warehouse"], DAY, "Asia/Shanghai")
    assert {(r.currency, r.provider): r.orders for r in shanghai.currency_totals} == {
        ("CNY", None): 1,
        ("EUR", None): 2,
        ("USD", None): 4,
    }


# --- errors --------------------------------------------------------------------------------------


def test_a_day_without_orders_says_which_days_have_some(built) -> None:
    with pytest.raises(ReportError) as error:
        close_report(built["warehouse"], date(2026, 12, 1))
    assert str(error.value) == (
        f"no orders created on 2026-12-01 (UTC) in {built['warehouse']}; its order days run from 2026-11-15 to "
        "2026-11-20: pass --date in that range"
    )


def test_command_line_errors_are_one_line(built, tmp_path, capsys) -> None:
    cases = [
        (["report", "--warehouse", str(tmp_path / "none.duckdb")], "does not exist; run `orders-pipeline reconcile`"),
        (["report", "--warehouse", str(built["warehouse"]), "--date", "19/11/2026"], "is not a day; use YYYY-MM-DD"),
        (["report", "--warehouse", str(built["warehouse"]), "--date", "2026-12-01"], "pass --date in that range"),
        (
            ["report", "--warehouse", str(built["warehouse"]), "--out", str(tmp_path / "no" / "r.html")],
            "does not exist",
        ),
    ]
    for args, expected in cases:
        assert cli.main(args) == 2
        lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert len(lines) == 1, (args, lines)
        assert expected in lines[0], (args, lines)
        assert "Traceback" not in lines[0]


# --- the three forms -----------------------------------------------------------------------------


def test_command_writes_the_three_forms_for_the_default_day(built, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    for fmt in ("html", "xlsx", "csv"):
        assert cli.main(["report", "--warehouse", str(built["warehouse"]), "--format", fmt]) == 0
        out = capsys.readouterr().out
        name = f"close-report-2026-11-19.{fmt}"
        assert out == f"wrote {name} (close report of 2026-11-19, UTC; warehouse as of 2026-11-20T12:00:00Z)\n"
        assert (tmp_path / f"close-report-2026-11-19.{fmt}").stat().st_size > 0
    # The format follows --out's extension.
    assert cli.main(["report", "--warehouse", str(built["warehouse"]), "--out", "day.csv"]) == 0
    assert (tmp_path / "day.csv").read_bytes().startswith(b"section,currency,provider,measure,value\r\n")


def test_csv_is_one_long_table_with_exact_major_units(report) -> None:
    rows = list(csv.reader(io.StringIO(render_csv(report))))
    assert rows[0] == ["section", "currency", "provider", "measure", "value"]
    assert all(len(row) == 5 for row in rows)
    lookup = {tuple(row[:4]): row[4] for row in rows[1:]}
    assert len(lookup) == len(rows) - 1  # every figure once
    assert lookup[("totals", "USD", "", "amount")] == "79.85"
    assert lookup[("totals", "USD", "stripe", "confirmed.amount")] == "24.75"
    assert lookup[("totals", "JPY", "adyen", "confirmed.amount")] == "1500"
    assert lookup[("totals", "KWD", "", "amount")] == "1.250"
    assert lookup[("needs_action", "CNY", "alipay", "investigate.oldest_age_seconds")] == "126000"
    assert lookup[("open_queue_by_age", "USD", "", "3-7 days.amount")] == "50.00"
    assert lookup[("changes", "USD", "stripe", "2026-11-19.overdue>confirmed.amount")] == "5.00"
    assert lookup[("callback_latency", "", "stripe", "p50_seconds")] == "60"
    assert lookup[("callback_outages", "", "stripe", "2.start")] == "2026-11-19T14:01:00Z"
    assert lookup[("log_gaps", "", "", "orders.web.missing.12-12.lines")] == "1"
    assert lookup[("statement_coverage", "EUR", "adyen", "fee.amount")] == "0.30"
    assert lookup[("unsettled", "JPY", "adyen", "awaiting.amount")] == "1500"
    assert lookup[("statement_orphans", "EUR", "adyen", "payment.amount")] == "5.00"
    assert {row[0] for row in csv_rows(report)} == {
        "report",
        "totals",
        "needs_action",
        "open_queue_by_age",
        "changes",
        "callback_latency",
        "callback_outages",
        "log_gaps",
        "statement_coverage",
        "unsettled",
        "statement_orphans",
    }


def test_xlsx_has_a_sheet_per_section_with_typed_amounts(report, tmp_path) -> None:
    from openpyxl import load_workbook

    path = write_report(report, tmp_path / "close.xlsx", "xlsx")
    book = load_workbook(path)
    assert book.sheetnames == [
        "Report",
        "Totals",
        "Needs action",
        "Open queue by age",
        "Changes",
        "Callback latency",
        "Outages",
        "Log gaps",
        "Statement coverage",
        "Unsettled",
        "Statement orphans",
    ]
    totals = {(r[0].value, r[1].value, r[2].value): (r[3], r[4]) for r in book["Totals"].iter_rows(min_row=2)}
    orders, amount = totals[("USD", "all providers", "all")]
    assert (orders.data_type, orders.value) == ("n", 7)
    assert (amount.data_type, Decimal(str(amount.value)), amount.number_format) == ("n", Decimal("79.85"), "#,##0.00")
    _, jpy = totals[("JPY", "adyen", "confirmed")]
    assert (jpy.value, jpy.number_format) == (1500, "#,##0")
    _, kwd = totals[("KWD", "paypal", "confirmed")]
    assert (Decimal(str(kwd.value)), kwd.number_format) == (Decimal("1.25"), "#,##0.000")
    assert [c.value for c in next(book["Needs action"].iter_rows(min_row=2, max_row=2))] == [
        "USD",
        "stripe",
        "review_amount",
        1,
        20,
        79200,
        79200,
    ]
    assert amount_format("BHD") == "#,##0.000"


def test_html_is_self_contained_and_the_same_for_the_same_warehouse(built, report) -> None:
    html = render_html(report)
    lowered = html.lower()
    for outside in ("http://", "https://", "<script", "<link", "@import", "url(", "<img", "<iframe"):
        # The one namespace URI of inline SVG is not a resource.
        assert lowered.replace('xmlns="http://www.w3.org/2000/svg"', "").count(outside) == 0, outside
    assert html.count('data-chart="') == 4
    assert render_html(close_report(built["warehouse"], DAY)) == html


def test_read_only_while_another_connection_reads(built) -> None:
    with open_published(built["warehouse"]):
        assert close_report(built["warehouse"], DAY).totals


# --- a generated corpus: the report ties out to the published daily summary -------------------------


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("generated")
    corpus = generate_corpus(1500, 7, root)
    warehouse = root / "warehouse.duckdb"
    as_of = corpus.as_of.isoformat().replace("+00:00", "Z")
    args = ["reconcile", "--orders", str(root / "orders"), "--callbacks", str(root / "callbacks")]
    assert cli.main([*args, "--warehouse", str(warehouse), "--as-of", as_of, "--quiet"]) == 0
    return warehouse


def test_totals_tie_out_to_daily_summary_on_every_day(generated) -> None:
    with open_published(generated) as con:
        days = [r[0] for r in con.execute("SELECT DISTINCT order_date FROM recon.daily_summary ORDER BY 1").fetchall()]
        columns = ", ".join(f"sum({o}_count)::BIGINT, sum({o}_amount_minor)::BIGINT" for o in OUTCOMES)
        expected = {
            (row[0], row[1], row[2]): row[3:]
            for row in con.execute(
                f"SELECT order_date, currency, provider, sum(order_count)::BIGINT, sum(amount_minor)::BIGINT, "
                f"{columns} FROM recon.daily_summary GROUP BY ALL"
            ).fetchall()
        }
    assert len(days) >= 3
    for day in days:
        report = close_report(generated, day)
        for row in report.totals:
            if row.provider is None:
                continue
            figures = [row.orders, row.amount_minor]
            for outcome in OUTCOMES:
                figures += [row.outcome(outcome).orders, row.outcome(outcome).amount_minor]
            assert tuple(figures) == expected.pop((day, row.currency, row.provider))
        # Each currency's total row is the sum of its providers.
        for total in report.currency_totals:
            providers = [r for r in report.totals if r.currency == total.currency and r.provider]
            assert total.amount_minor == sum(r.amount_minor for r in providers)
            assert total.orders == sum(r.orders for r in providers)
        assert sum(d.orders for d in report.mix if d.day == day) == sum(r.orders for r in report.currency_totals)
    assert expected == {}


# --- the pipeline's asset ---------------------------------------------------------------------------


def test_each_run_writes_the_report_of_the_day_before_its_as_of(built, report) -> None:
    folder = built["warehouse"].parent / "reports"
    assert sorted(p.name for p in folder.iterdir()) == [
        "close-report-2026-11-19.csv",
        "close-report-2026-11-19.html",
        "close-report-2026-11-19.xlsx",
    ]
    assert (folder / "close-report-2026-11-19.html").read_text(encoding="utf-8") == render_html(report)
    assert (folder / "close-report-2026-11-19.csv").read_bytes() == render_csv(report).encode()


def test_a_report_that_cannot_be_written_never_fails_the_run(small_logs, tmp_path, capsys) -> None:
    # The small logs have no order on 2026-11-19, the day before their as-of.
    orders, callbacks = small_logs
    warehouse = tmp_path / "wh" / "warehouse.duckdb"
    args = ["reconcile", "--orders", str(orders), "--callbacks", str(callbacks), "--warehouse", str(warehouse)]
    assert cli.main([*args, "--as-of", "2026-11-20T12:00:00Z", "--quiet"]) == 0
    assert "close report for 2026-11-19 not written: no orders created on 2026-11-19" in capsys.readouterr().err
    assert not (warehouse.parent / "reports").exists()
