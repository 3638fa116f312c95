"""Start a run when log or statement files land in, change in or leave the landing folders."""

import hashlib
import json
from datetime import UTC, datetime

import dagster as dg

from orders_pipeline.defs.jobs import reconcile_job
from orders_pipeline.defs.partitions import live_window_tags
from orders_pipeline.defs.resources import ReconciliationResource
from orders_pipeline.lib.common.errors import InputError
from orders_pipeline.lib.common.vocabulary import INPUT_KINDS
from orders_pipeline.lib.inputs.discovery import discover_files


def landing_fingerprint(reconciliation: ReconciliationResource) -> dict[str, list[int]]:
    """Every input file in the input folders (logs and statements) with its size and modification time (nanoseconds)."""
    files = {}
    for kind in INPUT_KINDS:
        path = reconciliation.input_path(kind)
        if path is None:
            continue
        try:
            found = discover_files(path, kind)
        except InputError:
            continue
        for item in found:
            stat = item.path.stat()
            files[f"{kind}/{item.relative}"] = [stat.st_size, stat.st_mtime_ns]
    return files


@dg.sensor(
    job=reconcile_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description=(
        "Starts one reconcile run over the live window of order days whenever an order, callback or statement "
        "file appears in, changes in or leaves the input folders (checked every minute; off until turned on)."
    ),
)
def new_log_files_sensor(context: dg.SensorEvaluationContext, reconciliation: ReconciliationResource):
    """Requests a reconcile run when a log or statement file appears, changes or disappears in the landing folders.

    The cursor holds the fingerprint of the files seen at the last request and how many
    requests were made, so each change of the landing folders triggers exactly one run: its run
    key is the request number with the fingerprint's digest, so a folder that goes back to an
    earlier state (a file removed again) still gets its run.
    """
    current = landing_fingerprint(reconciliation)
    previous, requests = _read_cursor(context.cursor)
    changed = sorted(name for name, stamp in current.items() if previous.get(name) != stamp)
    removed = sorted(set(previous) - set(current))
    if not changed and not removed:
        return dg.SkipReason("no new, changed or removed log or statement files in the landing folders")
    digest = hashlib.sha256(json.dumps(current, sort_keys=True).encode()).hexdigest()[:16]
    context.update_cursor(json.dumps({"files": current, "requests": requests + 1}, sort_keys=True))
    return dg.RunRequest(
        run_key=f"landing-{requests + 1}-{digest}",
        tags={
            **live_window_tags(datetime.now(UTC).replace(microsecond=0), reconciliation.settings()),
            "orders_pipeline/new_files": str(len(changed)),
            "orders_pipeline/removed_files": str(len(removed)),
        },
    )


def _read_cursor(cursor: str | None) -> tuple[dict[str, list[int]], int]:
    """The files and the request count a cursor holds (an older cursor held the files alone)."""
    if not cursor:
        return {}, 0
    saved = json.loads(cursor)
    if "files" in saved and "requests" in saved:
        return saved["files"], int(saved["requests"])
    return saved, 0
