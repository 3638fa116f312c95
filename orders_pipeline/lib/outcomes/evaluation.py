"""Evaluating outcomes for a run: the days to evaluate, classified a hash batch at a time, written whole."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from orders_pipeline.lib.common.batching import computed_ahead
from orders_pipeline.lib.common.config import Settings
from orders_pipeline.lib.common.vocabulary import CALLBACKS, ORDERS, STATEMENTS
from orders_pipeline.lib.inputs.manifest import ranked_lines_sql
from orders_pipeline.lib.outcomes.batches import order_batch_count, read_batch, write_batches
from orders_pipeline.lib.outcomes.order_days import days_to_evaluate
from orders_pipeline.lib.outcomes.rules import CLASSIFY_CALLBACK_COLUMNS, CLASSIFY_ORDER_COLUMNS, classify_orders
from orders_pipeline.lib.outcomes.statement_evidence import STATEMENT_ROW_COLUMNS, Statements
from orders_pipeline.lib.outcomes.store import replace_days
from orders_pipeline.lib.statements.coverage import statement_days
from orders_pipeline.lib.statements.effective import order_rows_sql


@dataclass
class EvaluationReport:
    """What an evaluation did: which days, in how many batches, and the outcomes it wrote."""

    days: list[date] | None
    """The order days evaluated; ``None`` means every day."""
    batches: int
    statement_providers: tuple[str, ...] = ()
    """The providers whose statements took part."""
    outcome_counts: Counter[str] = field(default_factory=Counter)
    exceptions: int = 0

    @property
    def orders(self) -> int:
        """Orders evaluated."""
        return sum(self.outcome_counts.values())


def evaluate_outcomes(
    con: duckdb.DuckDBPyConnection,
    scratch: Path,
    as_of: datetime,
    settings: Settings,
    requested: tuple[date, date] | None = None,
) -> EvaluationReport:
    """Re-evaluate the order days this run must evaluate (plus ``requested``) and write their outcomes.

    The lines of those days' orders (their order lines, callbacks and statement rows) are
    spilled once into hash batches under ``scratch``; each batch is classified while DuckDB
    writes the previous one, and the outcomes replace the days' old rows all at once
    (:func:`~orders_pipeline.lib.outcomes.store.replace_days`). Which providers have
    statements and which of their days are covered is decided once for the whole run.
    """
    evidence = statement_days(con, as_of, settings)
    days = days_to_evaluate(con, as_of, settings, requested, evidence.providers)
    report = EvaluationReport(days, order_batch_count(con, days, as_of), evidence.providers)
    inputs = {ORDERS: CLASSIFY_ORDER_COLUMNS, CALLBACKS: CLASSIFY_CALLBACK_COLUMNS}
    for kind, columns in inputs.items():
        write_batches(con, ranked_lines_sql(kind), list(columns), days, as_of, report.batches, scratch / kind)
    if evidence.providers:
        write_batches(
            con,
            order_rows_sql(),
            list(STATEMENT_ROW_COLUMNS),
            days,
            as_of,
            report.batches,
            scratch / STATEMENTS,
            {"as_of": as_of},
        )

    def classify_batch(batch: int) -> tuple[pa.Table, dict[str, int], int]:
        orders, callbacks = (read_batch(scratch / kind, batch, columns) for kind, columns in inputs.items())
        statements = (
            Statements(
                read_batch(scratch / STATEMENTS, batch, STATEMENT_ROW_COLUMNS),
                evidence.providers,
                evidence.covered_days,
            )
            if evidence.providers
            else None
        )
        outcomes = classify_orders(orders, callbacks, as_of, settings, statements).collect()
        counts = dict(outcomes["outcome"].value_counts().iter_rows())
        return outcomes.to_arrow(), counts, int((outcomes["action"] != "none").sum())

    def classified_batches() -> Iterator[pa.Table]:
        for outcomes, counts, exceptions in computed_ahead(classify_batch, range(report.batches)):
            report.outcome_counts.update(counts)
            report.exceptions += exceptions
            yield outcomes

    replace_days(con, days, classified_batches())
    return report
