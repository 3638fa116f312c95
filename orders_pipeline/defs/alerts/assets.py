"""Business-anomaly thresholds: warnings and alerts that never block publishing."""

import dagster as dg

from orders_pipeline.defs.resources import ReconciliationResource
from orders_pipeline.lib.checks.data_docs import DataDocs
from orders_pipeline.lib.checks.thresholds import THRESHOLD_CHECKS, evaluate_thresholds

CHECK_DESCRIPTIONS = {
    "overdue_rate": "WARN when the share of orders overdue is above alerts.max_overdue_rate.",
    "orphan_rate": "WARN when the share of callbacks for orders nobody logged is above alerts.max_orphan_rate.",
    "missing_amount": "WARN when missing orders hold more than alerts.max_missing_amount_minor of a currency.",
    "callback_outages": "WARN when any provider went silent while its orders kept coming (alerts.alert_on_outage).",
    "sequence_gaps": "WARN when a log stream has missing or repeated seq numbers (alerts.alert_on_sequence_gap).",
    "unsettled_amount": "WARN when unsettled orders hold more than alerts.max_unsettled_amount_minor of a currency.",
    "missing_statement_days": "WARN when a provider that sends statements has a day without one "
    "(alerts.alert_on_missing_statement_day).",
    "unreadable_files": "WARN when an input file cannot be read (truncated or broken .gz, no permission) and was "
    "quarantined (alerts.alert_on_unreadable_file).",
}


@dg.asset(
    deps=["order_outcomes", "orphan_callbacks", "log_gaps", "callback_outages", "statement_coverage"],
    group_name="alerts",
    kinds={"duckdb"},
    check_specs=[
        dg.AssetCheckSpec(check, asset="quality_alerts", description=CHECK_DESCRIPTIONS[check])
        for check in THRESHOLD_CHECKS
    ],
)
def quality_alerts(context: dg.AssetExecutionContext, reconciliation: ReconciliationResource):
    """Business-anomaly thresholds (overdue rate, missing amount per currency, orphan rate,
    outages, sequence gaps, unsettled amount per currency, statement days not delivered,
    unreadable input files): each
    breach is a WARN check and an alert to the configured sinks (run log, JSON file, webhook).
    Never blocks publishing.
    """
    as_of = reconciliation.run_as_of(context)
    docs = DataDocs.for_warehouse(reconciliation.warehouse().path, context.run.run_id, context.log)
    with reconciliation.work(context, "checks") as con:
        report = evaluate_thresholds(con, as_of, reconciliation.settings(), context.run.run_id, docs, context.log)
    yield dg.MaterializeResult(
        metadata={
            "breaches": report.breaches,
            "failed_sinks": ", ".join(report.failed_sinks) or "none",
            "data_docs": dg.MetadataValue.path(str(docs.index)),
        }
    )
    for check in THRESHOLD_CHECKS:
        mine = report.of(check)
        yield dg.AssetCheckResult(
            check_name=check,
            passed=all(r.passed for r in mine),
            severity=dg.AssetCheckSeverity.WARN,
            description="; ".join(r.message for r in mine) or "threshold disabled in config",
            metadata={r.name: r.observed for r in mine if isinstance(r.observed, int | float)},
        )
