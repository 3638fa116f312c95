"""Ingesting one statement file: canonical lines, a Parquet file, or a provider's native layout.

Which one a file is comes from its name and its first lines (docs/rules.md#native-layouts):

* ``.parquet``: canonical columns (:mod:`.parquet`);
* a file whose first lines one of the layouts recognises (:data:`LAYOUTS`, tried in order):
  that provider's native layout, read whole (a statement is one day or one batch) and mapped
  by its module;
* anything else: canonical JSON Lines or CSV (``.gz`` too), streamed exactly like order and
  callback logs (:func:`orders_pipeline.lib.inputs.ingest.ingest_file`).

Whatever the layout, every record is landed in ``landing.statement_lines``, rejected with a
reason, or ignored with a reason (summary and header lines), and the file's counts say so:
read = landed + rejected + ignored.
"""

from __future__ import annotations

import hashlib
from types import ModuleType

import polars as pl

from orders_pipeline.lib.common.config import Settings
from orders_pipeline.lib.inputs.discovery import InputFile, format_of
from orders_pipeline.lib.inputs.ingest import FileCounts, FileIngestor, IngestedFile, flush_sink, ingest_file
from orders_pipeline.lib.inputs.reading import BOM, file_sha256, open_input, read_blocks, read_error
from orders_pipeline.lib.inputs.sinks import LineSink
from orders_pipeline.lib.inputs.statements import adyen, alipay, paypal, stripe, wechatpay
from orders_pipeline.lib.inputs.statements.native import IgnoredLine, NativeRecords
from orders_pipeline.lib.inputs.statements.parquet import read_parquet_cells
from orders_pipeline.lib.warehouse.contracts import IGNORED_RECORDS, REJECTED_LINES

# Each layout module has NAME, ENCODING, recognises(first_lines) and read(lines, settings).
LAYOUTS: tuple[ModuleType, ...] = (alipay, wechatpay, paypal, adyen, stripe)
_HEAD_BYTES = 1 << 16
_FIRST_LINES = 8
_BLOCK = 64 << 20


def _first_lines(head: bytes, encoding: str) -> list[str] | None:
    """The first non-blank lines of ``head`` in ``encoding`` (None when it does not decode)."""
    cut = head.rfind(b"\n")
    if cut > 0:
        head = head[:cut]
    try:
        text = head.decode(encoding)
    except UnicodeDecodeError:
        return None
    lines = [line.rstrip("\r") for line in text.split("\n") if line.strip()]
    return lines[:_FIRST_LINES]


def detect_layout(head: bytes) -> ModuleType | None:
    """The native layout whose header these first bytes show, else None (canonical lines)."""
    head = head[3:] if head.startswith(BOM) else head
    decoded: dict[str, list[str] | None] = {}
    for layout in LAYOUTS:
        if layout.ENCODING not in decoded:
            decoded[layout.ENCODING] = _first_lines(head, layout.ENCODING)
        lines = decoded[layout.ENCODING]
        if lines is not None and layout.recognises(lines):
            return layout
    return None


def ingest_statement_file(
    file: InputFile, settings: Settings, sink: LineSink, chunk_lines: int = 1_000_000
) -> IngestedFile:
    """Land one statement file into ``sink`` (flushed before returning); its SHA-256 and counts."""
    fmt = format_of(file.path.name)
    assert fmt is not None
    if fmt[0] == "parquet":
        return _ingest_parquet(file, settings, sink, chunk_lines)
    handle = open_input(file)
    try:
        with handle:
            head = handle.read(_HEAD_BYTES)
    except (OSError, EOFError) as exc:
        raise read_error(file, exc) from None
    layout = detect_layout(head)
    if layout is None:
        return ingest_file(file, settings, sink, chunk_lines)
    return _ingest_native(file, layout, settings, sink, chunk_lines)


def _decoded_lines(data: bytes, encoding: str) -> list[tuple[str, bool]]:
    """Physical lines (without terminator) decoded in ``encoding``, with whether each decoded cleanly."""
    if data.startswith(BOM):
        data = data[3:]
    pieces = data.split(b"\n")
    if pieces and pieces[-1] == b"":
        pieces.pop()
    lines = []
    for piece in pieces:
        try:
            lines.append((piece.decode(encoding), False))
        except UnicodeDecodeError:
            lines.append((piece.decode(encoding, "replace"), True))
    return lines


def _ingest_native(
    file: InputFile, layout: ModuleType, settings: Settings, sink: LineSink, chunk_lines: int
) -> IngestedFile:
    hasher = hashlib.sha256()
    data = b"".join(bytes(block) for block in read_blocks(file, _BLOCK, hasher))
    records: NativeRecords = layout.read(_decoded_lines(data, layout.ENCODING), settings)
    del data
    counts = FileCounts()
    ingestor = FileIngestor(file.kind, settings, sink, chunk_lines)
    try:
        shape = records.records.select(
            pl.col("cells").is_null().or_(pl.col("cells").list.len() > records.width).alias("malformed"),
            pl.col("cells").list.len().fill_null(0).cast(pl.Int64).alias("cell_counts"),
        )
        ingestor.submit_cells(
            file,
            records.cells,
            records.records["raw"],
            records.records["line_number"].to_numpy(),
            counts,
            shape["malformed"],
            shape["cell_counts"],
            records.records["bad_encoding"],
        )
        ingestor.drain()
    finally:
        ingestor.close()
    _write_ignored(file, records.ignored, sink, counts)
    flush_sink(sink)
    return IngestedFile(hasher.hexdigest(), counts)


def _write_ignored(file: InputFile, ignored: list[IgnoredLine], sink: LineSink, counts: FileCounts) -> None:
    if not ignored:
        return
    frame = pl.DataFrame(
        {
            "kind": [file.kind] * len(ignored),
            "file": [file.relative] * len(ignored),
            "line_number": [line.line_number for line in ignored],
            "record_index": [None] * len(ignored),
            "raw": [line.raw for line in ignored],
            "reason": [line.reason for line in ignored],
            "message": [line.message for line in ignored],
        },
        schema=IGNORED_RECORDS.polars_schema(),
    )
    sink.write("ignored_records", frame)
    counts.read += len(ignored)
    counts.ignored += len(ignored)


def _ingest_parquet(file: InputFile, settings: Settings, sink: LineSink, chunk_lines: int) -> IngestedFile:
    sha256 = file_sha256(file)
    try:
        parsed = read_parquet_cells(file.path)
    except OSError as exc:
        raise read_error(file, exc) from None
    counts = FileCounts()
    if parsed.float_column is not None:
        rejected = pl.DataFrame(
            {
                "kind": [file.kind],
                "file": [file.relative],
                "line_number": [0],
                "raw": [""],
                "reason": ["bad_amount"],
                "message": [
                    f"column '{parsed.float_column}' is a floating-point type ({parsed.float_type}): amounts must "
                    "be strings, integers or decimals, never floats; the whole file is rejected"
                ],
                "source": [None],
                "seq": [None],
            },
            schema=REJECTED_LINES.polars_schema(),
        )
        sink.write("rejected_lines", rejected)
        flush_sink(sink)
        return IngestedFile(sha256, FileCounts(read=1, rejected=1))
    n = parsed.cells.height
    ingestor = FileIngestor(file.kind, settings, sink, chunk_lines)
    try:
        ingestor.submit_cells(
            file,
            parsed.cells,
            parsed.raw,
            list(range(1, n + 1)),
            counts,
            pl.Series([False] * n, dtype=pl.Boolean),
            pl.Series([len(parsed.cells.columns)] * n, dtype=pl.Int64),
            pl.Series([False] * n, dtype=pl.Boolean),
        )
        ingestor.drain()
    finally:
        ingestor.close()
    flush_sink(sink)
    return IngestedFile(sha256, counts)
