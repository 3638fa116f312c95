"""The close report as one self-contained HTML file: tables and four inline SVG charts, no outside resource.

Nothing is fetched when the file is opened (no script, font, stylesheet or image from
anywhere), so it renders the same offline, attached to an e-mail or archived. Amounts are
written in major units, exactly, from the integer minor units (:func:`major_text`); chart
geometry from amounts is integer arithmetic too, so no float ever holds an amount.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

from orders_pipeline.lib.common.vocabulary import OUTCOMES
from orders_pipeline.lib.reports.close_report import AGE_BUCKETS, CloseReport, TotalsRow
from orders_pipeline.lib.reports.formatting import major_text, timestamp_text

# One colour per outcome, in rule order: contradictions red, money at risk orange/purple, settled green.
OUTCOME_COLOURS: dict[str, str] = {
    "conflict": "#a50026",
    "reversed": "#d6604d",
    "unsettled": "#e08214",
    "amount_mismatch": "#f1b6da",
    "confirmed": "#1a9850",
    "failed": "#7f7f7f",
    "callback_lost": "#8073ac",
    "not_at_provider": "#542788",
    "missing": "#d73027",
    "overdue": "#fdae61",
    "pending": "#92c5de",
}

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       margin: 24px auto; max-width: 1180px; padding: 0 16px; color: #1b1b1b; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; margin-top: 1.8em; border-bottom: 2px solid #ddd; padding-bottom: 4px; }
h3 { font-size: 1.05em; margin: 1.2em 0 0.4em; }
p.meta { color: #555; margin-top: 0; }
p.note { color: #555; font-size: 0.9em; }
table { border-collapse: collapse; font-size: 0.88em; margin: 6px 0 12px; }
th, td { border: 1px solid #d6d6d6; padding: 3px 7px; vertical-align: top; }
th { background: #f3f3f3; text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td .amt { display: block; color: #444; }
tr.currency-total td { background: #f7f7f2; font-weight: 600; }
.chart { margin: 8px 0 16px; }
.chart svg { display: block; max-width: 100%; height: auto; }
.empty { color: #666; font-style: italic; }
"""


def render_html(report: CloseReport) -> str:
    """The whole report as one HTML document (UTF-8 text)."""
    title = f"Close report {report.day} ({report.timezone})"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        _meta(report),
        _totals_section(report),
        _action_section(report),
        _changes_section(report),
        _callbacks_section(report),
        _statements_section(report),
        '<p class="note">Amounts are in major units of their currency, computed exactly from the '
        "warehouse's integer minor units. What each section means: docs/close-report.md.</p>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


# --- sections ----------------------------------------------------------------------------------


def _meta(report: CloseReport) -> str:
    previous = timestamp_text(report.previous_as_of) if report.previous_as_of else "none (first run)"
    return (
        f'<p class="meta">Orders created from {timestamp_text(report.day_start)} to {timestamp_text(report.day_end)} '
        f"(the day in {escape(report.timezone)}). Warehouse as of {timestamp_text(report.as_of)}, run "
        f"{escape(report.run_id[:8])}; previous run as of {previous}.</p>"
    )


def _totals_section(report: CloseReport) -> str:
    shown = [o for o in OUTCOMES if any(row.outcome(o).orders for row in report.totals)]
    head = ["Currency", "Provider", "Orders", "Amount", *shown]
    body = []
    for row in report.totals:
        cells = [
            _td(row.currency),
            _td(row.provider or "all providers"),
            _num(str(row.orders)),
            _num(major_text(row.amount_minor, row.currency)),
            *(_outcome_cell(row, outcome) for outcome in shown),
        ]
        css = ' class="currency-total"' if row.provider is None else ""
        body.append(f"<tr{css}>{''.join(cells)}</tr>")
    return (
        "<h2>Orders and amounts per outcome</h2>"
        + _table(head, body, "totals", numeric_from=2)
        + "<h3>Outcome mix per day, last 14 days (orders)</h3>"
        + _chart("outcome-mix", outcome_mix_svg(report))
    )


