"""The DuckDB warehouse: a private work database, and a published read-only snapshot.

Why two files. DuckDB lets one process write a database file, and a reader that holds the
file open blocks that writer. Analysts must be able to keep the warehouse open while a run
happens, and must never see half a run. So:

* every step of a run writes into the *work database* (``<stem>.work.duckdb`` beside the
  warehouse), which only the pipeline opens;
* the last step copies the work database file, trims the copy to the published tables (see
  :func:`publish`) and atomically renames it over the warehouse (``os.replace``). A reader
  that had the old file open keeps reading the old, complete snapshot (its open file is never
  modified); the next connection sees the new one. A run that fails or is killed before the
  rename leaves the warehouse untouched.

History that must survive runs (``runs``, ``outcome_changes``) is carried forward from the
previously published snapshot, which is the source of truth for what finance has seen.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl


LANDING = "landing"
RECON = "recon"
RUN_LOG = "run_log"

# Tables of the work database's ``recon`` schema that each run republishes as they are.
PUBLISHED_TABLES = (
    "order_outcomes",
    "daily_summary",
    "exceptions",
    "orphan_callbacks",
    "log_gaps",
    "callback_outages",
    "rejected_lines",
    "input_files",
    "quality_alerts",
)

# The landed lines, published for support ("where is my order?") and ad-hoc analysis: the
# snapshot keeps the landing tables and shows them as these views of ``recon``.
PUBLISHED_LINES = {"order_lines": "landing.orders", "callback_lines": "landing.callbacks"}

RUNS_DDL = """
CREATE TABLE IF NOT EXISTS {db}recon.runs (
    run_id VARCHAR,
    as_of TIMESTAMPTZ,
    started_at TIMESTAMPTZ,
    finished_at TIMESTAMPTZ,
    duration_seconds DOUBLE,
    status VARCHAR,
    input_files VARCHAR,
    files_read BIGINT,
    files_skipped_duplicate BIGINT,
    lines_read BIGINT,
    lines_landed BIGINT,
    lines_rejected BIGINT,
    orders BIGINT,
    orphan_callbacks BIGINT,
    outcome_counts VARCHAR,
    check_results VARCHAR,
    checks_passed BOOLEAN,
    check_warnings BIGINT,
    stage_seconds VARCHAR
)
"""

OUTCOME_CHANGES_DDL = """
CREATE TABLE IF NOT EXISTS {db}recon.outcome_changes (
    order_id VARCHAR,
    merchant_id VARCHAR,
    provider VARCHAR,
    currency VARCHAR,
    amount_minor BIGINT,
    previous_outcome VARCHAR,
    outcome VARCHAR,
    previous_as_of TIMESTAMPTZ,
    as_of TIMESTAMPTZ,
    run_id VARCHAR
)
"""


class WarehouseError(RuntimeError):
    """A warehouse file problem the user must fix (one-line message)."""


def configure(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Session settings every connection uses: UTC, so TIMESTAMPTZ round-trips as UTC."""
    con.execute("SET TimeZone = 'UTC'")
    return con


