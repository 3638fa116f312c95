"""When the pipeline runs by itself: a daily schedule, and an hourly one for busier platforms.

Each run covers the live window of order days (those whose orders can still change as of the
run); the outcome step adds any other day that received new lines.
"""

import os

import dagster as dg

from orders_pipeline.defs.jobs import reconcile_job
from orders_pipeline.defs.partitions import partition_range, range_tags
from orders_pipeline.defs.resources import ReconciliationResource
from orders_pipeline.lib.order_days import live_window


def live_window_request(context: dg.ScheduleEvaluationContext, reconciliation: ReconciliationResource) -> dg.RunRequest:
    """A run over the live window of order days as of the scheduled time."""
    first, last = live_window(context.scheduled_execution_time, reconciliation.settings())
    return dg.RunRequest(
        run_key=None,
        tags={**range_tags(partition_range(first, last)), "orders_pipeline/trigger": "schedule"},
    )


def _status(wanted: str) -> dg.DefaultScheduleStatus:
    chosen = os.environ.get("ORDERS_PIPELINE_SCHEDULE", "daily")
    return dg.DefaultScheduleStatus.RUNNING if chosen == wanted else dg.DefaultScheduleStatus.STOPPED


@dg.schedule(
    job=reconcile_job,
    cron_schedule="0 1 * * *",
    execution_timezone="UTC",
    default_status=_status("daily"),
    description="Reconcile every day at 01:00 UTC (ORDERS_PIPELINE_SCHEDULE=daily, the default).",
)
def daily_reconcile_schedule(context: dg.ScheduleEvaluationContext, reconciliation: ReconciliationResource):
    """Daily reconciliation, after the day's logs have been shipped."""
    return live_window_request(context, reconciliation)


@dg.schedule(
    job=reconcile_job,
    cron_schedule="5 * * * *",
    execution_timezone="UTC",
    default_status=_status("hourly"),
    description="Reconcile every hour at :05 (ORDERS_PIPELINE_SCHEDULE=hourly).",
)
def hourly_reconcile_schedule(context: dg.ScheduleEvaluationContext, reconciliation: ReconciliationResource):
    """Hourly reconciliation, for platforms that want overdue orders queried within the hour."""
    return live_window_request(context, reconciliation)
