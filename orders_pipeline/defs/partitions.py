"""Order-day partitions (UTC) of the outcome assets: from the first order day to today.

The first partition is ``ORDERS_PIPELINE_FIRST_DAY`` (YYYY-MM-DD) when set; otherwise the
first order day found in the published warehouse; before the first publish, the first day of
the live window as of the configured as-of (or now), so the partitions page opens on days that
exist. The last partition is today (UTC). It is decided when the code location loads: after the
first run, reload the code location to see the days it found. A day requested outside the
partitions is clipped to them; it is evaluated all the same when its orders were never
evaluated or can still change (``lib/outcomes/order_days``).
"""

import os
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import duckdb

from orders_pipeline.defs.resources import AS_OF_TAG, DEFAULT_WAREHOUSE, sample_as_of
from orders_pipeline.lib.common.config import Settings, load_settings
from orders_pipeline.lib.common.errors import ConfigError, UserError
from orders_pipeline.lib.common.time import parse_as_of
from orders_pipeline.lib.outcomes.order_days import live_window

FIRST_DAY_ENV = "ORDERS_PIPELINE_FIRST_DAY"


def first_order_day(environ: dict[str, str] | None = None, today: date | None = None) -> date:
    """The first order-day partition, from the environment the code location loads with (see the module)."""
    env = dict(os.environ if environ is None else environ)
    today = today or datetime.now(UTC).date()
    configured = env.get(FIRST_DAY_ENV)
    if configured:
        try:
            return date.fromisoformat(configured)
        except ValueError:
            raise ConfigError(f"{FIRST_DAY_ENV}={configured!r} is not a day; set it like 2026-01-31") from None
    found = _first_published_order_day(Path(env.get("ORDERS_PIPELINE_WAREHOUSE") or DEFAULT_WAREHOUSE))
    if found is not None:
        return min(found, today)
    try:
        settings = load_settings(env.get("ORDERS_PIPELINE_CONFIG"))
        uses_sample = not any(f"ORDERS_PIPELINE_{kind}" in env for kind in ("ORDERS", "CALLBACKS", "STATEMENTS"))
        as_of_text = env.get("ORDERS_PIPELINE_AS_OF") or (sample_as_of() if uses_sample else None)
        as_of = parse_as_of(as_of_text, settings.timezone) if as_of_text else datetime.now(UTC)
    except UserError:  # a bad config or as-of is reported, in one line, by the run that uses it
        settings, as_of = Settings(), datetime.now(UTC)
    return min(live_window(as_of, settings)[0], today)


def _first_published_order_day(warehouse: Path) -> date | None:
    """The earliest order day of the published warehouse (``None`` before the first publish)."""
    if not warehouse.exists():
        return None
    try:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            row = con.execute("SELECT min(order_date) FROM recon.daily_summary").fetchall()
    except duckdb.Error:  # not a warehouse yet, or of another layout: no day found
        return None
    return row[0][0] if row and row[0][0] is not None else None


# end_offset=1: today's (still open) day is the last partition.
order_days = dg.DailyPartitionsDefinition(start_date=first_order_day().isoformat(), end_offset=1, timezone="UTC")


def partition_range(first: date, last: date) -> dg.PartitionKeyRange:
    """The partition key range for a span of order days, clipped to the partitions that exist."""
    keys = order_days.get_partition_keys()
    start = max(first.isoformat(), keys[0])
    end = min(last.isoformat(), keys[-1])
    start = min(start, end)
    return dg.PartitionKeyRange(start, end)


def range_tags(key_range: dg.PartitionKeyRange) -> dict[str, str]:
    """Run tags that launch one run over a range of order days (a single-run backfill)."""
    return {
        "dagster/asset_partition_range_start": key_range.start,
        "dagster/asset_partition_range_end": key_range.end,
    }


def live_window_tags(as_of: datetime, settings: Settings, backfill: tuple[date, date] | None = None) -> dict[str, str]:
    """Run tags for a run as of ``as_of`` over its live window of order days (widened by ``backfill``)."""
    first, last = live_window(as_of, settings)
    if backfill:
        first, last = min(first, backfill[0]), max(last, backfill[1])
    return {**range_tags(partition_range(first, last)), AS_OF_TAG: as_of.isoformat()}
