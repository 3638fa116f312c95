"""What every native statement layout shares: its records, the lines it ignores, and the cell clean-ups.

A layout module (:mod:`.alipay`, :mod:`.wechatpay`, :mod:`.stripe`, :mod:`.adyen`,
:mod:`.paypal`) turns a file's decoded physical lines into :class:`NativeRecords`: one row of
canonical statement cells (``c_<field>``, text exactly as the canonical line would carry it)
per data record, plus the lines it ignores with a reason. The cells then go through the same
validation as a canonical statement line (:mod:`orders_pipeline.lib.inputs.validation`), so a
native value the mapping cannot make sense of is rejected with the canonical reason and the
row's raw text, never dropped.

Records are CSV records (:func:`read_records`): quoted cells are read as quoted,
``line_number`` is the physical line a record starts on, blank lines are not lines, the column
header is not a line (docs/rules.md#precise-reading).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from orders_pipeline.lib.inputs.csv_records import decoded_records
from orders_pipeline.lib.inputs.fields import STATEMENT_FIELDS

# A timestamp written without an offset, as providers write their local times.
NAIVE_TIMESTAMP = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?$"
_LEADING_DATE = r"^([0-9]{4}-[0-9]{2}-[0-9]{2})"


@dataclass(frozen=True)
class IgnoredLine:
    """A line that is not a statement row (a summary, a report header): counted, kept, never summed."""

    line_number: int
    raw: str
    reason: str
    message: str


@dataclass
class NativeRecords:
    """A native file as canonical statement cells, one row per data record, and the lines it ignores.

    ``cells`` has the ``c_<field>`` columns; ``records`` the same rows' ``line_number``,
    ``raw``, ``cells`` (the native cells) and ``bad_encoding`` (:data:`RECORD_SCHEMA`), and
    ``width`` the number of columns of the native header (a record with more cells is
    ``malformed_csv``).
    """

    cells: pl.DataFrame
    records: pl.DataFrame
    width: int
    ignored: list[IgnoredLine] = field(default_factory=list)


RECORD_SCHEMA: dict[str, pl.DataType] = {
    "line_number": pl.Int64(),
    "raw": pl.String(),
    "cells": pl.List(pl.String()),
    "bad_encoding": pl.Boolean(),
}


def read_records(lines: list[tuple[str, bool]]) -> pl.DataFrame:
    """Every non-blank CSV record of decoded physical lines (:data:`RECORD_SCHEMA`), header included.

    Lines without a quote (the usual case) are split on commas, vectorised; a file with any
    quote (or a carriage return inside a line) goes through the csv module
    (:func:`~orders_pipeline.lib.inputs.csv_records.decoded_records`), which reads quoted
    cells, also across lines. Both give the same records. ``cells`` is null for a record the
    csv module cannot parse.
    """
    if any('"' in text or "\r" in text[:-1] for text, _ in lines):
        records = list(decoded_records(lines))
        return pl.DataFrame(
            {
                "line_number": [r.line_number for r in records],
                "raw": [r.raw for r in records],
                "cells": [r.cells for r in records],
                "bad_encoding": [r.bad_encoding for r in records],
            },
            schema=RECORD_SCHEMA,
        )
    kept = [(number, text, bad) for number, (text, bad) in enumerate(lines, start=1) if text.strip(" \t\r")]
    frame = pl.DataFrame(
        {
            "line_number": [k[0] for k in kept],
            "raw": [k[1] for k in kept],
            "bad_encoding": [k[2] for k in kept],
        },
        schema={name: RECORD_SCHEMA[name] for name in ("line_number", "raw", "bad_encoding")},
    )
    raw = pl.col("raw").str.strip_suffix("\r")
    return frame.select("line_number", raw.alias("raw"), raw.str.split(",").alias("cells"), "bad_encoding")


def first_cell() -> pl.Expr:
    """A record's first cell without blanks, quotes or backticks (a record type, a summary label)."""
    return pl.col("cells").list.first().str.strip_chars(' \t\r`"')


