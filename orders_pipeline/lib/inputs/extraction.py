"""Extraction: raw lines (JSON) or CSV cells become one text column per field, then go through validation.

JSON is parsed by DuckDB (yyjson) in one pass per chunk: ``json_transform`` extracts every
field into a struct, and timestamps and seq are cast alongside. A line must parse to a JSON
object, else ``malformed_json``. Keys are case-sensitive; unknown keys are ignored. A key a
field is read by that occurs twice in its object rejects the line (``duplicate_key``): lines
that may repeat one (:meth:`LineParser._maybe_repeated`, a cheap over-approximation) are
re-read exactly with Python's json, which records repeated keys.

DuckDB's reader (yyjson) is lenient where JSON is not: it takes trailing commas (``{"a":1,}``,
``[1,2,]``) and ``NaN``/``Infinity``. A line that may hold either (``LENIENT_JSON_RE``, a
cheap vectorised test) is re-read strictly, so it is ``malformed_json`` on every path.

Python only loops over rare lines: those, an amount that is a JSON number with a fraction or
exponent whose key is not unique in the line, or an id that DuckDB shows as a boolean, object,
array or rounded number. Those are re-read with Python's json (:mod:`json_numbers`), strictly:
there, trailing commas and ``NaN`` are ``malformed_json``.

CSV records arrive already split into string cells (``c_<field>``) and go through the same
casts and the same validation (:func:`~orders_pipeline.lib.inputs.validation.validate`).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from typing import Any

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa

from orders_pipeline.lib.common.config import EnvelopeSettings
from orders_pipeline.lib.common.vocabulary import CALLBACKS, InputKind
from orders_pipeline.lib.inputs.csv_records import csv_columns
from orders_pipeline.lib.inputs.discovery import check_kind
from orders_pipeline.lib.inputs.envelopes.core import adapt, envelope_mask
from orders_pipeline.lib.inputs.field_maps import FieldMap, apply_encodings
from orders_pipeline.lib.inputs.fields import (
    FIELDS,
    LANDED,
    LENIENT_JSON_RE,
    NOT_A_PLAIN_ID,
    OBJECT_RE,
    PLAIN_ASCII_DECIMAL,
    SEQ_RE,
    TYPED_ROLES,
    Field,
)
from orders_pipeline.lib.inputs.json_numbers import exact_field, exact_object, normalize_number, repeated_key
from orders_pipeline.lib.inputs.validation import validate
from orders_pipeline.lib.warehouse.contracts import REJECTED_LINES, quote_identifier


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _field_sql(fields: tuple[Field, ...], src: Callable[[int, Field], str]) -> list[str]:
    """DuckDB select items: each field's text, plus the parsed timestamps and seq."""
    items: list[str] = []
    for i, field in enumerate(fields):
        x = src(i, field)
        items.append(f"{x} AS {quote_identifier('t_' + field.name)}")
        if field.role == "ts":
            # DuckDB's cast is lenient (it also takes "24:00:00" or " UTC"): Polars checks the
            # exact shape (_TS_RE) and masks the rest.
            items.append(
                f"coalesce(try_cast({x} AS TIMESTAMPTZ), try_cast(upper({x}) AS TIMESTAMPTZ)) "
                f"AS {quote_identifier('ts_' + field.name)}"
            )
        elif field.role == "seq":
            items.append(f"try_cast(nullif(regexp_extract({x}, {_sql_str(SEQ_RE)}, 1), '') AS BIGINT) AS seq_value")
    return items


def _mapped_struct_sql(fields: tuple[Field, ...], field_map: FieldMap) -> tuple[str, str]:
    """(json_transform structure, struct_pack items) reading each canonical field from the map's path.

    One parse per line extracts every source path (nested objects as nested structs); the
    struct is then rebuilt under the canonical names, constants as literals, so the rest of
    the extraction reads it exactly as it reads a canonical line.
    """
    tree: dict[str, Any] = {}
    for f in fields:
        if field_map.constant(f.name) is not None:
            continue
        node = tree
        *parents, leaf = field_map.path(f.name)
        for segment in parents:
            node = node.setdefault(segment, {})
        # A path read both as an amount (JSON, to know its type) and as text keeps JSON.
        if node.get(leaf) != "JSON":
            node[leaf] = "JSON" if f.role == "amount" else "VARCHAR"
    items = []
    for f in fields:
        constant = field_map.constant(f.name)
        if constant is not None:
            value = _sql_str(constant) + ("::JSON" if f.role == "amount" else "")
        else:
            path = field_map.path(f.name)
            value = "s0." + ".".join(quote_identifier(p) for p in path)
            typed = tree
            for segment in path:
                typed = typed[segment]
            if typed == "JSON" and f.role != "amount":
                value = f"json_extract_string({value}, '$')"
        items.append(f"{quote_identifier(f.name)} := {value}")
    return json.dumps(tree), ", ".join(items)


