"""How a blocking data-quality check is wired: evaluated on the work database, recorded, shown in the UI.

A failed blocking check stops the publishing step, so the published warehouse stays as it
was. Each area's checks (``<area>/checks.py``) are built with :func:`blocking_check`.
"""

from collections.abc import Callable

import dagster as dg
import duckdb

from orders_pipeline.defs.resources import ReconciliationResource
from orders_pipeline.lib.checks.blocking import run_blocking_check
from orders_pipeline.lib.checks.data_docs import DataDocs
from orders_pipeline.lib.checks.structural import CheckEvidence

# A rule reads the work database; a rule that needs the run's as-of gets it as its second argument.
Rule = Callable[[duckdb.DuckDBPyConnection], CheckEvidence]


def blocking_check(
    asset: str, name: str, rule: Callable[..., CheckEvidence], description: str, *, needs_as_of: bool = False
) -> dg.AssetChecksDefinition:
    """A blocking check of ``asset`` that evaluates ``rule`` (see :mod:`orders_pipeline.lib.checks.structural`)."""

    @dg.asset_check(asset=asset, name=name, blocking=True, description=description)
    def _check(context: dg.AssetCheckExecutionContext, reconciliation: ReconciliationResource) -> dg.AssetCheckResult:
        warehouse = reconciliation.warehouse()
        as_of = reconciliation.run_as_of(context) if needs_as_of else None
        bound: Rule = (lambda con: rule(con, as_of)) if needs_as_of else rule
        docs = DataDocs.for_warehouse(warehouse.path, context.run.run_id, context.log)
        with reconciliation.work(context, "checks") as con:
            verdict = run_blocking_check(con, context.run.run_id, asset, name, bound, docs)
        return dg.AssetCheckResult(
            passed=verdict.passed,
            severity=dg.AssetCheckSeverity.ERROR,
            description=None if verdict.passed else f"failed: {verdict.failed_summary}",
            metadata={
                **verdict.numeric_observations(),
                "failed_expectations": verdict.failed_summary or "none",
                "failing_sample": dg.MetadataValue.json(verdict.failing_sample_json()),
                **({"data_docs": dg.MetadataValue.path(str(verdict.data_docs))} if verdict.data_docs else {}),
            },
        )

    return _check
