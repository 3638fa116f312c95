"""Order-day partitions (UTC) of the outcome assets."""

from datetime import date

import dagster as dg

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


def requested_days(context: dg.AssetExecutionContext) -> tuple[date, date] | None:
    """The order days a run was launched for (its partition range), if it was launched for any."""
    if not context.has_partition_key_range:
        return None
    window = context.partition_key_range
    return date.fromisoformat(window.start), date.fromisoformat(window.end)


def range_tags(key_range: dg.PartitionKeyRange) -> dict[str, str]:
    """Run tags that launch one run over a range of order days (a single-run backfill)."""
    return {
        "dagster/asset_partition_range_start": key_range.start,
        "dagster/asset_partition_range_end": key_range.end,
    }
