"""The close report for spreadsheets: one long-form CSV table, or an xlsx workbook with a sheet per section.

CSV columns (docs/close-report.md#csv): ``section, currency, provider, measure, value``. A
``measure`` names what is counted, dot-separated from the general to the particular
(``confirmed.orders``, ``query_provider.amount``, ``2026-11-19.overdue>confirmed.amount``);
amounts are exact major units of the row's currency (``12.50``), counts and seconds whole
numbers, times RFC 3339 UTC. Empty ``currency`` or ``provider`` means the figure has none
(an outage has no currency) or covers all (``provider`` empty on a currency's total).

In the xlsx workbook every number is a number cell, and each amount cell carries its
currency's decimals as number format (``#,##0.00`` for USD, ``#,##0`` for JPY, ``#,##0.000``
for KWD); amounts are written as exact decimals, never through a float.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from orders_pipeline.lib.reports.close_report import CloseReport
from orders_pipeline.lib.reports.formatting import currency_decimals, major_units, timestamp_text

CSV_COLUMNS = ("section", "currency", "provider", "measure", "value")

CsvRow = tuple[str, str, str, str, str]


def csv_rows(report: CloseReport) -> Iterator[CsvRow]:
    """Every figure of the report as ``(section, currency, provider, measure, value)``, in report order."""
    yield ("report", "", "", "day", str(report.day))
    yield ("report", "", "", "timezone", report.timezone)
    yield ("report", "", "", "as_of", timestamp_text(report.as_of))
    yield ("report", "", "", "run_id", report.run_id)
    if report.previous_as_of is not None:
        yield ("report", "", "", "previous_as_of", timestamp_text(report.previous_as_of))
    for row in report.totals:
        cur, provider = row.currency, row.provider or ""
        yield ("totals", cur, provider, "orders", str(row.orders))
        yield ("totals", cur, provider, "amount", _amount(row.amount_minor, cur))
        for figure in row.outcomes:
            if figure.orders:
                yield ("totals", cur, provider, f"{figure.outcome}.orders", str(figure.orders))
                yield ("totals", cur, provider, f"{figure.outcome}.amount", _amount(figure.amount_minor, cur))
    for a in report.actions:
        yield ("needs_action", a.currency, a.provider, f"{a.action}.orders", str(a.orders))
        yield ("needs_action", a.currency, a.provider, f"{a.action}.amount", _amount(a.amount_minor, a.currency))
        yield ("needs_action", a.currency, a.provider, f"{a.action}.median_age_seconds", str(a.median_age_seconds))
        yield ("needs_action", a.currency, a.provider, f"{a.action}.oldest_age_seconds", str(a.oldest_age_seconds))
    for b in report.age_buckets:
        yield ("open_queue_by_age", b.currency, "", f"{b.bucket}.orders", str(b.orders))
        yield ("open_queue_by_age", b.currency, "", f"{b.bucket}.amount", _amount(b.amount_minor, b.currency))
    for c in report.changes:
        change = f"{c.order_day or '-'}.{c.previous_outcome}>{c.outcome}"
        yield ("changes", c.currency, c.provider, f"{change}.orders", str(c.orders))
        yield ("changes", c.currency, c.provider, f"{change}.amount", _amount(c.amount_minor, c.currency))
    for r in report.latency:
        for name, value in (
            ("orders", r.orders),
            ("p50_seconds", r.p50_seconds),
            ("p90_seconds", r.p90_seconds),
            ("p99_seconds", r.p99_seconds),
            ("max_seconds", r.max_seconds),
        ):
            yield ("callback_latency", "", r.provider, name, str(value))
    for i, o in enumerate(report.outages, 1):
        for name, text in (
            ("start", timestamp_text(o.start)),
            ("end", timestamp_text(o.end)),
            ("duration_seconds", str(o.duration_seconds)),
            ("ongoing", "true" if o.ongoing else "false"),
            ("orders_created", str(o.orders_created)),
            ("orders_overdue", str(o.orders_overdue)),
            ("orders_missing", str(o.orders_missing)),
        ):
            yield ("callback_outages", "", o.provider, f"{i}.{name}", text)
    for g in report.log_gaps:
        yield ("log_gaps", "", "", f"{g.kind}.{g.source}.{g.gap_type}.{g.seq_from}-{g.seq_to}.lines", str(g.line_count))
    if report.statements is not None:
        for cov in report.statements.coverage:
            cur = cov.currency
            for name, text in (
                ("covered", "true" if cov.covered else "false"),
                ("files", str(cov.files)),
                ("rows", str(cov.rows)),
                ("payment.count", str(cov.payment_count)),
                ("payment.amount", _amount(cov.payment_amount_minor, cur)),
                ("refund.count", str(cov.refund_count)),
                ("refund.amount", _amount(cov.refund_amount_minor, cur)),
                ("chargeback.count", str(cov.chargeback_count)),
                ("chargeback.amount", _amount(cov.chargeback_amount_minor, cur)),
                ("fee.amount", _amount(cov.fee_amount_minor, cur)),
                ("payout.amount", _amount(cov.payout_amount_minor, cur)),
            ):
                yield ("statement_coverage", cur, cov.provider, name, text)
        for u in report.statements.unsettled:
            yield ("unsettled", u.currency, u.provider, f"{u.statement_status}.orders", str(u.orders))
            yield (
                "unsettled",
                u.currency,
                u.provider,
                f"{u.statement_status}.amount",
                _amount(u.amount_minor, u.currency),
            )
        for s in report.statements.orphans:
            yield ("statement_orphans", s.currency, s.provider, f"{s.type}.rows", str(s.rows))
            yield ("statement_orphans", s.currency, s.provider, f"{s.type}.amount", _amount(s.amount_minor, s.currency))


def render_csv(report: CloseReport) -> str:
    """The long-form CSV text (header first, CRLF line ends as RFC 4180 says)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    writer.writerows(csv_rows(report))
    return buffer.getvalue()


