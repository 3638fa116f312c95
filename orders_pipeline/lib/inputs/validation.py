"""The validation rules: extracted field text becomes typed landed rows, or rejected rows with one reason.

The rules of docs/rules.md#precise-reading, as Polars expressions over whole chunks (no loop per line).

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
  whitespace ignored) or a JSON number, taken at its exact value (the literal is read from
  the line itself, see :mod:`orders_pipeline.lib.inputs.extraction`); exponent notation is
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
  calendar dates, years 0001-9999 in UTC). Without an offset the time is read in the
  configured timezone: a local time that does not exist there (DST gap) is
  ``bad_timestamp``; an ambiguous one (DST fold) takes the earlier instant. JSON numbers are
  ``bad_timestamp``. Stored as UTC microseconds.
* ``event_time`` is optional and defaults to ``received_at``; present and invalid rejects the
  line.
* ``source`` and ``seq`` are diagnostics for gap detection and never reject a line. ``seq`` is
  a JSON integer or a string of ASCII digits (surrounding whitespace ignored) that fits int64;
  anything else (``"n/a"``, ``5.0``, ``-1``, ``"1e3"``) counts as absent (``seq`` null) and is
  kept as written in ``bad_seq``, which ``log_gaps`` reports. A ``source`` that is a boolean,
  object or array counts as absent.

One reason per rejected line: the first that applies, in this order
---------------------------------------------------------------------
1. ``bad_encoding``, ``malformed_csv``, ``malformed_json``, ``duplicate_key`` (the line as a
   whole: a key a field is read by occurs twice in its object, so which value counts is
   ambiguous; also for a parent object a field map reads through).
2. ``missing_field:<name>`` for the required fields in table order. Orders: ``order_id``,
   ``merchant_id``, ``provider``, ``amount``, ``currency``, ``created_at``. Callbacks:
   ``order_id``, ``provider``, ``status``, ``received_at``, then ``amount``, ``currency`` when
   required (see above; with an invalid status they are not required).
3. Per-field validity in table order. Orders: ``bad_field:order_id``,
   ``bad_field:merchant_id``, ``bad_field:provider``, amount shape (negative / not a decimal)
   ``bad_amount``, ``bad_currency``, amount decimals/overflow ``bad_amount``, ``created_at``
   ``bad_timestamp``, ``bad_field:customer_id|request_id``. Callbacks:
   ``bad_field:order_id``, ``bad_field:provider``, ``bad_status``, amount shape ``bad_amount``,
   ``bad_currency``, amount decimals ``bad_amount``, ``received_at`` then ``event_time``
   ``bad_timestamp``, ``bad_field:callback_id|provider_txn_id``.

Statements (docs/rules.md#precise-statements)
-------------------------------------------------
* Required: ``provider``, ``statement_date``, ``type``, ``amount``, ``currency``, ``booked_at``
  (``missing_field:<name>`` in that order); ``order_id`` only for payment, refund and
  chargeback rows. ``type`` is trimmed and lower-cased and must be one of the six
  (``bad_type``); ``statement_date`` is trimmed and must be a real ``YYYY-MM-DD`` date
  (``bad_date``); ``amount`` as for orders; ``booked_at`` as any timestamp; ``fee`` and
  ``net``, when present, are exact non-negative plain decimals in the row's currency
  (``bad_amount``).
* Precedence: ``missing_field`` (the six, then ``order_id`` for the types that need it, after
  ``bad_type``), ``bad_field:order_id|provider``, ``bad_date``, amount shape ``bad_amount``,
  ``bad_currency``, amount decimals ``bad_amount``, ``bad_timestamp``, ``fee`` then ``net``
  ``bad_amount``, ``bad_field:provider_txn_id``.

A rejected row keeps ``source`` and ``seq`` when they could be read from the line (a usable
``source`` string/number and a valid ``seq``; never for ``malformed_json``, nor for
``malformed_csv`` whose cells may be shifted; for ``bad_encoding`` only a ``source`` without
replacement characters), so the gap detector does not mistake a bad line for a missing one.
``raw`` of a rejected line is the line without its line terminator and trailing whitespace.
"""

from __future__ import annotations

import polars as pl

