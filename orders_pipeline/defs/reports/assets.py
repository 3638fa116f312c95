"""Reports: what the pipeline writes for people after each publish, read from the published warehouse."""

import dagster as dg

from orders_pipeline.defs.resources import ReconciliationResource
from orders_pipeline.lib.reports.close_export import report_folder, write_all_forms
from orders_pipeline.lib.reports.close_report import close_report, default_day


@dg.asset(deps=["reconciliation_warehouse"], group_name="reports", kinds={"html", "excel", "csv"})
def finance_close_report(
    context: dg.AssetExecutionContext, reconciliation: ReconciliationResource
) -> dg.MaterializeResult:
    """The finance close report of the day before the run's as-of (in the configured timezone):
    orders and amounts per outcome in major units, what needs action, what changed since the
    previous run, outages, log gaps and statements, with charts. Written beside the warehouse
    as ``reports/close-report-<day>.html`` (one self-contained file), ``.xlsx`` and ``.csv``;
    ``orders-pipeline report`` writes any other day. Read-only on the published warehouse, and
    never fails the run: the warehouse is already published, so a report that cannot be
    written is a warning.
    """
    timezone = reconciliation.settings().timezone
    day = default_day(reconciliation.run_as_of(context), timezone)
    warehouse = reconciliation.warehouse().path
    try:
        report = close_report(warehouse, day, timezone)
        paths = write_all_forms(report, report_folder(warehouse))
    except Exception as exc:  # a report must never fail a run that has published
        context.log.warning(f"close report for {day} not written: {exc}")
        return dg.MaterializeResult(metadata={"day": str(day), "written": False, "reason": str(exc)})
    totals = report.currency_totals
    return dg.MaterializeResult(
        metadata={
            "day": str(day),
            "written": True,
            "path": dg.MetadataValue.path(str(paths[0])),
            "orders": sum(row.orders for row in totals),
            "currencies": len(totals),
            "exceptions": sum(row.orders for row in report.actions),
        }
    )
