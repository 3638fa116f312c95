"""Landing is a function of one file: :func:`land_file` turns a file into Arrow tables, nothing more.

This is the unit of scale of ingestion. It reads nothing but the file and writes nothing at
all: the local engine calls it in process for each file the manifest wants landed and writes
the result with :func:`write_landed_file`; the Spark engine
(:mod:`orders_pipeline.lib.engines.spark`) calls the very same function on executors, one task
per file, and hands its tables to the same writer. Which files to land (new, changed, not a
re-delivery) stays :mod:`~orders_pipeline.lib.inputs.manifest`'s decision.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import duckdb
import polars as pl
import pyarrow as pa

from orders_pipeline.lib.common.config import Settings
from orders_pipeline.lib.common.vocabulary import STATEMENTS, InputKind
from orders_pipeline.lib.inputs.discovery import InputFile
from orders_pipeline.lib.inputs.ingest import FileCounts, ingest_file
from orders_pipeline.lib.inputs.reading import UnreadableFile, readable_prefix
from orders_pipeline.lib.inputs.sinks import SINK_TABLES, DuckDBSink, MemorySink, SinkTable
from orders_pipeline.lib.inputs.statements.ingest import ingest_statement_file


@dataclass(frozen=True)
class LandedFile:
    """Everything one file contributes to the landing tables, with its checksum and counts.

    ``rows`` has exactly the columns of the kind's landing table (``landing.orders``,
    ``landing.callbacks`` or ``landing.statement_lines``), ``rejected`` those of
    ``landing.rejected_lines`` and ``ignored`` those of ``landing.ignored_records``; every
    record of the file is in exactly one of them (``counts``: read = landed + rejected + ignored).
    """

    kind: InputKind
    relative: str
    """The file's path relative to its input folder (the ``file`` column of every row)."""
    sha256: str
    """SHA-256 of the decompressed content (what makes two files duplicates)."""
    counts: FileCounts
    rows: pa.Table
    rejected: pa.Table
    ignored: pa.Table
    unreadable: str | None = None
    """Why the file could not be read (``<reason>: <detail>``); it is then quarantined: nothing
    landed, no checksum, ``counts.unreadable`` lines (those before the damage) counted."""

    def tables(self) -> dict[SinkTable, pa.Table]:
        """The three tables by the landing table they go to."""
        return {self.kind: self.rows, "rejected_lines": self.rejected, "ignored_records": self.ignored}


def land_file(file: InputFile, settings: Settings, chunk_lines: int = 1_000_000) -> LandedFile:
    """Parse and validate one file (order, callback or statement) into its :class:`LandedFile`.

    Lines are read ``chunk_lines`` at a time (see :mod:`~orders_pipeline.lib.inputs.ingest`);
    the result holds the whole file's rows, so memory grows with the largest file, not with
    the run.
    """
    sink = MemorySink()
    parse = ingest_statement_file if file.kind == STATEMENTS else ingest_file
    try:
        ingested = parse(file, settings, sink, chunk_lines)
    except UnreadableFile as exc:
        return quarantined(file, exc)
    return LandedFile(
        kind=file.kind,
        relative=file.relative,
        sha256=ingested.sha256,
        counts=ingested.counts,
        rows=landing_arrow(sink.frame(file.kind)),
        rejected=landing_arrow(sink.frame("rejected_lines")),
        ignored=landing_arrow(sink.frame("ignored_records")),
    )


def quarantined(file: InputFile, exc: UnreadableFile) -> LandedFile:
    """A file that cannot be read, as landing records it: no rows, the lines before the damage counted unreadable."""
    lines, decoded = readable_prefix(file)
    reason = exc.reason
    if reason == "not_gzip" and decoded:
        reason = "gzip_trailing_bytes"  # a whole gzip stream, then bytes that are not one
    empty = {table: landing_arrow(SINK_TABLES[table].empty_frame()) for table in SINK_TABLES}
    return LandedFile(
        kind=file.kind,
        relative=file.relative,
        sha256="",
        counts=FileCounts(read=lines, unreadable=lines),
        rows=empty[file.kind],
        rejected=empty["rejected_lines"],
        ignored=empty["ignored_records"],
        unreadable=f"{reason}: {exc.detail}",
    )


Lander = Callable[[Sequence[InputFile], Settings], Iterator[LandedFile]]
"""How an engine lands files: a :class:`LandedFile` for each file, in the order given."""


def land_files(files: Sequence[InputFile], settings: Settings) -> Iterator[LandedFile]:
    """The local engine: each file landed in process, one after the other."""
    for file in files:
        yield land_file(file, settings)


def landing_arrow(frame: pl.DataFrame) -> pa.Table:
    """A landing frame as Arrow in the plainest types (``large_string``, no views) every reader accepts."""
    return frame.to_arrow(compat_level=pl.CompatLevel.oldest())


def landing_schema(table: SinkTable) -> pa.Schema:
    """The Arrow schema of a landing table's rows, as :func:`land_file` produces them."""
    return landing_arrow(SINK_TABLES[table].empty_frame()).schema


def write_landed_file(con: duckdb.DuckDBPyConnection, landed: LandedFile) -> None:
    """Append a landed file's rows, rejected lines and ignored records to the work database's landing tables."""
    sink = DuckDBSink(con)
    for table, rows in landed.tables().items():
        sink.insert_arrow(table, rows)