def _outcome_cell(row: TotalsRow, outcome: str) -> str:
    figure = row.outcome(outcome)
    if not figure.orders:
        return '<td class="num">-</td>'
    return (
        f'<td class="num"><span class="n">{figure.orders}</span>'
        f'<span class="amt">{major_text(figure.amount_minor, row.currency)}</span></td>'
    )


def _action_section(report: CloseReport) -> str:
    rows = [
        "<tr>"
        + _td(a.currency)
        + _td(a.provider)
        + _td(a.action)
        + _num(str(a.orders))
        + _num(major_text(a.amount_minor, a.currency))
        + _num(short_duration(a.median_age_seconds))
        + _num(short_duration(a.oldest_age_seconds))
        + "</tr>"
        for a in report.actions
    ]
    table = (
        _table(["Currency", "Provider", "Action", "Orders", "Amount", "Median age", "Oldest"], rows, "actions", 3)
        if rows
        else '<p class="empty">Nothing to do for this day: every order is confirmed, failed or pending.</p>'
    )
    return (
        "<h2>Needs action</h2><h3>This day's exceptions, by action</h3>"
        + table
        + f"<h3>The whole open queue by age (every exception as of {timestamp_text(report.as_of)})</h3>"
        + _chart("exception-ages", exception_ages_svg(report))
    )


def _changes_section(report: CloseReport) -> str:
    rows = [
        "<tr>"
        + _td(str(c.order_day) if c.order_day else "-")
        + _td(c.currency)
        + _td(c.provider)
        + _td(f"{c.previous_outcome} \u2192 {c.outcome}")
        + _num(str(c.orders))
        + _num(major_text(c.amount_minor, c.currency))
        + "</tr>"
        for c in report.changes
    ]
    since = timestamp_text(report.previous_as_of) if report.previous_as_of else None
    if not since:
        body = '<p class="empty">This is the first published run: nothing to compare with.</p>'
    elif not rows:
        body = '<p class="empty">No order changed its outcome in the last run.</p>'
    else:
        body = _table(["Order day", "Currency", "Provider", "Change", "Orders", "Amount"], rows, "changes", 4)
    heading = f"<h2>Changed since the previous run{f' (as of {since})' if since else ''}</h2>"
    return heading + body


def _callbacks_section(report: CloseReport) -> str:
    latency_rows = [
        "<tr>"
        + _td(r.provider)
        + _num(str(r.orders))
        + "".join(_num(short_duration(s)) for s in (r.p50_seconds, r.p90_seconds, r.p99_seconds, r.max_seconds))
        + "</tr>"
        for r in report.latency
    ]
    outage_rows = [
        "<tr>"
        + _td(o.provider)
        + _td(timestamp_text(o.start))
        + _td(timestamp_text(o.end) + (" (ongoing)" if o.ongoing else ""))
        + _num(short_duration(o.duration_seconds))
        + _num(str(o.orders_created))
        + _num(str(o.orders_overdue))
        + _num(str(o.orders_missing))
        + "</tr>"
        for o in report.outages
    ]
    gap_rows = [
        "<tr>"
        + _td(g.kind)
        + _td(g.source)
        + _td(g.gap_type)
        + _num(str(g.seq_from) if g.seq_from == g.seq_to else f"{g.seq_from}-{g.seq_to}")
        + _num(str(g.line_count))
        + _td(timestamp_text(g.after_line_at))
        + _td(timestamp_text(g.before_line_at))
        + "</tr>"
        for g in report.log_gaps
    ]
    parts = [
        "<h2>Callbacks and logs</h2><h3>Callback latency per provider (order to first terminal callback)</h3>",
        _chart("callback-latency", latency_svg(report)),
        _table(["Provider", "Orders", "p50", "p90", "p99", "Max"], latency_rows, "latency", 1)
        if latency_rows
        else '<p class="empty">No order of this day got a terminal callback.</p>',
        "<h3>Callback outages and log gaps on the day</h3>",
        _chart("outage-timeline", outage_timeline_svg(report)),
        _table(
            ["Provider", "Silent from", "Until", "Length", "Orders created", "Now overdue", "Now missing"],
            outage_rows,
            "outages",
            3,
        )
        if outage_rows
        else '<p class="empty">No callback outage on this day.</p>',
        _table(
            ["Log", "Source", "Type", "Seq", "Lines", "Last line before", "First line after"],
            gap_rows,
            "log-gaps",
            3,
        )
        if gap_rows
        else '<p class="empty">No sequence gap or repeat in the logs on this day.</p>',
    ]
    return "".join(parts)


