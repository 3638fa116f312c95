"""The sentence each rejected line carries: what was wrong, with the offending value."""

from __future__ import annotations

import polars as pl

from orders_pipeline.lib.common.vocabulary import ORDERS, STATEMENT_TYPES, STATEMENTS, InputKind
from orders_pipeline.lib.inputs.fields import MAX_INSTANT, MIN_INSTANT, TS_OFFSET_RE, TS_RE, UTC_NAMES

LONE_CR = r"\r[^\n]"
"""A carriage return not ending the line: old Mac (CR-only) line endings, which are not line breaks."""
LONE_CR_MESSAGE = (
    "line contains a carriage return without a newline (CR-only line endings are not line breaks); "
    "re-export the file with LF or CRLF line endings"
)

# Longer values are cut in messages (the raw line is kept whole).
MESSAGE_VALUE_CHARS = 80


def rejection_message(kind: InputKind, timezone: str, mapped: tuple[str, ...] = ()) -> pl.Expr:
    """A sentence for each rejected row, naming the offending value (evaluated on rejected rows only).

    ``mapped``: fields a field map converted; where the map could not read a value, its own
    sentence (``mapmsg_<field>``) is the message.
    """
    reason = pl.col("reason")
    fmt = pl.format
    tz = timezone

    def shown(name: str) -> pl.Expr:
        text = pl.col("t_" + name) if name != "amount" else pl.coalesce(pl.col("amt_lit"), pl.col("t_amount"))
        short = text.str.slice(0, MESSAGE_VALUE_CHARS)
        return pl.when(text.str.len_chars() > MESSAGE_VALUE_CHARS).then(short + "...").otherwise(short)

    def by_map(name: str, message: pl.Expr) -> pl.Expr:
        return pl.coalesce(pl.col("mapmsg_" + name), message) if name in mapped else message

    def ts_message(name: str) -> pl.Expr:
        return by_map(name, _ts_message(name))

    def _ts_message(name: str) -> pl.Expr:
        return (
            pl.when(
                pl.lit(tz not in UTC_NAMES)
                & pl.col("t_" + name).str.contains(TS_RE)
                & ~pl.col("t_" + name).str.contains(TS_OFFSET_RE)
                & pl.col("ts_" + name).is_between(MIN_INSTANT, MAX_INSTANT)
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
    bad_type = bad_date = bad_money = pl.lit("")
    if kind == STATEMENTS:
        bad_timestamp = ts_message("booked_at")
        bad_status = pl.lit("")
        bad_type = fmt(f"type '{{}}' is not one of {', '.join(STATEMENT_TYPES)}", shown("type"))
        bad_date = fmt("statement_date '{}' is not a real date written YYYY-MM-DD", shown("statement_date"))
        missing = (
            pl.when(reason == "missing_field:order_id")
            .then(fmt("field 'order_id' is required for type '{}'", pl.col("type_norm")))
            .otherwise(missing)
        )
        # fee and net are checked after the amount: a valid amount means one of them is bad.
        fee_bad = pl.col("p_fee") & (pl.col("ns_fee") | pl.col("fee_minor").is_null())
        bad_money = (
            pl.when(fee_bad)
            .then(fmt("fee '{}' is not a non-negative amount in {}", shown("fee"), pl.col("currency_norm")))
            .otherwise(fmt("net '{}' is not a non-negative amount in {}", shown("net"), pl.col("currency_norm")))
        )
    elif kind == ORDERS:
        bad_timestamp = ts_message("created_at")
        bad_status = pl.lit("")
    else:
        bad_timestamp = (
            pl.when(pl.col("tsu_received_at").is_null())
            .then(ts_message("received_at"))
            .otherwise(ts_message("event_time"))
        )
        bad_status = by_map(
            "status", fmt("status '{}' is not one of success, failed, pending, reversed", shown("status"))
        )
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
    amount_ok = pl.col("amount_minor").is_not_null() if kind == STATEMENTS else pl.lit(False)
    bad_amount = by_map(
        "amount",
        pl.when(amount_ok)
        .then(bad_money)
        .when(pl.col("amount_negative"))
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
        .otherwise(fmt("amount '{}' is too large", amount)),
    )
    malformed_json = (
        pl.when(pl.col("malformed") & pl.col("raw_text").str.contains(LONE_CR))
        .then(pl.lit(LONE_CR_MESSAGE))
        .when(pl.col("malformed"))
        .then(pl.lit("line is not valid JSON; each line must be one JSON object"))
        .otherwise(pl.lit("line is valid JSON but not an object; each line must be one JSON object"))
    )
    return (
        pl.when(reason == "bad_encoding")
        .then(pl.lit("line is not valid UTF-8; re-export the log as UTF-8"))
        .when(reason == "malformed_csv")
        .then(
            pl.when(pl.col("csv_cells").is_not_null())
            .then(fmt("record has {} cells, more than the header", pl.col("csv_cells")))
            .when(pl.col("raw_text").str.contains(LONE_CR))
            .then(pl.lit(LONE_CR_MESSAGE))
            .otherwise(
                pl.lit(
                    "line is not valid CSV: a quoted cell is not closed where it should be (a stray quote); "
                    "reading went on at the next line"
                )
            )
        )
        .when(reason == "malformed_json")
        .then(malformed_json)
        .when(reason == "duplicate_key")
        .then(
            fmt(
                "key '{}' occurs more than once in the object; which value counts would be a guess, "
                "so the line is rejected",
                pl.col("repeated_key"),
            )
        )
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
        .when(reason == "bad_type")
        .then(bad_type)
        .when(reason == "bad_date")
        .then(bad_date)
        .otherwise(pl.lit("rejected"))
    )
