"""Routing envelopes to their adapters, and turning the adapters' records into canonical callback lines.

docs/rules.md#envelopes-and-provider-adapters. A callback line is an envelope when it is a JSON
object with a ``body`` that is present (not null, not blank): :func:`envelope_mask`. The
envelopes of a chunk are read once by DuckDB (:func:`adapt`); an envelope that fails before
its items can be read is one rejected record, in this order:

* ``missing_field:received_at``, ``missing_field:provider``;
* ``no_adapter``: no adapter for the provider;
* ``bad_body``: a body the adapter does not read (XML or form-encoded text for a JSON provider, a
  number, an array);
* ``malformed_json``: a body string that starts with ``{`` but is not strict JSON.

Everything else goes to the provider's adapter (:data:`ADAPTERS`), which returns one row per
record (:data:`RECORD_SCHEMA`): a canonical callback's fields, or a rejection or an ignore
reason. :func:`adapt` then writes the canonical records as canonical JSON lines (amounts as
decimal strings in major units, times as RFC 3339), which the caller validates exactly like
a canonical line; ``received_at``, ``source`` and ``seq`` come from the envelope. Every record
keeps the envelope's file, line number and read order; an item of a batch also its
``record_index``. The ``raw`` of a rejected or ignored record is the envelope line.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import duckdb
import polars as pl
import pyarrow as pa

from orders_pipeline.lib.common.config import EnvelopeSettings
from orders_pipeline.lib.common.vocabulary import CALLBACKS
from orders_pipeline.lib.inputs.envelopes import adyen, paypal, stripe
from orders_pipeline.lib.inputs.fields import LENIENT_JSON_RE
from orders_pipeline.lib.inputs.json_numbers import exact_object
from orders_pipeline.lib.inputs.messages import MESSAGE_VALUE_CHARS
from orders_pipeline.lib.warehouse.contracts import IGNORED_RECORDS, REJECTED_LINES

ADAPTERS: dict[str, ModuleType] = {module.NAME: module for module in (stripe, adyen, paypal)}
"""Each adapter module has ``NAME``, ``BODY_FORMS`` and ``records(con, envelopes, settings, timezone)``."""

RECORD_SCHEMA: dict[str, pl.DataType] = {
    "pos": pl.Int64(),
    "record_index": pl.Int64(),
    "order_id": pl.String(),
    "status": pl.String(),
    "amount": pl.String(),
    "currency": pl.String(),
    "event_time": pl.String(),
    "callback_id": pl.String(),
    "provider_txn_id": pl.String(),
    "parent_txn_id": pl.String(),
    "verified": pl.Boolean(),
    "reject": pl.String(),
    "ignore": pl.String(),
    "note": pl.String(),
}
"""What an adapter returns per record: ``pos`` is the envelope's row in the frame it was given;
``reject``/``ignore`` (with ``note``, a sentence) when the record is not a callback."""

ENVELOPE_SCHEMA: dict[str, pl.DataType] = {
    "pos": pl.Int64(),
    "received_at": pl.String(),
    "body": pl.String(),
    "raw_body": pl.String(),
    "headers": pl.String(),
}
"""What an adapter is given per envelope: ``body`` is JSON text (an object, or the string body),
``raw_body`` the body string as received (null when it was logged as a JSON object)."""

_BODY_RE = r'"body"[ \t\r\n]*:'

_ENVELOPE_SQL = """
SELECT
    s.received_at,
    s.provider,
    json_type(s.body) AS body_type,
    json_extract_string(s.body, '$') AS body_text,
    s.headers::VARCHAR AS headers,
    json_extract_string(s.source, '$') AS source,
    json_type(s.source) AS source_type,
    json_extract_string(s.seq, '$') AS seq