def _statements_section(report: CloseReport) -> str:
    figures = report.statements
    if figures is None:
        return (
            "<h2>Statements</h2>"
            '<p class="empty">No provider statement in this warehouse: outcomes rest on callbacks alone.</p>'
        )
    coverage = [
        "<tr>"
        + _td(c.provider)
        + _td(c.currency)
        + _td("yes" if c.covered else "not yet")
        + _num(str(c.files))
        + _num(str(c.rows))
        + "".join(
            _num(f"{count}<span class='amt'>{major_text(amount, c.currency)}</span>")
            for count, amount in (
                (c.payment_count, c.payment_amount_minor),
                (c.refund_count, c.refund_amount_minor),
                (c.chargeback_count, c.chargeback_amount_minor),
            )
        )
        + _num(major_text(c.fee_amount_minor, c.currency))
        + _num(major_text(c.payout_amount_minor, c.currency))
        + "</tr>"
        for c in figures.coverage
    ]
    missing = [p for p in figures.providers if p not in {c.provider for c in figures.coverage}]
    unsettled = [
        "<tr>"
        + _td(u.currency)
        + _td(u.provider)
        + _td(_STATEMENT_STATUS_TEXT.get(u.statement_status, u.statement_status))
        + _num(str(u.orders))
        + _num(major_text(u.amount_minor, u.currency))
        + "</tr>"
        for u in figures.unsettled
    ]
    orphans = [
        "<tr>"
        + _td(o.currency)
        + _td(o.provider)
        + _td(o.type)
        + _num(str(o.rows))
        + _num(major_text(o.amount_minor, o.currency))
        + "</tr>"
        for o in figures.orphans
    ]
    parts = ["<h2>Statements</h2><h3>Coverage of the day</h3>"]
    parts.append(
        _table(
            [
                "Provider",
                "Currency",
                "Day over",
                "Files",
                "Rows",
                "Payments",
                "Refunds",
                "Chargebacks",
                "Fees",
                "Payouts",
            ],
            coverage,
            "coverage",
            3,
        )
        if coverage
        else '<p class="empty">No statement row for this day.</p>'
    )
    if missing:
        parts.append(f'<p class="note">No statement for this day from: {escape(", ".join(missing))}.</p>')
    parts.append("<h3>Unsettled money (paid by callback, not on the statement)</h3>")
    parts.append(
        _table(["Currency", "Provider", "Statement", "Orders", "Amount"], unsettled, "unsettled", 3)
        if unsettled
        else '<p class="empty">Every paid order of the day is on its statement.</p>'
    )
    if orphans:
        parts.append("<h3>Statement rows for orders nobody logged</h3>")
        parts.append(_table(["Currency", "Provider", "Type", "Rows", "Amount"], orphans, "statement-orphans", 3))
    return "".join(parts)


_STATEMENT_STATUS_TEXT = {
    "awaiting": "awaiting (statement not due yet)",
    "not_found": "not found (unsettled)",
    "amount_differs": "amount differs",
}


# --- charts ------------------------------------------------------------------------------------


