"""Each order's outcome as of the run: the SPEC's eight rules, its reason flags and the action to take."""


from collections import Counter
from collections.abc import Iterator

import dagster as dg
import pyarrow as pa

from orders_pipeline.defs.partitions import order_days, requested_days
from orders_pipeline.defs.resources import ReconciliationResource, stage
from orders_pipeline.lib.chunks import computed_ahead
from orders_pipeline.lib.outcomes import CLASSIFY_CALLBACK_COLUMNS, CLASSIFY_ORDER_COLUMNS, classify_orders
from orders_pipeline.lib.landing import ranked_lines_sql
from orders_pipeline.lib.order_days import (
    days_to_evaluate,
    order_batch_count,
    read_batch,
    replace_days,
    write_batches,
)
from orders_pipeline.lib.schema import CALLBACKS, ORDERS, OUTCOMES
from orders_pipeline.lib.warehouse import record_as_of


@dg.asset(
    deps=["order_lines", "callback_lines"],
    group_name="outcomes",
    kinds={"duckdb", "polars"},
    partitions_def=order_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def order_outcomes(context: dg.AssetExecutionContext, reconciliation: ReconciliationResource) -> dg.MaterializeResult:
    """One row per order: outcome (confirmed, failed, pending, overdue, missing, amount_mismatch,
    conflict, reversed), reason flags, the action operations or finance should take, and the
    callback evidence behind it. Partitioned by order day (UTC): a run re-evaluates the days in
    its range plus every day whose orders can still change or received new lines; final days
    keep the outcome of their last evaluation.
    """
    as_of = reconciliation.resolve_as_of()
    settings = reconciliation.settings()
    run_id = context.run.run_id
    warehouse = reconciliation.warehouse()
    with warehouse.work() as con, stage(con, run_id, "classify"), warehouse.scratch("classify") as scratch:
        record_as_of(con, run_id, as_of)
        days = days_to_evaluate(con, as_of, settings, requested_days(context))
        # Orders are independent of each other: classify them in hash batches of bounded size
        # so memory stays flat however many orders a run evaluates.
        batches = order_batch_count(con, days, as_of)
        inputs = {ORDERS: CLASSIFY_ORDER_COLUMNS, CALLBACKS: CLASSIFY_CALLBACK_COLUMNS}
        for kind, columns in inputs.items():
            write_batches(con, ranked_lines_sql(kind), list(columns), days, as_of, batches, scratch / kind)
        counts: Counter[str] = Counter()
        exceptions = 0

        def classify_batch(batch: int) -> tuple[pa.Table, dict[str, int], int]:
            orders, callbacks = (read_batch(scratch / kind, batch, columns) for kind, columns in inputs.items())
            outcomes = classify_orders(orders, callbacks, as_of, settings).collect()
            counts = dict(outcomes["outcome"].value_counts().iter_rows())
            return outcomes.to_arrow(), counts, int((outcomes["action"] != "none").sum())

        def classified_batches() -> Iterator[pa.Table]:
            nonlocal exceptions
            # The next batch is classified while DuckDB writes this one.
            for outcomes, batch_counts, batch_exceptions in computed_ahead(classify_batch, range(batches)):
                counts.update(batch_counts)
                exceptions += batch_exceptions
                yield outcomes

        replace_days(con, days, classified_batches())
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": sum(counts.values()),
            "as_of": as_of.isoformat(),
            "days_evaluated": "all" if days is None else len(days),
            "batches": batches,
            **{f"outcome/{name}": int(counts.get(name, 0)) for name in OUTCOMES},
            "exceptions": int(exceptions),
        }
    )
