"""What every native statement layout shares: its records, the lines it ignores, and the cell clean-ups.

A layout module (:mod:`.alipay`, :mod:`.wechatpay`, :mod:`.stripe`, :mod:`.adyen`,
:mod:`.paypal`) turns a file's decoded physical lines into :class:`NativeRecords`: one row of
canonical statement cells (``c_<field>``, text exactly as the canonical line would carry it)
per data record, plus the lines it ignores with a reason. The cells then go through the same
validation as a canonical statement line (:mod:`orders_pipeline.lib.inputs.validation`), so a
native value the mapping cannot make sense of is rejected with the canonical reason and the
row's raw text, never dropped.

Records are CSV records (:func:`~orders_pipeline.lib.inputs.csv_records.decoded_records`):
quoted cells are read as quoted, ``line_number`` is the physical line a record starts on,
blank lines are not lines, the column header is not a line (docs/rules.md#precise-reading).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from orders_pipeline.lib.inputs.csv_records import CsvRecord
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
    """A native file as canonical statement cells, one row per data record, and the lines it ignores."""

    cells: pl.DataFrame
    raw: list[str] = field(default_factory=list)
    line_numbers: list[int] = field(default_factory=list)
    malformed: list[bool] = field(default_factory=list)
    cell_counts: list[int] = field(default_factory=list)
    bad_encoding: list[bool] = field(default_factory=list)
    ignored: list[IgnoredLine] = field(default_factory=list)


def native_columns(header: list[str], records: list[CsvRecord], names: tuple[str, ...]) -> pl.DataFrame:
    """The cells of ``records`` under the header ``names`` that exist (first column of a repeated name wins).

    Missing trailing cells are null; a name the header lacks is a null column, so a mapping
    can test for an optional column with ``is_not_null``.
    """
    positions = {name: header.index(name) for name in names if name in header}
    columns: dict[str, list[str | None]] = {name: [] for name in names}
    for record in records:
        cells = record.cells or []
        for name in names:
            pos = positions.get(name)
            columns[name].append(cells[pos] if pos is not None and pos < len(cells) else None)
    return pl.DataFrame({name: pl.Series(values, dtype=pl.String) for name, values in columns.items()})


def records_of(
    header: list[str], records: list[CsvRecord], cells: pl.DataFrame, ignored: list[IgnoredLine]
) -> NativeRecords:
    """Bundle the canonical ``cells`` of ``records`` (same order) with their raw text and shape."""
    return NativeRecords(
        cells=cells,
        raw=[r.raw for r in records],
        line_numbers=[r.line_number for r in records],
        malformed=[r.cells is None or len(r.cells) > len(header) for r in records],
        cell_counts=[len(r.cells or []) for r in records],
        bad_encoding=[r.bad_encoding for r in records],
        ignored=ignored,
    )


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