def outcome_mix_svg(report: CloseReport) -> str:
    """Stacked bars: orders per outcome for each of the last 14 order days (the report day last)."""
    width, height, left, bottom, top = 760, 250, 44, 40, 12
    plot_h = height - bottom - top
    slot = (width - left - 150) // len(report.mix)
    peak = max((d.orders for d in report.mix), default=0) or 1
    parts = [_axis_label(4, top + 8, f"{peak}"), _axis_label(4, top + plot_h, "0")]
    for i, day in enumerate(report.mix):
        x = left + i * slot
        y = top + plot_h
        for outcome, count in day.counts:
            if not count:
                continue
            h = count * plot_h // peak or 1
            y -= h
            colour = OUTCOME_COLOURS[outcome]
            parts.append(
                f'<rect x="{x + 3}" y="{y}" width="{slot - 6}" height="{h}" fill="{colour}">'
                f"<title>{day.day} {outcome}: {count}</title></rect>"
            )
        weight = ' font-weight="700"' if day.day == report.day else ""
        parts.append(
            f'<text x="{x + slot // 2}" y="{height - bottom + 16}" font-size="10" text-anchor="middle"{weight}>'
            f"{day.day:%m-%d}</text>"
        )
        if day.orders:
            parts.append(
                f'<text x="{x + slot // 2}" y="{y - 3}" font-size="9" text-anchor="middle" fill="#444">'
                f"{day.orders}</text>"
            )
    shown = [o for o in OUTCOMES if any(dict(d.counts)[o] for d in report.mix)]
    parts += _legend(width - 140, top, [(o, OUTCOME_COLOURS[o]) for o in shown])
    if peak == 1 and not any(d.orders for d in report.mix):
        parts.append(_axis_label(left + 10, top + plot_h // 2, "no orders in these 14 days"))
    return _svg(width, height, "Outcome mix per day over the last 14 days", parts)


def exception_ages_svg(report: CloseReport) -> str:
    """Small multiples, one panel per currency: the open queue's amount in each age bucket."""
    currencies = sorted({row.currency for row in report.age_buckets})
    panel_w, panel_h, columns = 370, 150, 3
    if not currencies:
        return _svg(760, 60, "Exception amounts by age bucket", [_axis_label(10, 34, "no open exception")])
    rows_needed = math.ceil(len(currencies) / columns)
    width, height = panel_w * min(columns, len(currencies)), panel_h * rows_needed
    parts: list[str] = []
    labels = [label for label, _, _ in AGE_BUCKETS]
    for index, currency in enumerate(currencies):
        ox, oy = (index % columns) * panel_w, (index // columns) * panel_h
        amounts = {row.bucket: row for row in report.age_buckets if row.currency == currency}
        peak = max(row.amount_minor for row in amounts.values()) or 1
        parts.append(f'<text x="{ox + 8}" y="{oy + 16}" font-size="12" font-weight="700">{escape(currency)}</text>')
        bar_w, plot_h, base = (panel_w - 30) // len(labels), panel_h - 58, oy + panel_h - 24
        for b, label in enumerate(labels):
            x = ox + 16 + b * bar_w
            row = amounts.get(label)
            if row is not None:
                h = row.amount_minor * plot_h // peak or 1
                parts.append(
                    f'<rect x="{x + 4}" y="{base - h}" width="{bar_w - 8}" height="{h}" fill="#e08214">'
                    f"<title>{currency} {label}: {row.orders} orders, {major_text(row.amount_minor, currency)}"
                    f"</title></rect>"
                )
                parts.append(
                    f'<text x="{x + bar_w // 2}" y="{base - h - 3}" font-size="9" text-anchor="middle">'
                    f"{major_text(row.amount_minor, currency)}</text>"
                )
            parts.append(
                f'<text x="{x + bar_w // 2}" y="{base + 13}" font-size="9" text-anchor="middle" fill="#444">'
                f"{label}</text>"
            )
        parts.append(
            f'<line x1="{ox + 16}" y1="{base}" x2="{ox + panel_w - 14}" y2="{base}" stroke="#999" stroke-width="1"/>'
        )
    return _svg(width, height, "Exception amounts by age bucket, per currency", parts)


def latency_svg(report: CloseReport) -> str:
    """Per provider on a log scale of seconds: the p50-p99 range, p90, and the slowest callback."""
    rows = report.latency
    left, right, row_h, top = 110, 30, 28, 24
    width = 760
    height = top + row_h * max(len(rows), 1) + 30
    if not rows:
        return _svg(width, 70, "Callback latency per provider", [_axis_label(10, 34, "no terminal callback")])
    slowest = max(r.max_seconds for r in rows)
    decades = max(1, math.ceil(math.log10(max(slowest, 10))))
    plot_w = width - left - right

    def x_of(seconds: int) -> int:
        return left + round(math.log10(max(seconds, 1)) / decades * plot_w)

    parts = []
    for seconds, label in _LATENCY_TICKS:
        if seconds > 10**decades:
            break
        x = x_of(seconds)
        parts.append(f'<line x1="{x}" y1="{top - 6}" x2="{x}" y2="{height - 26}" stroke="#e3e3e3"/>')
        parts.append(f'<text x="{x}" y="{height - 12}" font-size="10" text-anchor="middle">{label}</text>')
    for i, r in enumerate(rows):
        y = top + i * row_h + row_h // 2
        parts.append(f'<text x="{left - 8}" y="{y + 4}" font-size="11" text-anchor="end">{escape(r.provider)}</text>')
        parts.append(
            f'<line x1="{x_of(r.p50_seconds)}" y1="{y}" x2="{x_of(r.p99_seconds)}" y2="{y}" '
            f'stroke="#4575b4" stroke-width="6" stroke-linecap="round"/>'
        )
        for label, value, colour in (("p50", r.p50_seconds, "#1b1b1b"), ("p90", r.p90_seconds, "#4575b4")):
            parts.append(
                f'<circle cx="{x_of(value)}" cy="{y}" r="5" fill="{colour}">'
                f"<title>{r.provider} {label}: {short_duration(value)}</title></circle>"
            )
        parts.append(
            f'<line x1="{x_of(r.max_seconds)}" y1="{y - 7}" x2="{x_of(r.max_seconds)}" y2="{y + 7}" '
            f'stroke="#a50026" stroke-width="2"><title>{r.provider} max: {short_duration(r.max_seconds)}</title></line>'
        )
    parts += _legend(width - 300, 4, [("p50", "#1b1b1b"), ("p90", "#4575b4"), ("max", "#a50026")], 3)
    return _svg(width, height, "Callback latency per provider (p50 to p99, log scale)", parts)


def outage_timeline_svg(report: CloseReport) -> str:
    """The day on a 24-hour axis: one lane per provider with its callback outages, and a lane of log gaps."""
    providers = sorted({row.provider for row in report.totals if row.provider} | {o.provider for o in report.outages})
    lanes = [*providers, "log gaps"]
    left, right, lane_h, top = 110, 30, 24, 10
    width = 760
    height = top + lane_h * len(lanes) + 30
    plot_w = width - left - right
    span = (report.day_end - report.day_start).total_seconds()
    zone = ZoneInfo(report.timezone)

    def x_of(moment: datetime) -> int:
        seconds = min(max((moment - report.day_start).total_seconds(), 0), span)
        return left + round(seconds / span * plot_w)

    parts = []
    for hour in range(0, 25, 3):
        x = left + hour * plot_w // 24
        parts.append(f'<line x1="{x}" y1="{top}" x2="{x}" y2="{height - 26}" stroke="#e3e3e3"/>')
        parts.append(f'<text x="{x}" y="{height - 12}" font-size="10" text-anchor="middle">{hour:02d}:00</text>')
    for i, lane in enumerate(lanes):
        y = top + i * lane_h
        parts.append(
            f'<text x="{left - 8}" y="{y + lane_h // 2 + 4}" font-size="11" text-anchor="end">{escape(lane)}</text>'
        )
        parts.append(
            f'<rect x="{left}" y="{y + 4}" width="{plot_w}" height="{lane_h - 8}" fill="#eef5ec"/>'
            if lane != "log gaps"
            else ""
        )
        for o in (o for o in report.outages if o.provider == lane):
            x1, x2 = x_of(o.start), x_of(o.end)
            local = f"{o.start.astimezone(zone):%H:%M}-{o.end.astimezone(zone):%H:%M}"
            parts.append(
                f'<rect x="{x1}" y="{y + 4}" width="{max(x2 - x1, 2)}" height="{lane_h - 8}" fill="#d73027">'
                f"<title>{o.provider} silent {local} ({short_duration(o.duration_seconds)}), "
                f"{o.orders_created} orders created</title></rect>"
            )
    gap_y = top + (len(lanes) - 1) * lane_h
    for g in report.log_gaps:
        moment = g.after_line_at or g.before_line_at
        if moment is None:
            continue
        x = x_of(moment)
        colour = "#542788" if g.gap_type == "missing" else "#8073ac"
        parts.append(
            f'<line x1="{x}" y1="{gap_y + 4}" x2="{x}" y2="{gap_y + lane_h - 4}" stroke="{colour}" stroke-width="2">'
            f"<title>{g.kind} {g.source} {g.gap_type} seq {g.seq_from}-{g.seq_to}</title></line>"
        )
    return _svg(width, height, f"Callback outages and log gaps on {report.day} ({report.timezone})", parts)


# --- small helpers -----------------------------------------------------------------------------


def short_duration(seconds: int | None) -> str:
    """``93784`` -> ``1d 2h``: a duration's two leading units (``-`` when missing)."""
    if seconds is None:
        return "-"
    rest = int(seconds)
    units = []
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        count, rest = divmod(rest, size)
        units.append(f"{count}{unit}")
    while len(units) > 1 and units[0].startswith("0"):
        units.pop(0)
    return " ".join(units[:2])


# Where the latency axis is labelled: round durations, placed on the log scale.
_LATENCY_TICKS = (
    (1, "1s"),
    (10, "10s"),
    (60, "1m"),
    (600, "10m"),
    (3_600, "1h"),
    (21_600, "6h"),
    (86_400, "1d"),
    (604_800, "7d"),
)


def _svg(width: int, height: int, title: str, parts: Iterable[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" font-family="system-ui, sans-serif"><title>{escape(title)}</title>{"".join(parts)}</svg>'
    )


def _chart(name: str, svg: str) -> str:
    return f'<figure class="chart" data-chart="{name}" style="margin:0">{svg}</figure>'


def _legend(x: int, y: int, items: Sequence[tuple[str, str]], columns: int = 1) -> list[str]:
    parts = []
    for i, (label, colour) in enumerate(items):
        if columns == 1:
            ix, iy = x, y + i * 16
        else:
            ix, iy = x + i * 100, y
        parts.append(f'<rect x="{ix}" y="{iy}" width="11" height="11" fill="{colour}"/>')
        parts.append(f'<text x="{ix + 16}" y="{iy + 10}" font-size="11">{escape(label)}</text>')
    return parts


def _axis_label(x: int, y: int, text: str) -> str:
    return f'<text x="{x}" y="{y}" font-size="10" fill="#444">{escape(text)}</text>'


def _table(head: Sequence[str], rows: Sequence[str], table_id: str, numeric_from: int) -> str:
    header = "".join(
        f'<th class="num">{escape(h)}</th>' if i >= numeric_from else f"<th>{escape(h)}</th>"
        for i, h in enumerate(head)
    )
    return f'<table id="{table_id}"><thead><tr>{header}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _td(text: str) -> str:
    return f"<td>{escape(text)}</td>"


def _num(html_text: str) -> str:
    return f'<td class="num">{html_text}</td>'
