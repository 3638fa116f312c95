r"""CSV records: the header, quoted cells that span lines, and where each record starts.

The first non-blank record is the header (names stripped of surrounding whitespace; a header
that names a read column twice, or none at all, has every row rejected by the ingestor).
``line_number`` is the physical line where a record starts. A record with more cells than the
header is ``malformed_csv`` (so is one the csv module cannot parse); missing trailing cells are
missing fields; every cell is a string.

Blocks without quotes (and without NUL or lone ``\r``, :func:`block_is_simple`) are split on
commas, vectorised; from the first block with a quote on, the rest of the file goes through
Python's csv module (:class:`CsvReader`). Both give the same records (tested). A broken quote
costs one line: see :func:`decoded_records`.
"""

from __future__ import annotations

import csv
import io
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from orders_pipeline.lib.inputs.field_maps import FieldMap
from orders_pipeline.lib.inputs.fields import Field
from orders_pipeline.lib.inputs.reading import BOM

MAX_RECORD_LINES = 1_000
"""Physical lines one CSV record may span (a quoted cell with newlines); longer is a broken record."""
MAX_RECORD_CHARS = 16 << 20
"""Characters one multi-line CSV record may hold; more is a broken record (memory stays bounded)."""

# A cell is as long as its line: no cap below the record limits (the vectorised path has none).
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


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
        self.cell_counts: list[int | None] = []
        """None: the record could not be parsed (a broken quote)."""
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
        self.cell_counts.append(None if rec.cells is None else len(cells))
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

    def __init__(
        self,
        blocks: Iterator[bytearray],
        line_offset: int = 0,
        strip_bom: bool = True,
    ) -> None:
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


def _strict_single_record(text: str) -> bool:
    """Whether ``text`` (a record spanning several physical lines) is exactly one well-formed CSV record.

    Well-formed: every quote that opens a cell is closed before the end of the text and
    followed by a comma or the end of the record.
    """
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error:
        return False
    return len(rows) == 1


def decoded_records(lines: Iterable[tuple[str, bool]], line_offset: int = 0) -> Iterator[CsvRecord]:
    """CSV records of already decoded physical lines ``(text, bad_encoding)``, numbered from ``line_offset + 1``.

    Blank lines between records are not lines; a record's ``raw`` is its physical lines joined
    with newlines (without their line terminators).

    A record that spans several physical lines must be one well-formed record
    (:func:`_strict_single_record`: its quotes closed, each closing quote followed by a comma
    or the record's end) of at most :data:`MAX_RECORD_LINES` lines and
    :data:`MAX_RECORD_CHARS` characters. Otherwise its first physical line alone is the
    record, unparseable (``cells`` None, later ``malformed_csv``), and reading restarts at the
    next physical line: one stray quote costs one line, never the rest of the file. (A single
    line is read as leniently as before: ``"a"b`` is the cell ``ab``.)
    """
    source = iter(lines)
    pending: deque[tuple[int, str, bool]] = deque()
    number = line_offset
    consumed: list[tuple[int, str, bool]] = []
    chars = 0

    def next_line() -> tuple[int, str, bool] | None:
        nonlocal number
        if pending:
            return pending.popleft()
        item = next(source, None)
        if item is None:
            return None
        number += 1
        return number, item[0], item[1]

    def feed() -> Iterator[str]:
        nonlocal chars
        while True:
            item = next_line()
            if item is None:
                return
            if not consumed and not item[1].strip(" \t\r"):
                continue  # a blank line between records is not a line
            if not consumed:
                chars = 0
            consumed.append(item)
            chars += len(item[1])
            yield item[1] + "\n"
            if len(consumed) >= MAX_RECORD_LINES or chars > MAX_RECORD_CHARS:
                return  # the reader sees the end of its input: this record is then broken

    reader = csv.reader(feed(), strict=False)
    while True:
        try:
            row: list[str] | None = next(reader)
        except StopIteration:
            if not consumed:
                return
            row = None  # cut at the size limit
        except csv.Error:
            row = None
        if len(consumed) > 1 and (
            row is None or not _strict_single_record("\n".join(text for _, text, _ in consumed) + "\n")
        ):
            # A broken record over several lines: its first line is the broken record, the
            # others are read again. A fresh reader, since the old one may have seen its end.
            first = consumed[0]
            pending.extendleft(reversed(consumed[1:]))
            consumed.clear()
            reader = csv.reader(feed(), strict=False)
            yield CsvRecord(first[0], first[1].removesuffix("\r"), None, first[2])
            continue
        if row is None and not consumed:
            return
        raw = "\n".join(text[:-1] if text.endswith("\r") else text for _, text, _ in consumed)
        record = CsvRecord(consumed[0][0], raw, row, any(bad for _, _, bad in consumed))
        consumed.clear()
        yield record
