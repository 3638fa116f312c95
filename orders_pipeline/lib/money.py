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

    ``amount`` holds the amount as text (a JSON number's exact literal or a string, trimmed);
    null is returned for anything that is not a plain non-negative decimal, has more
    significant decimals than ``exponent`` allows, or overflows int64.
    """
    text = amount.str.strip_chars()
    valid_shape = text.str.contains(PLAIN_DECIMAL)
    integer_part = text.str.extract(r"^(\d+)", 1).str.strip_chars_start("0")
    fraction = text.str.extract(r"\.(\d+)$", 1).fill_null("").str.strip_chars_end("0")
    fits = (fraction.str.len_chars() <= exponent.cast(pl.UInt32)) & (
        integer_part.str.len_chars() <= _MAX_INTEGER_DIGITS
    )
    padded_fraction = fraction.str.pad_end(exponent.cast(pl.Int64).clip(0, 4), "0")
    integer_value = pl.when(integer_part == "").then(pl.lit(0, pl.Int64)).otherwise(
        integer_part.cast(pl.Int64, strict=False)
    )
    fraction_value = pl.when(padded_fraction == "").then(pl.lit(0, pl.Int64)).otherwise(
        padded_fraction.cast(pl.Int64, strict=False)
    )
    scale = pl.lit(10, pl.Int64).pow(exponent.cast(pl.Int64))
    return pl.when(valid_shape & fits & exponent.is_not_null()).then(integer_value * scale + fraction_value)


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
