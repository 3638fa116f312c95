"""Time: durations as the config writes them, the run's as-of, and exact microsecond arithmetic.

Timestamps are UTC microseconds everywhere (:data:`TIMESTAMP`); durations are compared as
whole microseconds, never through floats.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from orders_pipeline.lib.common.errors import ConfigError

TIMESTAMP = pl.Datetime("us", "UTC")
"""The Polars type of every timestamp the pipeline holds: UTC, microseconds."""

US_PER_SECOND = 1_000_000

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(text: str | int, where: str) -> timedelta:
    """Parse ``"30d"``, ``"24h4m"``, ``"15m"``, ``"90s"`` (or whole seconds) into a timedelta."""
    if isinstance(text, bool):
        raise ConfigError(f"{where}: expected a duration like '15m', '72h' or '24h4m', got {text!r}")
    if isinstance(text, int):
        if text < 0:
            raise ConfigError(f"{where}: a duration cannot be negative, got {text}")
        return timedelta(seconds=text)
    match = _DURATION.match(str(text).strip().lower()) if isinstance(text, str) else None
    if not match or not any(match.groups()):
        raise ConfigError(f"{where}: expected a duration like '15m', '72h' or '24h4m', got {text!r}")
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def format_duration(value: timedelta) -> str:
    """Format a timedelta the way the config file writes it (``"24h4m"``)."""
    total = int(value.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        amount, total = divmod(total, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts) or "0s"


def validate_timezone(value: Any, where: str) -> str:
    """Return ``value`` if it names an IANA timezone (``UTC``, ``Asia/Shanghai``), else raise."""
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected an IANA timezone name like 'UTC' or 'Europe/Paris', got {value!r}")
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{where}: unknown timezone {value!r}; use an IANA name like 'UTC' or 'Europe/Paris'"
        ) from None
    return value


def parse_as_of(text: str, timezone: str = "UTC") -> datetime:
    """Parse an as-of timestamp (RFC 3339; without an offset it is read in ``timezone``) to UTC."""
    try:
        value = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        raise ConfigError(f"as-of {text!r} is not a timestamp; use RFC 3339 like 2026-11-20T12:00:00Z") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=zoneinfo.ZoneInfo(timezone))
    return value.astimezone(UTC)


def as_of_literal(as_of: datetime) -> pl.Expr:
    """``as_of`` as a UTC microsecond timestamp literal; a naive datetime is refused."""
    if as_of.tzinfo is None or as_of.utcoffset() is None:
        raise ValueError(f"as_of must be timezone-aware, got naive {as_of.isoformat()}")
    return pl.lit(as_of.astimezone(UTC), dtype=TIMESTAMP)


def duration_micros(value: timedelta) -> int:
    """Return a timedelta as whole microseconds, exactly (no float)."""
    return (value.days * 86_400 + value.seconds) * US_PER_SECOND + value.microseconds


def whole_seconds(micros: pl.Expr) -> pl.Expr:
    """Microseconds (Int64) to whole seconds, truncated toward zero (Polars ``//`` floors)."""
    return pl.when(micros >= 0).then(micros // US_PER_SECOND).otherwise(-((-micros) // US_PER_SECOND)).cast(pl.Int64)


def span_micros(end: pl.Expr, start: pl.Expr) -> pl.Expr:
    """``end - start`` in microseconds (Int64), exact."""
    return (end - start).dt.total_microseconds().cast(pl.Int64)
