"""Where alerts go: the run log always, a JSON-lines file and an HTTP webhook when configured.

A sink that fails (timeout, refused connection, unwritable file) is logged and never fails
the run. The webhook has a total deadline (``alerts.webhook_timeout_seconds``, from connecting
to the last byte of the answer): a per-read timeout alone lets a sink that drips one byte at a
time hold the run forever.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orders_pipeline.lib.common.config import AlertSettings

if TYPE_CHECKING:
    from orders_pipeline.lib.checks.thresholds import ThresholdResult


def send(
    breaches: list[ThresholdResult], settings: AlertSettings, run_id: str, as_of: datetime, log: logging.Logger | Any
) -> list[str]:
    """Send breached thresholds to every sink; returns the sinks that failed (already logged)."""
    if not breaches:
        return []
    payload = {
        "source": "orders_pipeline",
        "run_id": run_id,
        "as_of": as_of.isoformat(),
        "alerts": [asdict(b) for b in breaches],
    }
    for breach in breaches:
        log.warning(f"ALERT {breach.name}: {breach.message}")
    failed = []
    if settings.json_file:
        try:
            path = Path(settings.json_file)
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(payload, sort_keys=True, default=str) + "\n")
        except OSError as exc:
            log.warning(f"alert sink json_file {settings.json_file} failed: {exc}")
            failed.append("json_file")
    if settings.webhook_url:
        shown = _shown_url(settings.webhook_url)
        try:
            _post(settings.webhook_url, json.dumps(payload, default=str).encode(), settings.webhook_timeout_seconds)
        except TimeoutError:
            log.warning(
                f"alert sink webhook {shown} did not answer within {settings.webhook_timeout_seconds:g}s "
                "(alerts.webhook_timeout_seconds); gave up, the alerts are in the run log"
            )
            failed.append("webhook")
        except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
            log.warning(f"alert sink webhook {shown} failed: {exc}")
            failed.append("webhook")
    return failed


def _shown_url(url: str) -> str:
    """The webhook as logs show it: scheme and host only (chat webhooks carry their secret in the path)."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}/..."


def _post(url: str, body: bytes, deadline: float) -> None:
    """POST ``body`` as JSON; raises ``TimeoutError`` when the whole exchange takes longer than ``deadline``.

    The request runs in a helper thread; past the deadline its socket is shut down, which wakes
    the blocked read, so neither the run nor the thread waits on the sink.
    """
    connections: list[http.client.HTTPConnection] = []
    errors: list[BaseException] = []

    def tracked(cls: type[http.client.HTTPConnection]):  # noqa: ANN202
        def connect(*args: Any, **kwargs: Any) -> http.client.HTTPConnection:
            connections.append(cls(*args, **kwargs))
            return connections[-1]

        return connect

    class Http(urllib.request.HTTPHandler):
        def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(tracked(http.client.HTTPConnection), req)

    class Https(urllib.request.HTTPSHandler):
        def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(tracked(http.client.HTTPSConnection), req, context=self._context)  # type: ignore[attr-defined]

    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")

    def exchange() -> None:
        try:
            with urllib.request.build_opener(Http, Https).open(request, timeout=deadline) as response:
                response.read()
                if response.status >= 300:
                    raise urllib.error.HTTPError(url, response.status, "not 2xx", response.headers, None)
        except BaseException as exc:  # handed to the caller's thread
            errors.append(exc)

    worker = threading.Thread(target=exchange, name="alert webhook", daemon=True)
    worker.start()
    worker.join(deadline)
    if worker.is_alive():
        for connection in connections:
            if connection.sock is not None:
                with contextlib.suppress(OSError):
                    connection.sock.shutdown(socket.SHUT_RDWR)
        raise TimeoutError(f"no complete answer within {deadline:g}s")
    if errors:
        raise errors[0]
