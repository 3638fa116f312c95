"""Canonical statement lines in a Parquet file: typed columns become the same text cells a CSV would give.

Each canonical column that is present is read exactly: strings as they are, integers and
decimals as their exact text (a ``decimal(12,2)`` 12.50 is ``"12.50"``), dates as
``YYYY-MM-DD``, timestamps as RFC 3339 (``Z`` for a timestamp with a time zone, no offset for
a naive one, which validation then reads in the configured timezone), booleans as
``true``/``false`` (never a valid value of any field). A row is a record and its
``line_number`` is its 1-based position in the file; its raw text is the row as a JSON object.

An amount column (``amount``, ``fee``, ``net``) of a floating-point type could only be read
through a float, so the whole file is one rejected record (``bad_amount``, line 0) whose
message names the column: the run goes on, and the file is accounted for.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from orders_pipeline.lib.inputs.fields import STATEMENT_FIELDS

AMOUNT_FIELDS = ("amount", "fee", "net")


@dataclass(frozen=True)
class ParquetCells:
    """The file's rows as canonical cells, or why the whole file is rejected."""

    cells: pl.DataFrame
    raw: pl.Series
    float_column: str | None = None
    float_type: str | None = None


def _as_text(column: pa.ChunkedArray) -> pl.Series:
    kind = column.type
    if pa.types.is_timestamp(kind):
        series = pl.from_arrow(column)
        assert isinstance(series, pl.Series)
        if kind.tz is not None:
            return series.dt.convert_time_zone("UTC").dt.to_string("%Y-%m-%dT%H:%M:%S%.6fZ")
        return series.dt.to_string("%Y-%m-%dT%H:%M:%S%.6f")
    if pa.types.is_date(kind):
        series = pl.from_arrow(column)
        assert isinstance(series, pl.Series)
        return series.dt.to_string("%Y-%m-%d")
    if pa.types.is_boolean(kind):
        series = pl.from_arrow(column)
        assert isinstance(series, pl.Series)
        return series.cast(pl.String)
    series = pl.from_arrow(column.cast(pa.large_string()))
    assert isinstance(series, pl.Series)
    return series


def read_parquet_cells(path: Path) -> ParquetCells:
    """Read the canonical columns of a Parquet statement file as text cells ``c_<field>``."""
    table = pq.read_table(path)
    for name in AMOUNT_FIELDS:
        if name in table.column_names and pa.types.is_floating(table.schema.field(name).type):
            empty = pl.DataFrame()
            return ParquetCells(empty, pl.Series("raw", [], pl.String), name, str(table.schema.field(name).type))
    columns = {
        "c_" + f.name: (
            _as_text(table.column(f.name))
            if f.name in table.column_names
            else pl.Series([None] * table.num_rows, dtype=pl.String)
        ).alias("c_" + f.name)
        for f in STATEMENT_FIELDS
    }
    cells = pl.DataFrame(columns)
    present = [f.name for f in STATEMENT_FIELDS if f.name in table.column_names]
    if not present:
        return ParquetCells(cells, pl.Series("raw", ["{}"] * table.num_rows, pl.String))
    raw = cells.select(pl.struct(pl.col("c_" + name).alias(name) for name in present).struct.json_encode())
    return ParquetCells(cells, raw.to_series().alias("raw"))
