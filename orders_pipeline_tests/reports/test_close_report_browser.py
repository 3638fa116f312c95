"""The HTML close report as a person sees it: opened offline in headless Chromium, read off the screen.

The figures are the ones worked out by hand in ``close_corpus`` (and asserted on the report's
data in ``test_close_report``); here they must be what the rendered page shows: the
per-currency totals in major units, the exception amounts, four charts with their labels
inside them. Every request except the report file itself is refused and must not happen.
"""

from __future__ import annotations

import pytest

from orders_pipeline import cli
from orders_pipeline.devtools.browser import headless_chromium, record_requests
from orders_pipeline_tests.reports.close_corpus import build_close_warehouse

pytestmark = pytest.mark.browser


def _words(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    root = tmp_path_factory.mktemp("close-browser")
    built = build_close_warehouse(root)
    report = root / "close-report.html"
    assert (
        cli.main(["report", "--warehouse", str(built["warehouse"]), "--date", "2026-11-19", "--out", str(report)]) == 0
    )
    with headless_chromium(root / "profile") as context:
        refused = record_requests(context, allow=lambda url: url == report.as_uri())
        errors: list[str] = []
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(report.as_uri())
        page.wait_for_load_state("load")
        yield page
        assert refused == [], "the report asked for something outside its own file"
        assert errors == []


def _rows(page, selector: str) -> list[list[str]]:
    return [[_words(cell) for cell in row.locator("td").all_inner_texts()] for row in page.locator(selector).all()]


def test_title_says_the_day_and_timezone(page) -> None:
    assert page.title() == "Close report 2026-11-19 (UTC)"
    assert page.locator("h1").inner_text() == "Close report 2026-11-19 (UTC)"


def test_per_currency_totals_read_in_major_units(page) -> None:
    head = [_words(h) for h in page.locator("#totals thead th").all_inner_texts()]
    assert head == [
        "Currency",
        "Provider",
        "Orders",
        "Amount",
        "amount_mismatch",
        "confirmed",
        "failed",
        "missing",
        "overdue",
    ]
    totals = page.locator("#totals tr.currency-total")
    assert totals.count() == 5
    assert all(row.is_visible() for row in totals.all())
    # Each outcome cell shows the count above the amount; JPY has no decimals, KWD three.
    assert _rows(page, "#totals tr.currency-total") == [
        ["CNY", "all providers", "1", "88.88", "-", "-", "-", "1 88.88", "-"],
        ["EUR", "all providers", "2", "140.00", "-", "1 100.00", "-", "-", "1 40.00"],
        ["JPY", "all providers", "1", "1,500", "-", "1 1,500", "-", "-", "-"],
        ["KWD", "all providers", "1", "1.250", "-", "1 1.250", "-", "-", "-"],
        ["USD", "all providers", "7", "79.85", "1 20.00", "4 54.75", "1 3.10", "-", "1 2.00"],
    ]
    assert ["USD", "stripe", "6", "49.85", "1 20.00", "3 24.75", "1 3.10", "-", "1 2.00"] in _rows(page, "#totals tr")


def test_exceptions_by_action_with_amounts_and_ages(page) -> None:
    assert _rows(page, "#actions tbody tr") == [
        ["USD", "stripe", "review_amount", "1", "20.00", "22h 0m", "22h 0m"],
        ["CNY", "alipay", "investigate", "1", "88.88", "1d 11h", "1d 11h"],
        ["EUR", "adyen", "query_provider", "1", "40.00", "1d 2h", "1d 2h"],
        ["USD", "stripe", "query_provider", "1", "2.00", "20h 0m", "20h 0m"],
    ]
    assert _rows(page, "#changes tbody tr") == [
        ["2026-11-19", "USD", "stripe", "overdue \u2192 confirmed", "1", "5.00"]
    ]


def _chart(page, name: str):
    chart = page.locator(f'figure[data-chart="{name}"] svg')
    assert chart.is_visible(), name
    box = chart.bounding_box()
    assert box is not None, name
    assert box["width"] > 300, (name, box)
    assert box["height"] > 50, (name, box)
    return chart, box


def _visible_labels(chart, box) -> list[str]:
    """The chart's text labels that are drawn inside the chart's own area (not clipped away)."""
    labels = []
    for text in chart.locator("text").all():
        inner = text.bounding_box()
        if (
            text.is_visible()
            and inner is not None
            and inner["width"] > 0
            and box["x"] - 1 <= inner["x"]
            and inner["x"] + inner["width"] <= box["x"] + box["width"] + 1
            and box["y"] - 1 <= inner["y"]
            and inner["y"] + inner["height"] <= box["y"] + box["height"] + 1
        ):
            labels.append(_words(text.text_content() or ""))
    return labels


def test_four_charts_are_drawn_with_their_labels(page) -> None:
    assert page.locator("figure[data-chart]").count() == 4

    mix, box = _chart(page, "outcome-mix")
    labels = _visible_labels(mix, box)
    assert [f"11-{day:02d}" for day in range(6, 20)] == [label for label in labels if label.startswith("11-")]
    assert "12" in labels  # the report day's 12 orders on top of its bar
    assert {"amount_mismatch", "confirmed", "failed", "missing", "overdue"} <= set(labels)
    assert mix.locator("rect[height]").count() > 5

    ages, box = _chart(page, "exception-ages")
    labels = _visible_labels(ages, box)
    assert {"CNY", "EUR", "USD", "88.88", "40.00", "22.00", "50.00", "< 1 day", "1-3 days", "3-7 days"} <= set(labels)

    latency, box = _chart(page, "callback-latency")
    labels = _visible_labels(latency, box)
    assert {"adyen", "paypal", "stripe", "p50", "p90", "max", "1s", "1m", "1h"} <= set(labels)

    timeline, box = _chart(page, "outage-timeline")
    labels = _visible_labels(timeline, box)
    assert {"adyen", "alipay", "paypal", "stripe", "log gaps", "00:00", "12:00", "24:00"} <= set(labels)
    outages = timeline.locator('rect[fill="#d73027"]')
    assert outages.count() == 2  # adyen 09:00-20:02 and stripe 14:01-18:00
    widths = [outage.bounding_box()["width"] for outage in outages.all()]
    assert widths[0] > widths[1] > 0  # adyen's 11 h outage is drawn longer than stripe's 4 h
