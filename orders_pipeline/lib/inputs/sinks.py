"""Where ingested frames go: the work database's landing tables, or memory (tests, small runs)."""

from __future__ import annotations

from typing import Literal, Protocol

import duckdb
import polars as pl
import pyarrow as pa

from orders_pipeline.lib.common.vocabulary import CALLBACKS, ORDERS, STATEMENTS
from orders_pipeline.lib.warehouse.contracts import (
    CALLBACK_LINES,
    IGNORED_RECORDS,
    ORDER_LINES,
    REJECTED_LINES,
    STATEMENT_LINES,
    Table,
    quote_identifier,
)

SinkTable = Literal["orders", "callbacks", "statements", "rejected_lines", "ignored_records"]

# Where each sink table's rows go in the work database.
SINK_TABLES: dict[SinkTable, Table] = {
    ORDERS: ORDER_LINES,
    CALLBACKS: CALLBACK_LINES,
    STATEMENTS: STATEMENT_LINES,
    "rejected_lines": REJECTED_LINES,
    "ignored_records": IGNORED_RECORDS,
}


class LineSink(Protocol):
    """Where ingested frames go: a landed kind, ``rejected_lines`` or ``ignored_records``.

    A sink may also have a ``flush()`` method:
    :func:`~orders_pipeline.lib.inputs.ingest.ingest_file` calls it once the file was read
    (not when it raises).
    """

    def write(self, table: SinkTable, frame: pl.DataFrame) -> None:
        """Append ``frame`` (exactly the table's column contract) to ``table``."""
        ...


class MemorySink:
    """Collects the frames in memory (tests, small runs)."""

    def __init__(self) -> None:
        """Start with no frames."""
        self._frames: dict[SinkTable, list[pl.DataFrame]] = {name: [] for name in SINK_TABLES}

    def write(self, table: SinkTable, frame: pl.DataFrame) -> None:
        """Keep ``frame`` for ``table``."""
        self._frames[table].append(frame)

    def frame(self, table: SinkTable) -> pl.DataFrame:
        """All rows written to ``table`` so far, in write order (empty with the right schema)."""
        frames = self._frames[table]
        if not frames:
            return SINK_TABLES[table].empty_frame()
        return pl.concat(frames, how="vertical")


class DuckDBSink:
    """Appends the frames to the work database's landing tables (the landed kinds, rejected and ignored records).

    The tables are created from their contracts if they do not exist. Frames are buffered per
    table and inserted ``flush_rows`` rows at a time (DuckDB writes large inserts straight into
    row groups, small ones go through the WAL and cost a second write at checkpoint);
    ``ingest_file`` calls :meth:`flush` at the end, and anyone calling :meth:`write` directly
    must call :meth:`flush` too. Inserts are plain SQL on
    the given connection, so a caller can wrap an ingestion in a transaction.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, flush_rows: int = 1_000_000) -> None:
        """Create the landing schema and tables if they do not exist."""
        self.con = con
        self.flush_rows = flush_rows
        self._buffer: dict[SinkTable, list[pl.DataFrame]] = {name: [] for name in SINK_TABLES}
        self._buffered: dict[SinkTable, int] = {name: 0 for name in SINK_TABLES}
        con.execute("CREATE SCHEMA IF NOT EXISTS landing")
        for table in SINK_TABLES.values():
            con.execute(table.ddl())

    def write(self, table: SinkTable, frame: pl.DataFrame) -> None:
        """Append ``frame`` to ``table`` (buffered; see :meth:`flush`)."""
        if frame.height == 0:
            return
        self._buffer[table].append(frame)
        self._buffered[table] += frame.height
        if self._buffered[table] >= self.flush_rows:
            self._flush_table(table)

    def flush(self) -> None:
        """Insert every buffered frame."""
        for table in SINK_TABLES:
            self._flush_table(table)

    def _flush_table(self, table: SinkTable) -> None:
        frames = self._buffer[table]
        if not frames:
            return
        self._buffer[table] = []
        self._buffered[table] = 0
        self.insert_arrow(table, pl.concat(frames, how="vertical").to_arrow(compat_level=pl.CompatLevel.oldest()))

    def insert_arrow(self, table: SinkTable, arrow: pa.Table) -> None:
        """Insert ``arrow`` (the table's columns, any order) into ``table`` now, unbuffered."""
        if arrow.num_rows == 0:
            return
        target = SINK_TABLES[table]
        columns = ", ".join(quote_identifier(name) for name in target.column_names)
        self.con.register("__ingest_frame", arrow)
        # Landed rows carry their own order (file, line_number, read_order): with insertion
        # order preserved, every insert after a table's first leaves row groups that the next
        # checkpoint rewrites.
        self.con.execute("SET preserve_insertion_order = false")
        try:
            self.con.execute(f"INSERT INTO {target.qualified()} ({columns}) SELECT {columns} FROM __ingest_frame")
        finally:
            self.con.execute("RESET preserve_insertion_order")
            self.con.unregister("__ingest_frame")
