"""Reading the published warehouse: a read-only connection that says clearly what is wrong when it cannot."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb

from orders_pipeline.lib.common.errors import ReportError
from orders_pipeline.lib.warehouse.connection import configure
from orders_pipeline.lib.warehouse.sql import table_exists

NOT_PUBLISHED = "(not published in this warehouse)"


@contextlib.contextmanager
def open_published(warehouse_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to a published warehouse, or :class:`ReportError` saying what is wrong."""
    path = Path(warehouse_path).expanduser()
    if not path.exists():
        raise ReportError(
            f"warehouse {path} does not exist; run `orders-pipeline reconcile` first or pass --warehouse FILE"
        )
    if path.is_dir():
        raise ReportError(f"warehouse path {path} is a directory; pass the warehouse file, e.g. data/warehouse.duckdb")
    try:
        with path.open("rb") as handle:
            magic = handle.read(12)[8:12]
    except OSError as exc:
        raise ReportError(f"cannot read warehouse {path}: {exc.strerror}") from None
    if magic != b"DUCK":
        raise ReportError(
            f"{path} is not a DuckDB database file; pass the warehouse written by `orders-pipeline reconcile`"
        )
    try:
        con = configure(duckdb.connect(str(path), read_only=True))
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ReportError(f"cannot open warehouse {path}: {first}") from None
    try:
        if not table_exists(con, "recon.order_outcomes") or not table_exists(con, "recon.runs"):
            raise ReportError(f"{path} is not an orders-pipeline warehouse (no recon.order_outcomes / recon.runs)")
        yield con
    finally:
        con.close()


def query_rows(con: duckdb.DuckDBPyConnection, query: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    """A query's rows as dicts of column name to value."""
    cursor = con.execute(query, params or [])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def table_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    """The column names of a table or view, in order."""
    schema, name = table.split(".")
    return [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND table_name = ? ORDER BY column_index",
            [schema, name],
        ).fetchall()
    ]