@dataclass(frozen=True)
class Warehouse:
    """Paths of one warehouse: the published snapshot and the pipeline's work database."""

    path: Path

    @classmethod
    def at(cls, path: str | Path) -> Warehouse:
        """Resolve ``path`` and make sure its folder exists and is writable."""
        resolved = Path(path).expanduser().resolve()
        if resolved.is_dir():
            raise WarehouseError(f"warehouse path {resolved} is a directory; pass a file name like data/warehouse.duckdb")
        try:
            resolved.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WarehouseError(f"cannot create the warehouse folder {resolved.parent}: {exc.strerror}") from None
        if not os.access(resolved.parent, os.W_OK):
            raise WarehouseError(f"warehouse folder {resolved.parent} is not writable; choose another --warehouse")
        return cls(resolved)

    @property
    def work_path(self) -> Path:
        """The pipeline's private work database beside the warehouse."""
        return self.path.with_name(f"{self.path.stem}.work{self.path.suffix or '.duckdb'}")

    @contextlib.contextmanager
    def work(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection to the work database, with the pipeline's schemas in place."""
        try:
            con = duckdb.connect(str(self.work_path))
        except duckdb.IOException as exc:
            raise WarehouseError(
                f"cannot open the work database {self.work_path}: {str(exc).splitlines()[0]} "
                "(is another run writing it?)"
            ) from None
        try:
            configure(con)
            # DuckDB's buffer pool would otherwise keep most of what a big run wrote in memory
            # (its default limit is 80% of RAM); the work database spills and evicts instead.
            con.execute(f"SET memory_limit = '{os.environ.get('ORDERS_PIPELINE_DUCKDB_MEMORY', '2GB')}'")
            for schema in (LANDING, RECON, RUN_LOG):
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            con.execute(
                "CREATE TABLE IF NOT EXISTS run_log.stage_timings (run_id VARCHAR, stage VARCHAR, seconds DOUBLE)"
            )
            con.execute(
                "CREATE TABLE IF NOT EXISTS run_log.check_results (run_id VARCHAR, asset VARCHAR, check_name VARCHAR,"
                " passed BOOLEAN, severity VARCHAR, blocking BOOLEAN, observed VARCHAR, failing_sample VARCHAR,"
                " description VARCHAR)"
            )
            con.execute("CREATE TABLE IF NOT EXISTS run_log.evaluation (run_id VARCHAR, as_of TIMESTAMPTZ)")
            yield con
        finally:
            con.close()

    @contextlib.contextmanager
    def scratch(self, purpose: str) -> Iterator[Path]:
        """A private, empty folder beside the work database for intermediate files, removed afterwards.

        Only the run holding the work database uses it, so a folder left by a killed run is
        simply cleared first.
        """
        folder = self.path.with_name(f"{self.path.stem}.{purpose}.tmp")
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    @contextlib.contextmanager
    def read_published(self) -> Iterator[duckdb.DuckDBPyConnection | None]:
        """A read-only connection to the published snapshot (``None`` before the first publish)."""
        if not self.path.exists():
            yield None
            return
        con = configure(duckdb.connect(str(self.path), read_only=True))
        try:
            yield con
        finally:
            con.close()


def replace_table(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> int:
    """Atomically replace ``table`` (``schema.name``) with ``frame``; returns its row count."""
    con.register("_frame_to_write", frame.to_arrow())
    try:
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _frame_to_write")
    finally:
        con.unregister("_frame_to_write")
    return frame.height


def read_table(con: duckdb.DuckDBPyConnection, table: str, where: str = "") -> pl.DataFrame:
    """Read a whole table (optionally filtered) into Polars, timestamps in UTC."""
    return con.sql(f"SELECT * FROM {table} {where}").pl()


def table_exists(con: duckdb.DuckDBPyConnection, table: str, database: str | None = None) -> bool:
    """Whether the table or view ``schema.name`` exists (in ``database`` when given)."""
    schema, name = table.split(".")
    query = "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?"
    params: list[Any] = [schema, name]
    if database:
        query += " AND table_catalog = ?"
        params.append(database)
    row = fetch_first(con, query, params)
    return bool(row and row[0])


def record_stage(con: duckdb.DuckDBPyConnection, run_id: str, stage: str, seconds: float) -> None:
    """Remember how long a stage of this run took (summed into ``runs.stage_seconds``)."""
    con.execute("INSERT INTO run_log.stage_timings VALUES (?, ?, ?)", [run_id, stage, seconds])


def record_as_of(con: duckdb.DuckDBPyConnection, run_id: str, as_of: Any) -> None:
    """Remember the as-of this run evaluates, so every later step of the run uses the same one."""
    con.execute("DELETE FROM run_log.evaluation WHERE run_id = ?", [run_id])
    con.execute("INSERT INTO run_log.evaluation VALUES (?, ?)", [run_id, as_of])


def publish(con: duckdb.DuckDBPyConnection, warehouse: Warehouse, run: dict[str, Any]) -> dict[str, Any]:
    """Turn a copy of the work database into the new snapshot, then swap it in.

    The work database is checkpointed and copied whole (a file copy: no row is decoded or
    compressed again, where copying table by table re-encoded every landed line), and the copy
    is trimmed to what is published: the ``recon`` tables, and the landed lines, which stay in
    its ``landing`` schema behind the views ``recon.order_lines`` and ``recon.callback_lines``.
    Bookkeeping (the manifest, the run log) is dropped from the copy.

    ``run`` is this run's row of ``recon.runs`` (see :data:`RUNS_DDL`). ``outcome_changes`` gains
    one row per order whose outcome differs from the previously published snapshot's.
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
        raise WarehouseError(f"the work database {warehouse.work_path} could not be checkpointed; nothing was published")
    shutil.copyfile(warehouse.work_path, staging)
    con.execute(f"ATTACH '{staging}' AS snapshot")
    try:
        _trim_to_published(con)
        con.execute(RUNS_DDL.format(db="snapshot."))
        con.execute(OUTCOME_CHANGES_DDL.format(db="snapshot."))
        if previous is not None:
            con.execute(f"ATTACH '{previous}' AS previous (READ_ONLY)")
            try:
                _carry_history_forward(con, run["run_id"])
            finally:
                con.execute("DETACH previous")
        run = {**run, "stage_seconds": {**run.get("stage_seconds", {}), "publish": time.perf_counter() - started}}
        finished = datetime.now(UTC)
        run["finished_at"] = finished
        if run.get("started_at") is not None:
            run["duration_seconds"] = (finished - run["started_at"]).total_seconds()
        columns = [line.split()[0] for line in RUNS_DDL.strip().splitlines()[1:-1]]
        placeholders = ", ".join("?" for _ in columns)
        con.execute(
            f"INSERT INTO snapshot.recon.runs ({', '.join(columns)}) VALUES ({placeholders})",
            [_json_if_needed(run.get(column)) for column in columns],
        )
    finally:
        con.execute("DETACH snapshot")
    _fsync(staging)
    os.replace(staging, warehouse.path)
    _fsync(warehouse.path.parent)
    return run


def _trim_to_published(con: duckdb.DuckDBPyConnection) -> None:
    """Drop from the ``snapshot`` copy everything but the published tables; add the landed-lines views."""
    keep = {(RECON, table) for table in PUBLISHED_TABLES} | {
        tuple(source.split(".")) for source in PUBLISHED_LINES.values()
    }
    for kind, schema, name in con.execute(
        "SELECT 'VIEW', schema_name, view_name FROM duckdb_views() WHERE database_name = 'snapshot' AND NOT internal "
        "UNION ALL SELECT 'TABLE', schema_name, table_name FROM duckdb_tables() WHERE database_name = 'snapshot'"
    ).fetchall():
        if (schema, name) not in keep:
            con.execute(f'DROP {kind} snapshot."{schema}"."{name}"')
    con.execute(f"DROP SCHEMA IF EXISTS snapshot.{RUN_LOG}")
    for view, source in PUBLISHED_LINES.items():
        con.execute(f"CREATE VIEW snapshot.recon.{view} AS SELECT * FROM snapshot.{source}")


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
    con.execute("DELETE FROM run_log.check_results WHERE run_id = ? AND check_name = ?", [run_id, name])
    con.execute(
        "INSERT INTO run_log.check_results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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


def fetch_first(con: duckdb.DuckDBPyConnection, query: str, params: list[Any] | None = None) -> tuple | None:
    """The first row of a query, or ``None`` (DuckDB 2 wants every result fully fetched)."""
    rows = con.execute(query, params or []).fetchall()
    return rows[0] if rows else None


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Run the block in one DuckDB transaction: committed if it completes, rolled back if it raises."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
