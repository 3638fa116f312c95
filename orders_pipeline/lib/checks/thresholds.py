"""Business-anomaly thresholds: warnings that never block publishing, each also sent as an alert.

Thresholds come from ``Settings.alerts``: overdue rate, missing amount per currency, orphan
rate, any callback outage, any sequence gap, any input file that cannot be read, and with
statements: unsettled amount per currency, and statement days expected but not delivered (a
provider that sends statements has none for a day between its first statement day and the
last day that has ended). Each is
judged by Great Expectations on a one-row frame of exact measurements; breaches go to the alert sinks
(:mod:`~orders_pipeline.lib.checks.alert_sinks`).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal, get_args

import duckdb
import polars as pl

from orders_pipeline.lib.checks import gx_suites
from orders_pipeline.lib.checks.alert_sinks import send
from orders_pipeline.lib.checks.data_docs import DataDocs
from orders_pipeline.lib.common.config import AlertSettings, Settings
from orders_pipeline.lib.statements.coverage import day_ends_at
from orders_pipeline.lib.warehouse.contracts import (
    CALLBACK_OUTAGES,
    INPUT_FILES,
    LOG_GAPS,
    ORDER_OUTCOMES,
    ORPHAN_CALLBACKS,
    QUALITY_ALERTS,
    STATEMENT_COVERAGE,
)
from orders_pipeline.lib.warehouse.run_log import record_check
from orders_pipeline.lib.warehouse.sql import fetch_value, read_table, replace_table, table_exists

BUSINESS_SUITE = "business_thresholds"

ThresholdCheck = Literal[
    "overdue_rate",
    "orphan_rate",
    "missing_amount",
    "callback_outages",
    "sequence_gaps",
    "unsettled_amount",
    "missing_statement_days",
    "unreadable_files",
]
# The warning checks the thresholds are reported under (missing_amount covers every currency's limit).
THRESHOLD_CHECKS: tuple[ThresholdCheck, ...] = get_args(ThresholdCheck)


@dataclass(frozen=True)
class ThresholdResult:
    """One business threshold: what was measured, the limit, and whether it held."""

    check: ThresholdCheck
    name: str
    passed: bool
    observed: Any
    threshold: Any
    message: str


def missing_statement_days(delivered: pl.DataFrame, as_of: datetime, settings: Settings) -> dict[str, list[date]]:
    """Per provider with statements, the days between its first statement day and the last day that ended without one.

    ``delivered``: the (``provider``, ``statement_date``) some statement file is for.
    """
    missing: dict[str, list[date]] = {}
    for (provider,), days in delivered.group_by("provider", maintain_order=True):
        have = set(days["statement_date"].to_list())
        zone = settings.profile(str(provider)).statement_timezone
        day, last = min(have), max(have)
        while day_ends_at(last + timedelta(days=1), zone) < as_of:
            last += timedelta(days=1)
        gaps = []
        while day <= last:
            if day not in have:
                gaps.append(day)
            day += timedelta(days=1)
        if gaps:
            missing[str(provider)] = gaps
    return dict(sorted(missing.items()))


def measure(
    outcome_totals: pl.DataFrame,
    orphans: int,
    effective_callbacks: int,
    gaps: pl.DataFrame,
    outages: pl.DataFrame,
    statement_days_missing: dict[str, list[date]] | None = None,
    unreadable_files: list[str] | None = None,
) -> dict[str, Any]:
    """The exact measurements the thresholds are judged on.

    ``outcome_totals`` has one row per (``outcome``, ``currency``) with its ``orders`` and
    ``amount_minor`` (the warehouse aggregates them: the outcomes themselves can be tens of
    millions of rows). ``statement_days_missing`` is ``None`` when no provider has statements
    (the statement-day threshold is then not judged at all); ``unreadable_files`` (``kind/file``
    of each input file that could not be read) is ``None`` when not measured.
    """
    orders = int(outcome_totals["orders"].sum() or 0)
    overdue = int(outcome_totals.filter(pl.col("outcome") == "overdue")["orders"].sum() or 0)

    def amount_of(outcome: str) -> dict[str, int]:
        rows = (
            outcome_totals.filter(pl.col("outcome") == outcome).group_by("currency").agg(pl.col("amount_minor").sum())
        )
        return {cur: int(amount) for cur, amount in rows.sort("currency").iter_rows()}

    return {
        "orders": orders,
        "overdue_orders": overdue,
        "overdue_rate": overdue / orders if orders else 0.0,
        "orphan_callbacks": orphans,
        "orphan_rate": orphans / effective_callbacks if effective_callbacks else 0.0,
        "missing_amount_minor": amount_of("missing"),
        "unsettled_amount_minor": amount_of("unsettled"),
        "callback_outages": outages.height,
        "sequence_gaps": gaps.height,
        "statement_days_missing": statement_days_missing,
        "unreadable_files": unreadable_files,
    }


def judge(
    measurements: dict[str, Any], settings: AlertSettings, data_docs: DataDocs | None = None
) -> list[ThresholdResult]:
    """Judge each configured threshold with Great Expectations; disabled ones are left out.

    A threshold holds when the measurement is at most the limit (a rate exactly at its limit
    holds). With ``data_docs``, the suite's validation result is also published there.
    """
    columns: dict[str, Any] = {}
    checks: list[gx_suites.AtMost] = []
    check_of: dict[str, ThresholdCheck] = {}

    def add(check: ThresholdCheck, column: str, value: Any, limit: Any) -> None:
        columns[column] = [value]
        checks.append(gx_suites.AtMost(column, limit))
        check_of[column] = check

    if settings.max_overdue_rate is not None:
        add("overdue_rate", "overdue_rate", measurements["overdue_rate"], settings.max_overdue_rate)
    if settings.max_orphan_rate is not None:
        add("orphan_rate", "orphan_rate", measurements["orphan_rate"], settings.max_orphan_rate)
    for currency, limit in sorted(settings.max_missing_amount_minor.items()):
        amount = measurements["missing_amount_minor"].get(currency, 0)
        add("missing_amount", f"missing_amount_minor_{currency}", amount, limit)
    if settings.alert_on_outage:
        add("callback_outages", "callback_outages", measurements["callback_outages"], 0)
    if settings.alert_on_sequence_gap:
        add("sequence_gaps", "sequence_gaps", measurements["sequence_gaps"], 0)
    for currency, limit in sorted(settings.max_unsettled_amount_minor.items()):
        amount = measurements["unsettled_amount_minor"].get(currency, 0)
        add("unsettled_amount", f"unsettled_amount_minor_{currency}", amount, limit)
    days_missing = measurements.get("statement_days_missing")
    if settings.alert_on_missing_statement_day and days_missing is not None:
        add("missing_statement_days", "missing_statement_days", sum(len(d) for d in days_missing.values()), 0)
    unreadable = measurements.get("unreadable_files")
    if settings.alert_on_unreadable_file and unreadable is not None:
        add("unreadable_files", "unreadable_files", len(unreadable), 0)
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
                check=check_of[check.column],
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
    if name.startswith("missing_amount_minor_"):  # one threshold per currency
        return f"missing orders hold {observed} minor units of {name.rsplit('_', 1)[1]} ({verb} the limit {limit})"
    if name.startswith("unsettled_amount_minor_"):  # one threshold per currency
        return (
            f"unsettled orders (confirmed, not on a covering statement) hold {observed} minor units of "
            f"{name.rsplit('_', 1)[1]} ({verb} the limit {limit})"
        )
    if name == "missing_statement_days":
        if not observed:
            return "every expected statement day was delivered"
        listed = "; ".join(
            f"{provider}: {', '.join(d.isoformat() for d in days)}"
            for provider, days in m["statement_days_missing"].items()
        )
        return f"{observed} statement day(s) expected but not delivered ({listed})"
    if name == "unreadable_files":
        if not observed:
            return "every input file could be read"
        shown = ", ".join(m["unreadable_files"][:5]) + (", ..." if observed > 5 else "")
        return f"{observed} input file(s) could not be read and were quarantined ({shown}); re-deliver them"
    if name == "callback_outages":
        return f"{observed} callback outage(s) detected" if observed else "no callback outage"
    if name == "sequence_gaps":
        return f"{observed} sequence gap(s) or repeat(s) in the logs" if observed else "no sequence gap"
    return f"{name}={observed} (limit {limit})"


@dataclass(frozen=True)
class ThresholdReport:
    """Every threshold judged this run, grouped by the warning check it is reported under."""

    results: list[ThresholdResult]
    failed_sinks: list[str]

    @property
    def breaches(self) -> int:
        """Thresholds breached."""
        return sum(not r.passed for r in self.results)

    def of(self, check: ThresholdCheck) -> list[ThresholdResult]:
        """The thresholds reported under ``check`` (none when disabled in the config)."""
        return [r for r in self.results if r.check == check]


def evaluate_thresholds(
    con: duckdb.DuckDBPyConnection,
    as_of: datetime,
    rules: Settings,
    run_id: str,
    docs: DataDocs,
    log: logging.Logger | Any,
) -> ThresholdReport:
    """Measure, judge and record every threshold; write ``recon.quality_alerts``; send breaches to the sinks."""
    settings = rules.alerts
    totals = con.sql(
        "SELECT outcome, currency, count(*) AS orders, sum(amount_minor)::BIGINT AS amount_minor, "
        f"sum(callback_count)::BIGINT AS callbacks FROM {ORDER_OUTCOMES.qualified()} GROUP BY ALL"
    ).pl()
    orphans = int(fetch_value(con, f"SELECT count(*) FROM {ORPHAN_CALLBACKS.qualified()}") or 0)
    measurements = measure(
        totals,
        orphans=orphans,
        effective_callbacks=int(totals["callbacks"].sum() or 0) + orphans,
        gaps=read_table(con, LOG_GAPS),
        outages=read_table(con, CALLBACK_OUTAGES),
        statement_days_missing=_statement_days_missing(con, as_of, rules),
        unreadable_files=[
            f"{kind}/{file}"
            for kind, file in con.execute(
                f"SELECT kind, file FROM {INPUT_FILES.qualified()} WHERE status = 'unreadable' ORDER BY kind, file"
            ).fetchall()
        ],
    )
    results = judge(measurements, settings, data_docs=docs)
    replace_table(con, QUALITY_ALERTS, _alerts_frame(results, as_of))
    failed_sinks = send([r for r in results if not r.passed], settings, run_id, as_of, log)
    report = ThresholdReport(results, failed_sinks)
    for check in THRESHOLD_CHECKS:
        mine = report.of(check)
        record_check(
            con,
            run_id,
            QUALITY_ALERTS.name.split(".")[1],
            check,
            passed=all(r.passed for r in mine),
            blocking=False,
            observed={r.name: r.observed for r in mine},
            failing=[asdict(r) for r in mine if not r.passed],
        )
    return report


def _statement_days_missing(con: duckdb.DuckDBPyConnection, as_of: datetime, rules: Settings) -> dict | None:
    """The statement days missing per provider (``None`` when no provider has statements)."""
    if not table_exists(con, STATEMENT_COVERAGE.name):
        return None
    delivered = con.sql(f"SELECT DISTINCT provider, statement_date FROM {STATEMENT_COVERAGE.qualified()}").pl()
    return None if delivered.is_empty() else missing_statement_days(delivered, as_of, rules)


def _alerts_frame(results: list[ThresholdResult], as_of: datetime) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "as_of": [as_of] * len(results),
            "threshold": [r.name for r in results],
            "breached": [not r.passed for r in results],
            "observed": [str(r.observed) for r in results],
            "max_allowed": [str(r.threshold) for r in results],
            "message": [r.message for r in results],
        },
        schema=QUALITY_ALERTS.polars_schema(),
    )
