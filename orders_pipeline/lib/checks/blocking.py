"""Running one blocking check: its evidence judged, published to the Data Docs and recorded for the run."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from orders_pipeline.lib.checks.data_docs import DataDocs
from orders_pipeline.lib.checks.structural import CheckEvidence
from orders_pipeline.lib.warehouse.run_log import record_check


@dataclass(frozen=True)
class BlockingVerdict:
    """A blocking check's result: the evidence, what failed in words, and where the Data Docs show it."""

    evidence: CheckEvidence
    failed_summary: str
    data_docs: Path | None

    @property
    def passed(self) -> bool:
        """Whether every expectation held."""
        return self.evidence.passed

    def numeric_observations(self) -> dict[str, int | float]:
        """The observed counts and sums (for check metadata)."""
        return {k: v for k, v in self.evidence.observed.items() if isinstance(v, int | float)}

    def failing_sample_json(self) -> Any:
        """The failing sample as plain JSON values (DuckDB sums arrive as Decimal or HUGEINT)."""
        return json.loads(json.dumps(self.evidence.failing_sample, default=str))


def run_blocking_check(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    asset: str,
    name: str,
    rule: Callable[[duckdb.DuckDBPyConnection], CheckEvidence],
    docs: DataDocs,
) -> BlockingVerdict:
    """Evaluate ``rule`` on the work database, publish it to the Data Docs, and record it in the run log."""
    evidence = rule(con)
    index = docs.publish([evidence.outcome])
    summary = failed_summary(evidence)
    record_check(
        con,
        run_id,
        asset,
        name,
        passed=evidence.passed,
        blocking=True,
        observed=evidence.observed,
        failing=evidence.failing_sample,
        description=summary,
    )
    return BlockingVerdict(evidence, summary, index)


def failed_summary(evidence: CheckEvidence) -> str:
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
