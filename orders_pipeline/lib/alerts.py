"""Business-anomaly thresholds (warnings, never blocking) and the sinks alerts are sent to.

Thresholds come from ``Settings.alerts``: overdue rate, missing amount per currency, orphan
rate, any callback outage, any sequence gap. Each is judged by Great Expectations on a
one-row frame of exact measurements. A breached threshold is sent to every configured sink:
the run log always, a JSON-lines file and an HTTP webhook when configured. A sink that fails
(timeout, refused connection, unwritable file) is logged and never fails the run.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from orders_pipeline.lib import expectations as gx_suites
from orders_pipeline.lib.config import AlertSettings

BUSINESS_SUITE = "business_thresholds"


@dataclass(frozen=True)
class ThresholdResult:
    """One business threshold: what was measured, the limit, and whether it held."""

    name: str
    passed: bool
    observed: Any
    threshold: Any
    message: str


def measure(outcome_totals: pl.DataFrame, orphans: int, effective_callbacks: int, gaps: pl.DataFrame,
            outages: pl.DataFrame) -> dict[str, Any]:
    """The exact measurements the thresholds are judged on.

    ``outcome_totals`` has one row per (``outcome``, ``currency``) with its ``orders`` and
    ``amount_minor`` (the warehouse aggregates them: the outcomes themselves can be tens of
    millions of rows).
    """
    orders = int(outcome_totals["orders"].sum() or 0)
    overdue = int(outcome_totals.filter(pl.col("outcome") == "overdue")["orders"].sum() or 0)
    missing = (
        outcome_totals.filter(pl.col("outcome") == "missing").group_by("currency").agg(pl.col("amount_minor").sum())
    )
    return {
        "orders": orders,
        "overdue_orders": overdue,
        "overdue_rate": overdue / orders if orders else 0.0,
        "orphan_callbacks": orphans,
        "orphan_rate": orphans / effective_callbacks if effective_callbacks else 0.0,
        "missing_amount_minor": {cur: int(amount) for cur, amount in missing.sort("currency").iter_rows()},
        "callback_outages": outages.height,
        "sequence_gaps": gaps.height,
    }


def judge(measurements: dict[str, Any], settings: AlertSettings,
          data_docs: gx_suites.DataDocs | None = None) -> list[ThresholdResult]:
    """Judge each configured threshold with Great Expectations; disabled ones are left out.

    A threshold holds when the measurement is at most the limit (a rate exactly at its limit
    holds). With ``data_docs``, the suite's validation result is also published there.
    """
    columns: dict[str, Any] = {}
    checks: list[gx_suites.AtMost] = []

    def add(column: str, value: Any, limit: Any) -> None:
        columns[column] = [value]
        checks.append(gx_suites.AtMost(column, limit))

    if settings.max_overdue_rate is not None:
        add("overdue_rate", measurements["overdue_rate"], settings.max_overdue_rate)
    if settings.max_orphan_rate is not None:
        add("orphan_rate", measurements["orphan_rate"], settings.max_orphan_rate)
    for currency, limit in sorted(settings.max_missing_amount_minor.items()):
        add(f"missing_amount_minor_{currency}", measurements["missing_amount_minor"].get(currency, 0), limit)
    if settings.alert_on_outage:
        add("callback_outages", measurements["callback_outages"], 0)
    if settings.alert_on_sequence_gap:
        add("sequence_gaps", measurements["sequence_gaps"], 0)
    if not checks:
        return []
    verdict = gx_suites.validate(BUSINESS_SUITE, pl.DataFrame(columns), checks)
    if data_docs is not None:
        data_docs.publish([verdict])
    results = []
    for check, outcome in zip(checks, verdict.expectations, strict=True):
        observed = columns[check.column][0]
        results.append(
            ThresholdResult(
                name=check.column,
                passed=outcome.success,
                observed=observed,
                threshold=check.limit,
                message=_message(check.column, observed, check.limit, measurements, outcome.success),
            )
        )
    return results


def _message(name: str, observed: Any, limit: Any, m: dict[str, Any], passed: bool) -> str:
    verb = "within" if passed else "above"
    if name == "overdue_rate":
        return f"{m['overdue_orders']} of {m['orders']} orders overdue ({observed:.2%}, {verb} the {limit:.2%} limit)"
    if name == "orphan_rate":
        return f"{m['orphan_callbacks']} orphan callbacks ({observed:.2%} of callbacks, {verb} the {limit:.2%} limit)"
    if name.startswith("missing_amount_minor_"):
        return f"missing orders hold {observed} minor units of {name.rsplit('_', 1)[1]} ({verb} the limit {limit})"
    if name == "callback_outages":
        return f"{observed} callback outage(s) detected" if observed else "no callback outage"
    if name == "sequence_gaps":
        return f"{observed} sequence gap(s) or repeat(s) in the logs" if observed else "no sequence gap"
    return f"{name}={observed} (limit {limit})"


def send(breaches: list[ThresholdResult], settings: AlertSettings, run_id: str, as_of: datetime,
         log: logging.Logger | Any) -> list[str]:
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
