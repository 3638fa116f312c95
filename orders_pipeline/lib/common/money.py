"""Money: ISO 4217 exponents and exact decimal-string to integer-minor-unit conversion.

Amounts never pass through a float. A decimal string is split into its integer and
fraction digits; trailing zeros of the fraction are dropped (``"12.500"`` USD is 1250), and a
value that still has more decimals than the currency allows is rejected, never rounded.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

import polars as pl

# ISO 4217 active codes with their minor-unit exponent. Codes whose exponent ISO lists as
# "N.A." (gold, SDR, test and no-currency codes: XAU, XAG, XDR, XTS, XXX, ...) are absent,
# so they are rejected as ``bad_currency``.
_EXPONENT_0 = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_EXPONENT_3 = "BHD IQD JOD KWD LYD OMR TND"
_EXPONENT_4 = "CLF UYW"
_EXPONENT_2 = (
    "AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN BZD "
    "CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL "
    "GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR "
    "LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB "
    "PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL "
    "THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG"
)

CURRENCY_EXPONENTS: dict[str, int] = {
    **{code: 0 for code in _EXPONENT_0.split()},
    **{code: 2 for code in _EXPONENT_2.split()},
    **{code: 3 for code in _EXPONENT_3.split()},
    **{code: 4 for code in _EXPONENT_4.split()},
}

# The largest number of integer digits that still fits int64 after scaling by 10**4.
_MAX_INTEGER_DIGITS = 14

PLAIN_DECIMAL = r"^\d+(\.\d+)?$"
_PLAIN_DECIMAL = re.compile(PLAIN_DECIMAL)


def currency_exponent_expr(currency: pl.Expr) -> pl.Expr:
    """The ISO 4217 exponent of each (already upper-cased) currency code; null when unknown."""
    return currency.replace_strict(CURRENCY_EXPONENTS, default=None, return_dtype=pl.Int8)


def amount_minor_expr(amount: pl.Expr, exponent: pl.Expr) -> pl.Expr:
    """Convert plain decimal strings to int64 minor units; null where the value is not allowed.

    ``amount`` holds the amount as text (a JSON number's exact literal or a string); null is
    returned for anything that is not a plain non-negative decimal, has more significant
    decimals than ``exponent`` allows, or overflows int64. The text is first reduced to its
    significant digits (:func:`significant_decimal_expr`); callers converting millions of
    values should compute that once into a column and use :func:`minor_units_expr` on it,
    since Polars evaluates a repeated sub-expression again at each use.
    """
    return pl.when(amount.str.strip_chars().str.contains(PLAIN_DECIMAL)).then(
        minor_units_expr(significant_decimal_expr(amount), exponent)
    )


def significant_decimal_expr(amount: pl.Expr) -> pl.Expr:
    """A plain decimal's significant form: no blanks, leading or trailing zeros (``"012.50"`` -> ``"12.5"``).

    Zero becomes ``""`` and a value below one starts with the point (``"0.5"`` -> ``".5"``).
    Meaningless for text that is not a plain decimal (check :data:`PLAIN_DECIMAL` first).
    """
    text = amount.str.strip_chars()
    without_trailing_zeros = (
        pl.when(text.str.contains(".", literal=True))
        .then(text.str.strip_chars_end("0").str.strip_chars_end("."))
        .otherwise(text)
    )
    return without_trailing_zeros.str.strip_chars_start("0")


def minor_units_expr(significant: pl.Expr, exponent: pl.Expr) -> pl.Expr:
    """Minor units of a :func:`significant_decimal_expr` value in a currency of ``exponent``; null if not allowed.

    Not allowed: more decimals than the exponent (``"1.234"`` USD), more than
    ``_MAX_INTEGER_DIGITS`` integer digits (the value could overflow int64), an unknown
    currency (null exponent).
    """
    point = significant.str.find(".", literal=True)
    length = significant.str.len_bytes()
    integer_digits = point.fill_null(length)
    decimals = (length - point - 1).fill_null(0)
    digits = significant.str.replace(".", "", literal=True)
    value = pl.when(digits == "").then(pl.lit(0, pl.Int64)).otherwise(digits.cast(pl.Int64, strict=False))
    scale = pl.lit(10, pl.Int64).pow((exponent.cast(pl.Int64) - decimals).clip(0, 4))
    fits = (decimals <= exponent.cast(pl.Int64)) & (integer_digits <= _MAX_INTEGER_DIGITS)
    return pl.when(fits).then(value * scale)


def to_minor_units(amount: str | int | Decimal, currency: str) -> int:
    """Exact scalar conversion, for tests, the generator and the benchmark baseline.

    Raises ``ValueError`` for an unknown currency, a negative value, a value with too many
    decimals for the currency, or anything that is not a plain decimal.
    """
    exponent = CURRENCY_EXPONENTS.get(currency.strip().upper())
    if exponent is None:
        raise ValueError(f"unknown currency {currency!r}")
    if isinstance(amount, str):
        if not _PLAIN_DECIMAL.match(amount.strip()):
            raise ValueError(f"not a plain decimal amount: {amount!r}")
        amount = amount.strip()
    try:
        value = Decimal(amount)
    except InvalidOperation:
        raise ValueError(f"not a decimal amount: {amount!r}") from None
    if value < 0:
        raise ValueError(f"negative amount: {amount!r}")
    scaled = value.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount!r} has more decimals than {currency} allows")
    minor = int(scaled)
    if minor >= 2**63:
        raise ValueError(f"amount {amount!r} is too large")
    return minor


def format_minor_units(amount_minor: int, currency: str) -> str:
    """Render minor units back to a major-unit decimal string, e.g. ``1250, "USD" -> "12.50"``."""
    exponent = CURRENCY_EXPONENTS.get(currency, 2)
    if exponent == 0:
        return str(amount_minor)
    sign = "-" if amount_minor < 0 else ""
    whole, frac = divmod(abs(amount_minor), 10**exponent)
    return f"{sign}{whole}.{frac:0{exponent}d}"


MAX_EXPONENT = max(CURRENCY_EXPONENTS.values())


def major_units_sql(minor: str, currency: str) -> str:
    """DuckDB SQL for the exact major-unit amount of ``minor`` minor units in ``currency``, as DECIMAL(38,4).

    ``minor`` and ``currency`` are SQL expressions (quoted column names). The minor units are
    multiplied by the currency's unit (``0.0100`` for USD) as decimals, never divided as floats,
    so the result is exact; it is null when either is null or the currency is unknown.
    """
    by_exponent: dict[int, list[str]] = {}
    for code, exponent in sorted(CURRENCY_EXPONENTS.items()):
        by_exponent.setdefault(exponent, []).append(code)
    cases = " ".join(
        f"WHEN {currency} IN ({', '.join(repr(code) for code in codes)}) THEN {_unit_literal(exponent)}"
        for exponent, codes in sorted(by_exponent.items())
    )
    return f"CAST(CAST({minor} AS DECIMAL(19,0)) * (CASE {cases} END) AS DECIMAL(38,{MAX_EXPONENT}))"


def _unit_literal(exponent: int) -> str:
    """One minor unit in major units as a DECIMAL literal of scale MAX_EXPONENT (``0.0100`` for exponent 2)."""
    return f"CAST('{Decimal(1).scaleb(-exponent):.{MAX_EXPONENT}f}' AS DECIMAL(5,{MAX_EXPONENT}))"