from orders_pipeline.lib.common.money import currency_exponent_expr, minor_units_expr, significant_decimal_expr
from orders_pipeline.lib.common.time import TIMESTAMP
from orders_pipeline.lib.common.vocabulary import (
    CALLBACKS,
    ORDER_STATEMENT_TYPES,
    ORDERS,
    STATEMENT_TYPES,
    STATEMENTS,
    STATUSES,
    InputKind,
)
from orders_pipeline.lib.inputs.fields import (
    DATE_RE,
    FIELDS,
    LANDED,
    MAX_INSTANT,
    MIN_INSTANT,
    NEGATIVE_DECIMAL,
    PLAIN_ASCII_DECIMAL,
    TS_OFFSET_RE,
    TS_RE,
    UTC_NAMES,
)
from orders_pipeline.lib.inputs.messages import rejection_message
from orders_pipeline.lib.warehouse.contracts import REJECTED_LINES

WHITESPACE_END = " \t\r\n"
# What an adapter adds to a callback record (docs/envelopes.md); null for a canonical line.
ENVELOPE_COLUMNS: dict[str, pl.DataType] = {
    "parent_txn_id": pl.String(),
    "linked": pl.Boolean(),
    "verified": pl.Boolean(),
    "envelope_raw": pl.String(),
    "record_index": pl.Int64(),
}


def _timestamp(name: str, timezone: str) -> pl.Expr:
    """Build the UTC instant of a timestamp field; null when its text is not a valid timestamp."""
    text = pl.col("t_" + name)
    ts = pl.col("ts_" + name).cast(TIMESTAMP)
    if timezone not in UTC_NAMES:
        local = (
            ts.dt.replace_time_zone(None)
            .dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null")
            .dt.convert_time_zone("UTC")
        )
        ts = pl.when(text.str.contains(TS_OFFSET_RE)).then(ts).otherwise(local)
    # The exact shape, and instants that Python's datetime can hold (not year 0, nor year
    # 10000 after an offset). One condition: Polars would evaluate a repeated regex twice.
    return pl.when(text.str.contains(TS_RE) & ts.is_between(MIN_INSTANT, MAX_INSTANT)).then(ts)


def _money_minor(text: pl.Expr) -> pl.Expr:
    """Minor units of an optional plain decimal in the row's currency (null when absent or not allowed)."""
    stripped = text.str.strip_chars()
    return pl.when(stripped.str.contains(PLAIN_ASCII_DECIMAL)).then(
        minor_units_expr(significant_decimal_expr(stripped), pl.col("exponent"))
    )


