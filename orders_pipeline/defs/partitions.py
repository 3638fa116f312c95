"""Order-day partitions (UTC) of the outcome assets."""

from datetime import date, datetime

import dagster as dg

from orders_pipeline.defs.resources import AS_OF_TAG
from orders_pipeline.lib.common.config import Settings
from orders_pipeline.lib.outcomes.order_days import live_window

# Early enough for any platform's history; end_offset keeps days up to a year ahead addressable,
# so an as-of or a corpus dated after today still has its partitions.
ORDER_DAY_START = "2015-01-01"

order_days = dg.DailyPartitionsDefinition(start_date=ORDER_DAY_START, end_offset=366, timezone="UTC")


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
