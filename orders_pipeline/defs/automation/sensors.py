"""Start a run when new log files land in the landing folders."""


import hashlib
import json
from datetime import UTC, datetime

import dagster as dg

from orders_pipeline.defs.jobs import reconcile_job
from orders_pipeline.defs.partitions import partition_range, range_tags
from orders_pipeline.defs.resources import ReconciliationResource
from orders_pipeline.lib.ingestion import InputError, discover_files
from orders_pipeline.lib.order_days import live_window
from orders_pipeline.lib.schema import CALLBACKS, ORDERS


def landing_fingerprint(reconciliation: ReconciliationResource) -> dict[str, list[int]]:
    """Every log file in the landing folders with its size and modification time (nanoseconds)."""
    files = {}
    for kind, root in ((ORDERS, reconciliation.orders_path), (CALLBACKS, reconciliation.callbacks_path)):
        try:
            found = discover_files(root, kind)
        except InputError:
            continue
        for item in found:
            stat = item.path.stat()
            files[f"{kind}/{item.relative}"] = [stat.st_size, stat.st_mtime_ns]
    return files


@dg.sensor(job=reconcile_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.STOPPED)
def new_log_files_sensor(context: dg.SensorEvaluationContext, reconciliation: ReconciliationResource):
    """Requests a reconcile run when a log file appears or changes in the landing folders.

    The cursor holds the fingerprint of the files seen at the last request, so each new
    delivery triggers exactly one run (its run key is the fingerprint's digest).
    """
    current = landing_fingerprint(reconciliation)
    previous = json.loads(context.cursor) if context.cursor else {}
    changed = sorted(name for name, stamp in current.items() if previous.get(name) != stamp)
    if not changed:
        return dg.SkipReason("no new or changed log files in the landing folders")
    digest = hashlib.sha256(json.dumps(current, sort_keys=True).encode()).hexdigest()[:16]
    context.update_cursor(json.dumps(current, sort_keys=True))
    first, last = live_window(datetime.now(UTC), reconciliation.settings())
    return dg.RunRequest(
        run_key=f"landing-{digest}",
        tags={**range_tags(partition_range(first, last)), "orders_pipeline/new_files": str(len(changed))},
    )
