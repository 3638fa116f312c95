"""Amounts and times as the adapters hand them to validation: exact decimal text, RFC 3339 text."""

from __future__ import annotations

import polars as pl

from orders_pipeline.lib.common.money import CURRENCY_EXPONENTS

INTEGER_TYPES = ("UBIGINT", "BIGINT")


def minor_to_major(value: pl.Expr, value_type: pl.Expr, exponent: pl.Expr, digit_strings: bool = False) -> pl.Expr:
    """A count of minor units (a JSON integer, or a string of digits) as exact decimal text in major units.

    ``digit_strings``: a string of ASCII digits counts too (else only a JSON integer does).
    ``value`` is the JSON value's text, ``value_type`` its DuckDB JSON type, ``exponent`` the
    provider's exponent for the currency (null when unknown: the digits are passed on and
    validation rejects the currency). A negative integer stays negative text and anything else
    (a fraction, a boolean, text) is marked, so validation rejects it ``bad_amount``; no float
    ever holds the amount.
    """
    text = value.str.strip_chars()
    whole = value_type.is_in(INTEGER_TYPES)
    if digit_strings:
        whole = whole | ((value_type == "VARCHAR") & text.str.contains(r"^[0-9]+$"))
    digits = pl.when(whole).then(text)
    unsigned = digits.str.strip_prefix("-")
    sign = pl.when(digits.str.starts_with("-")).then(pl.lit("-")).otherwise(pl.lit(""))
    converted = pl.lit(None, pl.String)
    for e in sorted({v for v in CURRENCY_EXPONENTS.values() if v > 0} | {2}):
        padded = unsigned.str.zfill(e + 1)
        major = padded.str.slice(0, padded.str.len_chars() - e) + "." + padded.str.slice(-e)
        converted = pl.when(exponent == e).then(sign + major).otherwise(converted)
    converted = pl.when((exponent == 0) | exponent.is_null()).then(digits).otherwise(converted)
    marked = pl.format("{} (not a whole number of minor units)", value)
    return pl.when(value.is_null()).then(None).when(digits.is_null()).then(marked).otherwise(converted)


def epoch_seconds_to_rfc3339(value: pl.Expr, value_type: pl.Expr) -> pl.Expr:
    """An integer count of epoch seconds as ``YYYY-MM-DDTHH:MM:SSZ``; other values marked (``bad_timestamp``)."""
    seconds = pl.when(value_type.is_in(INTEGER_TYPES)).then(value.cast(pl.Int64, strict=False))
    in_range = seconds.is_between(-62135596800, 253402300799)
    text = pl.from_epoch(pl.when(in_range).then(seconds), time_unit="s").dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        pl.when(value.is_null())
        .then(None)
        .when(text.is_null())
        .then(pl.format("{} (not integer epoch seconds)", value))
        .otherwise(text)
    )