FROM (
    -- one parse of each line (json_transform); only the small values are looked at again
    SELECT json_transform(raw, '{"received_at": "VARCHAR", "provider": "VARCHAR", "body": "JSON",
                                 "headers": "JSON", "source": "JSON", "seq": "JSON"}') AS s
    FROM __env_lines
)
"""


def envelope_mask(con: duckdb.DuckDBPyConnection, raw: pa.Array) -> pl.Series | None:
    """Which lines are envelopes (valid JSON objects with a present ``body``); None when none is.

    A cheap text test first (most callback files hold no envelope); only lines mentioning
    ``"body":`` are parsed. A line that is not valid JSON is never an envelope: it goes the
    canonical way and is rejected ``malformed_json`` there.
    """
    text = pl.Series("raw", raw)
    candidate = text.str.contains(_BODY_RE).fill_null(False)
    if not candidate.any():
        return None
    idx = candidate.arg_true()
    sub = pa.table({"raw": text.gather(idx).to_arrow()})
    con.register("__env_probe", sub)
    try:
        found = con.sql(
            "SELECT coalesce(CASE WHEN json_valid(raw) THEN json_type(raw) = 'OBJECT' AND "
            "coalesce(json_type(raw, '$.body') <> 'NULL', false) AND "
            "(json_type(raw, '$.body') <> 'VARCHAR' OR trim(json_extract_string(raw, '$.body'), ' \t\r\n') <> '')"
            " END, false) AS env FROM __env_probe"
        ).pl()["env"]
    finally:
        con.unregister("__env_probe")
    # A line DuckDB reads leniently (trailing comma, NaN) must be strict JSON to be an envelope.
    lenient = pl.Series(sub["raw"]).str.contains(LENIENT_JSON_RE).fill_null(False)
    if (found & lenient).any():
        texts = pl.Series(sub["raw"]).to_list()
        found = pl.Series(
            [
                bool(f) and (not bad or exact_object(t) is not None)
                for f, bad, t in zip(found, lenient, texts, strict=True)
            ]
        )
    mask = pl.Series("env", [False] * len(text))
    mask.scatter(idx, found)
    return mask if mask.any() else None


@dataclass(frozen=True)
class Adapted:
    """The records of a chunk of envelopes.

    ``lines``: canonical JSON text of each record to validate; ``extra``: per such record its
    file, line_number, read_order and the envelope columns of ``landing.callbacks``
    (``record_index``, ``parent_txn_id``, ``linked``, ``verified``, ``envelope_raw``);
    ``rejected``/``ignored``: the records that are not callbacks, as ``landing.rejected_lines``
    and ``landing.ignored_records`` rows.
    """

    lines: pl.Series
    extra: pl.DataFrame
    rejected: pl.DataFrame
    ignored: pl.DataFrame


def _short(text: pl.Expr) -> pl.Expr:
    return (
        pl.when(text.str.len_chars() > MESSAGE_VALUE_CHARS)
        .then(text.str.slice(0, MESSAGE_VALUE_CHARS) + "...")
        .otherwise(text)
    )


def _envelope_rejects(env: pl.DataFrame) -> pl.DataFrame:
    """Per envelope, the reason it fails before its items can be read (null: it goes to its adapter)."""
    present = lambda name: (pl.col(name).str.strip_chars() != "").fill_null(False)  # noqa: E731
    provider = pl.col("provider_norm")
    forms = pl.col("body_form")
    accepted = provider.replace_strict(
        {name: list(module.BODY_FORMS) for name, module in ADAPTERS.items()},
        default=None,
        return_dtype=pl.List(pl.String),
    )
    reason = (
        pl.when(~present("received_at"))
        .then(pl.lit("missing_field:received_at"))
        .when(~present("provider"))
        .then(pl.lit("missing_field:provider"))
        .when(accepted.is_null())
        .then(pl.lit("no_adapter"))
        .when(~accepted.list.contains(forms).fill_null(False))
        .then(pl.lit("bad_body"))
        .when(~pl.col("body_ok"))
        .then(pl.lit("malformed_json"))
    )
    note = (
        pl.when(reason == "missing_field:received_at")
        .then(pl.lit("envelope has no received_at (when the platform received the request)"))
        .when(reason == "missing_field:provider")
        .then(pl.lit("envelope has no provider"))
        .when(reason == "no_adapter")
        .then(pl.format("no adapter for provider '{}'; map its callbacks with a field map", _short(provider)))
        .when(reason == "bad_body")
        .then(pl.format("the {} adapter does not read a {} body", provider, forms))
        .otherwise(pl.lit("body is not valid JSON"))
    )
    return env.with_columns(reason.alias("reject"), pl.when(reason.is_not_null()).then(note).alias("note"))


def _parse_envelopes(con: duckdb.DuckDBPyConnection, raw: pa.Array) -> pl.DataFrame:
    con.register("__env_lines", pa.table({"raw": raw}))
    try:
        env = con.sql(_ENVELOPE_SQL).pl()
    finally:
        con.unregister("__env_lines")
    body_text = pl.col("body_text")
    stripped = body_text.str.strip_chars(" \t\r\n")
    is_string = pl.col("body_type") == "VARCHAR"
    env = env.with_row_index("pos").with_columns(
        pl.col("pos").cast(pl.Int64),
        pl.col("provider").str.strip_chars().str.to_lowercase().alias("provider_norm"),
        pl.when(pl.col("body_type") == "OBJECT")
        .then(pl.lit("json"))
        .when(is_string & stripped.str.starts_with("{"))
        .then(pl.lit("json"))
        .when(is_string & stripped.str.starts_with("<"))
        .then(pl.lit("xml"))
        .when(is_string)
        .then(pl.lit("form"))
        .otherwise(pl.col("body_type").str.to_lowercase())
        .alias("body_form"),
        pl.when(is_string).then(body_text).alias("raw_body"),
    )
    # A JSON body given as a string must be strict JSON (DuckDB's reader is lenient).
    json_strings = env.select(
        (is_string & (pl.col("body_form") == "json")).alias("check"),
        body_text,
    )
    ok = pl.Series("body_ok", [True] * env.height)
    check_idx = json_strings["check"].arg_true()
    if len(check_idx):
        texts = json_strings["body_text"].gather(check_idx)
        con.register("__env_bodies", pa.table({"b": texts.to_arrow()}))
        try:
            valid = con.sql(
                "SELECT coalesce(CASE WHEN json_valid(b) THEN json_type(b) = 'OBJECT' END, false) AS v "
                "FROM __env_bodies"
            ).pl()["v"]
        finally:
            con.unregister("__env_bodies")
        lenient = texts.str.contains(LENIENT_JSON_RE).fill_null(False)
        if (valid & lenient).any():
            valid = pl.Series(
                [
                    bool(v) and (not bad or exact_object(t) is not None)
                    for v, bad, t in zip(valid, lenient, texts.to_list(), strict=True)
                ]
            )
        ok.scatter(check_idx, valid)
    return env.with_columns(ok)


def adapt(
    con: duckdb.DuckDBPyConnection,
    raw: pa.Array,
    meta: pl.DataFrame,
    settings: EnvelopeSettings,
    timezone: str,
) -> Adapted:
    """Map a chunk of envelope lines (``raw``, with their ``meta``: file, line_number, read_order) to records."""
    env = _envelope_rejects(_parse_envelopes(con, raw))
    parts = [
        env.filter(pl.col("reject").is_not_null())
        .select("pos", "reject", "note")
        .with_columns(pl.lit(None, pl.Int64).alias("record_index"))
    ]
    records = [pl.DataFrame(schema=RECORD_SCHEMA)]
    routed = env.filter(pl.col("reject").is_null())
    for name, module in ADAPTERS.items():
        mine = routed.filter(pl.col("provider_norm") == name)
        if mine.height:
            given = mine.select(
                "pos",
                "received_at",
                pl.when(pl.col("body_type") == "OBJECT")
                .then(pl.col("body_text"))
                .otherwise(pl.col("raw_body"))
                .alias("body"),
                "raw_body",
                "headers",
            ).cast(pl.Schema(ENVELOPE_SCHEMA))
            out = module.records(con, given, settings, timezone)
            records.append(out.select(list(RECORD_SCHEMA)).cast(pl.Schema(RECORD_SCHEMA)))
    rec = pl.concat(
        [
            pl.concat(records),
            pl.concat(parts, how="diagonal_relaxed").cast({"pos": pl.Int64, "record_index": pl.Int64}),
        ],
        how="diagonal_relaxed",
    ).sort("pos", "record_index", nulls_last=False)
    raw_series = pl.Series("raw", raw).str.strip_chars_end(" \t\r\n")
    env_cols = env.select(
        "pos",
        "provider_norm",
        "received_at",
        pl.when(pl.col("source_type").is_in(["VARCHAR", "UBIGINT", "BIGINT"])).then(pl.col("source")).alias("source"),
        pl.col("seq"),
    ).with_columns(
        raw_series.alias("envelope_raw"),
        meta["file"].alias("file"),
        meta["line_number"].alias("line_number"),
        meta["read_order"].alias("read_order"),
    )
    rec = rec.join(env_cols, on="pos", how="left", maintain_order="left")
    # An envelope's source and seq are one line of its stream: only its first record that is not
    # ignored carries them, so an Adyen batch is no repeated seq.
    carrier = pl.col("ignore").is_null()
    first = (carrier.cum_sum().over("pos") == 1) & carrier
    rec = rec.with_columns(pl.when(first).then(pl.col(name)).alias(name) for name in ("source", "seq"))
    ignored = rec.filter(pl.col("ignore").is_not_null())
    rejected = rec.filter(pl.col("reject").is_not_null() & pl.col("ignore").is_null())
    landing = rec.filter(pl.col("reject").is_null() & pl.col("ignore").is_null())
    lines = landing.select(
        pl.struct(
            pl.col("order_id"),
            pl.col("provider_norm").alias("provider"),
            pl.col("status"),
            pl.col("amount"),
            pl.col("currency"),
            pl.col("received_at"),
            pl.col("event_time"),
            pl.col("callback_id"),
            pl.col("provider_txn_id"),
            pl.col("source"),
            pl.col("seq"),
        )
        .struct.json_encode()
        .alias("line")
    )["line"]
    no_order = (pl.col("order_id").str.strip_chars() != "").fill_null(False).not_()
    extra = landing.select(
        "file",
        "line_number",
        "read_order",
        "record_index",
        "parent_txn_id",
        (no_order & pl.col("parent_txn_id").is_not_null()).alias("linked"),
        "verified",
        "envelope_raw",
    )
    seq_ok = pl.col("seq").str.contains(r"^\s*[0-9]{1,18}\s*$").fill_null(False)
    rejected_rows = rejected.select(
        pl.lit(CALLBACKS).alias("kind"),
        "file",
        "line_number",
        pl.col("envelope_raw").alias("raw"),
        pl.col("reject").alias("reason"),
        _item_note().alias("message"),
        pl.when((pl.col("source").str.strip_chars() != "").fill_null(False)).then(pl.col("source")).alias("source"),
        pl.when(seq_ok).then(pl.col("seq").str.strip_chars().cast(pl.Int64, strict=False)).alias("seq"),
    ).cast(REJECTED_LINES.polars_schema())
    ignored_rows = ignored.select(
        pl.lit(CALLBACKS).alias("kind"),
        "file",
        "line_number",
        "record_index",
        pl.col("envelope_raw").alias("raw"),
        pl.col("ignore").alias("reason"),
        _item_note().alias("message"),
    ).cast(IGNORED_RECORDS.polars_schema())
    return Adapted(lines, extra, rejected_rows, ignored_rows)


def _item_note() -> pl.Expr:
    """The record's sentence, naming its item when the envelope holds several."""
    note = pl.col("note").fill_null("")
    return (
        pl.when(pl.col("record_index").is_not_null())
        .then(pl.format("item {}: {}", pl.col("record_index"), note))
        .otherwise(note)
    )
