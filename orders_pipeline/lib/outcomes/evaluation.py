"""Evaluating outcomes for a run: the days to evaluate, classified a hash bucket at a time, written whole."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from orders_pipeline.lib.common import progress
from orders_pipeline.lib.common.config import Settings
from orders_pipeline.lib.common.vocabulary import CALLBACKS, ORDERS, STATEMENTS
from orders_pipeline.lib.inputs.manifest import ranked_lines_sql
from orders_pipeline.lib.outcomes.batches import (
    BUCKET_COLUMNS,
    BucketSpill,
    Classifier,
    classify_buckets,
    order_batch_count,
    write_batches,
)
from orders_pipeline.lib.outcomes.order_days import days_to_evaluate
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
    classify: Classifier = classify_buckets,
    min_buckets: int = 1,
) -> EvaluationReport:
    """Re-evaluate the order days this run must evaluate (plus ``requested``) and write their outcomes.

    The lines of those days' orders (their order lines, callbacks and statement rows) are
    spilled once into hash buckets under ``scratch`` (at least ``min_buckets``); ``classify``
    (the engine: :func:`~orders_pipeline.lib.outcomes.batches.classify_buckets` in process by
    default) classifies each bucket, and the outcomes replace the days' old rows all at once
    (:func:`~orders_pipeline.lib.outcomes.store.replace_days`). Which providers have
    statements and which of their days are covered is decided once for the whole run.
    """
    evidence = statement_days(con, as_of, settings)
    days = days_to_evaluate(con, as_of, settings, requested, evidence.providers)
    buckets = max(min_buckets, order_batch_count(con, days, as_of))
    report = EvaluationReport(days, buckets, evidence.providers)
    spill = BucketSpill(scratch, buckets, with_statements=bool(evidence.providers))
    for kind in (ORDERS, CALLBACKS):
        write_batches(
            con, ranked_lines_sql(kind), list(BUCKET_COLUMNS[kind]), days, as_of, buckets, spill.kind_folder(kind)
        )
    if spill.with_statements:
        write_batches(
            con,
            order_rows_sql(),
            list(BUCKET_COLUMNS[STATEMENTS]),
            days,
            as_of,
            buckets,
            spill.kind_folder(STATEMENTS),
            {"as_of": as_of},
        )

    def counted(outcomes: Iterator[pa.Table], shown: progress.Task) -> Iterator[pa.Table]:
        for table in outcomes:
            counts = pc.value_counts(table["outcome"]).to_pylist()
            report.outcome_counts.update({entry["values"]: entry["counts"] for entry in counts})
            report.exceptions += int(pc.sum(pc.not_equal(table["action"], "none")).as_py() or 0)
            progress.advance(shown, 1, table.num_rows)
            yield table

    with progress.task("classifying", buckets, "buckets", "orders") as shown:
        replace_days(con, days, counted(classify(spill, as_of, settings, evidence), shown))
    return report
