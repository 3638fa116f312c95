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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from orders_pipeline.lib.common.errors import WarehouseError
from orders_pipeline.lib.common.faults import inject
from orders_pipeline.lib.common.money import CURRENCY_EXPONENTS, MAX_EXPONENT, major_units_sql
from orders_pipeline.lib.warehouse.connection import Warehouse
from orders_pipeline.lib.warehouse.contracts import (
    CURRENCIES,
    HISTORY_TABLES,
    OUTCOME_CHANGES,
    PUBLISHED_LINE_TABLES,
    PUBLISHED_TABLES,
    RUNS,
    MajorAmount,
    Table,
    published_contracts,
    published_line_table,
    quote_identifier,
)
from orders_pipeline.lib.warehouse.run_log import run_row
from orders_pipeline.lib.warehouse.sql import table_exists


def publish(con: duckdb.DuckDBPyConnection, warehouse: Warehouse, run: dict[str, Any]) -> dict[str, Any]:
    """Turn a copy of the work database into the new snapshot, then swap it in.

    The work database is checkpointed and copied whole (a file copy: no row is decoded or
    compressed again), and the copy is trimmed to what is published: the ``recon`` tables, the
    landed lines copied into ``recon.order_lines`` / ``callback_lines`` / ``statement_lines``
    (the private ``landing`` schema is dropped from the copy, with the manifest and the run
    log), ``recon.currencies``, the exact major-unit amounts beside the minor units, and a
    ``COMMENT ON`` every table and column from the contracts.

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
        _publish_lines(con)
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
        _add_currencies(con)
        for table in (*PUBLISHED_TABLES, *HISTORY_TABLES):
            _add_major_amounts(con, table)
        _comment_published(con)
        inject("publish.snapshot", staging)
    finally:
        con.execute("DETACH snapshot")
    return run


def _trim_to_published(con: duckdb.DuckDBPyConnection) -> None:
    """Drop from the ``snapshot`` copy everything but the published tables and the landed lines."""
    keep = {tuple(table.name.split(".")) for table in PUBLISHED_TABLES} | {
        tuple(table.name.split(".")) for table in PUBLISHED_LINE_TABLES.values()
    }
    for kind, schema, name in con.execute(
        "SELECT 'VIEW', schema_name, view_name FROM duckdb_views() WHERE database_name = 'snapshot' AND NOT internal "
        "UNION ALL SELECT 'TABLE', schema_name, table_name FROM duckdb_tables() WHERE database_name = 'snapshot'"
    ).fetchall():
        if (schema, name) not in keep:
            con.execute(f"DROP {kind} snapshot.{quote_identifier(schema)}.{quote_identifier(name)}")
    con.execute("DROP SCHEMA IF EXISTS snapshot.run_log")


def _publish_lines(con: duckdb.DuckDBPyConnection) -> None:
    """Copy the landed lines into ``recon`` (with their major-unit amounts), then drop the ``landing`` schema.

    DuckDB cannot move a table to another schema, and a view over ``landing`` would keep the
    private schema in the published file, so the lines are copied once per publish.
    """
    for name, source in PUBLISHED_LINE_TABLES.items():
        target = published_line_table(name)
        if not table_exists(con, source.name, "snapshot"):
            con.execute(source.ddl("snapshot"))
        majors = "".join(f", {_major_sql(m)} AS {quote_identifier(m.column.name)}" for m in target.major_amounts())
        con.execute(
            f"CREATE TABLE {target.qualified('snapshot')} AS SELECT *{majors} FROM {source.qualified('snapshot')}"
        )
        con.execute(f"DROP TABLE {source.qualified('snapshot')}")
    con.execute("DROP SCHEMA snapshot.landing")


def _add_currencies(con: duckdb.DuckDBPyConnection) -> None:
    """``recon.currencies``: every accepted ISO 4217 code with its exponent and minor unit."""
    con.execute(CURRENCIES.ddl("snapshot", replace=True))
    rows = [(code, exponent) for code, exponent in sorted(CURRENCY_EXPONENTS.items())]
    con.executemany(f"INSERT INTO {CURRENCIES.qualified('snapshot')} (code, exponent) VALUES (?, ?)", rows)
    con.execute(
        f"UPDATE {CURRENCIES.qualified('snapshot')} SET minor_unit = "
        f"CAST(pow(10, -exponent) AS DECIMAL(38,{MAX_EXPONENT}))"
    )


def _add_major_amounts(con: duckdb.DuckDBPyConnection, table: Table) -> None:
    """Add ``table``'s exact major-unit columns to the snapshot, computed from its minor units."""
    majors = table.major_amounts()
    if not majors:
        return
    target = table.qualified("snapshot")
    for major in majors:
        con.execute(f"ALTER TABLE {target} ADD COLUMN {quote_identifier(major.column.name)} {major.column.type}")
    assignments = ", ".join(f"{quote_identifier(m.column.name)} = {_major_sql(m)}" for m in majors)
    con.execute(f"UPDATE {target} SET {assignments}")


def _major_sql(major: MajorAmount) -> str:
    return major_units_sql(quote_identifier(major.minor), quote_identifier(major.currency))


def _comment_published(con: duckdb.DuckDBPyConnection) -> None:
    """Describe every published table and column in the snapshot (``COMMENT ON``, from the contracts)."""
    for table in published_contracts():
        for statement in table.comment_statements("snapshot"):
            con.execute(statement)


def _carry_history_forward(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    if table_exists(con, "recon.runs", "previous"):
        _carry(con, RUNS)
    if table_exists(con, "recon.outcome_changes", "previous"):
        _carry(con, OUTCOME_CHANGES)
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


def _carry(con: duckdb.DuckDBPyConnection, table: Table) -> None:
    """Copy ``table``'s rows from the previous snapshot: its contract columns (the major amounts are added later).

    A snapshot of an older layout may lack a column: it is null in the carried rows.
    """
    schema, name = table.name.split(".")
    present = {
        row[0]
        for row in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = 'previous' AND schema_name = ? "
            "AND table_name = ?",
            [schema, name],
        ).fetchall()
    }
    columns = ", ".join(quote_identifier(column) for column in table.column_names if column in present)
    con.execute(
        f"INSERT INTO {table.qualified('snapshot')} ({columns}) SELECT {columns} FROM {table.qualified('previous')}"
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
