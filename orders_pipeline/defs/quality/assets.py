"""Where the logs themselves went wrong: sequence gaps and callback outages."""


from dataclasses import asdict

import dagster as dg
import polars as pl

from orders_pipeline.defs.resources import ReconciliationResource, run_as_of, stage
from orders_pipeline.lib import alerts, expectations, log_quality
from orders_pipeline.lib.chunks import pack_groups
from orders_pipeline.lib.warehouse import fetch_first, read_table, record_check, replace_table

GROUP = "quality"


@dg.asset(deps=["order_lines", "callback_lines", "rejected_lines"], group_name=GROUP, kinds={"duckdb", "polars"})
def log_gaps(context: dg.AssetExecutionContext, reconciliation: ReconciliationResource) -> dg.MaterializeResult:
    """Missing and repeated sequence numbers per log kind and source stream: lines a log
    shipper dropped or sent twice.
    """
    with reconciliation.warehouse().work() as con, stage(con, context.run.run_id, "checks"):
        # Gaps are per log stream (source), so streams are read a chunk of whole streams at a time.
        sequenced = "WHERE source IS NOT NULL AND seq IS NOT NULL AND source IN (SELECT unnest($sources))"
        sizes = con.execute(
            """
            SELECT source, count(*) FROM (
                SELECT source FROM landing.orders WHERE seq IS NOT NULL
                UNION ALL SELECT source FROM landing.callbacks WHERE seq IS NOT NULL
                UNION ALL SELECT source FROM recon.rejected_lines WHERE seq IS NOT NULL
            ) WHERE source IS NOT NULL GROUP BY source ORDER BY source
            """
        ).fetchall()
        parts = []
        for sources in pack_groups(sizes):
            params = {"sources": sources}
            parts.append(log_quality.log_gaps(
                con.sql(f"SELECT source, seq FROM landing.orders {sequenced}", params=params).pl().lazy(),
                con.sql(f"SELECT source, seq FROM landing.callbacks {sequenced}", params=params).pl().lazy(),
                con.sql(f"SELECT kind, source, seq FROM recon.rejected_lines {sequenced}", params=params).pl().lazy(),
            ))
        gaps = log_quality.merge_sorted(parts, log_quality.LOG_GAP_SCHEMA, log_quality.LOG_GAP_ORDER)
        replace_table(con, "recon.log_gaps", gaps)
    return dg.MaterializeResult(metadata={"dagster/row_count": gaps.height})


@dg.asset(deps=["order_outcomes"], group_name=GROUP, kinds={"duckdb", "polars"})
def callback_outages(context: dg.AssetExecutionContext, reconciliation: ReconciliationResource) -> dg.MaterializeResult:
    """Per provider, stretches with no callback received while orders kept being created, with
    how many of those orders are now overdue or missing ("adyen down 02:10-03:40, 812 orders").
    """
    with reconciliation.warehouse().work() as con, stage(con, context.run.run_id, "checks"):
        as_of = run_as_of(con, context.run.run_id) or reconciliation.resolve_as_of()
        # Outages are per provider, so providers are read a chunk of whole providers at a time.
        sizes = con.execute(
            """
            SELECT provider, count(*) FROM (
                SELECT provider FROM landing.callbacks UNION ALL SELECT provider FROM recon.order_outcomes
            ) GROUP BY provider ORDER BY provider
            """
        ).fetchall()
        chosen = "WHERE provider IN (SELECT unnest($providers))"
        parts = [
            log_quality.callback_outages(
                con.sql(f"SELECT provider, received_at FROM landing.callbacks {chosen}",
                        params={"providers": providers}).pl().lazy(),
                con.sql(f"SELECT provider, created_at, outcome FROM recon.order_outcomes {chosen}",
                        params={"providers": providers}).pl().lazy(),
                as_of,
                reconciliation.settings(),
            )
            for providers in pack_groups(sizes)
        ]
        outages = log_quality.merge_sorted(parts, log_quality.CALLBACK_OUTAGE_SCHEMA, log_quality.CALLBACK_OUTAGE_ORDER)
        replace_table(con, "recon.callback_outages", outages)
    return dg.MaterializeResult(metadata={"dagster/row_count": outages.height})