def _amount(amount_minor: int, currency: str) -> str:
    return str(major_units(amount_minor, currency))


# --- xlsx ---------------------------------------------------------------------------------------

Cell = str | int | Decimal | datetime | bool | None
# Each sheet: its rows as (cell, currency-or-None) so amount cells get their currency's format.
Sheet = list[list[tuple[Cell, str | None]]]


def workbook_sheets(report: CloseReport) -> dict[str, Sheet]:
    """The workbook's sheets, in order: a header row, then one row per figure."""

    def money(amount_minor: int, currency: str) -> tuple[Cell, str | None]:
        return (major_units(amount_minor, currency), currency)

    def plain(*values: Cell) -> list[tuple[Cell, str | None]]:
        return [(v, None) for v in values]

    def utc(moment: datetime | None) -> Cell:
        return timestamp_text(moment) if moment is not None else None

    sheets: dict[str, Sheet] = {
        "Report": [
            plain("day", str(report.day)),
            plain("timezone", report.timezone),
            plain("as_of", utc(report.as_of)),
            plain("run_id", report.run_id),
            plain("previous_as_of", utc(report.previous_as_of)),
        ]
    }
    totals: Sheet = [plain("currency", "provider", "outcome", "orders", "amount")]
    for row in report.totals:
        provider = row.provider or "all providers"
        totals.append([*plain(row.currency, provider, "all", row.orders), money(row.amount_minor, row.currency)])
        totals += [
            [*plain(row.currency, provider, f.outcome, f.orders), money(f.amount_minor, row.currency)]
            for f in row.outcomes
            if f.orders
        ]
    sheets["Totals"] = totals
    sheets["Needs action"] = [
        plain("currency", "provider", "action", "orders", "amount", "median_age_seconds", "oldest_age_seconds"),
        *(
            [
                *plain(a.currency, a.provider, a.action, a.orders),
                money(a.amount_minor, a.currency),
                *plain(a.median_age_seconds, a.oldest_age_seconds),
            ]
            for a in report.actions
        ),
    ]
    sheets["Open queue by age"] = [
        plain("currency", "age", "orders", "amount"),
        *([*plain(b.currency, b.bucket, b.orders), money(b.amount_minor, b.currency)] for b in report.age_buckets),
    ]
    sheets["Changes"] = [
        plain("order_day", "currency", "provider", "previous_outcome", "outcome", "orders", "amount"),
        *(
            [
                *plain(str(c.order_day) if c.order_day else None, c.currency, c.provider),
                *plain(c.previous_outcome, c.outcome, c.orders),
                money(c.amount_minor, c.currency),
            ]
            for c in report.changes
        ),
    ]
    sheets["Callback latency"] = [
        plain("provider", "orders", "p50_seconds", "p90_seconds", "p99_seconds", "max_seconds"),
        *(
            plain(r.provider, r.orders, r.p50_seconds, r.p90_seconds, r.p99_seconds, r.max_seconds)
            for r in report.latency
        ),
    ]
    sheets["Outages"] = [
        plain(
            "provider",
            "start",
            "end",
            "duration_seconds",
            "ongoing",
            "orders_created",
            "orders_overdue",
            "orders_missing",
        ),
        *(
            plain(o.provider, utc(o.start), utc(o.end), o.duration_seconds, o.ongoing)
            + plain(o.orders_created, o.orders_overdue, o.orders_missing)
            for o in report.outages
        ),
    ]
    sheets["Log gaps"] = [
        plain("kind", "source", "gap_type", "seq_from", "seq_to", "lines", "last_line_before", "first_line_after"),
        *(
            plain(g.kind, g.source, g.gap_type, g.seq_from, g.seq_to, g.line_count)
            + plain(utc(g.after_line_at), utc(g.before_line_at))
            for g in report.log_gaps
        ),
    ]
    if report.statements is not None:
        sheets["Statement coverage"] = [
            plain("provider", "currency", "covered", "files", "rows", "payments", "payment_amount", "refunds")
            + plain("refund_amount", "chargebacks", "chargeback_amount", "fee_amount", "payout_amount"),
            *(
                [
                    *plain(c.provider, c.currency, c.covered, c.files, c.rows, c.payment_count),
                    money(c.payment_amount_minor, c.currency),
                    *plain(c.refund_count),
                    money(c.refund_amount_minor, c.currency),
                    *plain(c.chargeback_count),
                    money(c.chargeback_amount_minor, c.currency),
                    money(c.fee_amount_minor, c.currency),
                    money(c.payout_amount_minor, c.currency),
                ]
                for c in report.statements.coverage
            ),
        ]
        sheets["Unsettled"] = [
            plain("currency", "provider", "statement_status", "orders", "amount"),
            *(
                [*plain(u.currency, u.provider, u.statement_status, u.orders), money(u.amount_minor, u.currency)]
                for u in report.statements.unsettled
            ),
        ]
        sheets["Statement orphans"] = [
            plain("currency", "provider", "type", "rows", "amount"),
            *(
                [*plain(s.currency, s.provider, s.type, s.rows), money(s.amount_minor, s.currency)]
                for s in report.statements.orphans
            ),
        ]
    return sheets


