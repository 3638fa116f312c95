"""Where alerts go: the run log always, a JSON-lines file and an HTTP webhook when configured.

A sink that fails (timeout, refused connection, unwritable file) is logged and never fails
the run.
"""

from __future__ import annotations

import json
import logging
import urllib.error
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
        request = urllib.request.Request(
            settings.webhook_url,
            data=json.dumps(payload, default=str).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=settings.webhook_timeout_seconds) as response:
                if response.status >= 300:
                    raise urllib.error.HTTPError(
                        settings.webhook_url, response.status, "not 2xx", response.headers, None
                    )
        except (urllib.error.URLError, OSError, ValueError) as exc:
            log.warning(f"alert sink webhook {settings.webhook_url} failed: {exc}")
            failed.append("webhook")
    return failed
