"""How reports write times, durations and money for people: UTC with Z, ``1d 2h 3m``, ``USD 12.50``."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from orders_pipeline.lib.common.money import CURRENCY_EXPONENTS, format_minor_units


def timestamp_text(value: datetime | None) -> str:
    """A timestamp in UTC, RFC 3339 with ``Z`` (``-`` when missing)."""
    if value is None:
        return "-"
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def duration_text(seconds: float | int | None) -> str:
    """``93784`` -> ``1d 2h 3m 4s``; leading zero units are left out (``-`` when missing)."""
    if seconds is None:
        return "-"
    sign = "-" if seconds < 0 else ""
    rest = int(abs(seconds))
    days, rest = divmod(rest, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    while len(parts) > 1 and parts[0][0] == 0:
        parts.pop(0)
    return sign + " ".join(f"{n}{unit}" for n, unit in parts)


def money_text(amount_minor: int | None, currency: str | None) -> str:
    """``USD 12.50`` from minor units (``-`` parts when missing)."""
    if amount_minor is None:
        return f"{currency} -" if currency else "-"
    if currency is None:
        return f"{amount_minor} (minor units, no currency)"
    return f"{currency} {format_minor_units(int(amount_minor), currency)}"


def where_read(line: dict[str, Any]) -> str:
    """``  [file:line]`` where a landed line was read (empty when unknown)."""
    if line.get("file") is None:
        return ""
    number = line.get("line_number")
    return f"  [{line['file']}{'' if number is None else f':{number}'}]"


def extras_text(line: dict[str, Any], names: tuple[str, ...]) -> str:
    """``  name value`` for each of ``names`` the line has."""
    return "".join(f"  {name} {line[name]}" for name in names if line.get(name) is not None)


def currency_decimals(currency: str) -> int:
    """The currency's ISO 4217 exponent: how many decimals its major units have (2 when unknown)."""
    return CURRENCY_EXPONENTS.get(currency, 2)


def major_units(amount_minor: int, currency: str) -> Decimal:
    """Exact major units with the currency's decimals: ``1250, "USD"`` -> ``Decimal("12.50")``."""
    return Decimal(int(amount_minor)).scaleb(-currency_decimals(currency))


def major_text(amount_minor: int, currency: str) -> str:
    """Major units with thousands separators and the currency's decimals: ``123456, "USD"`` -> ``1,234.56``."""
    return f"{major_units(amount_minor, currency):,}"
