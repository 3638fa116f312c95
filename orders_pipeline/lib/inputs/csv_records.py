r"""CSV records: the header, quoted cells that span lines, and where each record starts.

The first non-blank record is the header (names stripped of surrounding whitespace; with a
repeated name the first column wins). ``line_number`` is the physical line where a record
starts. A record with more cells than the header is ``malformed_csv`` (so is one the csv
module cannot parse); missing trailing cells are missing fields; every cell is a string.

Blocks without quotes (and without NUL or lone ``\r``, :func:`block_is_simple`) are split on
commas, vectorised; from the first block with a quote on, the rest of the file goes through
Python's csv module (:class:`CsvReader`). Both give the same records (tested).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from orders_pipeline.lib.inputs.field_maps import FieldMap
from orders_pipeline.lib.inputs.fields import Field
from orders_pipeline.lib.inputs.reading import BOM


def block_is_simple(data: bytearray) -> bool:
    """No quote, NUL or lone carriage return: every line is one record, cells split on commas."""
    return data.find(b'"') < 0 and data.find(b"\0") < 0 and data.count(b"\r") == data.count(b"\r\n")


@dataclass
class CsvRecord:
    """One CSV record as the csv module read it."""

    line_number: int
    """Physical line where the record starts."""
    raw: str
    cells: list[str] | None
    """None: the csv module could not parse the record."""
    bad_encoding: bool


def csv_columns(
    fields: tuple[Field, ...], header: tuple[str, ...], field_map: FieldMap | None = None
) -> list[int | str | None]:
    """Per field, where its cell is: a header position, the map's constant (a string), or None (absent).

    Without a map a field is the column of its own name; with one, the column the map names
    (a dotted path is a column name as is). With a repeated column name the first column wins.
    """
    out: list[int | str | None] = []
    for f in fields:
        constant = field_map.constant(f.name) if field_map is not None else None
        name = field_map.column(f.name) if field_map is not None else f.name
        out.append(constant if constant is not None else header.index(name) if name in header else None)
    return out


class CsvBatch:
    """Up to ``chunk_lines`` CSV records, as one string column per field."""

    def __init__(self, fields: tuple[Field, ...], header: tuple[str, ...], field_map: FieldMap | None = None) -> None:
        """Start an empty batch for a file with this header (read through ``field_map`` when given)."""
        self.header_size = len(header)
        self.columns = dict(zip((f.name for f in fields), csv_columns(fields, header, field_map), strict=True))
        self.cells: dict[str, list[str | None]] = {f.name: [] for f in fields}
        self.raw: list[str] = []
        self.line_numbers: list[int] = []
        self.malformed: list[bool] = []
        self.cell_counts: list[int] = []
        self.bad_encoding: list[bool] = []

    @property
    def size(self) -> int:
        """Records in the batch."""
        return len(self.raw)

    def add(self, rec: CsvRecord) -> None:
        """Append a record; its cells go to the fields' columns by header position."""
        cells = rec.cells or []
        self.raw.append(rec.raw)
        self.line_numbers.append(rec.line_number)
        self.malformed.append(rec.cells is None or len(cells) > self.header_size)
        self.cell_counts.append(len(cells))
        self.bad_encoding.append(rec.bad_encoding)
        for name, column in self.cells.items():
            where = self.columns[name]
            if isinstance(where, int):
                column.append(cells[where] if where < len(cells) else None)
            else:
                column.append(where)


def _decode_line(raw: bytes) -> tuple[str, bool]:
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return raw.decode("utf-8", "replace"), True


class CsvReader:
    """Feeds physical lines to the csv module and remembers which lines made each record."""

    def __init__(self, blocks: Iterator[bytearray], line_offset: int = 0, strip_bom: bool = True) -> None:
        """Read records from ``blocks``, counting physical lines from ``line_offset``."""
        self.blocks = blocks
        self.strip_bom = strip_bom
        self.line_offset = line_offset

    def _decoded(self) -> Iterator[tuple[str, bool]]:
        """Each physical line, decoded, with whether it was valid UTF-8."""
        first = self.strip_bom
        for data in self.blocks:
            chunk = bytes(data)
            if first and chunk.startswith(BOM):
                chunk = chunk[3:]
            first = False
            pieces = chunk.split(b"\n")
            last = pieces.pop()  # b"" when the block ends with a newline
            for piece in pieces:
                yield _decode_line(piece)
            if last:
                yield _decode_line(last)

    def records(self) -> Iterator[CsvRecord]:
        """Every non-blank record, the header included (it is the first one)."""
        return decoded_records(self._decoded(), self.line_offset)


def decoded_records(lines: Iterable[tuple[str, bool]], line_offset: int = 0) -> Iterator[CsvRecord]:
    """CSV records of already decoded physical lines ``(text, bad_encoding)``, numbered from ``line_offset + 1``.

    Blank lines between records are not lines; a record's ``raw`` is its physical lines joined
    with newlines (without their line terminators).
    """
    state = {"line": line_offset, "start": 0, "bad": False}
    consumed: list[str] = []

    def feed() -> Iterator[str]:
        for text, bad in lines:
            state["line"] += 1
            if not consumed and not text.strip(" \t\r"):
                continue  # a blank line between records is not a line
            if not consumed:
                state["start"] = state["line"]
            consumed.append(text)
            state["bad"] = state["bad"] or bad
            yield text + "\n"

    reader = csv.reader(feed(), strict=False)
    while True:
        try:
            row: list[str] | None = next(reader)
        except StopIteration:
            return
        except csv.Error:
            row = None
        raw = "\n".join(line[:-1] if line.endswith("\r") else line for line in consumed)
        record = CsvRecord(int(state["start"]), raw, row, bool(state["bad"]))
        consumed.clear()
        state["bad"] = False
        yield record
