"""``runs``: the last published runs from ``recon.runs``, for audit."""

from __future__ import annotations

import json
from pathlib import Path

from orders_pipeline.lib.reports.formatting import timestamp_text
from orders_pipeline.lib.reports.published import open_published, query_rows
from orders_pipeline.lib.warehouse.sql import fetch_value


def runs_text(warehouse_path: Path, last: int = 10) -> str:
    """The ``runs`` command's output: the last ``last`` published runs, newest first."""
    with open_published(warehouse_path) as con:
        runs = query_rows(
            con,
            "SELECT run_id, finished_at, as_of, status, lines_read, lines_landed, lines_rejected, orders, "
            "checks_passed, check_warnings, duration_seconds, stage_seconds FROM recon.runs "
            "ORDER BY finished_at DESC NULLS LAST, run_id DESC LIMIT ?",
            [last],
        )
        total = fetch_value(con, "SELECT count(*) FROM recon.runs")
    if not runs:
        return f"no runs recorded in {warehouse_path}"
    header = (
        f"{'finished_at':<20}  {'as_of':<20}  {'run':<8}  {'status':<9}  {'read':>8}  {'landed':>8}  "
        f"{'rejected':>8}  {'orders':>8}  {'checks':<18}  {'duration':>8}  stage seconds"
    )
    lines = [f"last {len(runs)} of {total} run(s) in {warehouse_path}, newest first (times UTC)", header]
    for run in runs:
        warnings = int(run["check_warnings"] or 0)
        plural = "" if warnings == 1 else "s"
        checks = f"{'passed' if run['checks_passed'] else 'FAILED'}, {warnings} warning{plural}"
        duration = "-" if run["duration_seconds"] is None else f"{run['duration_seconds']:.1f}s"
        try:
            stages = json.loads(run["stage_seconds"]) if run["stage_seconds"] else {}
        except (TypeError, ValueError):
            stages = {}
        stage_text = " ".join(f"{name}={float(sec):.2f}" for name, sec in sorted(stages.items())) or "-"
        finished = run["finished_at"].replace(microsecond=0) if run["finished_at"] is not None else None
        lines.append(
            f"{timestamp_text(finished):<20}  {timestamp_text(run['as_of']):<20}  {(run['run_id'] or '-')[:8]:<8}  "
            f"{run['status'] or '-':<9}  "
            f"{_count(run['lines_read']):>8}  {_count(run['lines_landed']):>8}  {_count(run['lines_rejected']):>8}  "
            f"{_count(run['orders']):>8}  {checks:<18}  {duration:>8}  {stage_text}"
        )
    return "\n".join(lines)


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)