def _checks(kind: InputKind, mapped: tuple[str, ...] = ()) -> list[tuple[pl.Expr, str]]:
    """(condition, reason) in precedence order: the first true condition is the reason."""

    def present(name: str) -> pl.Expr:
        return pl.col("p_" + name)

    checks: list[tuple[pl.Expr, str]] = [
        (pl.col("bad_encoding"), "bad_encoding"),
        (pl.col("malformed_csv"), "malformed_csv"),
        (pl.col("malformed") | ~pl.col("is_object"), "malformed_json"),
        (pl.col("repeated_key").is_not_null(), "duplicate_key"),
    ]
    money = [
        (~pl.col("amount_shape_ok"), "bad_amount"),
        (pl.col("exponent").is_null(), "bad_currency"),
        (pl.col("amount_minor").is_null(), "bad_amount"),
    ]
    if kind == STATEMENTS:
        for name in ("provider", "statement_date", "type", "amount", "currency", "booked_at"):
            checks.append((~present(name), f"missing_field:{name}"))
        type_ok = pl.col("type_norm").is_in(list(STATEMENT_TYPES))
        checks.append((~type_ok, "bad_type"))
        checks.append(
            (~present("order_id") & pl.col("type_norm").is_in(list(ORDER_STATEMENT_TYPES)), "missing_field:order_id")
        )
        for name in ("order_id", "provider"):
            checks.append((pl.col("ns_" + name), f"bad_field:{name}"))
        checks.append((pl.col("date_value").is_null(), "bad_date"))
        checks += money
        checks.append((pl.col("tsu_booked_at").is_null(), "bad_timestamp"))
        for name in ("fee", "net"):
            checks.append((present(name) & (pl.col("ns_" + name) | pl.col(name + "_minor").is_null()), "bad_amount"))
        checks.append((pl.col("ns_provider_txn_id"), "bad_field:provider_txn_id"))
        return checks
    if kind == ORDERS:
        for name in ("order_id", "merchant_id", "provider", "amount", "currency", "created_at"):
            checks.append((~present(name), f"missing_field:{name}"))
        for name in ("order_id", "merchant_id", "provider"):
            checks.append((pl.col("ns_" + name), f"bad_field:{name}"))
        checks += money
        checks.append((pl.col("tsu_created_at").is_null(), "bad_timestamp"))
        for name in ("customer_id", "request_id"):
            checks.append((pl.col("ns_" + name), f"bad_field:{name}"))
    else:
        status = pl.col("status_norm")
        status_ok = status.is_in(list(STATUSES)).fill_null(False)
        needs_money = status.is_in(["success", "reversed"])
        # A record with a parent_txn_id and no order_id of its own is linked after landing.
        checks.append((~present("order_id") & ~pl.col("linked").fill_null(False), "missing_field:order_id"))
        for name in ("provider", "status", "received_at"):
            checks.append((~present(name), f"missing_field:{name}"))
        checks.append((~present("amount") & (needs_money | (status_ok & present("currency"))), "missing_field:amount"))
        checks.append(
            (~present("currency") & (needs_money | (status_ok & present("amount"))), "missing_field:currency")
        )
        for name in ("order_id", "provider"):
            checks.append((pl.col("ns_" + name), f"bad_field:{name}"))
        checks.append((~status_ok, "bad_status"))
        checks += [(present("amount") & cond, reason) for cond, reason in money]
        checks.append((pl.col("tsu_received_at").is_null(), "bad_timestamp"))
        checks.append((present("event_time") & pl.col("tsu_event_time").is_null(), "bad_timestamp"))
        for name in ("callback_id", "provider_txn_id"):
            checks.append((pl.col("ns_" + name), f"bad_field:{name}"))
    return checks