def _json_sql(fields: tuple[Field, ...], table: str, field_map: FieldMap | None = None) -> str:
    # One JSON parse per line extracts every field into a struct (json_transform: keys are
    # case-sensitive, the first of repeated keys wins). The amount comes as JSON text so that
    # its type is known: '"12.50"' is a string, '12.5' a number. json_valid runs first: an
    # invalid line would make json_transform raise (and try() is slow when bad lines are spread
    # over many vectors).
    structure = "{" + ", ".join(f'"{f.name}": "{"JSON" if f.role == "amount" else "VARCHAR"}"' for f in fields) + "}"
    items = [
        item for item in _field_sql(fields, lambda i, f: f"s.{quote_identifier(f.name)}") if not item.startswith("s.")
    ]
    amount = quote_identifier(next(f.name for f in fields if f.role == "amount"))
    # The amount's JSON type (VARCHAR, UBIGINT/BIGINT: exact integer text, DOUBLE: maybe rounded,
    # BOOLEAN, OBJECT, ARRAY) and its value: a string decoded, anything else as JSON text.
    items += [
        f"json_type(s.{amount}) AS amt_type",
        f"CASE WHEN starts_with(s.{amount}, '\"') THEN json_extract_string(s.{amount}, '$') "
        f"ELSE CAST(s.{amount} AS VARCHAR) END AS amt_value",
    ]
    if field_map is None:
        parsed = f"CASE WHEN json_valid(raw) THEN json_transform(raw, {_sql_str(structure)}) END AS s FROM {table}"
    else:
        tree, pack = _mapped_struct_sql(fields, field_map)
        parsed = (
            f"CASE WHEN s0 IS NOT NULL THEN struct_pack({pack}) END AS s FROM (SELECT raw, "
            f"CASE WHEN json_valid(raw) THEN json_transform(raw, {_sql_str(tree)}) END AS s0 FROM {table})"
        )
    return "SELECT s, s IS NULL AS malformed, " + ", ".join(items) + f" FROM (SELECT raw, {parsed})"


def _columns_sql(fields: tuple[Field, ...], table: str) -> str:
    return "SELECT " + ", ".join(_field_sql(fields, lambda i, f: quote_identifier("c_" + f.name))) + f" FROM {table}"


class ParserPool:
    """Idle parsers by (kind, timezone, field map): a DuckDB connection costs tens of milliseconds to open.

    A parser is used by one thread at a time (acquire/release); its in-memory database holds no
    tables, only the registered chunk while a query runs.
    """

    _MAX_IDLE = 4

    def __init__(self) -> None:
        """Start empty."""
        self._idle: dict[tuple[str, str, FieldMap | None, EnvelopeSettings], list[LineParser]] = {}
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def acquire(
        self,
        kind: InputKind,
        timezone: str,
        field_map: FieldMap | None = None,
        envelopes: EnvelopeSettings | None = None,
    ) -> LineParser:
        """Take an idle parser for ``kind``, ``timezone``, ``field_map`` and ``envelopes``, or open a new one."""
        envelopes = envelopes or EnvelopeSettings()
        with self._lock:
            if self._pid != os.getpid():  # a forked child must not share its parent's connections
                self._idle.clear()
                self._pid = os.getpid()
            idle = self._idle.get((kind, timezone, field_map, envelopes))
            if idle:
                return idle.pop()
        return LineParser(kind, timezone, field_map, envelopes)

    def release(self, parser: LineParser) -> None:
        """Give a parser back (closed if enough are idle already)."""
        with self._lock:
            idle = self._idle.setdefault((parser.kind, parser.timezone, parser.field_map, parser.envelopes), [])
            if len(idle) < self._MAX_IDLE:
                idle.append(parser)
                return
        parser.close()


