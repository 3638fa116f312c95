"""Ingesting one file: its lines read, parsed and validated in parallel, written to a sink in order.

A background thread reads, gunzips and hashes the file in blocks of ``chunk_lines`` x 240
bytes (64 KiB to 128 MiB, cut at a newline); two worker threads parse tasks of at most
``min(chunk_lines, 262144)`` lines (DuckDB and Polars release the GIL), and the calling thread
writes the results to the sink in reading order. Memory is bounded by about four blocks and
two tasks in flight (~1 GB peak RSS for any file size with the default ``chunk_lines``).
Parsers (each a DuckDB connection) are pooled, since opening one costs ~50 ms.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from orders_pipeline.lib.common import progress
from orders_pipeline.lib.common.config import Settings
from orders_pipeline.lib.common.vocabulary import CALLBACKS, ORDERS, InputKind
from orders_pipeline.lib.inputs.csv_records import CsvBatch, CsvReader, block_is_simple, csv_columns
from orders_pipeline.lib.inputs.discovery import InputFile, format_of
from orders_pipeline.lib.inputs.extraction import PARSERS
from orders_pipeline.lib.inputs.field_maps import FieldMap
from orders_pipeline.lib.inputs.fields import FIELDS
from orders_pipeline.lib.inputs.lines import Lines, split_lines, string_array
from orders_pipeline.lib.inputs.messages import LONE_CR, LONE_CR_MESSAGE
from orders_pipeline.lib.inputs.reading import BOM, read_blocks
from orders_pipeline.lib.inputs.sinks import LineSink
from orders_pipeline.lib.warehouse.contracts import REJECTED_LINES

_MIN_BLOCK = 1 << 16
_MAX_BLOCK = 128 << 20
_WORKERS = 2
_TASK_LINES = 262_144


@dataclass
class FileCounts:
    """Records of one file: read = landed + rejected + ignored + unreadable."""

    read: int = 0
    landed: int = 0
    rejected: int = 0
    ignored: int = 0
    unreadable: int = 0
    """Lines of a file that cannot be read (quarantined): all of it that decompressed before the damage."""


@dataclass(frozen=True)
class HeaderProblem:
    """A CSV header that cannot be read by: every record of the file is rejected with ``reason``."""

    reason: str
    first_message: str
    """The message of the first line, when it is a record (``header_is_a_line``)."""
    message: str
    header_is_a_line: bool
    """No header at all: the first line is a record (rejected too), not a header."""
    first_line: int = 0


@dataclass(frozen=True)
class IngestedFile:
    """What ingesting one file found: the SHA-256 of its decompressed content, and its counts."""

    sha256: str
    counts: FileCounts


def ingest_file(file: InputFile, settings: Settings, sink: LineSink, chunk_lines: int = 1_000_000) -> IngestedFile:
    """Parse one file into ``sink`` (flushed before returning), hashing its content while reading it.

    ``read_order`` counts the file's lines from 0. Which files to ingest (new, changed, not a
    re-delivery) is :mod:`orders_pipeline.lib.inputs.manifest`'s decision.
    """
    ingestor = FileIngestor(file.kind, settings, sink, chunk_lines, settings.field_map(file.kind, file.relative))
    hasher = hashlib.sha256()
    try:
        counts = ingestor.ingest_file(file, hasher)
    finally:
        ingestor.close()
    flush_sink(sink)
    return IngestedFile(hasher.hexdigest(), counts)


def flush_sink(sink: LineSink) -> None:
    """Flush a sink that buffers (see :class:`~orders_pipeline.lib.inputs.sinks.LineSink`)."""
    flush = getattr(sink, "flush", None)
    if callable(flush):
        flush()


def parse_order_lines(lines: pl.DataFrame, settings: Settings) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Validate JSON order lines (columns file, line_number, read_order, raw) -> (landed, rejected)."""
    return _parse_frame(ORDERS, lines, settings)