def validate(x: pl.DataFrame, meta: pl.DataFrame, kind: InputKind, timezone: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Apply the rules to extracted field columns: (landed rows, rejected rows), one reason per rejected row.

    ``x`` holds, per line, the text of every field (``t_<field>``), DuckDB's parse of the
    timestamps (``ts_<field>``) and seq (``seq_value``), and what extraction learned about the
    line (``malformed``, ``is_object``, ``bad_encoding``, ``malformed_csv``, amount literals);
    ``meta`` the line's file, line number and read order.
    """
    if kind == CALLBACKS:
        x = x.with_columns(
            pl.lit(None, dtype).alias(name) for name, dtype in ENVELOPE_COLUMNS.items() if name not in x.columns
        )
    # Fields a field map could not read (field_maps.apply_encodings): their problem column says why.
    mapped = tuple(c.removeprefix("mapmsg_") for c in x.columns if c.startswith("mapmsg_"))
    t_amount = pl.col("t_amount")
    has_literal = pl.col("amt_lit").is_not_null()
    x = (
        x.with_columns(
            *[
                (pl.col("t_" + f.name).str.strip_chars() != "").fill_null(False).alias("p_" + f.name)
                for f in FIELDS[kind]
            ],
            pl.when(has_literal)
            .then(pl.coalesce(pl.col("amt_norm"), pl.col("amt_lit")))
            .otherwise(t_amount.str.strip_chars())
            .alias("amount_text"),
            pl.when(has_literal)
            .then(pl.col("amt_neg").fill_null(False))
            .otherwise(t_amount.str.strip_chars().str.contains(NEGATIVE_DECIMAL))
            .alias("amount_negative"),
            pl.col("t_currency").str.strip_chars().str.to_uppercase().alias("currency_norm"),
            pl.col("t_provider").str.strip_chars().str.to_lowercase().alias("provider_norm"),
            *[_timestamp(f.name, timezone).alias("tsu_" + f.name) for f in FIELDS[kind] if f.role == "ts"],
            *([_status_norm("status" in mapped).alias("status_norm")] if kind == CALLBACKS else []),
            *(_statement_columns() if kind == STATEMENTS else []),
        )
        .with_columns(
            (
                pl.col("amount_text").str.contains(PLAIN_ASCII_DECIMAL)
                & ~pl.col("amount_negative")
                & (pl.col("mapmsg_amount").is_null() if "amount" in mapped else pl.lit(True))
            ).alias("amount_shape_ok"),
            currency_exponent_expr(pl.col("currency_norm")).alias("exponent"),
            significant_decimal_expr(pl.col("amount_text")).alias("amount_significant"),
        )
        .with_columns(
            pl.when(pl.col("amount_shape_ok"))
            .then(minor_units_expr(pl.col("amount_significant"), pl.col("exponent")))
            .alias("amount_minor"),
            *(
                [_money_minor(pl.col("t_" + name)).alias(name + "_minor") for name in ("fee", "net")]
                if kind == STATEMENTS
                else []
            ),
        )
    )
    checks = _checks(kind)
    code = pl.coalesce([pl.when(cond.fill_null(False)).then(pl.lit(i, pl.Int16)) for i, (cond, _) in enumerate(checks)])
    x = pl.concat([meta.select("file", "line_number", "read_order"), x], how="horizontal").with_columns(
        code.alias("reason_code")
    )
    ok = pl.col("reason_code").is_null()
    if x["reason_code"].null_count() == x.height:
        return _landed(x, kind), REJECTED_LINES.empty_frame()
    landed = _landed(x.select(*_landed_inputs(kind), ok.alias("_ok")).filter(pl.col("_ok")), kind)
    rejected_rows = x.filter(~ok)
    reasons = {i: reason for i, (_, reason) in enumerate(checks)}
    rejected_rows = rejected_rows.with_columns(
        pl.col("reason_code").replace_strict(reasons, return_dtype=pl.String).alias("reason")
    )
    return landed, _rejected(rejected_rows, kind, timezone, mapped)


def _status_norm(mapped: bool) -> pl.Expr:
    """The trimmed, lower-cased status; null when a field map did not name the value (then ``bad_status``)."""
    norm = pl.col("t_status").str.strip_chars().str.to_lowercase()
    return pl.when(pl.col("mapmsg_status").is_null()).then(norm) if mapped else norm


def _statement_columns() -> list[pl.Expr]:
    """A statement row's normalised type and its date (null when not a real YYYY-MM-DD date)."""
    date_text = pl.col("t_statement_date").str.strip_chars()
    return [
        pl.col("t_type").str.strip_chars().str.to_lowercase().alias("type_norm"),
        pl.when(date_text.str.contains(DATE_RE))
        .then(date_text.str.strptime(pl.Date, "%Y-%m-%d", strict=False))
        .alias("date_value"),
    ]


def _landed_inputs(kind: InputKind) -> list[str]:
    if kind == STATEMENTS:
        return [
            "file",
            "line_number",
            "read_order",
            "amount_minor",
            "fee_minor",
            "net_minor",
            "t_order_id",
            "t_provider_txn_id",
            "provider_norm",
            "currency_norm",
            "type_norm",
            "date_value",
            "p_order_id",
            "p_provider_txn_id",
            "p_fee",
            "p_net",
            "tsu_booked_at",
        ]
    names = ["file", "line_number", "read_order", "amount_minor", "seq_value", "t_seq", "ns_source"]
    names += ["t_" + f.name for f in FIELDS[kind] if f.role == "id"]
    names += ["provider_norm", "currency_norm"]
    names += ["p_" + f.name for f in FIELDS[kind]]
    names += ["tsu_" + f.name for f in FIELDS[kind] if f.role == "ts"]
    if kind == CALLBACKS:
        names.append("status_norm")
        names += list(ENVELOPE_COLUMNS)
    return names


def _id(name: str) -> pl.Expr:
    return pl.when(pl.col("p_" + name)).then(pl.col("t_" + name))


def _landed(x: pl.DataFrame, kind: InputKind) -> pl.DataFrame:
    provider = pl.col("provider_norm").alias("provider")
    currency = pl.col("currency_norm")
    if kind == STATEMENTS:
        return x.select(
            provider,
            pl.col("date_value").alias("statement_date"),
            pl.col("type_norm").alias("type"),
            _id("order_id").alias("order_id"),
            pl.col("amount_minor"),
            currency.alias("currency"),
            pl.col("tsu_booked_at").alias("booked_at"),
            _id("provider_txn_id").alias("provider_txn_id"),
            pl.when(pl.col("p_fee")).then(pl.col("fee_minor")).alias("fee_minor"),
            pl.when(pl.col("p_net")).then(pl.col("net_minor")).alias("net_minor"),
            pl.col("file"),
            pl.col("line_number"),
            pl.col("read_order"),
        ).cast(LANDED[kind].polars_schema())
    if kind == ORDERS:
        columns = [
            pl.col("t_order_id").alias("order_id"),
            pl.col("t_merchant_id").alias("merchant_id"),
            provider,
            pl.col("amount_minor"),
            currency.alias("currency"),
            pl.col("tsu_created_at").alias("created_at"),
            _id("customer_id").alias("customer_id"),
            _id("request_id").alias("request_id"),
        ]
    else:
        has_money = pl.col("p_amount")
        columns = [
            _id("order_id").alias("order_id"),
            provider,
            pl.col("status_norm").alias("status"),
            pl.when(has_money).then(pl.col("amount_minor")).alias("amount_minor"),
            pl.when(has_money).then(currency).alias("currency"),
            pl.col("tsu_received_at").alias("received_at"),
            pl.coalesce(pl.col("tsu_event_time"), pl.col("tsu_received_at")).alias("event_time"),
            _id("callback_id").alias("callback_id"),
            _id("provider_txn_id").alias("provider_txn_id"),
            *_envelope_columns(x),
        ]
    columns += [
        # A source given as a boolean, object or array is no stream name: absent.
        pl.when(pl.col("p_source") & ~pl.col("ns_source")).then(pl.col("t_source")).alias("source"),
        pl.col("seq_value").alias("seq"),
        pl.when(pl.col("p_seq") & pl.col("seq_value").is_null()).then(pl.col("t_seq")).alias("bad_seq"),
        pl.col("file"),
        pl.col("line_number"),
        *([pl.col("record_index")] if kind == CALLBACKS else []),
        pl.col("read_order"),
    ]
    return x.select(columns).cast(LANDED[kind].polars_schema())


def _envelope_columns(x: pl.DataFrame) -> list[pl.Expr]:
    """parent_txn_id, linked, verified and envelope_raw of a callback record (null for a canonical line)."""
    linked = pl.col("linked").fill_null(False)
    return [
        pl.col("parent_txn_id"),
        linked,
        pl.col("verified"),
        pl.when(linked).then(pl.col("envelope_raw")).alias("envelope_raw"),
    ]


def _rejected(x: pl.DataFrame, kind: InputKind, timezone: str, mapped: tuple[str, ...] = ()) -> pl.DataFrame:
    if kind == STATEMENTS:  # statements carry no log stream
        return x.select(
            pl.lit(kind).alias("kind"),
            pl.col("file"),
            pl.col("line_number"),
            pl.col("raw_text").str.strip_chars_end(WHITESPACE_END).alias("raw"),
            pl.col("reason"),
            rejection_message(kind, timezone, mapped).alias("message"),
            pl.lit(None, pl.String).alias("source"),
            pl.lit(None, pl.Int64).alias("seq"),
        ).cast(REJECTED_LINES.polars_schema())
    source = pl.col("t_source")
    # A record with more cells than the header may have shifted cells: nothing is trusted.
    readable = ~pl.col("malformed") & pl.col("is_object") & ~pl.col("malformed_csv") & pl.col("repeated_key").is_null()
    source_ok = pl.col("p_source") & ~pl.col("ns_source") & ~source.str.contains("\ufffd", literal=True)
    out = x.select(
        pl.lit(kind).alias("kind"),
        pl.col("file"),
        pl.col("line_number"),
        pl.col("raw_text").str.strip_chars_end(WHITESPACE_END).alias("raw"),
        pl.col("reason"),
        rejection_message(kind, timezone, mapped).alias("message"),
        pl.when(readable & source_ok).then(source).alias("source"),
        pl.when(readable).then(pl.col("seq_value")).alias("seq"),
    )
    return out.cast(REJECTED_LINES.polars_schema())