PARSERS = ParserPool()
"""The process's pool of idle parsers."""


def scatter(x: pl.DataFrame, idx: pl.Series, columns: dict[str, list[Any]]) -> pl.DataFrame:
    """Overwrite ``columns`` of ``x`` at the row positions ``idx``."""
    updated = []
    for name, values in columns.items():
        series = x[name].clone()
        series.scatter(idx, pl.Series(values, dtype=series.dtype))
        updated.append(series)
    return x.with_columns(updated)


# Rows per Arrow record batch handed to DuckDB.
_DUCKDB_BATCH_ROWS = 65_536


class LineParser:
    """Parses chunks of one kind of line into (landed, rejected) frames, with a private in-memory DuckDB.

    With a field map, each canonical field is read from the map's path (or is the map's
    constant) and the map's encodings are applied before validation
    (:mod:`~orders_pipeline.lib.inputs.field_maps`); ``timezone`` is then the map's.
    """

    def __init__(
        self,
        kind: InputKind,
        timezone: str,
        field_map: FieldMap | None = None,
        envelopes: EnvelopeSettings | None = None,
    ) -> None:
        """Open the parser's DuckDB connection and prepare its queries.

        ``envelopes``: how provider envelopes among callback lines are read (not for field-mapped files).
        """
        check_kind(kind)
        self.envelopes = envelopes or EnvelopeSettings()
        self.kind = kind
        self.fields = FIELDS[kind]
        self.timezone = timezone
        self.field_map = field_map
        self.con = duckdb.connect(":memory:")
        self.con.execute("SET TimeZone = 'UTC'")
        self._json_sql = _json_sql(self.fields, "__lines", field_map)
        self._columns_sql = _columns_sql(self.fields, "__fields")

    def close(self) -> None:
        """Close the DuckDB connection."""
        self.con.close()

    def _empty(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        return LANDED[self.kind].empty_frame(), REJECTED_LINES.empty_frame()

    def _defaults(self) -> list[pl.Expr]:
        return [
            *[pl.lit(False).alias("ns_" + f.name) for f in self.fields if f.role in TYPED_ROLES],
            pl.lit(None, pl.String).alias("amt_norm"),
            pl.lit(None, pl.Boolean).alias("amt_neg"),
        ]

    def parse_json(
        self, raw: pa.Array, meta: pl.DataFrame, bad_encoding: np.ndarray | None = None
    ) -> tuple[pl.DataFrame, ...]:
        """Parse JSON lines (one element per line; trailing whitespace allowed): (landed, rejected[, ignored]).

        Callback lines that are provider envelopes (:mod:`~orders_pipeline.lib.inputs.envelopes`)
        are mapped by their adapter first; then the result has a third frame, the ignored
        records, and may hold more records than lines (an Adyen batch).
        """
        if self.kind == CALLBACKS and self.field_map is None and len(raw):
            if raw.type != pa.large_string():
                raw = raw.cast(pa.large_string())
            mask = envelope_mask(self.con, raw)
            if mask is not None:
                return self._parse_with_envelopes(raw, meta, bad_encoding, mask)
        return self._parse_plain(raw, meta, bad_encoding)

    def _parse_with_envelopes(
        self, raw: pa.Array, meta: pl.DataFrame, bad_encoding: np.ndarray | None, mask: pl.Series
    ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        """Canonical lines the usual way; envelopes through their adapters, then the same validation."""
        if bad_encoding is not None:
            # A line with invalid UTF-8 is bad_encoding whatever it says.
            mask = mask & ~pl.Series(bad_encoding)
        keep = ~mask
        canonical_raw = pa.array(pl.Series(raw).filter(keep).to_arrow(), pa.large_string())
        landed, rejected = self._parse_plain(
            canonical_raw, meta.filter(keep), None if bad_encoding is None else bad_encoding[keep.to_numpy()]
        )
        adapted = adapt(
            self.con,
            pa.array(pl.Series(raw).filter(mask).to_arrow(), pa.large_string()),
            meta.filter(mask),
            self.envelopes,
            self.timezone,
        )
        frames_landed, frames_rejected = [landed], [rejected, adapted.rejected]
        if adapted.lines.len():
            extra = adapted.extra
            rec_meta = extra.select("file", "line_number", "read_order")
            rec_landed, rec_rejected = self._parse_plain(
                pa.array(adapted.lines.to_arrow(), pa.large_string()), rec_meta, None, extra
            )
            frames_landed.append(rec_landed)
            frames_rejected.append(rec_rejected)
        return (
            pl.concat(frames_landed, how="vertical"),
            pl.concat(frames_rejected, how="vertical").sort("line_number", maintain_order=True),
            adapted.ignored,
        )

    def _parse_plain(
        self,
        raw: pa.Array,
        meta: pl.DataFrame,
        bad_encoding: np.ndarray | None = None,
        envelope: pl.DataFrame | None = None,
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Parse canonical JSON lines; ``envelope``: the envelope columns of adapter records (their raw too)."""
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
        raw_text = pl.Series("raw_text", raw)
        x = x.with_columns(
            raw_text.alias("raw_text"),
            # Valid JSON whose first non-blank character is "{" is an object.
            raw_text.str.contains(OBJECT_RE).alias("is_object"),
            raw_text.str.contains(LENIENT_JSON_RE).alias("lenient"),
            pl.lit(None, pl.String).alias("repeated_key"),
            pl.Series("bad_encoding", bad_encoding if bad_encoding is not None else np.zeros(n, bool)),
            pl.lit(False).alias("malformed_csv"),
            pl.lit(None, pl.Int64).alias("csv_cells"),
            *self._defaults(),
            # An integer JSON number is exact in DuckDB's text; a fraction or exponent may not be.
            pl.when(amt_type.is_in(["UBIGINT", "BIGINT"])).then(pl.col("t_" + amount)).alias("amt_lit"),
            (amt_type == "DOUBLE").fill_null(False).alias("amt_inexact"),
            pl.lit(False).alias("amt_slow"),
        )
        x = x.with_columns(self._maybe_repeated(x).alias("maybe_repeated"))
        x = self._number_literals(x, amount)
        x = self._exact_fallback(x)
        if envelope is not None:
            # A rejected adapter record shows its envelope line, not the canonical line made from it.
            x = x.with_columns(
                envelope.select("record_index", "parent_txn_id", "linked", "verified", "envelope_raw"),
            ).with_columns(pl.col("envelope_raw").alias("raw_text"))
        return self._validate(x, meta)

    def _read_paths(self) -> list[tuple[str, ...]]:
        """Where each field is read from in a JSON line (constants of a field map are not read)."""
        if self.field_map is None:
            return [(f.name,) for f in self.fields]
        return [self.field_map.path(f.name) for f in self.fields if self.field_map.constant(f.name) is None]

    def _maybe_repeated(self, x: pl.DataFrame) -> pl.Series:
        r"""Lines where a key the fields are read by may occur twice (re-read exactly: ``duplicate_key``).

        An over-approximation, cheap for the usual line: when the line has as many keys (a quote
        then a colon, at any depth) as it has fields with a value, no key can be repeated. Other
        lines are candidates when a read key's JSON spelling occurs more than once anywhere in
        them; so is any line with a ``\u00`` escape of an ASCII character (it could spell a key).
        """
        text = pl.col("raw_text")
        escaped = x.select(text.str.contains(r"\\u00[2-7]")).to_series()
        if self.field_map is None:
            present = pl.sum_horizontal(pl.col("t_" + f.name).is_not_null() for f in self.fields)
            idx = x.select(pl.arg_where(text.str.count_matches(r'"[ \t\r\n]*:') > present)).to_series()
        else:
            idx = pl.Series(np.arange(x.height, dtype=np.uint32))
        if not len(idx):
            return escaped
        names = dict.fromkeys(segment for path in self._read_paths() for segment in path)
        repeated = (
            x.select(text.gather(idx))
            .select(pl.any_horizontal(text.str.count_matches(json.dumps(name), literal=True) > 1 for name in names))
            .to_series()
        )
        out = escaped.clone()
        out.scatter(idx, repeated | escaped.gather(idx))
        return out

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
        key = '"' + (self.field_map.path(amount)[-1] if self.field_map is not None else amount) + '"'
        text = pl.col("raw_text")
        sub = x.select(pl.col("raw_text").gather(idx)).select(
            text.str.extract(key + r"\s*:\s*(-?[0-9][0-9.eE+-]*)", 1).alias("literal"),
            ((text.str.count_matches(key, literal=True) == 1) & ~text.str.contains("\\u", literal=True)).alias(
                "trusted"
            ),
        )
        trusted = sub["trusted"] & sub["literal"].is_not_null()
        return scatter(
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
            pl.col("t_" + f.name).str.contains(NOT_A_PLAIN_ID).fill_null(False)
            for f in self.fields
            if f.role in TYPED_ROLES
        )
        need = (
            ~pl.col("malformed")
            & pl.col("is_object")
            & (suspicious | pl.col("amt_slow") | pl.col("lenient") | pl.col("maybe_repeated"))
        ).fill_null(False)
        idx = x.select(pl.arg_where(need)).to_series()
        if len(idx):
            typed = [f for f in self.fields if f.role in TYPED_ROLES or f.role == "amount"]
            paths = self._read_paths()
            columns: dict[str, list[Any]] = {"malformed": [], "repeated_key": []}
            for f in typed:
                columns["t_" + f.name] = []
                columns["amt_lit" if f.role == "amount" else "ns_" + f.name] = []
            for text in x["raw_text"].gather(idx).to_list():
                obj = exact_object(text)
                columns["malformed"].append(obj is None)
                columns["repeated_key"].append(repeated_key(obj, paths) if obj is not None else None)
                for f in typed:
                    value, is_number, non_scalar = self._exact_value(obj, f.name)
                    columns["t_" + f.name].append(value)
                    if f.role == "amount":
                        columns["amt_lit"].append(value if is_number else None)
                    else:
                        columns["ns_" + f.name].append(non_scalar)
            x = scatter(x, idx, columns)
        # Number literals that are not plain decimals (a sign, an exponent): exact Decimal.
        odd = x.select(
            pl.arg_where(pl.col("amt_lit").is_not_null() & ~pl.col("amt_lit").str.contains(PLAIN_ASCII_DECIMAL))
        ).to_series()
        if len(odd):
            normalized = [normalize_number(lit) for lit in x["amt_lit"].gather(odd).to_list()]
            x = scatter(x, odd, {"amt_norm": [n for n, _ in normalized], "amt_neg": [neg for _, neg in normalized]})
        return x

    def _exact_value(self, obj: dict[str, Any] | None, name: str) -> tuple[str | None, bool, bool]:
        """A field's exact value in a strictly parsed line: its map's constant, or the value at its path."""
        if obj is None:
            return None, False, False
        if self.field_map is None:
            return exact_field(obj, name)
        constant = self.field_map.constant(name)
        if constant is not None:
            return constant, False, False
        *parents, leaf = self.field_map.path(name)
        node: Any = obj
        for segment in parents:
            node = node.get(segment) if isinstance(node, dict) else None
        return exact_field(node, leaf) if isinstance(node, dict) else (None, False, False)

    def _validate(self, x: pl.DataFrame, meta: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        if self.field_map is not None and self.field_map.changes_values:
            x = apply_encodings(x, self.field_map, self.timezone)
        return validate(x, meta, self.kind, self.timezone)

    def parse_csv_lines(
        self, raw: pa.Array, header: tuple[str, ...], meta: pl.DataFrame, bad_encoding: np.ndarray | None
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Parse CSV records that are single lines without quotes (the fast path): split on ``,``."""
        n = len(raw)
        if n == 0:
            return self._empty()
        line = pl.Series("raw", raw).str.split_exact("\n", 1).struct.field("field_0").str.strip_suffix("\r")
        parts = line.str.split(",")
        columns = csv_columns(self.fields, header, self.field_map)
        cells = pl.DataFrame(
            [
                parts.list.get(column, null_on_oob=True).alias("c_" + f.name)
                if isinstance(column, int)
                else pl.Series("c_" + f.name, [column] * n, pl.String)
                for f, column in zip(self.fields, columns, strict=True)
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
            pl.lit(None, pl.String).alias("repeated_key"),
            pl.lit(None, pl.String).alias("amt_lit"),
            pl.lit(False).alias("amt_slow"),
            *self._defaults(),
        )
        return self._validate(x, meta)
