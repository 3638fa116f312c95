"""Small, exact helpers over a DuckDB connection: first rows, existence, whole-table writes, transactions."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import duckdb
import polars as pl

from orders_pipeline.lib.warehouse.contracts import Table


def fetch_first(
    con: duckdb.DuckDBPyConnection, query: str, params: list[Any] | dict[str, Any] | None = None
) -> tuple | None:
    """The first row of a query, or ``None`` (DuckDB 2 wants every result fully fetched)."""
    rows = con.execute(query, params or []).fetchall()
    return rows[0] if rows else None


def fetch_value(con: duckdb.DuckDBPyConnection, query: str, params: list[Any] | dict[str, Any] | None = None) -> Any:
    """The first column of the first row of a query (``None`` when there is no row)."""
    row = fetch_first(con, query, params)
    return row[0] if row else None


def table_exists(con: duckdb.DuckDBPyConnection, table: str, database: str | None = None) -> bool:
    """Whether the table or view ``schema.name`` exists (in ``database`` when given)."""
    schema, name = table.split(".")
    query = "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?"
    params: list[Any] = [schema, name]
    if database:
        query += " AND table_catalog = ?"
        params.append(database)
    return bool(fetch_value(con, query, params))


def replace_table(con: duckdb.DuckDBPyConnection, table: Table, frame: pl.DataFrame) -> int:
    """Replace ``table`` with the rows of ``frame`` (its contract's columns and types); returns the row count."""
    con.register("_frame_to_write", frame.select(table.column_names).to_arrow())
    try:
        with transaction(con):
            con.execute(table.ddl(replace=True))
            con.execute(f"INSERT INTO {table.qualified()} SELECT * FROM _frame_to_write")
    finally:
        con.unregister("_frame_to_write")
    return frame.height


def replace_table_from_query(
    con: duckdb.DuckDBPyConnection, table: Table, query: str, params: list[Any] | dict[str, Any] | None = None
) -> None:
    """Replace ``table`` with the rows of a query that yields its columns (matched by name)."""
    with transaction(con):
        con.execute(table.ddl(replace=True))
        con.execute(f"INSERT INTO {table.qualified()} BY NAME {query}", params or [])


def read_table(con: duckdb.DuckDBPyConnection, table: str | Table, where: str = "") -> pl.DataFrame:
    """Read a whole table (optionally filtered) into Polars, timestamps in UTC."""
    name = table.qualified() if isinstance(table, Table) else table
    return con.sql(f"SELECT * FROM {name} {where}").pl()


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Run the block in one DuckDB transaction: committed if it completes, rolled back if it raises."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
        con.execute("COMMIT")
    except BaseException:
        # A failed COMMIT (a full disk) has already ended the transaction: the error to report
        # is the one that got us here, never ROLLBACK's "no transaction is active".
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise
