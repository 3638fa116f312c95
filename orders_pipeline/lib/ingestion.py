r"""Ingestion: turn order and callback log files into typed landed rows and rejected lines.

SPEC sections implemented here: "Inputs", "Money", "Nothing is lost" and "Precise rules >
Reading". Every non-blank input line ends up exactly once in ``orders``/``callbacks`` (landed,
typed, see :mod:`orders_pipeline.lib.schema`) or in ``rejected_lines`` with one reason.

Files
-----
* ``discover_files`` finds ``*.jsonl``, ``*.csv``, ``*.jsonl.gz``, ``*.csv.gz`` (suffix matched
  case-insensitively) under a directory, recursively, sorted by posix relative path. Entries
  whose name starts with ``.`` (hidden files and directories, e.g. partial uploads) are skipped.
* ``.gz`` files are gunzipped (multi-member gzip is fine). ``sha256`` is the SHA-256 of the
  decompressed content; ``size_bytes`` is the size of the file on disk.
* A file whose decompressed content has the same SHA-256 as an earlier file of the same call is
  a duplicate: skipped whole, ``duplicate_of`` names the earlier file, its counts are 0. To avoid
  reading every file twice, the first MiB of each file is hashed first; only a file whose first
  MiB matches an earlier file's is hashed in full before ingesting, every other file is hashed
  while it is being ingested.
* A file that cannot be read or decompressed raises :class:`InputError` with a one-line
  message (the run stops: a file is not a line). A corrupt gzip is usually only detected at
  its end, when earlier chunks may already have been written (a :class:`DuckDBSink` buffers up
  to ``flush_rows`` rows per table and flushes the rest only after a successful call): for an
  all-or-nothing load, wrap ``ingest`` in a transaction (``con.begin()`` / ``con.rollback()``).

Lines
-----
* JSONL is split on ``\n`` only; a trailing ``\r`` is dropped; a UTF-8 BOM at the start of a
  file is dropped. ``line_number`` is the 1-based physical line number in the decompressed file.
* A line made only of spaces, tabs and ``\r`` is blank: not a line (not counted, not
  rejected). Other whitespace (form feed, vertical tab, Unicode spaces) makes the line
  ``malformed_json``.
* A line that is not valid UTF-8 is rejected as ``bad_encoding`` (``raw`` decoded with
  U+FFFD replacement characters); the other lines of its file are not affected.
* ``raw`` of a rejected line is the line without its line terminator and trailing whitespace.
* CSV: the first non-blank record is the header (names are stripped of surrounding
  whitespace; with a repeated name the first column wins). ``line_number`` is the physical line
  where a record starts (quoted cells may span lines). A record with more cells than the header
  is ``malformed_csv`` (so is a record the csv module cannot parse); missing trailing cells are
  missing fields. Every cell is a string. CSV records become the same field columns as JSON
  lines and go through the same validation code. Blocks without quotes (and without NUL or
  lone ``\r``) are split on commas vectorized; from the first block with a quote on, the rest
  of the file goes through Python's ``csv`` module (both give the same result, tested).
* JSON is parsed by DuckDB (yyjson). Like yyjson, the fast path tolerates trailing commas and
  ``NaN``/``Infinity`` literals (these are never a valid value of any field). A line must parse
  to a JSON object, else ``malformed_json``. Keys are case-sensitive; with a repeated key the
  first occurrence wins; unknown keys are ignored. The few lines re-read with Python's ``json``
  (see Speed) are parsed strictly: there, trailing commas and ``NaN`` are ``malformed_json``.

Fields
------
* A field is missing when it is absent, JSON ``null``, or a string that is empty or only
  whitespace.
* Ids (``order_id``, ``merchant_id``, ``customer_id``, ``request_id``, ``callback_id``,
  ``provider_txn_id``, ``source``) are kept exactly (no trimming, no case folding). A JSON
  number id is taken as its literal text. A boolean, object or array id is rejected as
  ``bad_field:<name>`` (also for ``provider``).
* ``provider`` and ``status`` are trimmed and lower-cased; ``status`` must be ``success``,
  ``failed``, ``pending`` or ``reversed`` (``bad_status``). ``currency`` is trimmed and
  upper-cased and must have an exponent in ``money.CURRENCY_EXPONENTS`` (``bad_currency``).
* ``amount``: a string holding a plain decimal (digits, optionally ``.`` and digits; surrounding
  whitespace ignored) or a JSON number, taken at its exact value: a JSON number's literal is
  read from the line itself (DuckDB would round it through a double), exponent notation is
  allowed for numbers (``1.25e2`` is 125). Negative values, other text, booleans, objects,
  values with more significant decimals than the currency's exponent, and values that do not
  fit int64 minor units (or have more than 14 integer digits, ``money.minor_units_expr``) are
  ``bad_amount``. ``-0`` as a JSON number is zero; a string with a sign is never a plain decimal.
* Callbacks: ``amount`` and ``currency`` are required for ``success`` and ``reversed``. For
  ``failed``/``pending`` they are optional, but when one of them is present the other one is
  required (an amount cannot be judged without its currency), and present values are validated.
* Timestamps (``created_at``, ``received_at``, ``event_time``) must match
  ``YYYY-MM-DD[T|t| ]HH:MM:SS[.fraction][Z|z|±HH:MM]`` exactly (no surrounding whitespace,
  fraction of 1 to 9 digits, truncated to microseconds, hour 00-23, no leap second 60, real
  calendar dates, years 0001-9999 in UTC). Without an offset the time is read in
  ``settings.timezone``: a local time that does not exist there (DST gap) is
  ``bad_timestamp``; an ambiguous one (DST fold) takes the earlier instant. JSON numbers are
  ``bad_timestamp``. Stored as UTC microseconds.
* ``event_time`` is optional and defaults to ``received_at``; present and invalid rejects the
  line.
* ``seq`` is optional: a JSON integer or a string of ASCII digits (surrounding whitespace
  ignored) that fits int64, else ``bad_seq`` (so ``5.0``, ``-1``, ``"1e3"`` are rejected).

One reason per rejected line: the first that applies, in this order
---------------------------------------------------------------------
1. ``bad_encoding``, ``malformed_csv``, ``malformed_json`` (the line as a whole).
2. ``missing_field:<name>`` for the required fields in SPEC table order. Orders: ``order_id``,
   ``merchant_id``, ``provider``, ``amount``, ``currency``, ``created_at``. Callbacks:
   ``order_id``, ``provider``, ``status``, ``received_at``, then ``amount``, ``currency`` when
   required (see above; with an invalid status they are not required).
3. Per-field validity in SPEC table order. Orders: ``bad_field:order_id``,
   ``bad_field:merchant_id``, ``bad_field:provider``, amount shape (negative / not a decimal)
   ``bad_amount``, ``bad_currency``, amount decimals/overflow ``bad_amount``, ``created_at``
   ``bad_timestamp``, ``bad_field:customer_id|request_id|source``, ``bad_seq``. Callbacks:
   ``bad_field:order_id``, ``bad_field:provider``, ``bad_status``, amount shape ``bad_amount``,
   ``bad_currency``, amount decimals ``bad_amount``, ``received_at`` then ``event_time``
   ``bad_timestamp``, ``bad_field:callback_id|provider_txn_id|source``, ``bad_seq``.

A rejected row keeps ``source`` and ``seq`` when they could be read from the line (a usable
``source`` string/number and a valid ``seq``; never for ``malformed_json``, nor for
``malformed_csv`` whose cells may be shifted; for ``bad_encoding`` only a ``source`` without
replacement characters), so the gap detector does not mistake a bad line for a missing one.

Speed
-----
Lines are split with numpy on the decompressed bytes and handed to DuckDB zero-copy as an Arrow
``large_string`` array (after one UTF-8 check of the whole block). DuckDB extracts every field
in one JSON parse per line (``json_transform`` into a struct), casts timestamps and seqs;
Polars applies the rules and the shared money expressions. Python loops only run over rare
lines: invalid UTF-8, an amount that is a JSON number with a fraction or exponent whose key is
not unique in the line, an id that DuckDB shows as a boolean/object/array or a rounded number
(re-read with Python's ``json``, literals kept exact), and CSV blocks with quotes. A background
thread reads, gunzips and hashes the file in blocks of ``chunk_lines`` x 240 bytes (64 KiB to
128 MiB, cut at a newline); two worker threads parse tasks of at most ``min(chunk_lines,
262144)`` lines (DuckDB and Polars release the GIL), and the calling thread writes the results
to the sink in reading order. Memory is bounded by about four blocks and two tasks in flight
(~1 GB peak RSS for any file size with the default ``chunk_lines``). DuckDB connections are
pooled (opening one costs ~50 ms).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import itertools
import json
import os
import queue
import threading
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa

from orders_pipeline.lib import schema
from orders_pipeline.lib.config import Settings
from orders_pipeline.lib.money import currency_exponent_expr, minor_units_expr, significant_decimal_expr

__all__ = [
    "DuckDBSink",
    "InputError",
    "InputFile",
    "LineSink",
    "MemorySink",
    "discover_files",
    "file_sha256",
    "ingest",
    "parse_callback_lines",
    "parse_order_lines",
]


class InputError(ValueError):
    """An input path or file the user must fix; the message is one line (what + how to fix)."""


@dataclass(frozen=True)
class InputFile:
    """One log file to ingest."""

    kind: str  # schema.ORDERS or schema.CALLBACKS
    path: Path  # absolute path
    relative: str  # posix path relative to the discovered root (a single file: its name)


# --------------------------------------------------------------------------------------------
# Discovery
# --------------------------------------------------------------------------------------------

_SUFFIXES = (".jsonl", ".csv", ".jsonl.gz", ".csv.gz")


def _format_of(name: str) -> tuple[str, bool] | None:
    """``("jsonl"|"csv", gzipped)`` for a supported file name, else None."""
    lower = name.lower()
    for suffix in _SUFFIXES:
        if lower.endswith(suffix):
            return suffix.split(".")[1], suffix.endswith(".gz")
    return None


def _check_kind(kind: str) -> None:
    if kind not in schema.LOG_KINDS:
        raise ValueError(f"unknown log kind {kind!r}; expected one of {', '.join(schema.LOG_KINDS)}")


def discover_files(root: str | Path, kind: str, skipped: list[str] | None = None) -> list[InputFile]:
    """Return the log files of one kind under ``root`` (a file or a directory), sorted by relative path.

    Visible files of another format found under a directory are not read; their relative paths
    are appended to ``skipped`` when given, so the caller can warn about them.
    """
    _check_kind(kind)
    root_path = Path(root).expanduser()
    how = "pass a file or a directory of .jsonl/.csv(.gz) logs"
    if not root_path.exists():
        raise InputError(f"{kind} path {root_path} does not exist; {how}")
    root_path = root_path.resolve()
    if root_path.is_file():
        if _format_of(root_path.name) is None:
            raise InputError(f"{kind} file {root_path} is not a .jsonl, .csv, .jsonl.gz or .csv.gz file; {how}")
        if not os.access(root_path, os.R_OK):
            raise InputError(f"{kind} file {root_path} is not readable; check its permissions")
        return [InputFile(kind, root_path, root_path.name)]
    if not root_path.is_dir():
        raise InputError(f"{kind} path {root_path} is neither a file nor a directory; {how}")
    if not os.access(root_path, os.R_OK | os.X_OK):
        raise InputError(f"{kind} directory {root_path} is not readable; check its permissions")

    def fail(error: OSError) -> None:
        raise InputError(f"cannot list {kind} directory {error.filename}: {error.strerror}; check its permissions")

    found: list[InputFile] = []
    for directory, dirnames, filenames in os.walk(root_path, onerror=fail):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name.startswith("."):
                continue
            path = Path(directory) / name
            if _format_of(name) is None:
                if skipped is not None:
                    skipped.append(path.relative_to(root_path).as_posix())
                continue
            if not path.is_file():
                continue
            found.append(InputFile(kind, path, path.relative_to(root_path).as_posix()))
    return sorted(found, key=lambda f: f.relative)


# --------------------------------------------------------------------------------------------
# Sinks
# --------------------------------------------------------------------------------------------

TABLE_SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    schema.ORDERS: schema.ORDER_LINE_SCHEMA,
    schema.CALLBACKS: schema.CALLBACK_LINE_SCHEMA,
    "rejected_lines": schema.REJECTED_LINE_SCHEMA,
}


class LineSink(Protocol):
    """Where ingested frames go: ``table`` is ``orders``, ``callbacks`` or ``rejected_lines``.

    A sink may also have a ``flush()`` method: :func:`ingest` calls it once all files of the
    call were read (not when it raises).
    """

    def write(self, table: str, frame: pl.DataFrame) -> None:
        """Append ``frame`` (exactly the table's column contract) to ``table``."""
        ...


class MemorySink:
    """Collects the frames in memory (tests, small runs)."""

    def __init__(self) -> None:
        """Start with no frames."""
        self._frames: dict[str, list[pl.DataFrame]] = {name: [] for name in TABLE_SCHEMAS}

    def write(self, table: str, frame: pl.DataFrame) -> None:
        """Keep ``frame`` for ``table``."""
        self._frames[table].append(frame)

    def frame(self, table: str) -> pl.DataFrame:
        """All rows written to ``table`` so far, in write order (empty with the right schema)."""
        frames = self._frames[table]
        if not frames:
            return schema.empty_frame(TABLE_SCHEMAS[table])
        return pl.concat(frames, how="vertical")


def _duckdb_type(dtype: pl.DataType) -> str:
    if dtype == pl.String():
        return "VARCHAR"
    if dtype == pl.Int64():
        return "BIGINT"
    if dtype == schema.TIMESTAMP:
        return "TIMESTAMPTZ"
    raise TypeError(f"no DuckDB type for {dtype}")


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


class DuckDBSink:
    """Appends the frames to ``<schema>.orders``, ``<schema>.callbacks`` and ``<schema>.rejected_lines``.

    The tables are created if they do not exist, with the Polars contracts' types (VARCHAR,
    BIGINT, TIMESTAMPTZ). Frames are buffered per table and inserted ``flush_rows`` rows at a
    time (DuckDB writes large inserts straight into row groups, small ones go through the WAL
    and cost a second write at checkpoint); :func:`ingest` calls :meth:`flush` at the end, and
    anyone calling :meth:`write` directly must call :meth:`flush` too. Inserts are plain SQL on
    the given connection, so a caller can wrap an ingestion in a transaction.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, schema: str = "landing", flush_rows: int = 1_000_000) -> None:
        """Create the schema and the three tables if they do not exist."""
        self.con = con
        self.schema = schema
        self.flush_rows = flush_rows
        self._buffer: dict[str, list[pl.DataFrame]] = {name: [] for name in TABLE_SCHEMAS}
        self._buffered: dict[str, int] = {name: 0 for name in TABLE_SCHEMAS}
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(schema)}")
        for table, columns in TABLE_SCHEMAS.items():
            body = ", ".join(f"{_quote(name)} {_duckdb_type(dtype)}" for name, dtype in columns.items())
            con.execute(f"CREATE TABLE IF NOT EXISTS {self.table_name(table)} ({body})")

    def table_name(self, table: str) -> str:
        """Return the qualified, quoted name of one of the landing tables."""
        return f"{_quote(self.schema)}.{_quote(table)}"

    def write(self, table: str, frame: pl.DataFrame) -> None:
        """Append ``frame`` to ``table`` (buffered; see :meth:`flush`)."""
        if frame.height == 0:
            return
        self._buffer[table].append(frame)
        self._buffered[table] += frame.height
        if self._buffered[table] >= self.flush_rows:
            self._flush_table(table)

    def flush(self) -> None:
        """Insert every buffered frame."""
        for table in TABLE_SCHEMAS:
            self._flush_table(table)

    def _flush_table(self, table: str) -> None:
        frames = self._buffer[table]
        if not frames:
            return
        self._buffer[table] = []
        self._buffered[table] = 0
        columns = ", ".join(_quote(name) for name in TABLE_SCHEMAS[table])
        arrow = pl.concat(frames, how="vertical").to_arrow(compat_level=pl.CompatLevel.oldest())
        self.con.register("__ingest_frame", arrow)
        # Landed rows carry their own order (file, line_number, read_order). Without this, every
        # insert after a table's first left row groups that the next checkpoint rewrote: 2.8 s of
        # a 21 s ingest at 2M orders, and a work database 1.6x bigger.
        self.con.execute("SET preserve_insertion_order = false")
        try:
            self.con.execute(f"INSERT INTO {self.table_name(table)} ({columns}) SELECT {columns} FROM __ingest_frame")
        finally:
            self.con.execute("RESET preserve_insertion_order")
            self.con.unregister("__ingest_frame")


# --------------------------------------------------------------------------------------------
# Field catalogue
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Field:
    name: str
    role: str  # id | provider | status | currency | amount | ts | seq
    required: bool


_ORDER_FIELDS = (
    _Field("order_id", "id", True),
    _Field("merchant_id", "id", True),
    _Field("provider", "provider", True),
    _Field("amount", "amount", True),
    _Field("currency", "currency", True),
    _Field("created_at", "ts", True),
    _Field("customer_id", "id", False),
    _Field("request_id", "id", False),
    _Field("source", "id", False),
    _Field("seq", "seq", False),
)

# amount and currency are conditionally required (see the module docstring).
_CALLBACK_FIELDS = (
    _Field("order_id", "id", True),
    _Field("provider", "provider", True),
    _Field("status", "status", True),
    _Field("amount", "amount", False),
    _Field("currency", "currency", False),
    _Field("received_at", "ts", True),
    _Field("event_time", "ts", False),
    _Field("callback_id", "id", False),
    _Field("provider_txn_id", "id", False),
    _Field("source", "id", False),
    _Field("seq", "seq", False),
)

_FIELDS = {schema.ORDERS: _ORDER_FIELDS, schema.CALLBACKS: _CALLBACK_FIELDS}
_LANDED_SCHEMA = {schema.ORDERS: schema.ORDER_LINE_SCHEMA, schema.CALLBACKS: schema.CALLBACK_LINE_SCHEMA}

# Fields whose JSON type matters beyond their text: a boolean/object/array is bad_field.
_TYPED_ROLES = ("id", "provider")

# Timestamp shape (Polars regex). No surrounding whitespace; the date/time ranges are checked
# here and the calendar (Feb 30) by DuckDB's cast.
_TS_RE = (
    r"^[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])[Tt ](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(?:\.[0-9]{1,9})?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?$"
)
_TS_OFFSET_RE = r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})$"
_MIN_INSTANT = datetime(1, 1, 1, tzinfo=UTC)
_MAX_INSTANT = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
_OBJECT_RE = r"^[ \t\r\n]*\{"
_SEQ_RE = r"^\s*([0-9]+)\s*$"
_PLAIN_ASCII_DECIMAL = r"^[0-9]+(\.[0-9]+)?$"
_NEGATIVE_DECIMAL = r"^-[0-9]+(\.[0-9]+)?$"
# An id as DuckDB renders it that may not be its JSON text: a boolean, an object or array, or
# a number that DuckDB may have rounded (fraction, exponent, NaN...). Such lines are re-read.
_NOT_A_PLAIN_ID = (
    r"^(?:true$|false$|[{\[]|-?[0-9]+(?:\.[0-9]+(?:[eE][+-]?[0-9]+)?|[eE][+-]?[0-9]+)$|-?(?:NaN|Infinity|nan|inf)$)"
)
_MESSAGE_VALUE_CHARS = 80
_UTC_NAMES = ("UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Zulu", "Zulu", "Universal", "Etc/Universal", "GMT", "Etc/GMT")


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _field_sql(fields: tuple[_Field, ...], src: Callable[[int, _Field], str]) -> list[str]:
    """DuckDB select items: each field's text, plus the parsed timestamps and seq."""
    items: list[str] = []
    for i, field in enumerate(fields):
        x = src(i, field)
        items.append(f"{x} AS {_quote('t_' + field.name)}")
        if field.role == "ts":
            # DuckDB's cast is lenient (it also takes "24:00:00" or " UTC"): Polars checks the
            # exact shape (_TS_RE) and masks the rest.
            items.append(
                f"coalesce(try_cast({x} AS TIMESTAMPTZ), try_cast(upper({x}) AS TIMESTAMPTZ)) "
                f"AS {_quote('ts_' + field.name)}"
            )
        elif field.role == "seq":
            items.append(f"try_cast(nullif(regexp_extract({x}, {_sql_str(_SEQ_RE)}, 1), '') AS BIGINT) AS seq_value")
    return items


def _json_sql(fields: tuple[_Field, ...], table: str) -> str:
    # One JSON parse per line extracts every field into a struct (json_transform: keys are
    # case-sensitive, the first of repeated keys wins). The amount comes as JSON text so that
    # its type is known: '"12.50"' is a string, '12.5' a number. json_valid runs first: an
    # invalid line would make json_transform raise (and try() is slow when bad lines are spread
    # over many vectors).
    structure = "{" + ", ".join(f'"{f.name}": "{"JSON" if f.role == "amount" else "VARCHAR"}"' for f in fields) + "}"
    items = [item for item in _field_sql(fields, lambda i, f: f"s.{_quote(f.name)}") if not item.startswith("s.")]
    amount = _quote(next(f.name for f in fields if f.role == "amount"))
    # The amount's JSON type (VARCHAR, UBIGINT/BIGINT: exact integer text, DOUBLE: maybe rounded,
    # BOOLEAN, OBJECT, ARRAY) and its value: a string decoded, anything else as JSON text.
    items += [
        f"json_type(s.{amount}) AS amt_type",
        f"CASE WHEN starts_with(s.{amount}, '\"') THEN json_extract_string(s.{amount}, '$') "
        f"ELSE CAST(s.{amount} AS VARCHAR) END AS amt_value",
    ]
    return (
        "SELECT s, s IS NULL AS malformed, "
        + ", ".join(items)
        + f" FROM (SELECT raw, CASE WHEN json_valid(raw) THEN json_transform(raw, {_sql_str(structure)}) END AS s"
        + f" FROM {table})"
    )


def _columns_sql(fields: tuple[_Field, ...], table: str) -> str:
    return "SELECT " + ", ".join(_field_sql(fields, lambda i, f: _quote("c_" + f.name))) + f" FROM {table}"


# --------------------------------------------------------------------------------------------
# Exact values for the rare lines the fast path cannot judge (Python's json, per line)
# --------------------------------------------------------------------------------------------


class _Number(str):
    """A JSON number's literal text."""


def _first_key_wins(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        out.setdefault(key, value)  # like DuckDB/yyjson: the first of repeated keys wins
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _exact_object(raw: str) -> dict[str, Any] | None:
    """Strict parse keeping number literals exact; None when not a JSON object."""
    try:
        value = json.loads(
            raw,
            object_pairs_hook=_first_key_wins,
            parse_float=_Number,
            parse_int=_Number,
            parse_constant=_reject_constant,
        )
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _exact_field(obj: dict[str, Any], name: str) -> tuple[str | None, bool, bool]:
    """(text, is_number, is_boolean_object_or_array) of one field of a parsed object."""
    value = obj.get(name)
    if value is None:
        return None, False, False
    if isinstance(value, _Number):
        return str(value), True, False
    if isinstance(value, str):
        return value, False, False
    if isinstance(value, bool):
        return ("true" if value else "false"), False, True
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False), False, True


_TOO_LARGE = "1" + "0" * 40
_TOO_PRECISE = "0." + "0" * 40 + "1"


def _normalize_number(literal: str) -> tuple[str | None, bool]:
    """Convert a JSON number literal to an exact plain decimal string; also tell if it is negative."""
    try:
        value = Decimal(literal)
    except InvalidOperation:
        return None, False
    if not value.is_finite():
        return None, False
    if value < 0:
        return None, True
    if value == 0:
        return "0", False
    if value.adjusted() > 30:
        return _TOO_LARGE, False
    if value.as_tuple().exponent < -30:  # type: ignore[operator]
        return _TOO_PRECISE, False
    return format(value, "f"), False


class _EnginePool:
    """Idle engines by (kind, timezone): a DuckDB connection costs tens of milliseconds to open.

    An engine is used by one thread at a time (acquire/release); its in-memory database holds no
    tables, only the registered chunk while a query runs.
    """

    _MAX_IDLE = 4

    def __init__(self) -> None:
        """Start empty."""
        self._idle: dict[tuple[str, str], list[_Engine]] = {}
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def acquire(self, kind: str, settings: Settings) -> _Engine:
        """Take an idle engine for ``kind`` and the settings' timezone, or open a new one."""
        with self._lock:
            if self._pid != os.getpid():  # a forked child must not share its parent's connections
                self._idle.clear()
                self._pid = os.getpid()
            idle = self._idle.get((kind, settings.timezone))
            if idle:
                return idle.pop()
        return _Engine(kind, settings)

    def release(self, engine: _Engine) -> None:
        """Give an engine back (closed if enough are idle already)."""
        with self._lock:
            idle = self._idle.setdefault((engine.kind, engine.timezone), [])
            if len(idle) < self._MAX_IDLE:
                idle.append(engine)
                return
        engine.close()


_ENGINES = _EnginePool()


def _scatter(x: pl.DataFrame, idx: pl.Series, columns: dict[str, list[Any]]) -> pl.DataFrame:
    """Overwrite ``columns`` of ``x`` at the row positions ``idx``."""
    updated = []
    for name, values in columns.items():
        series = x[name].clone()
        series.scatter(idx, pl.Series(values, dtype=series.dtype))
        updated.append(series)
    return x.with_columns(updated)


# --------------------------------------------------------------------------------------------
# The parsing engine (one private in-memory DuckDB connection per ingest call / parse call)
# --------------------------------------------------------------------------------------------

_DUCKDB_BATCH_ROWS = 65_536
_WHITESPACE_END = " \t\r\n"


class _Engine:
    """Parses chunks of one kind of line into (landed, rejected) frames."""

    def __init__(self, kind: str, settings: Settings) -> None:
        _check_kind(kind)
        self.kind = kind
        self.fields = _FIELDS[kind]
        self.timezone = settings.timezone
        self.con = duckdb.connect(":memory:")
        self.con.execute("SET TimeZone = 'UTC'")
        self._json_sql = _json_sql(self.fields, "__lines")
        self._columns_sql = _columns_sql(self.fields, "__fields")

    def close(self) -> None:
        self.con.close()

    def _empty(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        return schema.empty_frame(_LANDED_SCHEMA[self.kind]), schema.empty_frame(schema.REJECTED_LINE_SCHEMA)

    def _defaults(self) -> list[pl.Expr]:
        return [
            *[pl.lit(False).alias("ns_" + f.name) for f in self.fields if f.role in _TYPED_ROLES],
            pl.lit(None, pl.String).alias("amt_norm"),
            pl.lit(None, pl.Boolean).alias("amt_neg"),
        ]

    # ---- stage A: lines -> field columns ------------------------------------------------------

    def parse_json(
        self, raw: pa.Array, meta: pl.DataFrame, bad_encoding: np.ndarray | None = None
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Parse JSON lines (one element per line; trailing whitespace allowed)."""
        n = len(raw)
        if n == 0:
            return self._empty()
        if raw.type != pa.large_string():
            raw = raw.cast(pa.large_string())
        table = pa.Table.from_batches(
            [
                pa.RecordBatch.from_arrays([raw.slice(i, _DUCKDB_BATCH_ROWS)], ["raw"])
                for i in range(0, n, _DUCKDB_BATCH_ROWS)
            ]
        )
        self.con.register("__lines", table)
        try:
            x = self.con.sql(self._json_sql).pl()
        finally:
            self.con.unregister("__lines")
        amount = next(f.name for f in self.fields if f.role == "amount")
        x = (
            x.unnest("s")
            .drop(amount)
            .rename({f.name: "t_" + f.name for f in self.fields if f.name != amount})
            .rename({"amt_value": "t_" + amount})
        )
        amt_type = pl.col("amt_type")
        raw_text = pl.from_arrow(raw)
        x = x.with_columns(
            raw_text.alias("raw_text"),
            # Valid JSON whose first non-blank character is "{" is an object.
            raw_text.str.contains(_OBJECT_RE).alias("is_object"),
            pl.Series("bad_encoding", bad_encoding if bad_encoding is not None else np.zeros(n, bool)),
            pl.lit(False).alias("malformed_csv"),
            pl.lit(None, pl.Int64).alias("csv_cells"),
            *self._defaults(),
            # An integer JSON number is exact in DuckDB's text; a fraction or exponent may not be.
            pl.when(amt_type.is_in(["UBIGINT", "BIGINT"])).then(pl.col("t_" + amount)).alias("amt_lit"),
            (amt_type == "DOUBLE").fill_null(False).alias("amt_inexact"),
            pl.lit(False).alias("amt_slow"),
        )
        x = self._number_literals(x, amount)
        x = self._exact_fallback(x)
        return self._validate(x, meta)

    def _number_literals(self, x: pl.DataFrame, amount: str) -> pl.DataFrame:
        r"""Read the exact literal of amounts that are JSON numbers with a fraction or an exponent.

        DuckDB reads them through a double (12.500000000000000001 becomes 12.5), so the literal
        is read from the line itself. It is trusted when the key occurs once in the line and no
        \u escape could spell the key differently; otherwise the line is re-read with Python's
        json (``amt_slow``).
        """
        idx = x.select(pl.arg_where(pl.col("amt_inexact"))).to_series()
        if not len(idx):
            return x
        key = '"' + amount + '"'
        text = pl.col("raw_text")
        sub = x.select(pl.col("raw_text").gather(idx)).select(
            text.str.extract(key + r"\s*:\s*(-?[0-9][0-9.eE+-]*)", 1).alias("literal"),
            ((text.str.count_matches(key, literal=True) == 1) & ~text.str.contains("\\u", literal=True)).alias(
                "trusted"
            ),
        )
        trusted = sub["trusted"] & sub["literal"].is_not_null()
        return _scatter(
            x,
            idx,
            {
                "amt_lit": sub.select(pl.when(trusted).then(pl.col("literal")))["literal"].to_list(),
                "amt_slow": (~trusted).to_list(),
            },
        )

    def _exact_fallback(self, x: pl.DataFrame) -> pl.DataFrame:
        """Re-read with Python's json the rare lines whose fast-path values may be inexact."""
        suspicious = pl.any_horizontal(
            pl.col("t_" + f.name).str.contains(_NOT_A_PLAIN_ID).fill_null(False)
            for f in self.fields
            if f.role in _TYPED_ROLES
        )
        need = (~pl.col("malformed") & pl.col("is_object") & (suspicious | pl.col("amt_slow"))).fill_null(False)
        idx = x.select(pl.arg_where(need)).to_series()
        if len(idx):
            typed = [f for f in self.fields if f.role in _TYPED_ROLES or f.role == "amount"]
            columns: dict[str, list[Any]] = {"malformed": []}
            for f in typed:
                columns["t_" + f.name] = []
                columns["amt_lit" if f.role == "amount" else "ns_" + f.name] = []
            for text in x["raw_text"].gather(idx).to_list():
                obj = _exact_object(text)
                columns["malformed"].append(obj is None)
                for f in typed:
                    value, is_number, non_scalar = (
                        _exact_field(obj, f.name) if obj is not None else (None, False, False)
                    )
                    columns["t_" + f.name].append(value)
                    if f.role == "amount":
                        columns["amt_lit"].append(value if is_number else None)
                    else:
                        columns["ns_" + f.name].append(non_scalar)
            x = _scatter(x, idx, columns)
        # Number literals that are not plain decimals (a sign, an exponent): exact Decimal.
        odd = x.select(
            pl.arg_where(pl.col("amt_lit").is_not_null() & ~pl.col("amt_lit").str.contains(_PLAIN_ASCII_DECIMAL))
        ).to_series()
        if len(odd):
            normalized = [_normalize_number(lit) for lit in x["amt_lit"].gather(odd).to_list()]
            x = _scatter(x, odd, {"amt_norm": [n for n, _ in normalized], "amt_neg": [neg for _, neg in normalized]})
        return x

    def parse_csv_lines(
        self, raw: pa.Array, header: tuple[str, ...], meta: pl.DataFrame, bad_encoding: np.ndarray | None
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Parse CSV records that are single lines without quotes (the fast path): split on ``,``."""
        n = len(raw)
        if n == 0:
            return self._empty()
        line = pl.from_arrow(raw).str.split_exact("\n", 1).struct.field("field_0").str.strip_suffix("\r")
        parts = line.str.split(",")
        positions = {f.name: header.index(f.name) for f in self.fields if f.name in header}
        cells = pl.DataFrame(
            [
                parts.list.get(positions[f.name], null_on_oob=True).alias("c_" + f.name)
                if f.name in positions
                else pl.Series("c_" + f.name, [None] * n, pl.String)
                for f in self.fields
            ]
        )
        counts = parts.list.len().cast(pl.Int64)
        bad = pl.Series(bad_encoding if bad_encoding is not None else np.zeros(n, bool), dtype=pl.Boolean)
        return self.parse_cells(cells, line, meta, counts > len(header), counts, bad)

    def parse_cells(
        self,
        cells: pl.DataFrame,
        raw: pl.Series,
        meta: pl.DataFrame,
        malformed_csv: pl.Series,
        cell_counts: pl.Series,
        bad_encoding: pl.Series,
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Parse records already split into string cells ``c_<field>`` (CSV): same rules as JSON."""
        if cells.height == 0:
            return self._empty()
        self.con.register("__fields", cells.to_arrow(compat_level=pl.CompatLevel.oldest()))
        try:
            x = self.con.sql(self._columns_sql).pl()
        finally:
            self.con.unregister("__fields")
        x = x.with_columns(
            pl.lit(False).alias("malformed"),
            pl.lit(True).alias("is_object"),
            raw.cast(pl.String).alias("raw_text"),
            bad_encoding.cast(pl.Boolean).alias("bad_encoding"),
            malformed_csv.cast(pl.Boolean).alias("malformed_csv"),
            cell_counts.cast(pl.Int64).alias("csv_cells"),
            pl.lit(None, pl.String).alias("amt_lit"),
            pl.lit(False).alias("amt_slow"),
            *self._defaults(),
        )
        return self._validate(x, meta)

    # ---- stage B: the rules -----------------------------------------------------------------

    def _timestamp(self, name: str) -> pl.Expr:
        """Build the UTC instant of a timestamp field; null when its text is not a valid timestamp."""
        text = pl.col("t_" + name)
        ts = pl.col("ts_" + name).cast(schema.TIMESTAMP)
        if self.timezone not in _UTC_NAMES:
            local = (
                ts.dt.replace_time_zone(None)
                .dt.replace_time_zone(self.timezone, ambiguous="earliest", non_existent="null")
                .dt.convert_time_zone("UTC")
            )
            ts = pl.when(text.str.contains(_TS_OFFSET_RE)).then(ts).otherwise(local)
        # The exact shape, and instants that Python's datetime can hold (not year 0, nor year
        # 10000 after an offset). One condition: Polars would evaluate a repeated regex twice.
        return pl.when(text.str.contains(_TS_RE) & ts.is_between(_MIN_INSTANT, _MAX_INSTANT)).then(ts)

    def _checks(self) -> list[tuple[pl.Expr, str]]:
        """(condition, reason) in precedence order: the first true condition is the reason."""

        def present(name: str) -> pl.Expr:
            return pl.col("p_" + name)

        checks: list[tuple[pl.Expr, str]] = [
            (pl.col("bad_encoding"), "bad_encoding"),
            (pl.col("malformed_csv"), "malformed_csv"),
            (pl.col("malformed") | ~pl.col("is_object"), "malformed_json"),
        ]
        money = [
            (~pl.col("amount_shape_ok"), "bad_amount"),
            (pl.col("exponent").is_null(), "bad_currency"),
            (pl.col("amount_minor").is_null(), "bad_amount"),
        ]
        if self.kind == schema.ORDERS:
            for name in ("order_id", "merchant_id", "provider", "amount", "currency", "created_at"):
                checks.append((~present(name), f"missing_field:{name}"))
            for name in ("order_id", "merchant_id", "provider"):
                checks.append((pl.col("ns_" + name), f"bad_field:{name}"))
            checks += money
            checks.append((pl.col("tsu_created_at").is_null(), "bad_timestamp"))
            for name in ("customer_id", "request_id", "source"):
                checks.append((pl.col("ns_" + name), f"bad_field:{name}"))
        else:
            status = pl.col("status_norm")
            status_ok = status.is_in(list(schema.STATUSES))
            needs_money = status.is_in(["success", "reversed"])
            for name in ("order_id", "provider", "status", "received_at"):
                checks.append((~present(name), f"missing_field:{name}"))
            checks.append(
                (~present("amount") & (needs_money | (status_ok & present("currency"))), "missing_field:amount")
            )
            checks.append(
                (~present("currency") & (needs_money | (status_ok & present("amount"))), "missing_field:currency")
            )
            for name in ("order_id", "provider"):
                checks.append((pl.col("ns_" + name), f"bad_field:{name}"))
            checks.append((~status_ok, "bad_status"))
            checks += [(present("amount") & cond, reason) for cond, reason in money]
            checks.append((pl.col("tsu_received_at").is_null(), "bad_timestamp"))
            checks.append((present("event_time") & pl.col("tsu_event_time").is_null(), "bad_timestamp"))
            for name in ("callback_id", "provider_txn_id", "source"):
                checks.append((pl.col("ns_" + name), f"bad_field:{name}"))
        checks.append((present("seq") & pl.col("seq_value").is_null(), "bad_seq"))
        return checks

    def _validate(self, x: pl.DataFrame, meta: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        t_amount = pl.col("t_amount")
        has_literal = pl.col("amt_lit").is_not_null()
        x = (
            x.with_columns(
                *[
                    (pl.col("t_" + f.name).str.strip_chars() != "").fill_null(False).alias("p_" + f.name)
                    for f in self.fields
                ],
                pl.when(has_literal)
                .then(pl.coalesce(pl.col("amt_norm"), pl.col("amt_lit")))
                .otherwise(t_amount.str.strip_chars())
                .alias("amount_text"),
                pl.when(has_literal)
                .then(pl.col("amt_neg").fill_null(False))
                .otherwise(t_amount.str.strip_chars().str.contains(_NEGATIVE_DECIMAL))
                .alias("amount_negative"),
                pl.col("t_currency").str.strip_chars().str.to_uppercase().alias("currency_norm"),
                pl.col("t_provider").str.strip_chars().str.to_lowercase().alias("provider_norm"),
                *[self._timestamp(f.name).alias("tsu_" + f.name) for f in self.fields if f.role == "ts"],
                *(
                    [pl.col("t_status").str.strip_chars().str.to_lowercase().alias("status_norm")]
                    if self.kind == schema.CALLBACKS
                    else []
                ),
            )
            .with_columns(
                (pl.col("amount_text").str.contains(_PLAIN_ASCII_DECIMAL) & ~pl.col("amount_negative")).alias(
                    "amount_shape_ok"
                ),
                currency_exponent_expr(pl.col("currency_norm")).alias("exponent"),
                significant_decimal_expr(pl.col("amount_text")).alias("amount_significant"),
            )
            .with_columns(
                pl.when(pl.col("amount_shape_ok"))
                .then(minor_units_expr(pl.col("amount_significant"), pl.col("exponent")))
                .alias("amount_minor")
            )
        )
        checks = self._checks()
        code = pl.coalesce(
            [pl.when(cond.fill_null(False)).then(pl.lit(i, pl.Int16)) for i, (cond, _) in enumerate(checks)]
        )
        x = pl.concat([meta.select("file", "line_number", "read_order"), x], how="horizontal").with_columns(
            code.alias("reason_code")
        )
        ok = pl.col("reason_code").is_null()
        if x["reason_code"].null_count() == x.height:
            return self._landed(x), schema.empty_frame(schema.REJECTED_LINE_SCHEMA)
        landed = self._landed(x.select(*self._landed_inputs(), ok.alias("_ok")).filter(pl.col("_ok")))
        rejected_rows = x.filter(~ok)
        reasons = {i: reason for i, (_, reason) in enumerate(checks)}
        rejected_rows = rejected_rows.with_columns(
            pl.col("reason_code").replace_strict(reasons, return_dtype=pl.String).alias("reason")
        )
        return landed, self._rejected(rejected_rows)

    def _landed_inputs(self) -> list[str]:
        names = ["file", "line_number", "read_order", "amount_minor", "seq_value"]
        names += ["t_" + f.name for f in self.fields if f.role == "id"]
        names += ["provider_norm", "currency_norm"]
        names += ["p_" + f.name for f in self.fields]
        names += ["tsu_" + f.name for f in self.fields if f.role == "ts"]
        if self.kind == schema.CALLBACKS:
            names.append("status_norm")
        return names

    def _id(self, name: str) -> pl.Expr:
        return pl.when(pl.col("p_" + name)).then(pl.col("t_" + name))

    def _landed(self, x: pl.DataFrame) -> pl.DataFrame:
        provider = pl.col("provider_norm").alias("provider")
        currency = pl.col("currency_norm")
        if self.kind == schema.ORDERS:
            columns = [
                pl.col("t_order_id").alias("order_id"),
                pl.col("t_merchant_id").alias("merchant_id"),
                provider,
                pl.col("amount_minor"),
                currency.alias("currency"),
                pl.col("tsu_created_at").alias("created_at"),
                self._id("customer_id").alias("customer_id"),
                self._id("request_id").alias("request_id"),
            ]
        else:
            has_money = pl.col("p_amount")
            columns = [
                pl.col("t_order_id").alias("order_id"),
                provider,
                pl.col("status_norm").alias("status"),
                pl.when(has_money).then(pl.col("amount_minor")).alias("amount_minor"),
                pl.when(has_money).then(currency).alias("currency"),
                pl.col("tsu_received_at").alias("received_at"),
                pl.coalesce(pl.col("tsu_event_time"), pl.col("tsu_received_at")).alias("event_time"),
                self._id("callback_id").alias("callback_id"),
                self._id("provider_txn_id").alias("provider_txn_id"),
            ]
        columns += [
            self._id("source").alias("source"),
            pl.col("seq_value").alias("seq"),
            pl.col("file"),
            pl.col("line_number"),
            pl.col("read_order"),
        ]
        return x.select(columns).cast(_LANDED_SCHEMA[self.kind])  # type: ignore[arg-type]

    def _rejected(self, x: pl.DataFrame) -> pl.DataFrame:
        source = pl.col("t_source")
        # A record with more cells than the header may have shifted cells: nothing is trusted.
        readable = ~pl.col("malformed") & pl.col("is_object") & ~pl.col("malformed_csv")
        source_ok = pl.col("p_source") & ~pl.col("ns_source") & ~source.str.contains("\ufffd", literal=True)
        out = x.select(
            pl.lit(self.kind).alias("kind"),
            pl.col("file"),
            pl.col("line_number"),
            pl.col("raw_text").str.strip_chars_end(_WHITESPACE_END).alias("raw"),
            pl.col("reason"),
            self._message().alias("message"),
            pl.when(readable & source_ok).then(source).alias("source"),
            pl.when(readable).then(pl.col("seq_value")).alias("seq"),
        )
        return out.cast(schema.REJECTED_LINE_SCHEMA)  # type: ignore[arg-type]

    def _message(self) -> pl.Expr:
        """Build a human sentence for each rejected row (computed on rejected rows only)."""
        reason = pl.col("reason")
        fmt = pl.format
        tz = self.timezone

        def shown(name: str) -> pl.Expr:
            text = pl.col("t_" + name) if name != "amount" else pl.coalesce(pl.col("amt_lit"), pl.col("t_amount"))
            short = text.str.slice(0, _MESSAGE_VALUE_CHARS)
            return pl.when(text.str.len_chars() > _MESSAGE_VALUE_CHARS).then(short + "...").otherwise(short)

        def ts_message(name: str) -> pl.Expr:
            return (
                pl.when(
                    pl.lit(tz not in _UTC_NAMES)
                    & pl.col("t_" + name).str.contains(_TS_RE)
                    & ~pl.col("t_" + name).str.contains(_TS_OFFSET_RE)
                    & pl.col("ts_" + name).is_between(_MIN_INSTANT, _MAX_INSTANT)
                )
                .then(fmt(f"{name} '{{}}' does not exist in timezone {tz} (skipped by a DST change)", shown(name)))
                .otherwise(
                    fmt(
                        f"{name} '{{}}' is not a valid timestamp; expected YYYY-MM-DDTHH:MM:SS[.fraction] "
                        "with Z, ±HH:MM or no offset",
                        shown(name),
                    )
                )
            )

        missing = fmt("required field '{}' is missing or empty", reason.str.strip_prefix("missing_field:"))
        if self.kind == schema.ORDERS:
            bad_timestamp = ts_message("created_at")
            bad_status = pl.lit("")
        else:
            bad_timestamp = (
                pl.when(pl.col("tsu_received_at").is_null())
                .then(ts_message("received_at"))
                .otherwise(ts_message("event_time"))
            )
            bad_status = fmt("status '{}' is not one of success, failed, pending, reversed", shown("status"))
            by_status = pl.col("status_norm").is_in(["success", "reversed"])
            missing = (
                pl.when(reason == "missing_field:amount")
                .then(
                    pl.when(by_status)
                    .then(fmt("field 'amount' is required for status '{}'", pl.col("status_norm")))
                    .otherwise(pl.lit("field 'amount' is required when a currency is given"))
                )
                .when(reason == "missing_field:currency")
                .then(
                    pl.when(by_status)
                    .then(fmt("field 'currency' is required for status '{}'", pl.col("status_norm")))
                    .otherwise(pl.lit("field 'currency' is required when an amount is given"))
                )
                .otherwise(missing)
            )
        amount = shown("amount")
        decimals = (
            pl.col("amount_text").str.extract(r"\.([0-9]+)$", 1).fill_null("").str.strip_chars_end("0").str.len_chars()
        )
        bad_amount = (
            pl.when(pl.col("amount_negative"))
            .then(fmt("amount '{}' is negative", amount))
            .when(~pl.col("amount_shape_ok"))
            .then(fmt("amount '{}' is not a plain decimal number", amount))
            .when(decimals > pl.col("exponent").cast(pl.UInt32))
            .then(
                fmt(
                    "amount '{}' has more decimals than {} allows ({})",
                    amount,
                    pl.col("currency_norm"),
                    pl.col("exponent"),
                )
            )
            .otherwise(fmt("amount '{}' is too large", amount))
        )
        malformed_json = (
            pl.when(pl.col("malformed"))
            .then(pl.lit("line is not valid JSON; each line must be one JSON object"))
            .otherwise(pl.lit("line is valid JSON but not an object; each line must be one JSON object"))
        )
        return (
            pl.when(reason == "bad_encoding")
            .then(pl.lit("line is not valid UTF-8; re-export the log as UTF-8"))
            .when(reason == "malformed_csv")
            .then(fmt("record has {} cells, more than the header", pl.col("csv_cells")))
            .when(reason == "malformed_json")
            .then(malformed_json)
            .when(reason.str.starts_with("missing_field:"))
            .then(missing)
            .when(reason.str.starts_with("bad_field:"))
            .then(
                fmt(
                    "field '{}' must be a string or a number, not a JSON boolean, object or array",
                    reason.str.strip_prefix("bad_field:"),
                )
            )
            .when(reason == "bad_amount")
            .then(bad_amount)
            .when(reason == "bad_currency")
            .then(fmt("currency '{}' is not an ISO 4217 code with a known exponent", shown("currency")))
            .when(reason == "bad_timestamp")
            .then(bad_timestamp)
            .when(reason == "bad_status")
            .then(bad_status)
            .when(reason == "bad_seq")
            .then(fmt("seq '{}' is not a non-negative integer", shown("seq")))
            .otherwise(pl.lit("rejected"))
        )


# --------------------------------------------------------------------------------------------
# Public pure parse functions
# --------------------------------------------------------------------------------------------


def _parse_frame(kind: str, lines: pl.DataFrame, settings: Settings) -> tuple[pl.DataFrame, pl.DataFrame]:
    missing = {"file", "line_number", "read_order", "raw"} - set(lines.columns)
    if missing:
        raise ValueError(f"lines frame lacks columns {sorted(missing)}")
    meta = lines.select(
        pl.col("file").cast(pl.String), pl.col("line_number").cast(pl.Int64), pl.col("read_order").cast(pl.Int64)
    )
    raw = lines["raw"].cast(pl.String).fill_null("").to_arrow().cast(pa.large_string())
    engine = _ENGINES.acquire(kind, settings)
    try:
        return engine.parse_json(raw, meta)
    finally:
        _ENGINES.release(engine)


def parse_order_lines(lines: pl.DataFrame, settings: Settings) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Validate JSON order lines (columns file, line_number, read_order, raw) -> (landed, rejected)."""
    return _parse_frame(schema.ORDERS, lines, settings)


def parse_callback_lines(lines: pl.DataFrame, settings: Settings) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Validate JSON callback lines (columns file, line_number, read_order, raw) -> (landed, rejected)."""
    return _parse_frame(schema.CALLBACKS, lines, settings)


# --------------------------------------------------------------------------------------------
# Reading files
# --------------------------------------------------------------------------------------------

_BOM = b"\xef\xbb\xbf"
_PREFIX_BYTES = 1 << 20
_HASH_PIECE = 8 << 20
_MIN_BLOCK = 1 << 16
_MAX_BLOCK = 128 << 20
_NEWLINE_SCAN = 8 << 20
_END = object()
_WORKERS = 2
_TASK_LINES = 262_144


def _read_error(file: InputFile, exc: BaseException) -> InputError:
    if isinstance(exc, (gzip.BadGzipFile, EOFError, zlib.error)):
        detail = str(exc) or exc.__class__.__name__
        return InputError(
            f"cannot read {file.kind} file {file.relative}: not a valid gzip file ({detail}); re-deliver or remove it"
        )
    if isinstance(exc, OSError):
        detail = exc.strerror or str(exc)
        return InputError(f"cannot read {file.kind} file {file.relative}: {detail}; check the file and its permissions")
    return InputError(f"cannot read {file.kind} file {file.relative}: {exc}")


def _open(file: InputFile) -> BinaryIO:
    fmt = _format_of(file.path.name)
    if fmt is None:
        raise InputError(
            f"{file.kind} file {file.relative} is not a .jsonl, .csv, .jsonl.gz or .csv.gz file; rename or remove it"
        )
    try:
        handle = file.path.open("rb")
    except OSError as exc:
        raise _read_error(file, exc) from None
    if fmt[1]:
        return gzip.GzipFile(fileobj=handle, mode="rb")  # type: ignore[return-value]
    return handle


def _prefix_digest(file: InputFile) -> str:
    """SHA-256 of the first MiB of the decompressed content (a cheap duplicate pre-check)."""
    handle = _open(file)
    try:
        with handle:
            return hashlib.sha256(handle.read(_PREFIX_BYTES)).hexdigest()
    except (OSError, EOFError, zlib.error) as exc:
        raise _read_error(file, exc) from None


def _full_digest(file: InputFile) -> str:
    """SHA-256 of the whole decompressed content, streamed in 8 MiB pieces."""
    hasher = hashlib.sha256()
    handle = _open(file)
    try:
        with handle:
            while piece := handle.read(_HASH_PIECE):
                hasher.update(piece)
    except (OSError, EOFError, zlib.error) as exc:
        raise _read_error(file, exc) from None
    return hasher.hexdigest()


def _blocks(file: InputFile, block_size: int, hasher: Any) -> Iterator[bytearray]:
    """Decompressed content in blocks that end at a newline (except at end of file).

    A background thread reads, decompresses and hashes (zlib and hashlib release the GIL) while
    the caller parses the previous block. At most one block waits in the queue.
    """
    q: queue.Queue[Any] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            handle = _open(file)
            with handle:
                tail = bytearray()
                while not stop.is_set():
                    block = handle.read(block_size)
                    if not block:
                        break
                    hasher.update(block)
                    cut = block.rfind(b"\n")
                    if cut < 0:
                        tail += block
                        continue
                    data = tail
                    data += memoryview(block)[: cut + 1]
                    tail = bytearray(memoryview(block)[cut + 1 :])
                    del block
                    if not put(data):
                        return
                if tail and not put(tail):
                    return
            put(_END)
        except InputError as exc:
            put(exc)
        except (OSError, EOFError, zlib.error) as exc:
            put(_read_error(file, exc))
        except BaseException as exc:  # noqa: BLE001 - forwarded to the consumer
            put(exc)

    thread = threading.Thread(target=produce, name=f"read {file.relative}", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


@dataclass
class _FileStats:
    read: int = 0
    landed: int = 0
    rejected: int = 0


class _Ingestor:
    """Streams files of one kind into a sink, keeping the global read order.

    Chunks are parsed by ``_WORKERS`` threads (each with its own DuckDB connection; DuckDB and
    Polars release the GIL), so one chunk's Polars stage overlaps the next chunk's DuckDB stage.
    Results are written to the sink by the calling thread, in reading order. At most
    ``_WORKERS`` chunks are in flight, so memory stays bounded.
    """

    def __init__(self, kind: str, settings: Settings, sink: LineSink, chunk_lines: int) -> None:
        self.kind = kind
        self.settings = settings
        self.sink = sink
        self.chunk_lines = max(1, int(chunk_lines))
        # Files are read in blocks of about chunk_lines lines (bounded memory); each block is
        # parsed in tasks of at most _TASK_LINES lines so that the workers overlap.
        self.block_size = int(min(_MAX_BLOCK, max(_MIN_BLOCK, self.chunk_lines * 240)))
        self.task_lines = min(self.chunk_lines, _TASK_LINES)
        self.read_order = 0
        self.fields = _FIELDS[kind]
        self._pool = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="ingest")
        self._pending: deque[tuple[Future[tuple[pl.DataFrame, pl.DataFrame]], _FileStats]] = deque()

    def close(self) -> None:
        for future, _ in self._pending:
            future.cancel()
        self._pool.shutdown(wait=True)

    def _submit(self, stats: _FileStats, method: str, *args: Any) -> None:
        def run() -> tuple[pl.DataFrame, pl.DataFrame]:
            engine = _ENGINES.acquire(self.kind, self.settings)
            try:
                return getattr(engine, method)(*args)
            finally:
                _ENGINES.release(engine)

        self._pending.append((self._pool.submit(run), stats))
        while len(self._pending) >= _WORKERS:
            self._drain_one()

    def _drain_one(self) -> None:
        future, stats = self._pending.popleft()
        landed, rejected = future.result()
        if landed.height:
            self.sink.write(self.kind, landed)
        if rejected.height:
            self.sink.write("rejected_lines", rejected)
        stats.landed += landed.height
        stats.rejected += rejected.height

    def drain(self) -> None:
        while self._pending:
            self._drain_one()

    def ingest_file(self, file: InputFile, hasher: Any) -> _FileStats:
        fmt = _format_of(file.path.name)
        assert fmt is not None
        stats = _FileStats()
        blocks = _blocks(file, self.block_size, hasher)
        if fmt[0] == "jsonl":
            self._ingest_jsonl(file, blocks, stats)
        else:
            self._ingest_csv(file, blocks, stats)
        self.drain()
        return stats

    # ---- JSONL ------------------------------------------------------------------------------

    def _ingest_jsonl(self, file: InputFile, blocks: Iterator[bytearray], stats: _FileStats) -> None:
        base_line = 0
        first = True
        for data in blocks:
            skip = 3 if first and data[:3] == _BOM else 0
            first = False
            lines = _split_lines(data, skip)
            base_line_of_block = base_line
            base_line += lines.physical
            self._submit_block(file, data, lines, base_line_of_block, stats, "parse_json")
            del data

    def _submit_block(
        self, file: InputFile, data: bytearray, lines: _Lines, first_line: int, stats: _FileStats, task: str, *args: Any
    ) -> None:
        """Hand a block's lines to the parser in tasks of at most ``task_lines`` lines."""
        count = len(lines.starts)
        if count == 0:
            return
        raw, bad = _string_array(data, lines)
        line_numbers = lines.line_index + (first_line + 1)
        for lo in range(0, count, self.task_lines):
            hi = min(count, lo + self.task_lines)
            meta = self._meta(file, line_numbers[lo:hi], stats)
            self._submit(stats, task, raw.slice(lo, hi - lo), *args, meta, None if bad is None else bad[lo:hi])

    # ---- CSV --------------------------------------------------------------------------------

    def _ingest_csv(self, file: InputFile, blocks: Iterator[bytearray], stats: _FileStats) -> None:
        r"""Read a CSV file: quote-free blocks vectorized, the rest with the csv module.

        Blocks without quotes (or NUL, or a lone ``\r``) are split on commas, one record per
        line. From the first block that has any, the rest of the file goes through Python's csv
        module (quoted cells may span lines and blocks).
        """
        header: tuple[str, ...] | None = None
        base_line = 0
        first = True
        for data in blocks:
            skip = 3 if first and data[:3] == _BOM else 0
            if not _csv_block_is_simple(data):
                reader = _CsvReader(itertools.chain([data], blocks), line_offset=base_line, strip_bom=first)
                self._ingest_csv_records(file, reader, header, stats)
                return
            first = False
            lines = _split_lines(data, skip)
            base_line_of_block = base_line
            base_line += lines.physical
            if header is None:
                if not len(lines.starts):
                    continue
                start = int(lines.starts[0])
                end = data.find(b"\n", start)
                text = bytes(data[start : end if end >= 0 else len(data)]).decode("utf-8", _REPLACE)
                header = tuple(name.strip() for name in text.rstrip("\r").split(","))
                lines = _Lines(lines.starts[1:], lines.line_index[1:], lines.physical)
            self._submit_block(file, data, lines, base_line_of_block, stats, "parse_csv_lines", header)

    def _ingest_csv_records(
        self, file: InputFile, reader: _CsvReader, header: tuple[str, ...] | None, stats: _FileStats
    ) -> None:
        batch: _CsvBatch | None = None
        for record in reader.records():
            if header is None:
                # An unparseable header gives no columns: every record is then malformed_csv.
                header = tuple(name.strip() for name in record.cells or [])
                continue
            if batch is None:
                batch = _CsvBatch(self.fields, header)
            batch.add(record)
            if batch.size >= self.task_lines:
                self._flush_csv(file, batch, stats)
                batch = None
        if batch is not None and batch.size:
            self._flush_csv(file, batch, stats)

    def _meta(self, file: InputFile, line_numbers: Any, stats: _FileStats) -> pl.DataFrame:
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

    def _flush_csv(self, file: InputFile, batch: _CsvBatch, stats: _FileStats) -> None:
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


def _csv_block_is_simple(data: bytearray) -> bool:
    """No quote, NUL or lone carriage return: every line is one record, cells split on commas."""
    return data.find(b'"') < 0 and data.find(b"\0") < 0 and data.count(b"\r") == data.count(b"\r\n")


@dataclass
class _Lines:
    starts: np.ndarray  # byte offset of each non-blank line
    line_index: np.ndarray  # 0-based physical line index (within the block) of each non-blank line
    physical: int  # physical lines in the block


def _newlines(arr: np.ndarray) -> np.ndarray:
    parts = [np.flatnonzero(arr[i : i + _NEWLINE_SCAN] == 10) + i for i in range(0, len(arr), _NEWLINE_SCAN)]
    return np.concatenate(parts) if parts else np.empty(0, np.int64)


def _split_lines(data: bytearray, skip: int) -> _Lines:
    """Non-blank lines of a block (which ends with a newline, or at end of file)."""
    arr = np.frombuffer(data, np.uint8)
    n = len(arr)
    nl = _newlines(arr).astype(np.int64, copy=False)
    starts = np.empty(len(nl) + 1, np.int64)
    starts[0] = skip
    starts[1:] = nl + 1
    ends = np.empty(len(nl) + 1, np.int64)
    ends[:-1] = nl
    ends[-1] = n
    if starts[-1] >= n:  # the block ends with a newline: no partial last line
        starts, ends = starts[:-1], ends[:-1]
    physical = len(starts)
    length = ends - starts
    nonempty = length > 0
    first = np.zeros(len(starts), np.uint8)
    first[nonempty] = arr[starts[nonempty]]
    candidate = nonempty & ((first == 32) | (first == 9) | (first == 13))
    keep = nonempty.copy()
    for i in np.flatnonzero(candidate):
        if not bytes(data[starts[i] : ends[i]]).strip(b" \t\r"):
            keep[i] = False
    index = np.flatnonzero(keep)
    return _Lines(starts[index], index, physical)


_REPLACE = "replace"


def _string_array(data: bytearray, lines: _Lines) -> tuple[pa.Array, np.ndarray | None]:
    """Build a large_string array of the non-blank lines (each with its trailing whitespace).

    Zero-copy when the block is valid UTF-8; otherwise the lines are decoded one by one with
    replacement characters and the invalid ones are flagged.
    """
    m = len(lines.starts)
    offsets = np.empty(m + 1, np.int64)
    offsets[:m] = lines.starts
    offsets[m] = len(data)
    array = pa.LargeStringArray.from_buffers(m, pa.py_buffer(offsets), pa.py_buffer(data))
    try:
        array.validate(full=True)
        return array, None
    except pa.ArrowInvalid:
        pass
    texts: list[str] = []
    bad = np.zeros(m, bool)
    view = memoryview(data)
    for i in range(m):
        chunk = view[offsets[i] : offsets[i + 1]]
        try:
            texts.append(str(chunk, "utf-8"))
        except UnicodeDecodeError:
            texts.append(str(chunk, "utf-8", _REPLACE))
            bad[i] = True
    return pa.array(texts, pa.large_string()), bad


# ---- CSV records ----------------------------------------------------------------------------


@dataclass
class _CsvRecord:
    line_number: int  # physical line where the record starts
    raw: str
    cells: list[str] | None  # None: the csv module could not parse the record
    bad_encoding: bool


class _CsvBatch:
    """Up to ``chunk_lines`` CSV records, as one string column per field."""

    def __init__(self, fields: tuple[_Field, ...], header: tuple[str, ...]) -> None:
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
        return len(self.raw)

    def add(self, rec: _CsvRecord) -> None:
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
        return raw.decode("utf-8", _REPLACE), True


class _CsvReader:
    """Feeds physical lines to the csv module and remembers which lines made each record."""

    def __init__(self, blocks: Iterator[bytearray], line_offset: int = 0, strip_bom: bool = True) -> None:
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
            if first and chunk.startswith(_BOM):
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

    def records(self) -> Iterator[_CsvRecord]:
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
            record = _CsvRecord(self.start, raw, row, self.bad)
            self.consumed = []
            self.bad = False
            yield record


# --------------------------------------------------------------------------------------------
# ingest
# --------------------------------------------------------------------------------------------


def ingest(
    kind: str,
    files: list[InputFile],
    settings: Settings,
    sink: LineSink,
    chunk_lines: int = 1_000_000,
) -> pl.DataFrame:
    """Ingest ``files`` (already in sorted order) of one kind into ``sink``; one row per file.

    Returns a frame in ``schema.INPUT_FILE_SCHEMA``. Duplicate files (same SHA-256 of the
    decompressed content as an earlier file of this call) are skipped with ``duplicate_of``
    set. ``read_order`` counts the lines of all files of this call from 0.
    """
    _check_kind(kind)
    rows: list[dict[str, Any]] = []
    seen: dict[str, str] = {}  # full sha256 -> relative path
    seen_prefix: set[str] = set()
    ingestor = _Ingestor(kind, settings, sink, chunk_lines)
    try:
        for file in files:
            if file.kind != kind:
                raise ValueError(f"file {file.relative} is a {file.kind} file, not {kind}")
            try:
                size = file.path.stat().st_size
            except OSError as exc:
                raise _read_error(file, exc) from None
            prefix = _prefix_digest(file)
            if prefix in seen_prefix:
                digest = _full_digest(file)
                if digest in seen:
                    rows.append(_file_row(kind, file, size, digest, seen[digest], _FileStats()))
                    continue
            seen_prefix.add(prefix)
            hasher = hashlib.sha256()
            stats = ingestor.ingest_file(file, hasher)
            digest = hasher.hexdigest()
            if digest in seen:  # cannot happen: the prefix check would have caught it
                raise AssertionError(f"duplicate {file.relative} was not detected before ingesting")
            seen[digest] = file.relative
            rows.append(_file_row(kind, file, size, digest, None, stats))
    finally:
        ingestor.close()
    flush = getattr(sink, "flush", None)
    if callable(flush):
        flush()
    if not rows:
        return schema.empty_frame(schema.INPUT_FILE_SCHEMA)
    return pl.DataFrame(rows, schema=schema.INPUT_FILE_SCHEMA)


def _file_row(
    kind: str, file: InputFile, size: int, digest: str, duplicate_of: str | None, stats: _FileStats
) -> dict[str, Any]:
    return {
        "kind": kind,
        "file": file.relative,
        "size_bytes": size,
        "sha256": digest,
        "duplicate_of": duplicate_of,
        "lines_read": stats.read,
        "lines_landed": stats.landed,
        "lines_rejected": stats.rejected,
    }


def file_sha256(file: InputFile) -> str:
    """SHA-256 of a file's decompressed content (the identity used to spot re-delivered files)."""
    return _full_digest(file)
