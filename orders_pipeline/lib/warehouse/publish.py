"""Publishing: the checked work database becomes the warehouse analysts and finance read, atomically.

The work database is checkpointed and copied whole (a file copy: no row is decoded or
compressed again), the copy is trimmed to what is published, history is carried forward from
the previous snapshot, and the copy is renamed over the warehouse (``os.replace``). Readers of
the old snapshot keep it; a run that fails before the rename leaves the warehouse untouched.

History that must survive runs (``runs``, ``outcome_changes``) is carried forward from the
previously published snapshot, which is the source of truth for what finance has seen.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from orders_pipeline.lib.common.errors import WarehouseError
from orders_pipeline.lib.common.faults import inject
from orders_pipeline.lib.warehouse.connection import Warehouse
from orders_pipeline.lib.warehouse.contracts import (
    HISTORY_TABLES,
    PUBLISHED_LINE_VIEWS,
    PUBLISHED_TABLES,
    RUNS,
    quote_identifier,
)
from orders_pipeline.lib.warehouse.run_log import run_row
from orders_pipeline.lib.warehouse.sql import table_exists


def publish(con: duckdb.DuckDBPyConnection, warehouse: Warehouse, run: dict[str, Any]) -> dict[str, Any]:
    """Turn a copy of the work database into the new snapshot, then swap it in.

    The work database is checkpointed and copied whole (a file copy: no row is decoded or
    compressed again, where copying table by table re-encoded every landed line), and the copy
    is trimmed to what is published: the ``recon`` tables, and the landed lines, which stay in
    its ``landing`` schema behind the views ``recon.order_lines`` and ``recon.callback_lines``.
    Bookkeeping (the manifest, the run log) is dropped from the copy.

    ``run`` is this run's row of ``recon.runs`` (:data:`~orders_pipeline.lib.warehouse.contracts.RUNS`).
    ``outcome_changes`` gains one row per order whose outcome differs from the previously
    published snapshot's.
    Returns the run row as written (``stage_seconds.publish`` and ``finished_at`` filled in).
    """
    started = time.perf_counter()
    # Only one run holds the work database at a time, so any other staging file is left over
    # from a run that was killed while publishing.
    for leftover in warehouse.path.parent.glob(f"{warehouse.path.name}.publishing-*"):
        leftover.unlink(missing_ok=True)
    staging = warehouse.path.with_name(f"{warehouse.path.name}.publishing-{os.getpid()}")
    previous = warehouse.path if warehouse.path.exists() else None
    con.execute("CHECKPOINT")
    wal = warehouse.work_path.with_name(warehouse.work_path.name + ".wal")
    if wal.exists() and wal.stat().st_size > 0:  # the file alone would then miss changes
        raise WarehouseError(
            f"the work database {warehouse.work_path} could not be checkpointed; nothing was published"
        )
    try:
        inject("publish.copy", staging)
        shutil.copyfile(warehouse.work_path, staging)
        run = _build_snapshot(con, staging, previous, run, started)
        _fsync(staging)
        inject("publish.rename", warehouse.path)
        staging.replace(warehouse.path)
    except BaseException:
        # A failed publish leaves the warehouse as it was and nothing beside it.
        for partial in (staging, staging.with_name(f"{staging.name}.wal")):
            partial.unlink(missing_ok=True)
        raise
    _fsync(warehouse.path.parent)
    return run


def _build_snapshot(
    con: duckdb.DuckDBPyConnection, staging: Path, previous: Path | None, run: dict[str, Any], started: float
) -> dict[str, Any]:
    """Trim the staging copy to the published tables, carry history forward and add this run's row."""
    # Paths are parameters, never SQL text: a folder may be named anything (quotes included).
    con.execute("ATTACH ? AS snapshot", [str(staging)])
    try:
        _trim_to_published(con)
        for table in HISTORY_TABLES:
            con.execute(table.ddl("snapshot"))
        if previous is not None:
            con.execute("ATTACH ? AS previous (READ_ONLY)", [str(previous)])
            try:
                _carry_history_forward(con, run["run_id"])
            finally:
                con.execute("DETACH previous")
        run = {**run, "stage_seconds": {**run.get("stage_seconds", {}), "publish": time.perf_counter() - started}}
        finished = datetime.now(UTC)
        run["finished_at"] = finished
        if run.get("started_at") is not None:
            run["duration_seconds"] = (finished - run["started_at"]).total_seconds()
        columns = RUNS.column_names
        con.execute(
            f"INSERT INTO {RUNS.qualified('snapshot')} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            [_json_if_needed(run.get(column)) for column in columns],
        )
        _comment_published(con)
        inject("publish.snapshot", staging)
    finally:
        con.execute("DETACH snapshot")
    return run