def amount_format(currency: str) -> str:
    """The Excel number format showing exactly the currency's decimals."""
    decimals = currency_decimals(currency)
    return "#,##0" + ("." + "0" * decimals if decimals else "")


def write_xlsx(report: CloseReport, path: Path) -> None:
    """Write the workbook: one sheet per section, a bold header row, amounts formatted per currency."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    workbook.remove(workbook.active)
    bold = Font(bold=True)
    for title, rows in workbook_sheets(report).items():
        sheet = workbook.create_sheet(title)
        for r, row in enumerate(rows, 1):
            for c, (value, currency) in enumerate(row, 1):
                cell = sheet.cell(row=r, column=c, value=value)
                if currency is not None:
                    cell.number_format = amount_format(currency)
                if r == 1 and title != "Report":
                    cell.font = bold
        for column in sheet.columns:
            width = max(len(str(cell.value)) for cell in column if cell.value is not None) if column else 8
            sheet.column_dimensions[column[0].column_letter].width = min(max(width + 2, 8), 40)
        if title != "Report":
            sheet.freeze_panes = "A2"
    workbook.save(path)


FORMATS = ("html", "xlsx", "csv")


def write_report(report: CloseReport, path: Path, fmt: str) -> Path:
    """Write the report in one of :data:`FORMATS` to ``path`` (replaced whole: written aside, then renamed)."""
    from orders_pipeline.lib.reports.close_render import render_html

    path = Path(path)
    partial = path.with_name(f".{path.name}.partial")
    if fmt == "html":
        partial.write_text(render_html(report), encoding="utf-8")
    elif fmt == "csv":
        partial.write_text(render_csv(report), encoding="utf-8", newline="")
    elif fmt == "xlsx":
        write_xlsx(report, partial)
    else:
        raise ValueError(f"unknown report format {fmt!r}; use one of {', '.join(FORMATS)}")
    partial.replace(path)
    return path


def report_folder(warehouse_path: str | Path) -> Path:
    """Where the pipeline writes a warehouse's close reports: ``reports/`` beside the warehouse file."""
    return Path(warehouse_path).parent / "reports"


def write_all_forms(report: CloseReport, folder: Path) -> list[Path]:
    """Write ``close-report-<day>.html``, ``.xlsx`` and ``.csv`` into ``folder`` (created when missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    return [write_report(report, folder / f"close-report-{report.day}.{fmt}", fmt) for fmt in FORMATS]
