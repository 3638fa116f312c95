"""Data-quality checks, run before publishing.

Structural rules block: a failure stops the publishing step, so the published warehouse
stays as it was. Business anomalies (gaps, outages, a high overdue rate) only warn.
Every result is also written to the work database so the run record can carry it, and
published to the Great Expectations Data Docs beside the warehouse
(``<warehouse stem>.gx_data_docs/index.html``; see ``lib.expectations.DataDocs``).
"""


import json
from collections.abc import Callable
from typing import Any

import dagster as dg
import duckdb

from orders_pipeline.defs.resources import ReconciliationResource, run_as_of, stage
from orders_pipeline.lib import expectations, structural_checks
from orders_pipeline.lib.structural_checks import CheckEvidence
from orders_pipeline.lib.warehouse import record_check

LINES_CONSERVED = "lines_conserved"
TYPED_LINES_VALID = "typed_lines_valid"
ONE_OUTCOME_PER_ORDER = "one_outcome_per_order"
SUMMARY_TIES_OUT = "summary_ties_out"
EXCEPTIONS_TIE_OUT = "exceptions_tie_out"


def _blocking_check(
    asset: str, name: str, evaluate: Callable[[duckdb.DuckDBPyConnection, Any], CheckEvidence], doc: str
):
    @dg.asset_check(asset=asset, name=name, blocking=True, description=doc)
    def _check(context: dg.AssetCheckExecutionContext, reconciliation: ReconciliationResource) -> dg.AssetCheckResult:
        warehouse = reconciliation.warehouse()
        with warehouse.work() as con, stage(con, context.run.run_id, "checks"):
            evidence = evaluate(con, run_as_of(con, context.run.run_id))
            docs = expectations.DataDocs.for_warehouse(warehouse.path, context.run.run_id, context.log)
            index = docs.publish([evidence.outcome])
            record_check(
                con,
                context.run.run_id,
                asset,
                name,
                passed=evidence.passed,
                blocking=True,
                observed=evidence.observed,
                failing=evidence.failing_sample,
                description=_failed_summary(evidence),
            )
        return dg.AssetCheckResult(
            passed=evidence.passed,
            severity=dg.AssetCheckSeverity.ERROR,
            description=None if evidence.passed else f"failed: {_failed_summary(evidence)}",
            metadata={
                **{k: v for k, v in evidence.observed.items() if isinstance(v, int | float)},
                "failed_expectations": _failed_summary(evidence) or "none",
                # DuckDB sums arrive as Decimal/HUGEINT: keep the sample JSON-safe for Dagster
                "failing_sample": dg.MetadataValue.json(json.loads(json.dumps(evidence.failing_sample, default=str))),
                **({"data_docs": dg.MetadataValue.path(str(index))} if index else {}),
            },
        )

    return _check


def _failed_summary(evidence: CheckEvidence) -> str:
    """One phrase per failed expectation: ``duplicate_order_ids: observed 2 (...)``, or for a
    row-wise tie-out ``order_count = sum_of_outcome_counts: 3 row(s) differ, e.g. [[5, 4]] (...)``.
    """
    phrases = []
    for e in evidence.outcome.failures():
        if e.observed is not None:
            found = f"observed {e.observed}"
        else:
            found = f"{e.unexpected_count} row(s) differ" + (f", e.g. {e.sample[:3]}" if e.sample else "")
        phrases.append(f"{e.column}: {found} ({e.expectation})")
    return "; ".join(phrases)


lines_conserved = _blocking_check(
    "input_files",
    LINES_CONSERVED,
    lambda con, _as_of: structural_checks.lines_conserved(con),
    "Per input file, lines read = lines landed + lines rejected, and the tables hold exactly those rows.",
)
typed_lines_valid = _blocking_check(
    "order_lines",
    TYPED_LINES_VALID,
    lambda con, _as_of: structural_checks.typed_lines_valid(con),
    "Landed order and callback lines have their keys, known currencies and statuses, non-negative amounts.",
)
one_outcome_per_order = _blocking_check(
    "order_outcomes",
    ONE_OUTCOME_PER_ORDER,
    structural_checks.one_outcome_per_order,
    "Every order has exactly one outcome; no null keys; outcomes, actions and flags from the SPEC's sets.",
)
summary_ties_out = _blocking_check(
    "daily_summary",
    SUMMARY_TIES_OUT,
    lambda con, _as_of: structural_checks.summary_ties_out(con),
    "daily_summary counts and amounts add up, per group and outcome, to order_outcomes.",
)
exceptions_tie_out = _blocking_check(
    "exceptions",
    EXCEPTIONS_TIE_OUT,
    lambda con, _as_of: structural_checks.exceptions_tie_out(con),
    "exceptions holds exactly the orders whose action is not none.",
)