def parse_callback_lines(lines: pl.DataFrame, settings: Settings) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Validate JSON callback lines (columns file, line_number, read_order, raw) -> (landed, rejected)."""
    return _parse_frame(CALLBACKS, lines, settings)


def _parse_frame(kind: InputKind, lines: pl.DataFrame, settings: Settings) -> tuple[pl.DataFrame, pl.DataFrame]:
    missing = {"file", "line_number", "read_order", "raw"} - set(lines.columns)
    if missing:
        raise ValueError(f"lines frame lacks columns {sorted(missing)}")
    meta = lines.select(
        pl.col("file").cast(pl.String), pl.col("line_number").cast(pl.Int64), pl.col("read_order").cast(pl.Int64)
    )
    raw = lines["raw"].cast(pl.String).fill_null("").to_arrow().cast(pa.large_string())
    parser = PARSERS.acquire(kind, settings.timezone, None, settings.envelopes)
    try:
        landed, rejected, *_ = parser.parse_json(raw, meta)
        return landed, rejected
    finally:
        PARSERS.release(parser)


class FileIngestor:
    """Streams one file into a sink, in reading order.

    Chunks are parsed by ``_WORKERS`` threads (each with its own DuckDB connection; DuckDB and
    Polars release the GIL), so one chunk's Polars stage overlaps the next chunk's DuckDB stage.
    Results are written to the sink by the calling thread, in reading order. At most
    ``_WORKERS`` chunks are in flight, so memory stays bounded.
    """

    def __init__(
        self,
        kind: InputKind,
        settings: Settings,
        sink: LineSink,
        chunk_lines: int,
        field_map: FieldMap | None = None,
    ) -> None:
        """Prepare to ingest files of ``kind`` into ``sink``, about ``chunk_lines`` lines at a time.

        With ``field_map``, records are read through it, and timestamps without an offset are in
        its timezone (else the config's).
        """
        self.kind = kind
        self.settings = settings
        self.field_map = field_map
        self.timezone = (field_map.timezone if field_map is not None else None) or settings.timezone
        self.sink = sink
        self.chunk_lines = max(1, int(chunk_lines))
        # Files are read in blocks of about chunk_lines lines (bounded memory); each block is
        # parsed in tasks of at most _TASK_LINES lines so that the workers overlap.
        self.block_size = int(min(_MAX_BLOCK, max(_MIN_BLOCK, self.chunk_lines * 240)))
        self.task_lines = min(self.chunk_lines, _TASK_LINES)
        self.read_order = 0
        self.fields = FIELDS[kind]
        self._pool = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="ingest")
        self._pending: deque[tuple[Future[tuple[pl.DataFrame, ...]], FileCounts, int]] = deque()

    def close(self) -> None:
        """Cancel what is still in flight and stop the workers."""
        for future, _, _ in self._pending:
            future.cancel()
        self._pool.shutdown(wait=True)

    def _submit(self, stats: FileCounts, method: str, *args: Any) -> None:
        lines = next((len(a) for a in args if isinstance(a, pl.DataFrame) and "read_order" in a.columns), 0)

        def run() -> tuple[pl.DataFrame, ...]:
            parser = PARSERS.acquire(self.kind, self.timezone, self.field_map, self.settings.envelopes)
            try:
                return getattr(parser, method)(*args)
            finally:
                PARSERS.release(parser)

        self._pending.append((self._pool.submit(run), stats, lines))
        while len(self._pending) >= _WORKERS:
            self._drain_one()

    def _drain_one(self) -> None:
        future, stats, lines = self._pending.popleft()
        landed, rejected, *rest = future.result()
        ignored = rest[0] if rest else None
        if landed.height:
            self.sink.write(self.kind, landed)
        if rejected.height:
            self.sink.write("rejected_lines", rejected)
        stats.landed += landed.height
        stats.rejected += rejected.height
        if ignored is not None:
            if ignored.height:
                self.sink.write("ignored_records", ignored)
            stats.ignored += ignored.height
            # An envelope is as many records as its adapter made (an Adyen batch: one per item).
            stats.read += landed.height + rejected.height + ignored.height - lines
        progress.records(landed.height + rejected.height + (ignored.height if ignored is not None else 0))

    def drain(self) -> None:
        """Write every parsed chunk still in flight to the sink."""
        while self._pending:
            self._drain_one()

    def ingest_file(self, file: InputFile, hasher: Any) -> FileCounts:
        """Read, parse and write one JSONL or CSV file (hashing its content into ``hasher``); its counts."""
        fmt = format_of(file.path.name)
        assert fmt is not None
        assert fmt[0] != "parquet"
        stats = FileCounts()
        blocks = read_blocks(file, self.block_size, hasher)
        if fmt[0] == "jsonl":
            self._ingest_jsonl(file, blocks, stats)
        else:
            self._ingest_csv(file, blocks, stats)
        self.drain()
        return stats

    def submit_cells(
        self,
        file: InputFile,
        cells: pl.DataFrame,
        raw: pl.Series,
        line_numbers: Any,
        stats: FileCounts,
        malformed: pl.Series,
        cell_counts: pl.Series,
        bad_encoding: pl.Series,
    ) -> None:
        """Validate records already split into cells ``c_<field>`` (native statement layouts, Parquet)."""
        for lo in range(0, cells.height, self.task_lines):
            hi = min(cells.height, lo + self.task_lines)
            meta = self._meta(file, line_numbers[lo:hi], stats)
            self._submit(
                stats,
                "parse_cells",
                cells.slice(lo, hi - lo),
                raw.slice(lo, hi - lo),
                meta,
                malformed.slice(lo, hi - lo),
                cell_counts.slice(lo, hi - lo),
                bad_encoding.slice(lo, hi - lo),
            )

    # ---- JSONL ------------------------------------------------------------------------------

    def _ingest_jsonl(self, file: InputFile, blocks: Iterator[bytearray], stats: FileCounts) -> None:
        base_line = 0
        first = True
        for data in blocks:
            skip = 3 if first and data[:3] == BOM else 0
            first = False
            lines = split_lines(data, skip)
            base_line_of_block = base_line
            base_line += lines.physical
            self._submit_block(file, data, lines, base_line_of_block, stats, "parse_json")
            del data

    def _submit_block(
        self, file: InputFile, data: bytearray, lines: Lines, first_line: int, stats: FileCounts, task: str, *args: Any
    ) -> None:
        """Hand a block's lines to the parser in tasks of at most ``task_lines`` lines."""
        count = len(lines.starts)
        if count == 0:
            return
        raw, bad = string_array(data, lines)
        line_numbers = lines.line_index + (first_line + 1)
        for lo in range(0, count, self.task_lines):
            hi = min(count, lo + self.task_lines)
            meta = self._meta(file, line_numbers[lo:hi], stats)
            self._submit(stats, task, raw.slice(lo, hi - lo), *args, meta, None if bad is None else bad[lo:hi])

    # ---- CSV --------------------------------------------------------------------------------

    def _ingest_csv(self, file: InputFile, blocks: Iterator[bytearray], stats: FileCounts) -> None:
        r"""Read a CSV file: quote-free blocks vectorized, the rest with the csv module.

        Blocks without quotes (or NUL, or a lone ``\r``) are split on commas, one record per
        line. From the first block that has any, the rest of the file goes through Python's csv
        module (quoted cells may span lines and blocks). A header that cannot be read by
        (:meth:`_header_problem`) has every record of the file rejected.
        """
        header: tuple[str, ...] | None = None
        base_line = 0
        first = True
        for data in blocks:
            skip = 3 if first and data[:3] == BOM else 0
            if not block_is_simple(data):
                reader = CsvReader(itertools.chain([data], blocks), line_offset=base_line, strip_bom=first)
                self._ingest_csv_records(file, reader, header, stats)
                return
            first = False
            lines = split_lines(data, skip)
            base_line_of_block = base_line
            base_line += lines.physical
            if header is None:
                if not len(lines.starts):
                    continue
                start = int(lines.starts[0])
                end = data.find(b"\n", start)
                text = bytes(data[start : end if end >= 0 else len(data)]).decode("utf-8", "replace")
                header = tuple(name.strip() for name in text.rstrip("\r").split(","))
                problem = self._header_problem(header, base_line_of_block + 1 + int(lines.line_index[0]), text)
                if problem is not None:
                    if not problem.header_is_a_line:
                        lines = Lines(lines.starts[1:], lines.line_index[1:], lines.physical)
                    self._reject_block(file, data, lines, base_line_of_block, stats, problem)
                    for data in blocks:  # noqa: B020 - the rest of the file, line by line
                        lines = split_lines(data, 0)
                        self._reject_block(file, data, lines, base_line, stats, problem)
                        base_line += lines.physical
                    return
                lines = Lines(lines.starts[1:], lines.line_index[1:], lines.physical)
            self._submit_block(file, data, lines, base_line_of_block, stats, "parse_csv_lines", header)

    def _ingest_csv_records(
        self, file: InputFile, reader: CsvReader, header: tuple[str, ...] | None, stats: FileCounts
    ) -> None:
        batch: CsvBatch | None = None
        records = reader.records()
        for record in records:
            if header is None:
                # An unparseable header gives no columns: it names no field, so it is no header.
                header = tuple(name.strip() for name in record.cells or [])
                problem = self._header_problem(header, record.line_number, record.raw)
                if problem is not None:
                    rest = itertools.chain([record] if problem.header_is_a_line else [], records)
                    while piece := list(itertools.islice(rest, self.task_lines)):
                        numbers = [r.line_number for r in piece]
                        self._reject_file_lines(file, numbers, [r.raw for r in piece], stats, problem)
                    return
                continue
            if batch is None:
                batch = CsvBatch(self.fields, header, self.field_map)
            batch.add(record)
            if batch.size >= self.task_lines:
                self._flush_csv(file, batch, stats)
                batch = None
        if batch is not None and batch.size:
            self._flush_csv(file, batch, stats)

    def _header_problem(self, header: tuple[str, ...], line: int, raw: str) -> HeaderProblem | None:
        """Why a CSV header cannot be read by (every record of the file is then rejected), or None.

        * It names none of the columns the fields are read from (after the field map): the file
          has no header row, its first line is a record (``no_header``).
        * It names a column a field is read from twice: which cell counts would be a guess
          (``duplicate_column``). Repeated columns no field reads are harmless.
        """
        columns = csv_columns(self.fields, header, self.field_map)
        expected = ", ".join(
            dict.fromkeys(c for f in self.fields if f.required and (c := self._expected_column(f.name)))
        )
        if not any(isinstance(where, int) for where in columns):
            why = (
                LONE_CR_MESSAGE
                if re.search(LONE_CR, raw)
                else f"it names none of the expected columns ({expected}); a CSV file must start with its header row"
            )
            return HeaderProblem(
                "no_header",
                f"line {line} is not a header: {why}",
                f"the file has no header row: line {line} is not one; re-deliver the file with its header",
                header_is_a_line=True,
                first_line=line,
            )
        read = {self._expected_column(f.name) for f in self.fields} - {""}
        repeated = [name for name in dict.fromkeys(header) if name in read and header.count(name) > 1]
        if repeated:
            name = repeated[0]
            where = " and ".join(str(i + 1) for i, h in enumerate(header) if h == name)
            message = (
                f"the header (line {line}) names column '{name}' twice (columns {where}); which cell counts "
                "would be a guess, so every line of the file is rejected; re-deliver it with distinct column names"
            )
            return HeaderProblem("duplicate_column", message, message, header_is_a_line=False)
        return None

    def _reject_block(
        self, file: InputFile, data: bytearray, lines: Lines, first_line: int, stats: FileCounts, problem: HeaderProblem
    ) -> None:
        """:meth:`_reject_file_lines` for the non-blank lines of a block."""
        if not len(lines.starts):
            return
        raw, _ = string_array(data, lines)
        numbers = (lines.line_index + (first_line + 1)).tolist()
        self._reject_file_lines(file, numbers, raw.to_pylist(), stats, problem)

    def _reject_file_lines(
        self, file: InputFile, line_numbers: list[int], raws: list[str], stats: FileCounts, problem: HeaderProblem
    ) -> None:
        """Reject records of a CSV file whose header cannot be read by, all with the problem's reason.

        The first line (a record when the file has no header) gets the problem's own message.
        """
        if not line_numbers:
            return
        self.drain()
        meta = self._meta(file, line_numbers, stats)
        first = problem.first_line if problem.header_is_a_line else -1
        raw = pl.Series("raw", raws, dtype=pl.String)
        rejected = meta.select(
            pl.lit(self.kind).alias("kind"),
            pl.col("file"),
            pl.col("line_number"),
            raw.str.strip_chars_end(" \t\r\n").alias("raw"),
            pl.lit(problem.reason).alias("reason"),
            pl.when(pl.col("line_number") == first)
            .then(pl.lit(problem.first_message))
            .otherwise(pl.lit(problem.message))
            .alias("message"),
            pl.lit(None, pl.String).alias("source"),
            pl.lit(None, pl.Int64).alias("seq"),
        ).cast(REJECTED_LINES.polars_schema())
        self.sink.write("rejected_lines", rejected)
        stats.rejected += rejected.height

    def _expected_column(self, name: str) -> str:
        """The column a field is read from ("" when its map sets a constant)."""
        if self.field_map is None:
            return name
        return "" if self.field_map.constant(name) is not None else self.field_map.column(name)

    def _meta(self, file: InputFile, line_numbers: Any, stats: FileCounts) -> pl.DataFrame:
        count = len(line_numbers)
        meta = pl.DataFrame(
            {
                "file": pl.repeat(file.relative, count, dtype=pl.String, eager=True),
                "line_number": pl.Series(line_numbers, dtype=pl.Int64),
                "read_order": np.arange(self.read_order, self.read_order + count, dtype=np.int64),
            }
        )
        self.read_order += count
        stats.read += count
        return meta

    def _flush_csv(self, file: InputFile, batch: CsvBatch, stats: FileCounts) -> None:
        meta = self._meta(file, batch.line_numbers, stats)
        cells = pl.DataFrame({"c_" + name: pl.Series(values, dtype=pl.String) for name, values in batch.cells.items()})
        self._submit(
            stats,
            "parse_cells",
            cells,
            pl.Series(batch.raw, dtype=pl.String),
            meta,
            pl.Series(batch.malformed, dtype=pl.Boolean),
            pl.Series(batch.cell_counts, dtype=pl.Int64),
            pl.Series(batch.bad_encoding, dtype=pl.Boolean),
        )