def split_header(records: pl.DataFrame) -> tuple[list[str], pl.DataFrame]:
    """The first record as the header (names stripped of blanks and backticks) and the records after it."""
    if records.is_empty():
        return [], records
    first = records["cells"][0]
    header = [name.strip(" \t\r`") for name in (first.to_list() if first is not None else [])]
    return header, records.slice(1)


def native_columns(header: list[str], records: pl.DataFrame, names: tuple[str, ...]) -> pl.DataFrame:
    """The cells of ``records`` under the header ``names`` (first column of a repeated name wins).

    Missing trailing cells are null; a name the header lacks is a null column, so a mapping
    can test for an optional column with ``is_not_null``.
    """
    cells = pl.col("cells")
    return records.select(
        (cells.list.get(header.index(name), null_on_oob=True) if name in header else pl.lit(None, pl.String)).alias(
            name
        )
        for name in names
    )


def ignored_lines(records: pl.DataFrame, reason: str, message: str) -> list[IgnoredLine]:
    """The records of a (small) frame as ignored lines with one reason."""
    return [
        IgnoredLine(number, raw, reason, message) for number, raw in records.select("line_number", "raw").iter_rows()
    ]


def records_of(
    header: list[str], records: pl.DataFrame, cells: pl.DataFrame, ignored: list[IgnoredLine]
) -> NativeRecords:
    """Bundle the canonical ``cells`` of ``records`` (same order) with the records and the ignored lines."""
    typed = records.cast(pl.Schema(RECORD_SCHEMA))
    return NativeRecords(cells=cells, records=typed, width=len(header), ignored=ignored)


def no_records(ignored: list[IgnoredLine] | None = None) -> NativeRecords:
    """A file with no data record."""
    return records_of([], pl.DataFrame(schema=RECORD_SCHEMA), canonical_cells(pl.DataFrame(), {}), ignored or [])


def canonical_cells(frame: pl.DataFrame, values: dict[str, pl.Expr]) -> pl.DataFrame:
    """One ``c_<field>`` text column per canonical statement field (a field not in ``values`` is absent)."""
    return frame.select(
        (values[f.name] if f.name in values else pl.lit(None, pl.String)).cast(pl.String).alias("c_" + f.name)
        for f in STATEMENT_FIELDS
    )


def cleaned(name: str) -> pl.Expr:
    """A native cell without surrounding blanks (tabs included); an empty cell is null."""
    text = pl.col(name).str.strip_chars(" \t\r")
    return pl.when(text != "").then(text)


def unsigned_decimal(text: pl.Expr) -> pl.Expr:
    """A signed native amount as the canonical unsigned decimal: ``-0.01`` -> ``0.01``, ``.11`` -> ``0.11``.

    Anything that is not a decimal is left as it is, so validation rejects it (``bad_amount``).
    """
    unsigned = text.str.replace(r"^[+-]", "")
    return pl.when(unsigned.str.starts_with(".")).then("0" + unsigned).otherwise(unsigned)


def with_offset(timestamp: pl.Expr, offset: str) -> pl.Expr:
    """A provider's local time without an offset, given the provider's documented fixed ``offset``."""
    return pl.when(timestamp.str.contains(NAIVE_TIMESTAMP)).then(timestamp + offset).otherwise(timestamp)


def date_of(timestamp: pl.Expr) -> pl.Expr:
    """The ``YYYY-MM-DD`` a timestamp's text starts with (the text itself when it has none: ``bad_date``)."""
    return pl.coalesce(timestamp.str.extract(_LEADING_DATE, 1), timestamp)


def choose(condition: pl.Expr, mapping: dict[str, str], value: pl.Expr) -> pl.Expr:
    """``mapping[value]`` where ``condition`` holds, else the value itself (an unknown one is ``bad_type``)."""
    return pl.when(condition).then(value.replace_strict(mapping, default=value, return_dtype=pl.String))
