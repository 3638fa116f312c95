"""Business thresholds (judged by Great Expectations) and the alert sinks (run log, JSON lines, webhook).

A threshold holds up to and including its limit; a disabled one (``None``/``False``) is left
out. A sink that fails — a webhook that times out, refuses or answers an error, an unwritable
JSON-lines file — is logged and reported, never raised.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import polars as pl
import pytest

from orders_pipeline.lib.checks import data_docs
from orders_pipeline.lib.checks import thresholds as alerts
from orders_pipeline.lib.common.config import AlertSettings

AS_OF = datetime(2026, 11, 20, 12, tzinfo=UTC)
NO_THRESHOLDS = AlertSettings(
    max_overdue_rate=None, max_orphan_rate=None, alert_on_outage=False, alert_on_sequence_gap=False
)


class RecordingLog:
    """Stands in for Dagster's ``context.log`` (tests run without pytest's logging plugin)."""

    def __init__(self) -> None:  # noqa: D107
        self.warnings: list[str] = []

    def warning(self, message: str) -> None:  # noqa: D102
        self.warnings.append(message)


def _outcomes(rows: list[tuple[str, str, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows, schema={"outcome": pl.String, "currency": pl.String, "amount_minor": pl.Int64}, orient="row"
    )


def _measure(outcomes: pl.DataFrame, orphans: int = 0, callbacks: int = 100, gaps: int = 0, outages: int = 0) -> dict:
    totals = outcomes.group_by("outcome", "currency").agg(pl.len().alias("orders"), pl.col("amount_minor").sum())
    return alerts.measure(
        totals,
        orphans=orphans,
        effective_callbacks=callbacks,
        gaps=pl.DataFrame({"seq_from": list(range(gaps))}),
        outages=pl.DataFrame({"provider": ["adyen"] * outages}),
    )


def _breach(name: str = "overdue_rate", observed: float = 0.5, threshold: float = 0.05) -> alerts.ThresholdResult:
    return alerts.ThresholdResult(
        "overdue_rate", name, False, observed, threshold, f"{name} {observed} above {threshold}"
    )


# --- judge -------------------------------------------------------------------------------------


def test_overdue_rate_exactly_at_the_limit_holds_and_above_breaches() -> None:
    settings = AlertSettings(
        max_overdue_rate=0.05, max_orphan_rate=None, alert_on_outage=False, alert_on_sequence_gap=False
    )
    at_limit = _measure(_outcomes([("overdue", "USD", 100)] + [("confirmed", "USD", 100)] * 19))  # 1/20
    above = _measure(_outcomes([("overdue", "USD", 100)] * 2 + [("confirmed", "USD", 100)] * 18))  # 2/20
    assert at_limit["overdue_rate"] == 0.05

    [held] = alerts.judge(at_limit, settings)
    [breached] = alerts.judge(above, settings)
    assert (held.name, held.passed, held.observed, held.threshold) == ("overdue_rate", True, 0.05, 0.05)
    assert "within" in held.message
    assert (breached.passed, breached.observed) == (False, 0.1)
    assert "2 of 20 orders overdue" in breached.message
    assert "above" in breached.message


def test_orphan_rate_boundary() -> None:
    settings = AlertSettings(
        max_overdue_rate=None, max_orphan_rate=0.01, alert_on_outage=False, alert_on_sequence_gap=False
    )
    outcomes = _outcomes([("confirmed", "USD", 1)])
    [held] = alerts.judge(_measure(outcomes, orphans=1, callbacks=100), settings)
    [breached] = alerts.judge(_measure(outcomes, orphans=2, callbacks=100), settings)
    assert held.passed
    assert held.observed == 0.01
    assert not breached.passed
    assert breached.observed == 0.02


def test_disabled_thresholds_are_left_out() -> None:
    measurements = _measure(_outcomes([("overdue", "USD", 1)]), orphans=50, gaps=3, outages=2)
    assert alerts.judge(measurements, NO_THRESHOLDS) == []
    only_gaps = AlertSettings(max_overdue_rate=None, max_orphan_rate=None, alert_on_outage=False)
    [gaps] = alerts.judge(measurements, only_gaps)
    assert (gaps.name, gaps.passed, gaps.observed, gaps.threshold) == ("sequence_gaps", False, 3, 0)


def test_outages_and_gaps_breach_on_any() -> None:
    settings = AlertSettings(max_overdue_rate=None, max_orphan_rate=None)
    clean = {r.name: r for r in alerts.judge(_measure(_outcomes([("confirmed", "USD", 1)])), settings)}
    dirty = {
        r.name: r for r in alerts.judge(_measure(_outcomes([("confirmed", "USD", 1)]), gaps=1, outages=1), settings)
    }
    assert set(clean) == set(dirty) == {"callback_outages", "sequence_gaps"}
    assert all(r.passed for r in clean.values())
    assert not any(r.passed for r in dirty.values())
    assert dirty["callback_outages"].message == "1 callback outage(s) detected"


def test_missing_amount_is_judged_per_currency() -> None:
    settings = AlertSettings(
        max_overdue_rate=None,
        max_orphan_rate=None,
        alert_on_outage=False,
        alert_on_sequence_gap=False,
        max_missing_amount_minor={"USD": 1000, "JPY": 500, "KWD": 0},
    )
    outcomes = _outcomes(
        [
            ("missing", "USD", 600),
            ("missing", "USD", 400),  # 1000: exactly the limit
            ("missing", "JPY", 501),  # above
            ("missing", "EUR", 10**12),  # no limit for EUR: not judged
            ("confirmed", "KWD", 5000),  # nothing missing in KWD
        ]
    )
    results = {r.name: r for r in alerts.judge(_measure(outcomes), settings)}
    assert set(results) == {"missing_amount_minor_JPY", "missing_amount_minor_KWD", "missing_amount_minor_USD"}
    assert (results["missing_amount_minor_USD"].passed, results["missing_amount_minor_USD"].observed) == (True, 1000)
    assert (results["missing_amount_minor_JPY"].passed, results["missing_amount_minor_JPY"].observed) == (False, 501)
    assert (results["missing_amount_minor_KWD"].passed, results["missing_amount_minor_KWD"].observed) == (True, 0)
    assert "501 minor units of JPY" in results["missing_amount_minor_JPY"].message


def test_big_amounts_are_compared_exactly() -> None:
    limit = 2**60
    settings = AlertSettings(
        max_overdue_rate=None,
        max_orphan_rate=None,
        alert_on_outage=False,
        alert_on_sequence_gap=False,
        max_missing_amount_minor={"USD": limit},
    )
    # limit + 1 is not representable as a float64 distinct from limit: it must still breach
    [result] = alerts.judge(_measure(_outcomes([("missing", "USD", limit + 1)])), settings)
    assert result.observed == limit + 1
    assert not result.passed


def test_judge_publishes_its_suite_to_data_docs(tmp_path) -> None:
    docs = data_docs.DataDocs(tmp_path / "docs", "run-1")
    settings = AlertSettings(max_orphan_rate=None)
    alerts.judge(_measure(_outcomes([("overdue", "USD", 1)]), gaps=1), settings, data_docs=docs)
    pages = list((tmp_path / "docs" / "validations" / alerts.BUSINESS_SUITE / "run-1").rglob("*.html"))
    assert len(pages) == 1
    assert "sequence_gaps" in pages[0].read_text()
    assert (tmp_path / "docs" / "index.html").exists()


# --- sinks -------------------------------------------------------------------------------------


class _Receiver(BaseHTTPRequestHandler):
    received: list[dict]
    delay: float = 0.0
    status: int = 200

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append({"body": json.loads(body), "content_type": self.headers["Content-Type"]})
        time.sleep(type(self).delay)
        try:
            self.send_response(type(self).status)
            self.end_headers()
        except OSError:  # the client gave up (timeout test)
            pass

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def _server(delay: float = 0.0, status: int = 200) -> Iterator[tuple[str, list[dict]]]:
    handler = type("Receiver", (_Receiver,), {"received": [], "delay": delay, "status": status})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/alerts", handler.received
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def webhook(no_proxy) -> Iterator[tuple[str, list[dict]]]:
    yield from _server()


@pytest.fixture
def slow_webhook(no_proxy) -> Iterator[tuple[str, list[dict]]]:
    yield from _server(delay=1.0)


@pytest.fixture
def failing_webhook(no_proxy) -> Iterator[tuple[str, list[dict]]]:
    yield from _server(status=500)


def test_webhook_receives_the_alerts_as_json(webhook) -> None:
    url, received = webhook
    log = RecordingLog()
    breaches = [_breach("overdue_rate", 0.5, 0.05), _breach("sequence_gaps", 2, 0)]
    failed = alerts.send(breaches, AlertSettings(webhook_url=url), "run-42", AS_OF, log)
    assert failed == []
    assert len(received) == 1
    assert received[0]["content_type"] == "application/json"
    payload = received[0]["body"]
    assert payload["run_id"] == "run-42"
    assert payload["as_of"] == "2026-11-20T12:00:00+00:00"
    assert payload["source"] == "orders_pipeline"
    assert [(a["name"], a["observed"], a["threshold"], a["passed"]) for a in payload["alerts"]] == [
        ("overdue_rate", 0.5, 0.05, False),
        ("sequence_gaps", 2, 0, False),
    ]
    # the run log always gets one line per breach
    assert [w for w in log.warnings if w.startswith("ALERT")] == [
        "ALERT overdue_rate: overdue_rate 0.5 above 0.05",
        "ALERT sequence_gaps: sequence_gaps 2 above 0",
    ]


def test_webhook_past_its_timeout_is_logged_not_raised(slow_webhook) -> None:
    url, received = slow_webhook
    log = RecordingLog()
    started = time.perf_counter()
    failed = alerts.send([_breach()], AlertSettings(webhook_url=url, webhook_timeout_seconds=0.2), "r", AS_OF, log)
    assert failed == ["webhook"]
    assert time.perf_counter() - started < 0.9  # gave up at the timeout, did not wait for the server
    [warning] = [w for w in log.warnings if "webhook" in w]
    # The sink is named by scheme and host only: a webhook's path may hold its secret.
    assert url.removesuffix("/alerts") + "/..." in warning
    assert "/alerts" not in warning


def test_refused_webhook_is_logged_not_raised(no_proxy) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/alerts"
    log = RecordingLog()
    assert alerts.send([_breach()], AlertSettings(webhook_url=url, webhook_timeout_seconds=1), "r", AS_OF, log) == [
        "webhook"
    ]
    assert any("webhook" in w and "failed" in w for w in log.warnings)


def test_webhook_error_status_is_a_failed_sink(failing_webhook) -> None:
    url, received = failing_webhook
    log = RecordingLog()
    assert alerts.send([_breach()], AlertSettings(webhook_url=url), "r", AS_OF, log) == ["webhook"]
    assert len(received) == 1


def test_json_file_appends_one_object_per_run(tmp_path) -> None:
    path = tmp_path / "alerts" / "alerts.jsonl"
    settings = AlertSettings(json_file=str(path))
    log = RecordingLog()
    assert alerts.send([_breach()], settings, "run-1", AS_OF, log) == []
    assert (
        alerts.send([_breach("orphan_rate", 0.2, 0.01), _breach("sequence_gaps", 1, 0)], settings, "run-2", AS_OF, log)
        == []
    )
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["run_id"] for line in lines] == ["run-1", "run-2"]
    assert [[a["name"] for a in line["alerts"]] for line in lines] == [
        ["overdue_rate"],
        ["orphan_rate", "sequence_gaps"],
    ]
    assert lines[0]["as_of"] == AS_OF.isoformat()


def test_unwritable_json_file_is_logged_not_raised(tmp_path, webhook) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    url, received = webhook
    log = RecordingLog()
    settings = AlertSettings(json_file=str(blocker / "alerts.jsonl"), webhook_url=url)
    assert alerts.send([_breach()], settings, "r", AS_OF, log) == ["json_file"]
    assert any("json_file" in w for w in log.warnings)
    assert len(received) == 1  # the other sinks still got it


def test_nothing_is_sent_without_breaches(tmp_path, webhook) -> None:
    url, received = webhook
    path = tmp_path / "alerts.jsonl"
    log = RecordingLog()
    assert alerts.send([], AlertSettings(json_file=str(path), webhook_url=url), "r", AS_OF, log) == []
    assert not path.exists()
    assert received == []
    assert log.warnings == []


def test_failed_sinks_are_reported_together(tmp_path, no_proxy) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    blocker = tmp_path / "file"
    blocker.write_text("")
    settings = AlertSettings(
        json_file=str(blocker / "a.jsonl"), webhook_url=f"http://127.0.0.1:{port}/", webhook_timeout_seconds=1
    )
    assert alerts.send([_breach()], settings, "r", AS_OF, RecordingLog()) == ["json_file", "webhook"]