THRESHOLD_CHECKS = ("overdue_rate", "orphan_rate", "missing_amount", "callback_outages", "sequence_gaps")


@dg.asset(
    deps=["order_outcomes", "orphan_callbacks", "log_gaps", "callback_outages"],
    group_name=GROUP,
    kinds={"duckdb"},
    check_specs=[dg.AssetCheckSpec(name, asset="quality_alerts") for name in THRESHOLD_CHECKS],
)
def quality_alerts(context: dg.AssetExecutionContext, reconciliation: ReconciliationResource):
    """Business-anomaly thresholds (overdue rate, missing amount per currency, orphan rate,
    outages, sequence gaps): each breach is a WARN check and an alert to the configured sinks
    (run log, JSON file, webhook). Never blocks publishing.
    """
    settings = reconciliation.settings()
    warehouse = reconciliation.warehouse()
    docs = expectations.DataDocs.for_warehouse(warehouse.path, context.run.run_id, context.log)
    with warehouse.work() as con, stage(con, context.run.run_id, "checks"):
        as_of = run_as_of(con, context.run.run_id) or reconciliation.resolve_as_of()
        totals = con.sql(
            "SELECT outcome, currency, count(*) AS orders, sum(amount_minor)::BIGINT AS amount_minor, "
            "sum(callback_count)::BIGINT AS callbacks FROM recon.order_outcomes GROUP BY ALL"
        ).pl()
        orphans = fetch_first(con, "SELECT count(*) FROM recon.orphan_callbacks")[0]
        measurements = alerts.measure(
            totals,
            orphans=int(orphans),
            effective_callbacks=int(totals["callbacks"].sum() or 0) + int(orphans),
            gaps=read_table(con, "recon.log_gaps"),
            outages=read_table(con, "recon.callback_outages"),
        )
        results = alerts.judge(measurements, settings.alerts, data_docs=docs)
        replace_table(con, "recon.quality_alerts", _alerts_frame(results, as_of))
        failed_sinks = alerts.send([r for r in results if not r.passed], settings.alerts, context.run.run_id, as_of,
                                   context.log)
        by_check = {
            check: [r for r in results if r.name == check or (check == "missing_amount" and
                                                              r.name.startswith("missing_amount_minor_"))]
            for check in THRESHOLD_CHECKS
        }
        for check, mine in by_check.items():
            record_check(con, context.run.run_id, "quality_alerts", check, passed=all(r.passed for r in mine),
                         blocking=False, observed={r.name: r.observed for r in mine},
                         failing=[asdict(r) for r in mine if not r.passed])
    yield dg.MaterializeResult(
        metadata={
            "breaches": sum(not r.passed for r in results),
            "failed_sinks": ", ".join(failed_sinks) or "none",
            "data_docs": dg.MetadataValue.path(str(docs.index)),
        }
    )
    for check, mine in by_check.items():
        yield dg.AssetCheckResult(
            check_name=check,
            passed=all(r.passed for r in mine),
            severity=dg.AssetCheckSeverity.WARN,
            description="; ".join(r.message for r in mine) or "threshold disabled in config",
            metadata={r.name: r.observed for r in mine if isinstance(r.observed, int | float)},
        )


def _alerts_frame(results: list[alerts.ThresholdResult], as_of) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "as_of": [as_of] * len(results),
            "threshold": [r.name for r in results],
            "breached": [not r.passed for r in results],
            "observed": [str(r.observed) for r in results],
            "limit": [str(r.threshold) for r in results],
            "message": [r.message for r in results],
        },
        schema={"as_of": pl.Datetime("us", "UTC"), "threshold": pl.String, "breached": pl.Boolean,
                "observed": pl.String, "limit": pl.String, "message": pl.String},
    )
