"""What a run records about itself in the work database before it publishes: stage timings, check results.

Published with the snapshot as one row of ``recon.runs`` (:func:`run_row`).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import duckdb
import polars as pl

from orders_pipeline.lib.inputs.envelopes.linking import UNLINKED
from orders_pipeline.lib.warehouse.contracts import (
    CALLBACK_LINES,
    CHECK_RESULTS,
    INPUT_FILES,
    ORDER_OUTCOMES,
    ORPHAN_CALLBACKS,
    PUBLISHED_REJECTED_LINES,
    STAGE_TIMINGS,
)
from orders_pipeline.lib.warehouse.sql import fetch_value


def record_stage(con: duckdb.DuckDBPyConnection, run_id: str, stage: str, seconds: float) -> None:
    """Remember how long a step of this run took (summed per stage into ``runs.stage_seconds``)."""
    con.execute(f"INSERT INTO {STAGE_TIMINGS.qualified()} VALUES (?, ?, ?)", [run_id, stage, seconds])


@contextlib.contextmanager
def timed_stage(con: duckdb.DuckDBPyConnection, run_id: str, stage: str) -> Iterator[None]:
    """Time the block as part of a stage of the run (ingest, classify, checks, publish)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        record_stage(con, run_id, stage, time.perf_counter() - start)


def record_check(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    asset: str,
    name: str,
    *,
    passed: bool,
    blocking: bool,
    observed: dict[str, Any],
    failing: list[Any],
    description: str = "",
) -> None:
    """Remember a check's result for this run (carried into ``runs.check_results``)."""
    con.execute(f"DELETE FROM {CHECK_RESULTS.qualified()} WHERE run_id = ? AND check_name = ?", [run_id, name])
    con.execute(
        f"INSERT INTO {CHECK_RESULTS.qualified()} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            run_id,
            asset,
            name,
            passed,
            "ERROR" if blocking else "WARN",
            blocking,
            json.dumps(observed, default=str, sort_keys=True),
            json.dumps(failing, default=str),
            description,
        ],
    )


def callback_verification(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, Any]]:
    """Per provider with envelope callbacks: verified (every landed envelope record was), and the counts."""
    rows = con.execute(
        f"""
        SELECT provider, count(*) AS records, count(*) FILTER (WHERE verified) AS verified_records
        FROM {CALLBACK_LINES.qualified()} WHERE verified IS NOT NULL AND NOT ({UNLINKED})
        GROUP BY provider ORDER BY provider
        """
    ).fetchall()
    bad = dict(
        con.execute(
            f"""
            SELECT lower(trim(json_extract_string(raw, '$.provider'))) AS provider, count(*)
            FROM {PUBLISHED_REJECTED_LINES.qualified()}
            WHERE kind = 'callbacks' AND reason = 'bad_signature' GROUP BY 1
            """
        ).fetchall()
    )
    out: dict[str, dict[str, Any]] = {}
    for provider, records, verified in rows:
        out[provider] = {
            "verified": records == verified,
            "records": int(records),
            "verified_records": int(verified),
            "bad_signature": int(bad.pop(provider, 0)),
        }
    for provider, count in bad.items():
        out[str(provider)] = {"verified": True, "records": 0, "verified_records": 0, "bad_signature": int(count)}
    return out


def run_row(
    con: duckdb.DuckDBPyConnection, run_id: str, as_of: datetime, started_at: datetime | None
) -> dict[str, Any]:
    """The run's row of ``recon.runs``: inputs with checksums, counts in and out, check results, timings."""
    files = con.sql(
        "SELECT kind, file, size_bytes, sha256, duplicate_of, lines_read, lines_landed, lines_rejected, lines_ignored "
        f"FROM {INPUT_FILES.qualified()} ORDER BY kind, file"
    ).pl()
    checks = con.sql(
        "SELECT asset, check_name, passed, severity, observed, failing_sample "
        f"FROM {CHECK_RESULTS.qualified()} WHERE run_id = ? ORDER BY asset, check_name",
        params=[run_id],
    ).pl()
    timings = con.execute(
        f"SELECT stage, sum(seconds) FROM {STAGE_TIMINGS.qualified()} WHERE run_id = ? GROUP BY stage ORDER BY stage",
        [run_id],
    ).fetchall()
    outcome_counts = dict(
        con.execute(
            f"SELECT outcome, count(*) FROM {ORDER_OUTCOMES.qualified()} GROUP BY outcome ORDER BY outcome"
        ).fetchall()
    )
    orphans = fetch_value(con, f"SELECT count(*) FROM {ORPHAN_CALLBACKS.qualified()}")
    verification = callback_verification(con)
    return {
        "run_id": run_id,
        "as_of": as_of,
        "started_at": started_at,
        "status": "published",
        "input_files": files.to_dicts(),
        "files_read": int(files.filter(files["duplicate_of"].is_null()).height),
        "files_skipped_duplicate": int(files["duplicate_of"].is_not_null().sum()),
        "lines_read": int(files["lines_read"].sum() or 0),
        "lines_landed": int(files["lines_landed"].sum() or 0),
        "lines_rejected": int(files["lines_rejected"].sum() or 0),
        "lines_ignored": int(files["lines_ignored"].sum() or 0),
        "orders": int(sum(outcome_counts.values())),
        "orphan_callbacks": int(orphans or 0),
        "callback_verification": verification,
        "outcome_counts": outcome_counts,
        "check_results": [
            {**row, "observed": json.loads(row["observed"]), "failing_sample": json.loads(row["failing_sample"])}
            for row in checks.to_dicts()
        ],
        "checks_passed": bool(checks.filter(pl.col("severity") == "ERROR")["passed"].all()),
        "check_warnings": int(checks.filter((pl.col("severity") == "WARN") & ~pl.col("passed")).height),
        "stage_seconds": {stage: round(seconds, 3) for stage, seconds in timings},
    }