def _trim_to_published(con: duckdb.DuckDBPyConnection) -> None:
    """Drop from the ``snapshot`` copy everything but the published tables; add the landed-lines views."""
    keep = {tuple(table.name.split(".")) for table in PUBLISHED_TABLES} | {
        tuple(table.name.split(".")) for table in PUBLISHED_LINE_VIEWS.values()
    }
    for kind, schema, name in con.execute(
        "SELECT 'VIEW', schema_name, view_name FROM duckdb_views() WHERE database_name = 'snapshot' AND NOT internal "
        "UNION ALL SELECT 'TABLE', schema_name, table_name FROM duckdb_tables() WHERE database_name = 'snapshot'"
    ).fetchall():
        if (schema, name) not in keep:
            con.execute(f"DROP {kind} snapshot.{quote_identifier(schema)}.{quote_identifier(name)}")
    con.execute("DROP SCHEMA IF EXISTS snapshot.run_log")
    for view, source in PUBLISHED_LINE_VIEWS.items():
        schema, name = view.split(".")
        con.execute(
            f"CREATE VIEW snapshot.{quote_identifier(schema)}.{quote_identifier(name)} AS "
            f"SELECT * FROM {source.qualified('snapshot')}"
        )


def _comment_published(con: duckdb.DuckDBPyConnection) -> None:
    """Describe every published table, view and column in the snapshot (``COMMENT ON``, from the contracts)."""
    for table in (*PUBLISHED_TABLES, *HISTORY_TABLES):
        for statement in table.comment_statements("snapshot"):
            con.execute(statement)
    for view, source in PUBLISHED_LINE_VIEWS.items():
        for statement in replace(source, name=view).comment_statements("snapshot", view=True):
            con.execute(statement)


def _carry_history_forward(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    if table_exists(con, "recon.runs", "previous"):
        con.execute("INSERT INTO snapshot.recon.runs BY NAME SELECT * FROM previous.recon.runs")
    if table_exists(con, "recon.outcome_changes", "previous"):
        con.execute("INSERT INTO snapshot.recon.outcome_changes BY NAME SELECT * FROM previous.recon.outcome_changes")
    if table_exists(con, "recon.order_outcomes", "previous"):
        con.execute(
            """
            INSERT INTO snapshot.recon.outcome_changes
            SELECT cur.order_id, cur.merchant_id, cur.provider, cur.currency, cur.amount_minor,
                   prev.outcome, cur.outcome, prev.as_of, cur.as_of, ?
            FROM recon.order_outcomes AS cur
            JOIN previous.recon.order_outcomes AS prev USING (order_id)
            WHERE prev.outcome <> cur.outcome
            ORDER BY cur.order_id
            """,
            [run_id],
        )


def _json_if_needed(value: Any) -> Any:
    return json.dumps(value, sort_keys=True, default=str) if isinstance(value, dict | list) else value


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish_run(
    con: duckdb.DuckDBPyConnection, warehouse: Warehouse, run_id: str, as_of: datetime, started_at: datetime | None
) -> dict[str, Any]:
    """Publish this run: its ``recon.runs`` row (see ``run_log.run_row``), then its snapshot."""
    return publish(con, warehouse, run_row(con, run_id, as_of, started_at))
