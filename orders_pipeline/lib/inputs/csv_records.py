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
from collections.abc import Iterator
from dataclasses import dataclass

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


class CsvBatch:
    """Up to ``chunk_lines`` CSV records, as one string column per field."""

    def __init__(self, fields: tuple[Field, ...], header: tuple[str, ...]) -> None:
        """Start an empty batch for a file with this header."""
        self.header_size = len(header)
        # With a repeated column name the first column wins.
        self.positions = {f.name: header.index(f.name) for f in fields if f.name in header}
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
            pos = self.positions.get(name)
            column.append(cells[pos] if pos is not None and pos < len(cells) else None)


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
        self.line = line_offset
        self.consumed: list[str] = []
        self.start = 0
        self.bad = False

    def _take(self, piece: bytes) -> str | None:
        self.line += 1
        text, bad = _decode_line(piece)
        if not self.consumed and not text.strip(" \t\r"):
            return None  # a blank line between records is not a line
        if not self.consumed:
            self.start = self.line
        self.consumed.append(text)
        self.bad = self.bad or bad
        return text

    def _lines(self) -> Iterator[str]:
        first = self.strip_bom
        for data in self.blocks:
            chunk = bytes(data)
            if first and chunk.startswith(BOM):
                chunk = chunk[3:]
            first = False
            pieces = chunk.split(b"\n")
            last = pieces.pop()  # b"" when the block ends with a newline
            for piece in pieces:
                text = self._take(piece)
                if text is not None:
                    yield text + "\n"
            if last:
                text = self._take(last)
                if text is not None:
                    yield text

    def records(self) -> Iterator[CsvRecord]:
        """Every non-blank record, the header included (it is the first one)."""
        reader = csv.reader(self._lines(), strict=False)
        while True:
            try:
                row: list[str] | None = next(reader)
            except StopIteration:
                return
            except csv.Error:
                row = None
            raw = "\n".join(line[:-1] if line.endswith("\r") else line for line in self.consumed)
            record = CsvRecord(self.start, raw, row, self.bad)
            self.consumed = []
            self.bad = False
            yield record
