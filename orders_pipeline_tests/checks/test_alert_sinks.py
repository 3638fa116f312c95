"""A hostile webhook: it accepts the connection, then answers one byte at a time, never finishing.

Each byte arrives well within any per-read timeout, so only a total deadline stops it. The
alerts' webhook must give up at ``alerts.webhook_timeout_seconds``, log it, and let the run go on.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import duckdb
import pytest

from orders_pipeline import cli
from orders_pipeline.lib.checks import alert_sinks
from orders_pipeline.lib.checks.thresholds import ThresholdResult
from orders_pipeline.lib.common.config import AlertSettings
from orders_pipeline_tests.conftest import AS_OF

STATUS_LINE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"  # the headers never end


class _Log:
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warning(self, message: str) -> None:
        self.warnings.append(message)


def _dripping_sink(interval: float) -> Iterator[tuple[str, list[bytes]]]:
    """A server on 127.0.0.1 that reads the request, then sends one byte of its answer every ``interval``."""
    listener = socket.create_server(("127.0.0.1", 0))
    requests: list[bytes] = []
    stop = threading.Event()

    def drip(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            requests.append(conn.recv(65536))
            for byte in STATUS_LINE * 100:
                if stop.wait(interval):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:  # the client hung up: what the deadline is for
                    return

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=drip, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/hooks/secret-token", requests
    finally:
        stop.set()
        listener.close()


@pytest.fixture
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def test_a_dripping_webhook_is_abandoned_at_its_total_deadline(no_proxy) -> None:
    breach = ThresholdResult("overdue_rate", "overdue_rate", passed=False, observed=0.5, threshold=0.05, message="high")
    for url, requests in _dripping_sink(interval=0.2):
        log = _Log()
        started = time.monotonic()
        settings = AlertSettings(webhook_url=url, webhook_timeout_seconds=1)
        failed = alert_sinks.send([breach], settings, "run-1", datetime(2026, 11, 20, tzinfo=UTC), log)
        took = time.monotonic() - started
        assert failed == ["webhook"]
        assert len(requests) == 1  # the alert was sent; only the answer never completed
        # Bytes kept arriving every 0.2 s, so a per-read timeout of 1 s alone would wait forever.
        assert 1 <= took < 3
        [warning] = [w for w in log.warnings if "webhook" in w]
        assert "did not answer within 1s" in warning
        assert "secret-token" not in warning


@pytest.mark.slow
def test_a_run_with_a_dripping_webhook_publishes_within_the_deadline(small_logs, tmp_path, no_proxy, capsys) -> None:
    """The attack as reported: one byte every 2 s, timeout 3 s; the run used to hang and publish nothing."""
    orders, callbacks = small_logs
    warehouse = tmp_path / "warehouse.duckdb"
    for url, requests in _dripping_sink(interval=2.0):
        config = tmp_path / "config.yaml"
        config.write_text(f"alerts:\n  webhook_url: {url}\n  webhook_timeout_seconds: 3\n")
        code = cli.main(
            [
                "reconcile",
                "--orders",
                str(orders),
                "--callbacks",
                str(callbacks),
                "--warehouse",
                str(warehouse),
                "--config",
                str(config),
                "--as-of",
                AS_OF,
            ]
        )
        err = capsys.readouterr().err
        assert code == 0, err
        assert len(requests) == 1  # the small logs breach the overdue rate, so the alert went out
        assert "did not answer within 3s" in err
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        published_at = con.execute("SELECT max(finished_at) FROM recon.runs").fetchone()[0]
    finally:
        con.close()
    assert published_at is not None
    assert published_at <= datetime.now(UTC)
